// C entry points over the CUDA kernels, for tools/cuda/bench_w4a16.py (ctypes): the same kernels timed beside
// torch's in one process, on buffers torch allocates, in graphs torch captures. Errors come back as text.
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>

#include "vernier/cuda_w4.hpp"

namespace {
void put(char* err, int len, const char* what) {
  if (err && len > 0) std::snprintf(err, static_cast<size_t>(len), "%s", what);
}
}  // namespace

extern "C" {

// codes: rows × cols (u ∈ [0, 15]); scales: rows × groups; zeros: rows × groups or null (symmetric); perm: cols
// entries or null. group 0: one group per row. Returns null and the reason in err on failure.
void* vw4_create(const uint8_t* codes, const float* scales, const uint8_t* zeros, const int32_t* perm, int64_t rows, int64_t cols,
                 int64_t group, char* err, int errlen) {
  try {
    vernier::cuda::W4Source s;
    s.rows = rows;
    s.cols = cols;
    s.group = group;
    const int64_t g = group == 0 ? cols : group, groups = (cols + g - 1) / g;
    s.codes.assign(codes, codes + rows * cols);
    s.scales.assign(scales, scales + rows * groups);
    if (zeros) s.zeros.assign(zeros, zeros + rows * groups);
    if (perm) s.perm.assign(perm, perm + cols);
    return new vernier::cuda::W4Matrix(vernier::cuda::pack_w4_tiles(s, "vw4_create"));
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return nullptr;
  }
}

// act 0: bfloat16, 1: FP16. Returns 0, or 1 with the reason in err.
// version: the kernel of the lab (0: the default).
int vw4_multiply(void* h, const void* x, int act, int64_t m, void* y, int f32_out, void* stream, int version, char* err, int errlen) {
  try {
    static_cast<vernier::cuda::W4Matrix*>(h)->multiply(x, act == 0 ? vernier::cuda::Act::bf16 : vernier::cuda::Act::f16, m, y, f32_out != 0,
                                                       stream, version);
    return 0;
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return 1;
  }
}

// A second copy of the tiles on the device (benchmarks rotate over copies). Null and err on failure.
void* vw4_clone(void* h, char* err, int errlen) {
  try {
    return new vernier::cuda::W4Matrix(static_cast<vernier::cuda::W4Matrix*>(h)->clone());
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return nullptr;
  }
}

int vw4_versions() { return vernier::cuda::kW4Versions; }
int vw4_default_version() { return vernier::cuda::kW4Default; }

uint64_t vw4_bytes(void* h) { return static_cast<vernier::cuda::W4Matrix*>(h)->bytes(); }

void vw4_destroy(void* h) { delete static_cast<vernier::cuda::W4Matrix*>(h); }
}
