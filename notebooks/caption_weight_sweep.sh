#!/usr/bin/env bash
# Sweeps the caption weight A of `values` conditioning (fixed values and `auto`) over the caption
# sets and prints a Markdown table of Hungarian ACC, with the A that `auto` measured.
# Needs the indexes that `clusterby ablate --data ../shared/data` caches in
# target/ablation/. Usage: bash notebooks/caption_weight_sweep.sh [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
seed="${1:-42}"
bin=target/release/clusterby
cargo build --release --quiet
weights=(0 0.25 0.5 0.6 0.7 0.8 0.9 1 auto)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
printf '| set (criterion, K) |'; for a in "${weights[@]}"; do printf ' A = %s |' "$a"; done; printf ' A measured by auto |\n'
printf '|---|'; for _ in "${weights[@]}"; do printf -- '---|'; done; printf -- '---|\n'
for s in "ppmi2|musical instrument|2" "ppmi7|musical instrument|7" "stl10|object|10" "cifar10|object|10"; do
  IFS='|' read -r set crit k <<< "$s"
  printf '| %s (%s, %s) |' "$set" "$crit" "$k"
  for a in "${weights[@]}"; do
    "$bin" cluster "target/ablation/captions/$set" --by "$crit" -k "$k" --seed "$seed" --caption-weight "$a" \
      --json "$tmp/r.json" > /dev/null 2>&1
    acc=$("$bin" eval "$tmp/r.json" --labels "target/ablation/captions/$set" | awk '{print $2}')
    printf ' %s |' "$acc"
  done
  measured=$(python3 -c "import json,sys; d=json.load(open(sys.argv[1])); print(round(d['diagnostics']['conditioning']['caption_weight'], 2))" "$tmp/r.json")
  printf ' %s |\n' "$measured"
done
