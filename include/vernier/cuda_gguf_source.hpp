// vernier/cuda_gguf_source.hpp — GGUF rows of the block types whose weights the GPU kernels can hold exactly, in
// those kernels' plain source forms: Q8_0 and Q6_K for the weight-only GEMV (cuda_wo.hpp), Q4_0 for W4A16
// (cuda_w4.hpp). Every weight decodes to the value llama.cpp's dequantization gives, bit for bit:
//   Q8_0  x = d·q, 32 per block              → INT8 symmetric, groups of 32, scale d           (9 bits/weight on the GPU; 8.5 in the file)
//   Q6_K  x = (d·sc)·(q − 32), 16 per scale  → INT8 symmetric, groups of 16, scale d·sc (exact in float32: 11 × 8 significant bits)
//                                                                                              (10 bits/weight on the GPU; 6.5625 in the file)
//   Q4_0  x = d·(q − 8), 32 per block        → INT4 with zero point 8, groups of 32, FP16 scale d (4.5 bits/weight, as the file)
// The activations stay 16-bit (weight-only, W8A16/W4A16): unlike llama.cpp's CUDA kernels, which quantize them
// to Q8_1 first, the products are those of the dequantized weights with the bf16/FP16 activations.
#pragma once

#include <cstdint>
#include <span>
#include <string>

#include "vernier/cuda_w4.hpp"
#include "vernier/cuda_wo.hpp"
#include "vernier/weight_type.hpp"

namespace vernier::cuda {

// Which kernel holds a GGUF type: "wo" (Q8_0, Q6_K), "w4" (Q4_0), "" (none yet).
const char* gguf_gpu_kernel(GgmlType t);

// `rows` rows of `cols` values of type t, as a GGUF tensor stores them (rows × row bytes). Throws
// std::invalid_argument naming `name` for a type the kernel does not hold, a row that is not whole blocks,
// a byte count that does not match, or a non-finite block scale.
WoSource wo_source_from_gguf(GgmlType t, std::span<const uint8_t> bytes, int64_t rows, int64_t cols, const std::string& name = "matrix");
W4Source w4_source_from_gguf(GgmlType t, std::span<const uint8_t> bytes, int64_t rows, int64_t cols, const std::string& name = "matrix");

}  // namespace vernier::cuda
