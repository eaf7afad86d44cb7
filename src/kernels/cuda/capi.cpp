// C entry points over the CUDA kernels, for tools/cuda/bench_w4a16.py (ctypes): the same kernels timed beside
// torch's in one process, on buffers torch allocates, in graphs torch captures. Errors come back as text.
#include <cstdio>
#include <cstring>
#include <exception>
#include <memory>
#include <stdexcept>

#include "vernier/cuda_w4.hpp"
#include "vernier/cuda_wo.hpp"
#include "vernier/nf4.hpp"

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

// The weight-only GEMV (cuda_wo.hpp). format 0: INT8, 1: FP8 E4M3, 2: NF4. codes: rows × cols, one per weight;
// scales rows × groups (null for NF4 with dq); zeros: INT8 with zero points, else null; dq_codes/dq_absmax:
// NF4 double quantization, else null. symmetric: INT8 codes are signed.
void* vwo_create(int format, const uint8_t* codes, const float* scales, const uint8_t* zeros, const uint8_t* dq_codes, const float* dq_absmax,
                 int64_t dq_block, float dq_offset, int64_t rows, int64_t cols, int64_t group, int symmetric, char* err, int errlen) {
  try {
    if (format < 0 || format > 2) throw std::invalid_argument("vwo_create: format 0 (int8), 1 (fp8_e4m3) or 2 (nf4)");
    vernier::cuda::WoSource w;
    w.format = static_cast<vernier::cuda::WoFormat>(format);
    w.rows = rows;
    w.cols = cols;
    w.group = group;
    w.symmetric = symmetric != 0;
    const int64_t ng = rows * w.groups();
    w.codes.assign(codes, codes + rows * cols);
    if (scales) w.scales.assign(scales, scales + ng);
    if (zeros) w.zeros.assign(zeros, zeros + ng);
    if (dq_codes) {
      w.dq_codes.assign(dq_codes, dq_codes + ng);
      w.dq_block = dq_block;
      w.dq_absmax.assign(dq_absmax, dq_absmax + (ng + dq_block - 1) / dq_block);
      w.dq_offset = dq_offset;
    }
    return new vernier::cuda::WoMatrix(vernier::cuda::pack_wo(w, "vwo_create"));
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return nullptr;
  }
}

// version: the kernel of the lab (0: the default).
int vwo_multiply(void* h, const void* x, int act, int64_t m, void* y, int f32_out, void* stream, int version, char* err, int errlen) {
  try {
    static_cast<vernier::cuda::WoMatrix*>(h)->multiply(x, act == 0 ? vernier::cuda::Act::bf16 : vernier::cuda::Act::f16, m, y, f32_out != 0, stream,
                                                       version);
    return 0;
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return 1;
  }
}

void* vwo_clone(void* h, char* err, int errlen) {
  try {
    return new vernier::cuda::WoMatrix(static_cast<vernier::cuda::WoMatrix*>(h)->clone());
  } catch (const std::exception& e) {
    put(err, errlen, e.what());
    return nullptr;
  }
}

int vwo_versions() { return vernier::cuda::kWoVersions; }

uint64_t vwo_bytes(void* h) { return static_cast<vernier::cuda::WoMatrix*>(h)->bytes(); }

void vwo_destroy(void* h) { delete static_cast<vernier::cuda::WoMatrix*>(h); }

// The 8-bit dynamic map NF4's double quantization decodes absmax codes with (256 floats), for the
// benchmark's float32 reference.
void vwo_dynamic8_map(float* out) { std::memcpy(out, vernier::dynamic8_map().data(), 256 * sizeof(float)); }
}
