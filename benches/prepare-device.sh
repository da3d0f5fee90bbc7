#!/usr/bin/env bash
# Prepare a run on a lent GPU machine (see benches/device.sh): build the release binary and the
# GPU test binaries here and copy them into .devbin/, and fetch the Vulkan loader packages into
# .gl/ (both ignored by git). Then, with the device tool:
#   run(command="bash benches/device.sh", carry=[".devbin", ".gl"], timeout_s=600)
set -euo pipefail
cd "$(dirname "$0")/.."
grep -qx '/.devbin/' .git/info/exclude 2>/dev/null || echo /.devbin/ >> .git/info/exclude
grep -qx '/.gl/' .git/info/exclude 2>/dev/null || echo /.gl/ >> .git/info/exclude
cargo build --release --locked
mkdir -p .devbin
cp target/release/snnlab .devbin/
for t in gpu; do
    exe=$(cargo test --release --locked --test "$t" --no-run --message-format=json 2>/dev/null \
        | python3 -c 'import sys, json
for l in sys.stdin:
    m = json.loads(l)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["kind"] == ["test"]:
        print(m["executable"])' | tail -1)
    cp "$exe" ".devbin/$t"
done
if [ ! -d .gl ] || [ -z "$(ls .gl/*.deb 2>/dev/null)" ]; then
    mkdir -p .gl /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -qq && (cd .gl && apt-get $o download libvulkan1 libegl1 libglvnd0 libopengl0 libgl1 libglx0 libgles2)
fi
# The GPU machine's image has no system OpenBLAS, which snnlab links (LAPACK SVD, CPU GEMMs):
# carry its packages too; device.sh unpacks them under /tmp, not /.
if [ -z "$(ls .gl/blas/*.deb 2>/dev/null)" ]; then
    mkdir -p .gl/blas /tmp/amd64/partial
    o='-oAPT::Architecture=amd64 -oAPT::Architectures=amd64 -oDir::State::Lists=/tmp/amd64'
    apt-get $o update -qq && (cd .gl/blas && apt-get $o download libopenblas0-pthread libgfortran5 libquadmath0)
fi
du -sh .devbin .gl
