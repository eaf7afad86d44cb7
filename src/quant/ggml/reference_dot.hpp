// Internal: the scalar reference dot products of the GGML types (the registry's reference_dot), and
// the activation quantizers they read: one weight row of n values against one activation row in the
// type's activation format (Q8_0S for Q4_0; Q8_0 for Q5_0, Q8_0, IQ4_NL; Q8_1 for Q4_1, Q5_1; Q8_K
// for the K-quants and IQ4_XS; the weights' own type for F32, F16, BF16).
#pragma once

#include <cstdint>

namespace vernier::ggml {

#define VERNIER_REFERENCE_DOT(name) float dot_##name(const void* w, const void* x, int64_t n);
VERNIER_REFERENCE_DOT(f32)
VERNIER_REFERENCE_DOT(f16)
VERNIER_REFERENCE_DOT(bf16)
VERNIER_REFERENCE_DOT(q4_0)
VERNIER_REFERENCE_DOT(q4_1)
VERNIER_REFERENCE_DOT(q5_0)
VERNIER_REFERENCE_DOT(q5_1)
VERNIER_REFERENCE_DOT(q8_0)
VERNIER_REFERENCE_DOT(q2_k)
VERNIER_REFERENCE_DOT(q3_k)
VERNIER_REFERENCE_DOT(q4_k)
VERNIER_REFERENCE_DOT(q5_k)
VERNIER_REFERENCE_DOT(q6_k)
VERNIER_REFERENCE_DOT(iq4_nl)
VERNIER_REFERENCE_DOT(iq4_xs)
#undef VERNIER_REFERENCE_DOT

// As llama.cpp's quantize_row_q8_1_ref: d = amax / 127, q = roundf(x / d), s = d × Σq (FP16).
void quantize_q8_1(const float* x, void* y, int64_t n);
// Q8_0 (llama.cpp's quantizer) plus each block's code sum.
void quantize_q8_0s(const float* x, void* y, int64_t n);

}  // namespace vernier::ggml
