// PackedTensor: a QuantizedTensor in its stored precision, and back.
#include <cstring>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"
#include "vernier/quantize.hpp"

namespace vernier {

uint64_t PackedTensor::bytes() const {
  return codes.size() + scales.size() + zeros.size() + double_quant.block_absmax.size() * sizeof(float) +
         (scheme.double_quant ? sizeof(float) : 0);  // the offset
}

PackedTensor pack(QuantizedTensor q) {
  const FormatInfo& f = format_info(q.scheme.format);
  PackedTensor p;
  p.scheme = q.scheme;
  p.rows = q.rows;
  p.cols = q.cols;
  p.row_bytes = q.row_bytes;
  p.codes = std::move(q.codes);
  if (q.scheme.double_quant) {
    p.scales = std::move(q.double_quant.codes);
    p.double_quant = std::move(q.double_quant);
    p.double_quant.codes.clear();
  } else if (q.scheme.scale_type == ScaleType::f16) {
    p.scales.resize(q.scales.size() * 2);
    for (size_t g = 0; g < q.scales.size(); ++g) {
      const uint16_t h = fp16_from_float(q.scales[g]);  // exact: the scale is already FP16-rounded
      std::memcpy(p.scales.data() + 2 * g, &h, 2);
    }
  } else {
    p.scales.resize(q.scales.size() * sizeof(float));
    std::memcpy(p.scales.data(), q.scales.data(), p.scales.size());
  }
  if (!q.zero_points.empty()) {
    p.zeros.assign(static_cast<size_t>(packed_bytes(static_cast<int64_t>(q.zero_points.size()), f.bits)), 0);
    pack_codes(q.zero_points.data(), static_cast<int64_t>(q.zero_points.size()), f.bits, p.zeros.data());
  }
  return p;
}

QuantizedTensor unpack(const PackedTensor& p) {
  const FormatInfo& f = format_info(p.scheme.format);
  QuantizedTensor q;
  q.scheme = p.scheme;
  q.rows = p.rows;
  q.cols = p.cols;
  q.row_bytes = p.row_bytes;
  q.codes = p.codes;
  const auto groups = static_cast<size_t>(q.num_groups());
  q.scales.resize(groups);
  if (p.scheme.double_quant) {
    q.double_quant = p.double_quant;
    q.double_quant.codes = p.scales;
    for (size_t g = 0; g < groups; ++g) {
      q.scales[g] = dynamic8_decode(p.scales[g]) * p.double_quant.block_absmax[g / static_cast<size_t>(p.double_quant.block)] +
                    p.double_quant.offset;
    }
  } else if (p.scheme.scale_type == ScaleType::f16) {
    for (size_t g = 0; g < groups; ++g) {
      uint16_t h;
      std::memcpy(&h, p.scales.data() + 2 * g, 2);
      q.scales[g] = fp16_to_float(h);
    }
  } else {
    std::memcpy(q.scales.data(), p.scales.data(), groups * sizeof(float));
  }
  if (!p.zeros.empty()) {
    q.zero_points.resize(groups);
    unpack_codes(p.zeros.data(), static_cast<int64_t>(groups), f.bits, false, q.zero_points.data());
  }
  return q;
}

}  // namespace vernier
