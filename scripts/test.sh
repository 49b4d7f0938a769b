#!/usr/bin/env bash
# The project's test command: set up the runtime and models, check formatting and lints, then
# run every test. Tests that need the real model, ../shared or a local LLM server find them set
# up here, and fail (instead of skipping) when they are missing.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
cargo fmt --check
cargo clippy --all-targets -- -D warnings
cargo clippy --lib --features python -- -D warnings
export CLUSTERBY_REQUIRE_MODELS=1
cargo test --all-targets "$@"
# The Python package: built into the project's venv, then its tests (same models, same data).
.venv/bin/python -m pip install --quiet --disable-pip-version-check -r python/requirements-dev.txt
.venv/bin/maturin develop --release --quiet
.venv/bin/python -m pytest -q tests/python
