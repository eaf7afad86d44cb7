// Internal: one quantize and one dequantize function per GGML block type. quantize_* take one row of
// n values (a multiple of the block size) and the row's importance weights (n values) or nullptr.
#pragma once

#include <cstdint>

#include "vernier/ggml_blocks.hpp"

namespace vernier::ggml {

#define VERNIER_GGML_TYPE(name)                                                  \
  void quantize_##name(const float* x, void* y, int64_t n, const float* imatrix); \
  void dequantize_##name(const void* x, float* y, int64_t n);
VERNIER_GGML_TYPE(q4_0)
VERNIER_GGML_TYPE(q4_1)
VERNIER_GGML_TYPE(q5_0)
VERNIER_GGML_TYPE(q5_1)
VERNIER_GGML_TYPE(q8_0)
VERNIER_GGML_TYPE(q2_k)
VERNIER_GGML_TYPE(q3_k)
VERNIER_GGML_TYPE(q4_k)
VERNIER_GGML_TYPE(q5_k)
VERNIER_GGML_TYPE(q6_k)
VERNIER_GGML_TYPE(q8_k)
VERNIER_GGML_TYPE(iq4_nl)
VERNIER_GGML_TYPE(iq4_xs)
#undef VERNIER_GGML_TYPE

}  // namespace vernier::ggml
