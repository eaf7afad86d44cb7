// quantize()/dequantize(): geometry, input checks, the cast formats, and dispatch by format kind.
#include <algorithm>
#include <bit>
#include <cmath>
#include <cstring>
#include <string>

#include "internal.hpp"
#include "vernier/error.hpp"
#include "vernier/pack.hpp"

namespace vernier {

namespace detail {

std::vector<GroupRange> group_ranges(const TensorView& in, const QuantizedTensor& q) {
  std::vector<GroupRange> ranges(static_cast<size_t>(q.num_groups()));
  std::vector<bool> seen(ranges.size(), false);
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    const float* x = in.data + r * in.cols;
    GroupRange& gr = ranges[static_cast<size_t>(g)];
    float lo = seen[static_cast<size_t>(g)] ? gr.min : x[c0];
    float hi = seen[static_cast<size_t>(g)] ? gr.max : x[c0];
    for (int64_t c = c0; c < c1; ++c) {
      lo = std::min(lo, x[c]);
      hi = std::max(hi, x[c]);
    }
    gr.min = lo;
    gr.max = hi;
    gr.absmax = std::max(std::fabs(lo), std::fabs(hi));
    seen[static_cast<size_t>(g)] = true;
  });
  return ranges;
}

float store_scale(float scale, ScaleType type) {
  if (type == ScaleType::f32 || !(scale > 0.0f)) return scale;
  const float stored = fp16_to_float(fp16_from_float(scale, Rounding::nearest_even, Saturation::saturate));
  return stored > 0.0f ? stored : 0x1p-24f;
}

int32_t round_to_int(float v, Rounding rounding) {
  // Explicit rounding that does not depend on the floating-point environment and needs no libm call:
  // truncate (cvttss2si), then look at the exact remainder. Clamped first so that a value far outside
  // any code range (a tiny fixed scale) cannot overflow the conversion. For |v| >= 2^23 every float
  // is an integer and the remainder is 0.
  v = std::clamp(v, -1073741824.0f, 1073741824.0f);
  const int32_t t = static_cast<int32_t>(v);         // toward zero
  if (rounding == Rounding::toward_zero) return t;
  const float frac = v - static_cast<float>(t);       // exact, in (-1, 1)
  int32_t r = t;
  r += (frac > 0.5f) - (frac < -0.5f);
  // a tie goes to the even neighbour: away from an odd t
  r += (frac == 0.5f) * (t & 1) - (frac == -0.5f) * (t & 1);
  return r;
}

}  // namespace detail

namespace {

static_assert(std::endian::native == std::endian::little, "codes are stored little-endian");

bool is_cast(FormatId f) { return f == FormatId::f32 || f == FormatId::f16 || f == FormatId::bf16; }

void check_finite(const TensorView& in) {
  const int64_t n = in.rows * in.cols;
  for (int64_t i = 0; i < n; ++i) {
    if (!std::isfinite(in.data[i])) {
      throw_bad_input("tensor '" + std::string(in.name) + "': element [" + std::to_string(i / in.cols) +
                      ", " + std::to_string(i % in.cols) + "] is " +
                      (std::isnan(in.data[i]) ? "NaN" : "Inf") +
                      "; scaled formats need finite values (a non-finite value would set its "
                      "group's scale to Inf or NaN)");
    }
  }
}

void quantize_cast(const TensorView& in, QuantizedTensor& q) {
  const Scheme& s = q.scheme;
  for (int64_t r = 0; r < q.rows; ++r) {
    const float* x = in.data + r * in.cols;
    uint8_t* out = q.codes.data() + r * q.row_bytes;
    for (int64_t c = 0; c < q.cols; ++c) {
      if (s.format == FormatId::f32) {
        std::memcpy(out + 4 * c, &x[c], 4);
      } else {
        const uint16_t h = s.format == FormatId::f16 ? fp16_from_float(x[c], s.rounding, s.saturation)
                                                     : bf16_from_float(x[c], s.rounding, s.saturation);
        out[2 * c] = static_cast<uint8_t>(h & 0xff);
        out[2 * c + 1] = static_cast<uint8_t>(h >> 8);
      }
    }
  }
}

void dequantize_cast(const QuantizedTensor& q, float* out) {
  for (int64_t r = 0; r < q.rows; ++r) {
    const uint8_t* in = q.codes.data() + r * q.row_bytes;
    float* y = out + r * q.cols;
    if (q.scheme.format == FormatId::f32) {
      std::memcpy(y, in, static_cast<size_t>(q.cols) * 4);
      continue;
    }
    for (int64_t c = 0; c < q.cols; ++c) {
      const uint16_t h = static_cast<uint16_t>(in[2 * c] | (in[2 * c + 1] << 8));
      y[c] = q.scheme.format == FormatId::f16 ? fp16_to_float(h) : bf16_to_float(h);
    }
  }
}

}  // namespace

QuantizedTensor quantize(const TensorView& in, const Scheme& scheme) {
  validate(scheme);
  if (in.rows < 0 || in.cols < 0 || (in.rows * in.cols > 0 && in.data == nullptr)) {
    throw_usage("tensor '" + std::string(in.name) + "': invalid shape or null data");
  }
  QuantizedTensor q;
  q.scheme = scheme;
  if (is_cast(scheme.format)) {
    q.scheme.granularity = Granularity::per_tensor;  // casts have no scales
    q.scheme.group_size = 0;
  }
  q.rows = in.rows;
  q.cols = in.cols;
  const FormatInfo& f = format_info(scheme.format);
  q.row_bytes = packed_bytes(in.cols, f.bits);
  q.codes.assign(static_cast<size_t>(q.rows * q.row_bytes), 0);
  if (in.rows == 0 || in.cols == 0) return q;
  if (is_cast(scheme.format)) {
    quantize_cast(in, q);
    return q;
  }
  check_finite(in);
  switch (f.kind) {
    case FormatKind::integer: detail::quantize_affine(in, q); break;
    case FormatKind::lookup: detail::quantize_nf4(in, q); break;
    case FormatKind::floating: detail::quantize_fp8(in, q); break;
  }
  return q;
}

void dequantize(const QuantizedTensor& q, std::span<float> out) {
  if (static_cast<int64_t>(out.size()) != q.rows * q.cols) {
    throw_usage("dequantize: output has " + std::to_string(out.size()) + " elements, expected " +
                std::to_string(q.rows * q.cols));
  }
  if (q.rows == 0 || q.cols == 0) return;
  const FormatInfo& f = format_info(q.scheme.format);
  if (is_cast(q.scheme.format)) return dequantize_cast(q, out.data());
  switch (f.kind) {
    case FormatKind::integer: detail::dequantize_affine(q, out.data()); break;
    case FormatKind::lookup: detail::dequantize_nf4(q, out.data()); break;
    case FormatKind::floating: detail::dequantize_fp8(q, out.data()); break;
  }
}

std::vector<float> dequantize(const QuantizedTensor& q) {
  std::vector<float> out(static_cast<size_t>(q.rows * q.cols));
  dequantize(q, out);
  return out;
}

std::vector<float> dequantize_linear(const QuantizedLinear& w) {
  std::vector<float> d = dequantize(w.q);
  if (w.perm.empty()) return d;
  const int64_t rows = w.q.rows, cols = w.q.cols;
  std::vector<float> out(d.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) out[static_cast<size_t>(r * cols + w.perm[static_cast<size_t>(k)])] = d[static_cast<size_t>(r * cols + k)];
  }
  return out;
}

QuantizedTensor permute_rows(const QuantizedTensor& q, const std::vector<int32_t>& order) {
  if (q.scheme.double_quant) throw_usage("permute_rows: NF4 double quantization spans rows");
  if (static_cast<int64_t>(order.size()) != q.rows) throw_usage("permute_rows: an order of the wrong length");
  QuantizedTensor out = q;
  const int64_t per_row = q.scheme.granularity == Granularity::per_group ? q.groups_per_row() : 1;
  const bool row_scales = q.scheme.granularity != Granularity::per_tensor && !q.scales.empty();
  for (int64_t r = 0; r < q.rows; ++r) {
    const auto src = static_cast<int64_t>(order[static_cast<size_t>(r)]);
    std::copy_n(q.codes.begin() + src * q.row_bytes, q.row_bytes, out.codes.begin() + r * q.row_bytes);
    if (row_scales) {
      std::copy_n(q.scales.begin() + src * per_row, per_row, out.scales.begin() + r * per_row);
      if (!q.zero_points.empty()) std::copy_n(q.zero_points.begin() + src * per_row, per_row, out.zero_points.begin() + r * per_row);
    }
  }
  return out;
}

}  // namespace vernier
