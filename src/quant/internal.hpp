// Internal to src/quant: the pieces quantize.cpp dispatches to, one file per format family.
#pragma once

#include <cstdint>

#include "vernier/quantize.hpp"

namespace vernier::detail {

// Calls f(row, col_begin, col_end, group) for every run of consecutive elements of one row that
// share a group, in row-major order.
template <class F>
void for_each_segment(const QuantizedTensor& q, F&& f) {
  const Scheme& s = q.scheme;
  for (int64_t r = 0; r < q.rows; ++r) {
    if (s.granularity == Granularity::per_tensor) {
      f(r, int64_t{0}, q.cols, int64_t{0});
    } else if (s.granularity == Granularity::per_channel) {
      f(r, int64_t{0}, q.cols, r);
    } else {
      const int64_t g = s.group_size;
      const int64_t gpr = q.groups_per_row();
      for (int64_t j = 0; j < gpr; ++j) {
        const int64_t end = (j + 1) * g < q.cols ? (j + 1) * g : q.cols;
        f(r, j * g, end, r * gpr + j);
      }
    }
  }
}

struct GroupRange {
  float min = 0.0f;
  float max = 0.0f;
  float absmax = 0.0f;
};
std::vector<GroupRange> group_ranges(const TensorView& in, const QuantizedTensor& q);

// A derived scale stored as scale_type: FP16 rounds to nearest even; a positive scale that would
// round to 0 becomes the smallest FP16 subnormal so that a non-zero group never gets scale 0.
float store_scale(float scale, ScaleType type);
// 1/s, or 0 for an all-zero group (s == 0), so that x * inv is 0 and never NaN.
inline float inverse_scale(float s) { return s > 0.0f ? 1.0f / s : 0.0f; }
int32_t round_to_int(float v, Rounding rounding);

void quantize_affine(const TensorView& in, QuantizedTensor& q);
// One group of n values quantized and decoded under an integer scheme (quantize_affine's arithmetic).
void fake_quantize_affine_group(const Scheme& s, const float* x, int64_t n, float* out);
void dequantize_affine(const QuantizedTensor& q, float* out);
void quantize_nf4(const TensorView& in, QuantizedTensor& q);
void dequantize_nf4(const QuantizedTensor& q, float* out);
void quantize_fp8(const TensorView& in, QuantizedTensor& q);
void dequantize_fp8(const QuantizedTensor& q, float* out);

}  // namespace vernier::detail
