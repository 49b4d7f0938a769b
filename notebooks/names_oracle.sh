#!/usr/bin/env bash
# The one-call path (`--conditioning names`) with a fixed LLM answer: the true class names (what
# a strong model would ideally answer) and a small model's kind of answer. The class names live
# here, in the experiment, never in clusterby. Needs the indexes cached by
# `clusterby ablate --data ../shared/data/captions` in target/ablation/.
# Usage: bash notebooks/names_oracle.sh
set -euo pipefail
cd "$(dirname "$0")/.."
bin=target/release/clusterby
cargo build --release --quiet
port=18555
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
run() { # label set criterion k names...
  local label=$1 set=$2 crit=$3 k=$4; shift 4
  python3 notebooks/fixed_answer_llm.py "$port" "$@" & local pid=$!
  sleep 0.5
  "$bin" cluster "target/ablation/$set" --by "$crit" -k "$k" --conditioning names \
    --llm-base-url "http://127.0.0.1:$port/v1" --llm-model fixed --json "$tmp/r.json" > /dev/null 2>&1
  kill "$pid"; wait "$pid" 2> /dev/null || true
  local acc kept
  acc=$("$bin" eval "$tmp/r.json" --labels "target/ablation/$set" | awk '{print $2}')
  kept=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print('names kept' if any('fits the data (' in n for n in d['notes']) else 'unseeded kept')" "$tmp/r.json")
  echo "| $set | $label | $acc | $kept |"
}
echo "| set | LLM answer | ACC | partition |"
echo "|---|---|---|---|"
run "true class names" ppmi2 "musical instrument" 2 "wind instruments" "string instruments"
run "true class names" ppmi7 "musical instrument" 7 cello flute guitar harp saxophone trumpet violin
run "true class names" stl10 object 10 airplane bird car cat deer dog horse monkey ship truck
run "true class names" cifar10 object 10 airplane automobile bird cat deer dog frog horse ship truck
run "vague (musician playing, guitar playing)" ppmi2 "musical instrument" 2 "musician playing" "guitar playing"
run "vague (music, musician, stage, ...)" ppmi7 "musical instrument" 7 music musician stage band sound concert song
run "vague (toy, material, surface, ...)" stl10 object 10 toy material surface model aircraft chair vehicle piece person vessel
run "vague (small toy, toy car, statue, ...)" cifar10 object 10 "small toy" "toy car" "stuffed animal" material "wooden surface" statue aircraft wood person vehicle
