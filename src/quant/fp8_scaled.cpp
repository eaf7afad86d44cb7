// FP8 (E4M3 or E5M2) with a scale per tensor, channel or group: s = amax / max_finite, so the largest
// magnitude of the group lands on the format's largest finite value; codes are the FP8 cast of x / s
// under the scheme's saturation (saturating by default: rounding x/s may still step past the maximum
// when s was rounded to FP16).
#include <vector>

#include "internal.hpp"

namespace vernier::detail {

namespace {
using Encode = uint8_t (*)(float, Saturation, Rounding);
using Decode = float (*)(uint8_t);
Encode encoder(FormatId f) { return f == FormatId::fp8_e4m3 ? fp8_e4m3_from_float : fp8_e5m2_from_float; }
Decode decoder(FormatId f) { return f == FormatId::fp8_e4m3 ? fp8_e4m3_to_float : fp8_e5m2_to_float; }
}  // namespace

void quantize_fp8(const TensorView& in, QuantizedTensor& q) {
  const Scheme& s = q.scheme;
  const float fmax = static_cast<float>(format_info(s.format).max_finite);
  const std::vector<GroupRange> ranges = group_ranges(in, q);
  q.scales.resize(ranges.size());
  for (size_t g = 0; g < ranges.size(); ++g) {
    q.scales[g] = s.fixed_scale > 0.0f ? s.fixed_scale : store_scale(ranges[g].absmax / fmax, s.scale_type);
  }
  const Encode enc = encoder(s.format);
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    const float inv = inverse_scale(q.scales[static_cast<size_t>(g)]);
    const float* x = in.data + r * in.cols;
    uint8_t* out = q.codes.data() + r * q.row_bytes;
    for (int64_t c = c0; c < c1; ++c) out[c] = enc(x[c] * inv, s.saturation, s.rounding);
  });
}

void dequantize_fp8(const QuantizedTensor& q, float* out) {
  const Decode dec = decoder(q.scheme.format);
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    const float scale = q.scales[static_cast<size_t>(g)];
    const uint8_t* codes = q.codes.data() + r * q.row_bytes;
    float* y = out + r * q.cols;
    for (int64_t c = c0; c < c1; ++c) y[c] = dec(codes[c]) * scale;
  });
}

}  // namespace vernier::detail
