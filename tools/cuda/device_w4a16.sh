#!/usr/bin/env bash
# One call on the GPU machine (device tool): build the CUDA project standalone, run the kernels' tests,
# compute-sanitizer memcheck and racecheck on the quick subset, then the side-by-side benchmark.
# Logs and the benchmark's JSON go to $OUT.
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv | tee "$OUT/gpu.txt"
cmake -S src/kernels/cuda -B build/cuda-dev -G Ninja -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build build/cuda-dev >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
cuobjdump -sass build/cuda-dev/libvernier_cuda.a 2>/dev/null | gzip > "$OUT/sass.txt.gz"
./build/cuda-dev/vernier_cuda_w4a16_tests > "$OUT/w4a16_tests.log" 2>&1; rc=$?
grep -v '^ok' "$OUT/w4a16_tests.log" | tail -25
echo "w4a16 tests: rc $rc"
if [ "${SKIP_SANITIZER:-0}" != 1 ]; then
  for tool in ${SANITIZERS:-memcheck racecheck}; do
    VERNIER_CUDA_QUICK=1 compute-sanitizer --tool $tool --error-exitcode 9 ./build/cuda-dev/vernier_cuda_w4a16_tests > "$OUT/sanitizer_$tool.log" 2>&1
    echo "compute-sanitizer $tool: rc $? — $(tail -2 "$OUT/sanitizer_$tool.log" | tr '\n' ' ')"
  done
fi
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  PYTHONUNBUFFERED=1 python3 tools/cuda/bench_w4a16.py --lib build/cuda-dev/libvernier_cuda_capi.so --json "$OUT/bench.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
fi
