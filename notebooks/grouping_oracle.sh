#!/usr/bin/env bash
# The one-call path (`--conditioning names`) with stand-in answers to its grouping prompt
# (notebooks/grouping_oracle_llm.py): every value the prompt lists goes to the class most of the
# captions mentioning it carry, when that class holds at least MIN_SHARE of them (a model with
# perfect world knowledge, leaving out values that name no class), and with NOISE of the grouped
# values moved to a wrong category (a worse model). The ground truth lives in the experiment,
# never in clusterby. Needs the indexes cached by `clusterby ablate --data ../shared/data/captions`
# in target/ablation/.
# Usage: bash notebooks/grouping_oracle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/clusterby
cargo build --release --quiet
port=18557
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # min_share noise set criterion k
  local share=$1 noise=$2 set=$3 crit=$4 k=$5
  python3 notebooks/grouping_oracle_llm.py "$port" "../shared/data/captions/$set.jsonl" "$share" "$noise" & local pid=$!
  sleep 0.6
  "$bin" cluster "target/ablation/$set" --by "$crit" -k "$k" --conditioning names \
    --llm-base-url "http://127.0.0.1:$port/v1" --llm-model oracle --json "$tmp/r.json" > /dev/null 2>&1
  kill "$pid"; wait "$pid" 2> /dev/null || true
  local acc
  acc=$("$bin" eval "$tmp/r.json" --labels "target/ablation/$set" | awk '{print $2}')
  python3 - "$tmp/r.json" "$set" "$share" "$noise" "$acc" <<'PY'
import json, re, sys
d = json.load(open(sys.argv[1]))
note = next(n for n in d["notes"] if "objective" in n or "captions mention" in n)
g = re.search(r"grouped (\d+) of (\d+) values; (\d+) of (\d+) captions", note)
o = re.search(r"objective ([\d.]+) vs ([\d.]+)", note)
ratio = f"{(float(o.group(1)) / float(o.group(2)) - 1) * 100:+.2f}%" if o else "–"
kept = "kept" if d["namer"] == "llm" else "refused: zero-call kept"
print(f"| {sys.argv[2]} | {sys.argv[3]} | {sys.argv[4]} | {sys.argv[5]} | {g.group(1)}/{g.group(2)} | {int(g.group(3)) / int(g.group(4)):.2f} | {ratio} | {kept} |")
PY
}
echo "| set | min share | noise | ACC | values grouped | captions voting | objective vs zero-call | grouping |"
echo "|---|---|---|---|---|---|---|---|"
for a in "0.8 0" "0.6 0" "0.7 0.05" "0.7 0.1"; do
  read -r share noise <<< "$a"
  run "$share" "$noise" ppmi2 "musical instrument" 2
  run "$share" "$noise" ppmi7 "musical instrument" 7
  run "$share" "$noise" stl10 object 10
  run "$share" "$noise" cifar10 object 10
done
