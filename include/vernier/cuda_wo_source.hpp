// vernier/cuda_wo_source.hpp — vernier's quantized matrices (QuantizedTensor: int8/uint8 in either mode, FP8
// E4M3, NF4 with or without double quantization) in the weight-only GEMV's plain source form (cuda_wo.hpp).
#pragma once

#include "vernier/cuda_wo.hpp"
#include "vernier/quantize.hpp"

namespace vernier::cuda {

// Throws a usage Error naming `name` when the scheme is not one the GEMV takes (another format; groups
// that are not a multiple of 16 values, of 32 for NF4). Per-tensor scales become one per row.
WoSource wo_source(const QuantizedTensor& q, const std::string& name = "matrix");

}  // namespace vernier::cuda
