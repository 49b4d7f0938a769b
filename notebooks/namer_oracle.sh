#!/usr/bin/env bash
# `--namer llm` with a fixed LLM answer: each cluster's majority true class, in cluster order
# (what a strong model would answer). Shows whether such names pass the check that names must
# identify their clusters. The class names come from the data's labels, here in the experiment,
# never in clusterby. Needs the indexes cached by `clusterby ablate --data ../shared/data`
# in target/ablation/. Usage: bash notebooks/namer_oracle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/clusterby
cargo build --release --quiet
port=18556
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "| set | answer (cluster order) | namer used | notes |"
echo "|---|---|---|---|"
for s in "ppmi2:musical instrument:2" "ppmi7:musical instrument:7" "stl10:object:10" "cifar10:object:10"; do
  IFS=: read -r set crit k <<< "$s"
  "$bin" cluster "target/ablation/captions/$set" --by "$crit" -k "$k" --json "$tmp/plain.json" > /dev/null 2>&1
  names=$(python3 - "../shared/data/captions/$set.jsonl" "$tmp/plain.json" <<'PY'
import collections, json, sys
label = {}
for line in open(sys.argv[1]):
    d = json.loads(line)
    label[d["id"]] = str(d["label"]).replace("_", " ")
r = json.load(open(sys.argv[2]))
counts = [collections.Counter() for _ in range(r["k"])]
for a in r["assignments"]:
    if a["cluster"] >= 0 and a["id"] in label:
        counts[a["cluster"]][label[a["id"]]] += 1
# PPMI-2's labels are "wind" / "string"; a model would say what they are.
plain = {"wind": "wind instruments", "string": "string instruments"}
print("\t".join(plain.get(c.most_common(1)[0][0], c.most_common(1)[0][0]) for c in counts))
PY
)
  IFS=$'\t' read -r -a answer <<< "$names"
  # The same names shifted by one cluster: every name describes another cluster.
  shifted=("${answer[@]:1}" "${answer[0]}")
  for variant in true shifted; do
    if [ "$variant" = true ]; then given=("${answer[@]}"); else given=("${shifted[@]}"); fi
    python3 notebooks/fixed_answer_llm.py "$port" "${given[@]}" & pid=$!
    sleep 0.5
    "$bin" cluster "target/ablation/captions/$set" --by "$crit" -k "$k" --namer llm \
      --llm-base-url "http://127.0.0.1:$port/v1" --llm-model fixed --json "$tmp/r.json" > /dev/null 2>&1
    kill "$pid"; wait "$pid" 2> /dev/null || true
    python3 - "$set" "$tmp/r.json" "$variant: $(IFS=,; echo "${given[*]}")" <<'PY'
import json, sys
d = json.load(open(sys.argv[2]))
notes = "; ".join(n for n in d["notes"] if n.startswith("LLM namer")) or "-"
print(f"| {sys.argv[1]} | {sys.argv[3]} | {d['namer']} | {notes} |")
PY
  done
done
