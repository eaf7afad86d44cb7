// Affine integer quantization (symmetric and asymmetric), the formulas in quantize.hpp.
#include <algorithm>
#include <cmath>
#include <utility>
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
// [lo, hi] of an asymmetric group under the scheme's range rule
std::pair<float, float> asym_bounds(const Scheme& s, const GroupRange& r) {
  if (s.range == AsymRange::min_max) return {r.min, r.max};
  return {std::min(r.min, 0.0f), std::max(r.max, 0.0f)};
}
// One group's scale, its inverse and zero point (the formulas in quantize.hpp).
AffineParams affine_params(const Scheme& s, const CodeRange& range, const GroupRange& r) {
  const bool asym = s.mode == AffineMode::asymmetric;
  float scale;
  if (s.fixed_scale > 0.0f) {
    scale = s.fixed_scale;
  } else if (asym) {
    const auto [lo, hi] = asym_bounds(s, r);
    // AWQ's rule floors the span at 1e-5 (its own constant) so a constant group gets a finite scale
    const float span = s.range == AsymRange::min_max ? std::max(hi - lo, 1e-5f) : hi - lo;
    scale = span / static_cast<float>(range.hi);
  } else {
    scale = r.absmax / static_cast<float>(range.hi - range.fixed_zero);
  }
  scale = store_scale(scale, s.scale_type);
  const float inv = inverse_scale(scale);
  int32_t zero = range.fixed_zero;
  if (asym) zero = std::clamp(round_to_int(-asym_bounds(s, r).first * inv, Rounding::nearest_even), range.lo, range.hi);
  return {scale, inv, zero};
}
}  // namespace

void fake_quantize_affine_group(const Scheme& s, const float* x, int64_t n, float* out) {
  const CodeRange range = code_range(s);
  GroupRange r;
  if (n > 0) r.min = r.max = x[0];
  for (int64_t i = 0; i < n; ++i) {
    r.min = std::min(r.min, x[i]);
    r.max = std::max(r.max, x[i]);
    r.absmax = std::max(r.absmax, std::fabs(x[i]));
  }
  const AffineParams p = affine_params(s, range, r);
  for (int64_t i = 0; i < n; ++i) {
    const int32_t v = std::clamp(round_to_int(x[i] * p.inv, s.rounding) + p.zero, range.lo, range.hi);
    out[i] = static_cast<float>(v - p.zero) * p.scale;
  }
}

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
    params[g] = affine_params(s, range, ranges[g]);
    q.scales[g] = params[g].scale;
    if (asym) q.zero_points[g] = params[g].zero;
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
