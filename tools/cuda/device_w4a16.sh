#!/usr/bin/env bash
# One call on the GPU machine (device tool): build the CUDA project standalone, run the kernels' tests,
# compute-sanitizer memcheck and racecheck on the quick subsets, then the side-by-side benchmark.
# Logs and the benchmark's JSON go to $OUT. TESTS: which test programs (default: all of them).
set -uo pipefail
OUT=${OUT:-/tmp/out}
mkdir -p "$OUT"
nvidia-smi --query-gpu=name,clocks.sm,clocks.mem,temperature.gpu,utilization.gpu --format=csv | tee "$OUT/gpu.txt"
cmake -S src/kernels/cuda -B build/cuda-dev -G Ninja -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build build/cuda-dev >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
cuobjdump -sass build/cuda-dev/libvernier_cuda.a 2>/dev/null | gzip > "$OUT/sass.txt.gz"
for t in ${TESTS:-w4a16 wo gguf}; do
  ./build/cuda-dev/vernier_cuda_${t}_tests > "$OUT/${t}_tests.log" 2>&1; rc=$?
  grep -v '^ok' "$OUT/${t}_tests.log" | tail -25
  echo "$t tests: rc $rc"
  if [ "${SKIP_SANITIZER:-0}" != 1 ]; then
    for tool in ${SANITIZERS:-memcheck racecheck}; do
      VERNIER_CUDA_QUICK=1 compute-sanitizer --tool $tool --error-exitcode 9 ./build/cuda-dev/vernier_cuda_${t}_tests > "$OUT/sanitizer_${t}_$tool.log" 2>&1
      echo "compute-sanitizer $tool on $t: rc $? — $(tail -2 "$OUT/sanitizer_${t}_$tool.log" | tr '\n' ' ')"
    done
  fi
done
if [ "${SKIP_BENCH:-0}" != 1 ]; then
  PYTHONUNBUFFERED=1 python3 tools/cuda/bench_w4a16.py --lib build/cuda-dev/libvernier_cuda_capi.so --json "$OUT/bench.json" ${BENCH_ARGS:-} 2>&1 | tee "$OUT/bench.log"
fi
