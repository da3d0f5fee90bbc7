#!/usr/bin/env bash
# The whole test suite. GPU tests run on whatever adapter exists (lavapipe without a GPU) and
# fail, never skip, when none is found (REQUIRE_GPU=1). As root (or with passwordless sudo), a
# real single-node Slurm is brought up on localhost (scripts/slurm-local.sh) and the Slurm test
# must pass (SNNLAB_SLURM=1); otherwise that one test is skipped with a message. NeuroGym is
# installed from PyPI into .venv-test/ for the NeuroGym bridge's test.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-deps.sh
[ -f "$HOME/.cargo/env" ] && . "$HOME/.cargo/env"
export REQUIRE_GPU=1 NODEVICE_SELECT=1
# Root, or passwordless sudo: bring up a real single-node Slurm for the job-array test.
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
if [ -z "$SUDO" ] || sudo -n true 2>/dev/null; then
    started=0
    scontrol ping 2>/dev/null | grep -q UP || started=1
    $SUDO bash scripts/slurm-local.sh up
    # Stop the daemons afterwards only if this script started them.
    [ "$started" = 1 ] && trap '$SUDO bash scripts/slurm-local.sh down >/dev/null 2>&1 || true' EXIT
    export SNNLAB_SLURM=1
else
    echo "note: neither root nor passwordless sudo, so no local Slurm is started; the Slurm test will be skipped"
fi
# NeuroGym for tests/cli/neurogym.rs, in a venv of its own (pinned: neurogym 2.3.x imports torch
# without declaring it); the test fails, never skips, when it is missing (REQUIRE_NEUROGYM=1).
VENV=.venv-test
[ -x "$VENV/bin/python" ] || python3 -m venv "$VENV"
"$VENV/bin/python" -c "import neurogym" 2>/dev/null || "$VENV/bin/pip" install -q "neurogym==2.2.0"
export SNNLAB_NEUROGYM_PYTHON="$PWD/$VENV/bin/python" REQUIRE_NEUROGYM=1
cargo fmt --check
cargo clippy --locked --all-targets -- -D warnings
cargo test --locked --no-fail-fast --lib --bins --tests
