// Internal: vernier's own weight-only formats (QuantizedTensor) in the form the kernels read, and
// the scalar reference dot product (the registry's reference_dot for these families).
//
// A row's dot product with float32 activations x is Σ_g s_g · (Σ_{i∈g} c_i·x_i − z_g·X_g), c_i the
// code's value before the scale and X_g = Σ_{i∈g} x_i (computed once per activation row, shared by
// every weight row). Integer codes are read as unsigned fields u (b bits) with c = (u XOR flip) −
// zero: flip = 2^(b−1) for a signed symmetric format (two's complement fields), zero the group's
// zero point (asymmetric) or 2^(b−1) (symmetric). NF4 codes index the 16 levels; FP8 codes are
// E4M3/E5M2 values.
#pragma once

#include <cstdint>

#include "vernier/float_codecs.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"
#include "vernier/quantize.hpp"

namespace vernier::kernels {

enum class WoKind : uint8_t { integer, nf4, fp8_e4m3, fp8_e5m2 };

// A group's scale and zero point are read through scale(g) and zero(g), from whichever form the
// weights are held in: a QuantizedTensor's float32 scales and int32 zero points, or a PackedTensor's
// stored precision (FP16 scales, NF4 double-quantization codes, zero points packed at the code
// width), decoded per group — once per group_len weights, so the packed form costs no bandwidth.
struct WoDesc {
  WoKind kind = WoKind::integer;
  int bits = 8;
  uint32_t flip = 0;
  int32_t fixed_zero = 0;                 // symmetric integer formats
  const int32_t* zeros = nullptr;         // asymmetric, unpacked: one per group
  const uint8_t* zeros_packed = nullptr;  // asymmetric, packed at `bits` bits per group
  const float* scales = nullptr;          // float32: one per group
  const uint16_t* scales_f16 = nullptr;   // FP16 bit patterns: one per group
  const uint8_t* dq_codes = nullptr;      // NF4 double quantization: dynamic8 code per group …
  const float* dq_absmax = nullptr;       // … times the absmax of its block of dq_block groups …
  float dq_offset = 0.0f;                 // … plus the offset (exactly what the quantizer stored)
  int64_t dq_block = 256;
  int64_t cols = 0, row_bytes = 0;
  int64_t group_len = 0;           // elements per group (cols for per-tensor and per-channel)
  int64_t groups_per_row = 0;      // groups in one row
  bool per_tensor = false;         // one scale (and zero) for every row
  int64_t group_of(int64_t row, int64_t j) const { return per_tensor ? 0 : row * groups_per_row + j; }
  float scale(int64_t g) const {
    if (scales) return scales[g];
    if (scales_f16) return fp16_to_float(scales_f16[g]);
    return dynamic8_decode(dq_codes[g]) * dq_absmax[g / dq_block] + dq_offset;
  }
  int32_t zero(int64_t g) const {
    if (zeros) return zeros[g];
    if (zeros_packed) return unpack_code(zeros_packed, g, bits, false);
    return fixed_zero;
  }
};

WoDesc describe_weights(const QuantizedTensor& q);  // throws a usage Error for formats without a kernel
WoDesc describe_weights(const PackedTensor& p);

// Row r's dot product with x (cols floats) given X_g per group of the row (groups_per_row floats).
using WoDotFn = float (*)(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum);
float wo_reference_dot(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum);
// X_g = Σ x over each group of one row (groups_per_row values), with eight partial sums; the
// reference and every kernel use these same values.
void group_sums(const WoDesc& d, const float* x, float* out);
// The reference dot of row `row` with float32 activations x (cols values).
float scheme_reference_dot(const QuantizedTensor& w, int64_t row, const float* x);
float scheme_reference_dot(const PackedTensor& w, int64_t row, const float* x);

}  // namespace vernier::kernels
