#!/usr/bin/env bash
# The one-call path (`--conditioning names`) with stand-in answers to its grouping prompt
# (notebooks/grouping_oracle_llm.py): every value the prompt lists goes to the class most of the
# captions mentioning it carry, when that class holds at least MIN_SHARE of them (a model with
# world knowledge, leaving out values that name no class), and with NOISE of the grouped values
# moved to a wrong category (a worse model). Two kinds of stand-in:
# - "all rows": the value -> class map is learnt from every row and ACC is over every row, which
#   also rewards label correlation of rare values (a value in three captions of one class);
# - "held out": the map is learnt from the even rows (values in >= 3 of them) and ACC is over the
#   odd rows only, next to the zero-call default and IC|TC's GPT-4 answers on the same odd rows.
# The ground truth lives in the experiment, never in clusterby. Needs the indexes cached by
# `clusterby ablate --data ../shared/data/captions` in target/ablation/.
# Usage: bash notebooks/grouping_oracle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/clusterby
cargo build --release --quiet
port=18557
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
sets=("ppmi2|musical instrument|2" "ppmi7|musical instrument|7" "stl10|object|10" "cifar10|object|10")

acc() { # result labels
  "$bin" eval "$1" --labels "$2" | awk '{print $2}'
}
source notebooks/grouping_oracle_lib.sh
names_query() { # set criterion k share noise fit support values -> $tmp/r.json
  oracle_query "../shared/data/captions/$1.jsonl" "target/ablation/$1" "${@:2}"
}

# Odd rows' labels, and IC|TC's answers as a result file, per set.
for spec in "${sets[@]}"; do
  IFS='|' read -r set crit k <<< "$spec"
  "$bin" cluster "target/ablation/$set" --by "$crit" -k "$k" --json "$tmp/zero-$set.json" > /dev/null 2>&1
  python3 - "../shared/data/captions/$set.jsonl" "$tmp/zero-$set.json" "$tmp/odd-$set.jsonl" "$tmp/ictc-$set.json" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
with open(sys.argv[3], "w") as f:
    for r in rows[1::2]:
        f.write(json.dumps({"id": r["id"], "label": r["label"]}) + "\n")
answers = sorted({str(r["ictc_answer"]) for r in rows})
d = json.load(open(sys.argv[2]))
d["assignments"] = [{"id": r["id"], "cluster": answers.index(str(r["ictc_answer"]))} for r in rows]
json.dump(d, open(sys.argv[4], "w"))
PY
done

echo "### Held out: the map learnt from the even rows, ACC over the odd rows"
echo
echo "| set | values listed | ACC one call | zero-call | IC\|TC GPT-4 | values grouped | captions voting | objective vs zero-call | co-mention conflict vs random | grouping |"
echo "|---|---|---|---|---|---|---|---|---|---|"
for values in 300 1000 2000; do
  for spec in "${sets[@]}"; do
    IFS='|' read -r set crit k <<< "$spec"
    names_query "$set" "$crit" "$k" 0.8 0 even 3 "$values"
    echo "| $set | $values | $(acc "$tmp/r.json" "$tmp/odd-$set.jsonl") | $(acc "$tmp/zero-$set.json" "$tmp/odd-$set.jsonl") | $(acc "$tmp/ictc-$set.json" "$tmp/odd-$set.jsonl") | $(summary "$tmp/r.json") |"
  done
done
echo
echo "### All rows: the map learnt from every row, ACC over every row (1,000 values listed)"
echo
echo "| set | min share | noise | ACC one call | zero-call | IC\|TC GPT-4 | values grouped | captions voting | objective vs zero-call | co-mention conflict vs random | grouping |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for a in "0.8 0" "0.6 0" "0.7 0.05" "0.7 0.1"; do
  read -r share noise <<< "$a"
  for spec in "${sets[@]}"; do
    IFS='|' read -r set crit k <<< "$spec"
    names_query "$set" "$crit" "$k" "$share" "$noise" all 1 1000
    echo "| $set | $share | $noise | $(acc "$tmp/r.json" "target/ablation/$set") | $(acc "$tmp/zero-$set.json" "target/ablation/$set") | $(acc "$tmp/ictc-$set.json" "target/ablation/$set") | $(summary "$tmp/r.json") |"
  done
done
echo
echo "### Checked against trusted (--llm-grouping), all rows, min share 0.7, 1,000 values listed"
echo
echo "| set | noise | zero-call | checked (default) | trusted | objective vs zero-call | co-mention conflict vs random | checked grouping |"
echo "|---|---|---|---|---|---|---|---|"
for noise in 0 0.1 0.3; do
  for spec in "${sets[@]}"; do
    IFS='|' read -r set crit k <<< "$spec"
    names_query "$set" "$crit" "$k" 0.7 "$noise" all 1 1000 --llm-grouping trusted
    cp "$tmp/r.json" "$tmp/trusted.json"
    names_query "$set" "$crit" "$k" 0.7 "$noise" all 1 1000
    g=$(summary "$tmp/r.json")
    echo "| $set | $noise | $(acc "$tmp/zero-$set.json" "target/ablation/$set") | $(acc "$tmp/r.json" "target/ablation/$set") | $(acc "$tmp/trusted.json" "target/ablation/$set") | $(cut -d'|' -f3- <<< "$g" | sed 's/^ //') |"
  done
done
