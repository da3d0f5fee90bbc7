#!/usr/bin/env bash
# `snnlab dsa` vs the dsa-metric package (see dsa_metric.py). Makes a venv with the package in
# target/peers-venv if it is missing; if it cannot be installed, says so in one line and exits 0.
# Pinned: 2.0.2 changed the default score to Wasserstein (the script asks for angular anyway).
# Usage: benches/peers/dsa.sh [--sizes 10,20,40] [--iters 1500] [--n-delays 2] [--repeats 3]
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
pin="dsa-metric==2.0.2"
have_pin() { "$venv/bin/python" -c "import DSA, importlib.metadata as m; assert m.version('dsa-metric') == '2.0.2'" >/dev/null 2>&1; }
if ! have_pin; then
  if ! { [ -x "$venv/bin/python" ] || python3 -m venv "$venv"; } >/dev/null 2>&1 ||
    ! "$venv/bin/pip" install -q "$pin" >/dev/null 2>&1 || ! have_pin; then
    echo "dsa-metric peer skipped: could not install $pin into $venv"
    exit 0
  fi
fi
exec "$venv/bin/python" "$root/benches/peers/dsa_metric.py" --snnlab "$snnlab" "$@"
