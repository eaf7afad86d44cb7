// The scalar reference of vernier's weight-only formats and the description the kernels read.
#include "weight_only_ref.hpp"

#include <algorithm>
#include <vector>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/nf4.hpp"

namespace vernier::kernels {

namespace {
// Everything but the scales and zero points.
WoDesc describe_common(const Scheme& s, int64_t rows, int64_t cols, int64_t row_bytes) {
  const FormatInfo& f = format_info(s.format);
  WoDesc d;
  d.bits = f.bits;
  if (s.format == FormatId::nf4) {
    d.kind = WoKind::nf4;
  } else if (s.format == FormatId::fp8_e4m3 || s.format == FormatId::fp8_e5m2) {
    d.kind = s.format == FormatId::fp8_e4m3 ? WoKind::fp8_e4m3 : WoKind::fp8_e5m2;
  } else if (f.kind == FormatKind::integer) {
    d.kind = WoKind::integer;
    if (s.mode == AffineMode::symmetric) {
      d.fixed_zero = 1 << (f.bits - 1);
      d.flip = f.is_signed ? static_cast<uint32_t>(1 << (f.bits - 1)) : 0u;
    }
  } else {
    throw_usage("no weight-only kernel for " + describe(s) + " (FP16/BF16/FP32 weights are GGUF types)");
  }
  QuantizedTensor shape;  // for the group arithmetic
  shape.scheme = s;
  shape.rows = rows;
  shape.cols = cols;
  d.cols = cols;
  d.row_bytes = row_bytes;
  d.group_len = shape.group_len();
  d.per_tensor = s.granularity == Granularity::per_tensor;
  d.groups_per_row = d.per_tensor ? 1 : shape.groups_per_row();
  return d;
}
bool asymmetric_integer(const Scheme& s) {
  return format_info(s.format).kind == FormatKind::integer && s.mode == AffineMode::asymmetric;
}
}  // namespace

WoDesc describe_weights(const QuantizedTensor& q) {
  WoDesc d = describe_common(q.scheme, q.rows, q.cols, q.row_bytes);
  if (asymmetric_integer(q.scheme)) d.zeros = q.zero_points.data();
  d.scales = q.scales.data();
  return d;
}

WoDesc describe_weights(const PackedTensor& p) {
  WoDesc d = describe_common(p.scheme, p.rows, p.cols, p.row_bytes);
  if (asymmetric_integer(p.scheme)) d.zeros_packed = p.zeros.data();
  if (p.scheme.double_quant) {
    d.dq_codes = p.scales.data();
    d.dq_absmax = p.double_quant.block_absmax.data();
    d.dq_offset = p.double_quant.offset;
    d.dq_block = p.double_quant.block;
  } else if (p.scheme.scale_type == ScaleType::f16) {
    d.scales_f16 = reinterpret_cast<const uint16_t*>(p.scales.data());
  } else {
    d.scales = reinterpret_cast<const float*>(p.scales.data());
  }
  return d;
}

namespace {
uint32_t field(const uint8_t* row, int64_t i, int bits) {  // LSB-first bit stream, as pack.cpp writes it
  const int64_t bit = i * bits;
  uint32_t v = 0;
  for (int k = 0; k < bits; ++k) v |= static_cast<uint32_t>((row[(bit + k) / 8] >> ((bit + k) % 8)) & 1) << k;
  return v;
}
}  // namespace

// The reference: per group, the codes' values times x summed in order in float, then the zero-point
// term, then the scale; groups summed in order.
float wo_reference_dot(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum) {
  float total = 0.0f;
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    const int64_t c0 = j * d.group_len, c1 = std::min(d.cols, c0 + d.group_len);
    const int64_t g = d.group_of(row, j);
    float inner = 0.0f;
    for (int64_t i = c0; i < c1; ++i) {
      const uint32_t u = field(codes, i, d.bits);
      float c;
      switch (d.kind) {
        case WoKind::integer: c = static_cast<float>(u ^ d.flip); break;
        case WoKind::nf4: c = kNf4Levels[u & 15]; break;
        case WoKind::fp8_e4m3: c = fp8_e4m3_to_float(static_cast<uint8_t>(u)); break;
        default: c = fp8_e5m2_to_float(static_cast<uint8_t>(u)); break;
      }
      inner += c * x[i];
    }
    if (d.kind == WoKind::integer) {
      const int32_t z = d.zero(g);
      inner -= static_cast<float>(z) * xsum[j];
    }
    total += d.scale(g) * inner;
  }
  return total;
}

// X_g = Σ x over each group, with eight partial sums (a single chain of dependent adds was a sixth
// of a small product's time); the reference and the SIMD kernels share these values.
void group_sums(const WoDesc& d, const float* x, float* out) {
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    const int64_t c0 = j * d.group_len, c1 = std::min(d.cols, c0 + d.group_len);
    float p[8] = {};
    int64_t i = c0;
    for (; i + 8 <= c1; i += 8)
      for (int k = 0; k < 8; ++k) p[k] += x[i + k];
    float s = ((p[0] + p[1]) + (p[2] + p[3])) + ((p[4] + p[5]) + (p[6] + p[7]));
    for (; i < c1; ++i) s += x[i];
    out[j] = s;
  }
}
namespace {
template <class W>
float reference_dot_of(const W& w, int64_t row, const float* x) {
  const WoDesc d = describe_weights(w);
  std::vector<float> xsum(static_cast<size_t>(d.groups_per_row));
  group_sums(d, x, xsum.data());
  return wo_reference_dot(d, w.codes.data() + row * w.row_bytes, row, x, xsum.data());
}
}  // namespace

float scheme_reference_dot(const QuantizedTensor& w, int64_t row, const float* x) { return reference_dot_of(w, row, x); }
float scheme_reference_dot(const PackedTensor& w, int64_t row, const float* x) { return reference_dot_of(w, row, x); }

}  // namespace vernier::kernels
