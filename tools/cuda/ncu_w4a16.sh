#!/usr/bin/env bash
# One call on the GPU machine (device tool): Nsight Compute on the W4A16 kernel (the default version, or
# VERSION) at m = 1 and m = 16 — speed of light, occupancy, scheduler and warp-state statistics (the stall
# reasons), memory workload — into $OUT/ncu_*.txt. Builds only the ctypes library it loads. (The kernels of
# w4a16_v3v4.cu are named `kernel`, version 6's `kernel6`; the third launch is profiled, after two warm ones.)
set -uo pipefail
OUT=${OUT:-/tmp/out}
VERSION=${VERSION:-0}
name=kernel
[ "$VERSION" = 6 ] && name=kernel6  # version 6 is kernel6 of the same file
mkdir -p "$OUT"
cmake -S src/kernels/cuda -B build/cuda-dev -G Ninja -DCMAKE_BUILD_TYPE=Release > "$OUT/build.log" 2>&1 &&
  cmake --build build/cuda-dev --target vernier_cuda_capi >> "$OUT/build.log" 2>&1 || { tail -30 "$OUT/build.log"; exit 1; }
driver=$(mktemp --suffix .py)
cat > "$driver" <<PY
import sys, torch, importlib.util
spec = importlib.util.spec_from_file_location("b", "tools/cuda/bench_w4a16.py")
b = importlib.util.module_from_spec(spec); spec.loader.exec_module(b)
lib = b.load("build/cuda-dev/libvernier_cuda_capi.so")
n, k, m = (int(v) for v in sys.argv[1:4])
codes = torch.randint(0, 16, (n, k), dtype=torch.uint8, device="cuda")
scales = (torch.rand(n, k // 128, device="cuda") * 0.02 + 0.002).half()
zeros = torch.randint(0, 16, (n, k // 128), dtype=torch.uint8, device="cuda")
v = b.Vernier(lib, codes, scales, zeros, 128, 1)
x = torch.randn(m, k, device="cuda", dtype=torch.bfloat16)
y = torch.empty(m, n, device="cuda", dtype=torch.bfloat16)
for _ in range(3):
    v.call(0, x, y, 0, $VERSION)
torch.cuda.synchronize()
PY
for shape in "8192 8192 1" "28672 8192 1" "8192 8192 16"; do
  tag=$(echo "$shape" | tr ' ' x)
  ncu --kernel-name $name --launch-skip 2 --launch-count 1 --section SpeedOfLight --section Occupancy --section LaunchStats \
    --section SchedulerStats --section WarpStateStats --section MemoryWorkloadAnalysis --section InstructionStats \
    python3 "$driver" $shape > "$OUT/ncu_$tag.txt" 2>&1
  echo "ncu $tag: rc $?"
done
rm -f "$driver"
