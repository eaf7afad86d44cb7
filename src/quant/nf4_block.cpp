// NF4 blockwise quantization (absmax per block) with optional QLoRA double quantization of the
// absmax values: subtract their mean, then store each in the 8-bit dynamic map with one float32
// absmax per block of 256. As in bitsandbytes, the 4-bit codes are chosen with the exact absmax;
// only the stored (and so the dequantizing) absmax carries the second-level error.
#include <algorithm>
#include <cmath>
#include <vector>

#include "internal.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"

namespace vernier::detail {

namespace {
void double_quantize(QuantizedTensor& q, const std::vector<float>& absmax) {
  DoubleQuantState& dq = q.double_quant;
  const size_t n = absmax.size();
  double sum = 0.0;
  for (float a : absmax) sum += a;
  dq.offset = n ? static_cast<float>(sum / static_cast<double>(n)) : 0.0f;
  dq.codes.resize(n);
  dq.block_absmax.assign((n + static_cast<size_t>(dq.block) - 1) / static_cast<size_t>(dq.block), 0.0f);
  q.scales.resize(n);
  for (size_t b = 0; b < dq.block_absmax.size(); ++b) {
    const size_t i0 = b * static_cast<size_t>(dq.block);
    const size_t i1 = std::min(n, i0 + static_cast<size_t>(dq.block));
    float m = 0.0f;
    for (size_t i = i0; i < i1; ++i) m = std::max(m, std::fabs(absmax[i] - dq.offset));
    dq.block_absmax[b] = m;
    const float inv = inverse_scale(m);
    for (size_t i = i0; i < i1; ++i) {
      dq.codes[i] = dynamic8_encode((absmax[i] - dq.offset) * inv);
      q.scales[i] = dynamic8_decode(dq.codes[i]) * m + dq.offset;
    }
  }
}
}  // namespace

void quantize_nf4(const TensorView& in, QuantizedTensor& q) {
  const Scheme& s = q.scheme;
  const std::vector<GroupRange> ranges = group_ranges(in, q);
  std::vector<float> absmax(ranges.size());
  for (size_t g = 0; g < ranges.size(); ++g) {
    absmax[g] = s.fixed_scale > 0.0f ? s.fixed_scale : store_scale(ranges[g].absmax, s.scale_type);
  }
  std::vector<int32_t> row_codes(static_cast<size_t>(q.cols));
  int64_t current_row = -1;
  const auto flush = [&](int64_t r) { pack_codes(row_codes.data(), q.cols, 4, q.codes.data() + r * q.row_bytes); };
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    if (r != current_row) {
      if (current_row >= 0) flush(current_row);
      current_row = r;
    }
    const float inv = inverse_scale(absmax[static_cast<size_t>(g)]);
    const float* x = in.data + r * in.cols;
    for (int64_t c = c0; c < c1; ++c) row_codes[static_cast<size_t>(c)] = nf4_encode(x[c] * inv);
  });
  if (current_row >= 0) flush(current_row);
  if (s.double_quant) {
    double_quantize(q, absmax);
  } else {
    q.scales = std::move(absmax);
  }
}

void dequantize_nf4(const QuantizedTensor& q, float* out) {
  std::vector<int32_t> row_codes(static_cast<size_t>(q.cols));
  int64_t current_row = -1;
  for_each_segment(q, [&](int64_t r, int64_t c0, int64_t c1, int64_t g) {
    if (r != current_row) {
      unpack_codes(q.codes.data() + r * q.row_bytes, q.cols, 4, false, row_codes.data());
      current_row = r;
    }
    const float scale = q.scales[static_cast<size_t>(g)];
    float* y = out + r * q.cols;
    for (int64_t c = c0; c < c1; ++c) {
      y[c] = nf4_decode(static_cast<uint8_t>(row_codes[static_cast<size_t>(c)])) * scale;
    }
  });
}

}  // namespace vernier::detail
