#!/usr/bin/env bash
# The whole test suite. GPU tests run on whatever adapter exists (lavapipe without a GPU) and
# fail, never skip, when none is found (REQUIRE_GPU=1).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export REQUIRE_GPU=1 NODEVICE_SELECT=1
cargo test --locked --lib --bins --tests
