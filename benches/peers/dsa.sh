#!/usr/bin/env bash
# `snnlab dsa` vs the dsa-metric package (see dsa_metric.py). Makes a venv with the package in
# target/peers-venv if it is missing; if it cannot be installed, says so in one line and exits 0.
# Usage: benches/peers/dsa.sh [--sizes 10,20,40] [--iters 1500] [--n-delays 2]
set -u
root="$(cd "$(dirname "$0")/../.." && pwd)"
venv="${DSA_PEER_VENV:-$root/target/peers-venv}"
target="${CARGO_TARGET_DIR:-$root/target}"
# SNNLAB overrides; else the release binary, else the dev one (deps at opt-level 3, ours at 1).
snnlab="${SNNLAB:-$target/release/snnlab}"
[ -x "$snnlab" ] || snnlab="$target/debug/snnlab"
if [ ! -x "$snnlab" ]; then
  (cd "$root" && cargo build --release --quiet) || { echo "dsa peer: cannot build snnlab"; exit 1; }
  snnlab="$target/release/snnlab"
fi
if ! "$venv/bin/python" -c "import DSA" >/dev/null 2>&1; then
  if ! { python3 -m venv "$venv" && "$venv/bin/pip" install -q dsa-metric; } >/dev/null 2>&1; then
    echo "dsa-metric peer skipped: could not install the package into $venv"
    exit 0
  fi
fi
exec "$venv/bin/python" "$root/benches/peers/dsa_metric.py" --snnlab "$snnlab" "$@"
