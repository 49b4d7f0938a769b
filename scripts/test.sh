#!/usr/bin/env bash
# The project's test command: set up the runtime and models, then run every test.
# Tests that need the real model, ../shared or a local LLM server find them set up here.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
bash scripts/setup.sh
export CLUSTERBY_REQUIRE_MODELS=1  # model-dependent tests fail instead of skipping
cargo test --all-targets "$@"
