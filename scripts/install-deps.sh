#!/usr/bin/env bash
# System packages snnlab needs on Debian/Ubuntu: the Vulkan loader and Mesa's software Vulkan
# (lavapipe), so the GPU engine runs where there is no GPU; OpenBLAS (LAPACK for the SVDs of the
# similarity metrics); a C toolchain for -sys crates; Python 3 with venv (NeuroGym test).
# Installs a Rust toolchain with rustup only when cargo is missing.
set -euo pipefail
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
need=()
for p in libvulkan1 mesa-vulkan-drivers libopenblas-dev gcc pkg-config ca-certificates curl; do
    dpkg -s "$p" >/dev/null 2>&1 || need+=("$p")
done
# Python 3 with venv (and ensurepip) for the NeuroGym bridge's test venv.
python3 -c "import venv, ensurepip" 2>/dev/null || need+=(python3 python3-venv)
if [ ${#need[@]} -gt 0 ]; then
    echo "installing: ${need[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi
if ! command -v cargo >/dev/null 2>&1; then
    [ -x "$HOME/.cargo/bin/cargo" ] || curl -sSf https://sh.rustup.rs | sh -s -- -y --profile minimal -c rustfmt -c clippy
    echo "Rust installed in ~/.cargo/bin; run: source ~/.cargo/env"
fi
