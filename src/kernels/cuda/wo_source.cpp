// vernier's QuantizedTensor in the weight-only GEMV's source form (vernier/cuda_wo_source.hpp).
#include "vernier/cuda_wo_source.hpp"

#include "vernier/error.hpp"
#include "vernier/format.hpp"

namespace vernier::cuda {

WoSource wo_source(const QuantizedTensor& q, const std::string& name) {
  const Scheme& s = q.scheme;
  WoSource out;
  switch (s.format) {
    case FormatId::int8:
    case FormatId::uint8: out.format = WoFormat::int8; break;
    case FormatId::fp8_e4m3: out.format = WoFormat::fp8_e4m3; break;
    case FormatId::nf4: out.format = WoFormat::nf4; break;
    default: throw_usage("the GPU's weight-only GEMV takes int8, uint8, fp8_e4m3 and nf4 weights; " + name + " is " + describe(s));
  }
  const int64_t chunk = out.format == WoFormat::nf4 ? 32 : 16;
  if (s.granularity == Granularity::per_group && s.group_size % chunk != 0) {
    throw_usage("the GPU's weight-only GEMV takes groups of a multiple of " + std::to_string(chunk) + " values for " + describe(s) + "; " + name +
                " has groups of " + std::to_string(s.group_size));
  }
  out.rows = q.rows;
  out.cols = q.cols;
  out.group = s.granularity == Granularity::per_group ? s.group_size : 0;
  const bool asym = out.format == WoFormat::int8 && s.mode == AffineMode::asymmetric;
  out.symmetric = !asym;
  out.codes.resize(static_cast<size_t>(q.rows * q.cols));
  // symmetric uint8 codes carry the fixed offset 128; the source wants the signed value
  const int32_t offset = out.format == WoFormat::int8 && !asym && s.format == FormatId::uint8 ? -128 : 0;
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t c = 0; c < q.cols; ++c) {
      const int32_t v = q.code(r, c) + offset;
      out.codes[static_cast<size_t>(r * q.cols + c)] = static_cast<uint8_t>(v & 0xFF);
    }
  }
  const int64_t groups = out.groups();
  // per tensor: one scale, repeated per row
  auto scale_of = [&](int64_t r, int64_t g) { return s.granularity == Granularity::per_tensor ? q.scales.at(0) : q.scales.at(static_cast<size_t>(r * groups + g)); };
  if (out.format == WoFormat::nf4 && s.double_quant) {
    if (s.granularity == Granularity::per_tensor) throw_usage(name + ": NF4 double quantization per tensor has no blocks to decode");
    out.dq_codes = q.double_quant.codes;
    out.dq_absmax = q.double_quant.block_absmax;
    out.dq_block = q.double_quant.block;
    out.dq_offset = q.double_quant.offset;
  } else {
    out.scales.resize(static_cast<size_t>(q.rows * groups));
    for (int64_t r = 0; r < q.rows; ++r) {
      for (int64_t g = 0; g < groups; ++g) out.scales[static_cast<size_t>(r * groups + g)] = scale_of(r, g);
    }
  }
  if (asym) {
    out.zeros.resize(static_cast<size_t>(q.rows * groups));
    for (size_t i = 0; i < out.zeros.size(); ++i) {
      const int32_t z = s.granularity == Granularity::per_tensor ? q.zero_points.at(0) : q.zero_points.at(i);
      if (z < 0 || z > 255) throw_usage(name + ": zero point " + std::to_string(z) + " outside 0..255");
      out.zeros[i] = static_cast<uint8_t>(z);
    }
  }
  return out;
}

}  // namespace vernier::cuda
