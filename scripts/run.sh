#!/usr/bin/env bash
# Install what snnlab needs (scripts/install-deps.sh; Rust too, if cargo is missing), build it
# optimised, and run it with the given arguments: `bash scripts/run.sh reproduce`.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
exec cargo run --release --locked -- "$@"
