#!/usr/bin/env bash
# benches/device.sh — the whole GPU-machine check in one command (prepare with
# benches/prepare-device.sh): the GPU kernel tests on the real GPU, then the benchmarks, with
# every result written under $OUT (CSV + logs). Each step has its own time limit so that one slow
# step cannot eat the lease (the limits add up to 590 s, under one device call's 600); a failing step is
# logged and the script goes on.
set -uo pipefail
cd "$(dirname "$0")/.."
OUT=${OUT:-runs/device}
mkdir -p "$OUT"
if ! ldconfig -p | grep -q libvulkan && ls .gl/*.deb >/dev/null 2>&1; then
    for f in .gl/*.deb; do dpkg -x "$f" /; done
    ldconfig
fi
# OpenBLAS (carried by prepare-device.sh) when the image has none, unpacked beside, not into, /.
if ! ldconfig -p | grep -q libopenblas.so.0 && ls .gl/blas/*.deb >/dev/null 2>&1; then
    for f in .gl/blas/*.deb; do dpkg -x "$f" /tmp/blas; done
    export LD_LIBRARY_PATH=/tmp/blas/usr/lib/x86_64-linux-gnu/openblas-pthread:/tmp/blas/usr/lib/x86_64-linux-gnu${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
fi
[ -f /usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json ] && export VK_DRIVER_FILES=/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json
BIN=.devbin/snnlab
[ -x "$BIN" ] || BIN=target/release/snnlab
export REQUIRE_GPU=1 NODEVICE_SELECT=1
step() { # step NAME SECONDS COMMAND...
    local name=$1 secs=$2; shift 2
    echo "== $name (limit ${secs}s)" | tee -a "$OUT/log.txt"
    local t0=$SECONDS
    timeout "$secs" "$@" >>"$OUT/log.txt" 2>&1; local rc=$?
    echo "== $name: exit $rc after $((SECONDS - t0))s" | tee -a "$OUT/log.txt"
}
{ nvidia-smi --query-gpu=name,memory.total,clocks.max.sm --format=csv 2>&1; "$BIN" devices 2>&1; } >"$OUT/devices.txt"
step "gpu kernel tests" 90 .devbin/gpu --test-threads 1
step "rate bench (paper reach setting)" 140 "$BIN" bench --n 200 --b 100 --t 300 --m 1,16,64 --rules bptt,eprop --devices gpu,cpu --repeats 3 --peer --csv "$OUT/bench_rate.csv"
step "rate bench (paper setting, simple step kernels)" 60 env SNNLAB_GPU_KERNELS=simple "$BIN" bench --n 200 --b 100 --t 300 --m 1,64 --rules bptt,eprop --devices gpu --repeats 3 --csv "$OUT/bench_rate_simple.csv"
step "rate bench (large N, PyTorch CUDA peer)" 120 "$BIN" bench --n 512,1024,2048 --b 64 --t 300 --m 1,16 --rules bptt,eprop --devices gpu --repeats 3 --peer --csv "$OUT/bench_rate_n1024.csv" --plot "$OUT/cost_rate.svg"
step "spiking bench" 120 "$BIN" bench-spiking --n 128,512,2048 --t 100,1000 --b 64 --devices gpu --repeats 3 --max-gflop-gpu 100000 --csv "$OUT/bench_spiking.csv"
step "spiking bench (simple step kernels)" 60 env SNNLAB_GPU_KERNELS=simple "$BIN" bench-spiking --n 512,2048 --t 100 --b 64 --forms bptt,eprop-factorised --devices gpu --repeats 3 --max-gflop-gpu 100000 --csv "$OUT/bench_spiking_simple.csv"
echo "done; results in $OUT" | tee -a "$OUT/log.txt"
