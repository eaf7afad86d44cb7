// Affine integer quantization (symmetric and asymmetric), the formulas in quantize.hpp.
#include <algorithm>
#include <cmath>
#include <vector>

#include "internal.hpp"
#include "vernier/pack.hpp"

namespace vernier::detail {

namespace {
struct AffineParams {
  float scale;
  float inv;
  int32_t zero;
};

struct CodeRange {
  int32_t lo;
  int32_t hi;
  int32_t fixed_zero;  // symmetric: the zero point implied by the storage (0, or 2^(b-1) for uintB)
};

CodeRange code_range(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  const int b = f.bits;
  if (s.mode == AffineMode::asymmetric) return {0, (1 << b) - 1, 0};
  const int32_t qmax = (1 << (b - 1)) - 1;  // restricted symmetric range: -qmax..qmax
  const int32_t offset = f.is_signed ? 0 : (1 << (b - 1));
  return {-qmax + offset, qmax + offset, offset};
}
}  // namespace

void quantize_affine(const TensorView& in, QuantizedTensor& q) {
  const Scheme& s = q.scheme;
  const FormatInfo& f = format_info(s.format);
  const CodeRange range = code_range(s);
  const bool asym = s.mode == AffineMode::asymmetric;
  const std::vector<GroupRange> ranges = group_ranges(in, q);

  std::vector<AffineParams> params(ranges.size());
  q.scales.resize(ranges.size());
  if (asym) q.zero_points.resize(ranges.size());
  for (size_t g = 0; g < ranges.size(); ++g) {
    float scale;
    if (s.fixed_scale > 0.0f) {
      scale = s.fixed_scale;
    } else if (asym) {
      const float lo = std::min(ranges[g].min, 0.0f);
      const float hi = std::max(ranges[g].max, 0.0f);
      scale = (hi - lo) / static_cast<float>(range.hi);
    } else {
      scale = ranges[g].absmax / static_cast<float>(range.hi - range.fixed_zero);
    }
    scale = store_scale(scale, s.scale_type);
    const float inv = inverse_scale(scale);
    int32_t zero = range.fixed_zero;
    if (asym) {
      const float lo = std::min(ranges[g].min, 0.0f);
      zero = std::clamp(round_to_int(-lo * inv, Rounding::nearest_even), range.lo, range.hi);
      q.zero_points[g] = zero;
    }
    params[g] = {scale, inv, zero};
    q.scales[g] = scale;
  }

  std::vector<int32_t> row_codes(static_cast<size_t>(q.cols));
  int64_t current_row = -1;
  const auto flush = [&](int64_t r) {
    pack_codes(row_codes.data(), q.cols, f.bits, q.codes.data() + r * q.row_bytes);
  };
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    if (r != current_row) {
      if (current_row >= 0) flush(current_row);
      current_row = r;
    }
    const AffineParams p = params[static_cast<size_t>(g)];
    const float* x = in.data + r * in.cols;
    for (int64_t c = c0; c < c1; ++c) {
      // the zero point is added after rounding, so it stays an exact integer offset
      const int32_t v = round_to_int(x[c] * p.inv, s.rounding) + p.zero;
      row_codes[static_cast<size_t>(c)] = std::clamp(v, range.lo, range.hi);
    }
  });
  if (current_row >= 0) flush(current_row);
}

void dequantize_affine(const QuantizedTensor& q, float* out) {
  const Scheme& s = q.scheme;
  const FormatInfo& f = format_info(s.format);
  const CodeRange range = code_range(s);
  const bool asym = s.mode == AffineMode::asymmetric;
  const bool sign_extend = !asym && f.is_signed;
  std::vector<int32_t> row_codes(static_cast<size_t>(q.cols));
  int64_t current_row = -1;
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    if (r != current_row) {
      unpack_codes(q.codes.data() + r * q.row_bytes, q.cols, f.bits, sign_extend, row_codes.data());
      current_row = r;
    }
    const float scale = q.scales[static_cast<size_t>(g)];
    const int32_t zero = asym ? q.zero_points[static_cast<size_t>(g)] : range.fixed_zero;
    float* y = out + r * q.cols;
    for (int64_t c = c0; c < c1; ++c) {
      y[c] = static_cast<float>(row_codes[static_cast<size_t>(c)] - zero) * scale;
    }
  });
}

}  // namespace vernier::detail
