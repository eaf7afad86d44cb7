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

// One 32-value block of the types with a row-level importance weighting: llama.cpp weighs the block's
// values by imatrix[j] × sqrt(σ² + x²) with σ² the mean square of the whole row (row_sigma2), which
// the caller passes in. qw nullptr: the reference rule (σ² unused).
float row_sigma2(const float* x, int64_t n);
void quantize_block_q4_0(const float* x, void* block, const float* qw, float sigma2);
void quantize_block_q4_1(const float* x, void* block, const float* qw, float sigma2);
void quantize_block_q5_0(const float* x, void* block, const float* qw, float sigma2);
void quantize_block_q5_1(const float* x, void* block, const float* qw, float sigma2);

}  // namespace vernier::ggml
