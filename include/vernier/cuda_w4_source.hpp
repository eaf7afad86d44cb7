// vernier/cuda_w4_source.hpp — vernier's 4-bit integer matrices (a QuantizedLinear: int4 or uint4, either mode,
// per channel or in groups of 32k values, act order) in the W4A16 kernel's plain source form (cuda_w4.hpp).
#pragma once

#include "vernier/cuda_w4.hpp"
#include "vernier/quantize.hpp"

namespace vernier::cuda {

// Throws a usage Error naming `name` when the scheme is not one the kernel takes (another width or format,
// per-tensor scales, groups not a multiple of 32) — and pack_w4_tiles then rejects scales that are not FP16
// (use scale_type f16, as checkpoints do).
W4Source w4_source(const QuantizedLinear& w, const std::string& name = "matrix");

}  // namespace vernier::cuda
