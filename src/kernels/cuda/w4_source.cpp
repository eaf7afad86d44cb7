// vernier's QuantizedLinear in the W4A16 kernel's source form (vernier/cuda_w4_source.hpp).
#include "vernier/cuda_w4_source.hpp"

#include "vernier/error.hpp"
#include "vernier/format.hpp"

namespace vernier::cuda {

W4Source w4_source(const QuantizedLinear& w, const std::string& name) {
  const QuantizedTensor& q = w.q;
  const Scheme& s = q.scheme;
  if (s.format != FormatId::int4 && s.format != FormatId::uint4) {
    throw_usage("W4A16 on the GPU takes 4-bit integer weights; " + name + " is " + describe(s));
  }
  if (s.granularity == Granularity::per_tensor || (s.granularity == Granularity::per_group && s.group_size % 32 != 0)) {
    throw_usage("W4A16 on the GPU takes per-channel scales or groups of a multiple of 32 values; " + name + " is " + describe(s));
  }
  W4Source out;
  out.rows = q.rows;
  out.cols = q.cols;
  out.group = s.granularity == Granularity::per_group ? s.group_size : 0;
  const bool asym = s.mode == AffineMode::asymmetric;
  // w = scale · (code − zero): symmetric int4 codes are signed (zero 0), uint4's offset by 8; either way
  // u = code + 8 − zero₀ with the kernel's zero 8. Asymmetric codes are unsigned with their own zero point.
  const int32_t offset = asym ? 0 : (s.format == FormatId::int4 ? 8 : 0);
  out.codes.resize(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r) {
    for (int64_t c = 0; c < q.cols; ++c) {
      const int32_t u = q.code(r, c) + offset;
      if (u < 0 || u > 15) throw_usage(name + ": code out of the 4-bit range at row " + std::to_string(r) + ", column " + std::to_string(c));
      out.codes[static_cast<size_t>(r * q.cols + c)] = static_cast<uint8_t>(u);
    }
  }
  out.scales = q.scales;
  if (asym) {
    out.zeros.resize(q.zero_points.size());
    for (size_t i = 0; i < q.zero_points.size(); ++i) {
      const int32_t z = q.zero_points[i];
      if (z < 0 || z > 15) {
        throw_usage("W4A16 on the GPU stores 4-bit zero points; " + name + " has zero point " + std::to_string(z) + " in group " + std::to_string(i));
      }
      out.zeros[i] = static_cast<uint8_t>(z);
    }
  }
  out.perm = w.perm;
  return out;
}

}  // namespace vernier::cuda
