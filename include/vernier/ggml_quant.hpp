// vernier/ggml_quant.hpp — quantizing to and from llama.cpp's GGUF block types, byte-identical to
// llama.cpp's reference quantizers (quantize_<type> with and without an importance matrix).
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>

#include "vernier/ggml_types.hpp"

namespace vernier {

// True if vernier can quantize to / dequantize from this GGML type id.
bool ggml_can_quantize(GgmlType type);
bool ggml_can_dequantize(GgmlType type);

// Quantizes nrow rows of n_per_row floats into dst (nrow × row bytes). `imatrix`, if given, holds
// n_per_row importance weights (one per column), used by the types that have an importance path
// (every type here except Q8_0, F16 and BF16, as in llama.cpp). Returns the bytes written.
size_t ggml_quantize(GgmlType type, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                     const float* imatrix);
// ggml_quantize with the rows split over `threads` threads (the bytes do not depend on it).
size_t ggml_quantize_threads(GgmlType type, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                             const float* imatrix, int threads);
// Dequantizes n values (a multiple of the block size) of `type`.
void ggml_dequantize(GgmlType type, const void* src, float* dst, int64_t n);

}  // namespace vernier
