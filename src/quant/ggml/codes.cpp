// Each GGML block type as per-element grids and a code writer (codes.hpp). The grids read the scales
// exactly as the type's dequantizer does (legacy.cpp, q2_q3_k.cpp, q4_q5_k.cpp, q6_k.cpp, iq4.cpp),
// the writers are the quantizers' own packers (pack_codes.hpp); tests/test_ggml_codes.cpp checks that
// grid + writer rebuild every block llama.cpp's rule makes, byte for byte.
#include "codes.hpp"

#include "pack_codes.hpp"
#include "types.hpp"

namespace vernier::ggml {

namespace {
template <class B>
const B& as(const void* b) {
  return *static_cast<const B*>(b);
}
template <class B>
B& as(void* b) {
  return *static_cast<B*>(b);
}

GgmlValueGrid uniform(float a, float m, int off, int levels) { return {a, m, off, levels, nullptr}; }

// The row functions of the types whose rule needs no row σ², on one block.
template <void (*Quantize)(const float*, void*, int64_t, const float*), int64_t N>
void whole_block(const float* x, void* b, const float* qw, float) {
  Quantize(x, b, N, qw);
}

GgmlValueGrid grid_q4_0(const void* b, int) { return uniform(from_fp16(as<BlockQ4_0>(b).d), 0.0f, 8, 16); }
GgmlValueGrid grid_q4_1(const void* b, int) { return uniform(from_fp16(as<BlockQ4_1>(b).d), -from_fp16(as<BlockQ4_1>(b).m), 0, 16); }
GgmlValueGrid grid_q5_0(const void* b, int) { return uniform(from_fp16(as<BlockQ5_0>(b).d), 0.0f, 16, 32); }
GgmlValueGrid grid_q5_1(const void* b, int) { return uniform(from_fp16(as<BlockQ5_1>(b).d), -from_fp16(as<BlockQ5_1>(b).m), 0, 32); }
GgmlValueGrid grid_q8_0(const void* b, int) { return uniform(from_fp16(as<BlockQ8_0>(b).d), 0.0f, 127, 255); }  // ±127, as llama.cpp
GgmlValueGrid grid_q2_k(const void* vb, int j) {
  const auto& b = as<BlockQ2_K>(vb);
  const uint8_t sc = b.scales[j / 16];
  return uniform(from_fp16(b.d) * static_cast<float>(sc & 0xF), from_fp16(b.dmin) * static_cast<float>(sc >> 4), 0, 4);
}
GgmlValueGrid grid_q3_k(const void* vb, int j) {
  const auto& b = as<BlockQ3_K>(vb);
  return uniform(from_fp16(b.d) * static_cast<float>(q3_k_scale(b, j / 16)), 0.0f, 4, 8);
}
template <class B, int Levels>
GgmlValueGrid grid_q45_k(const void* vb, int j) {
  const auto& b = as<B>(vb);
  uint8_t sc, m;
  get_scale_min_k4(j / 32, b.scales, &sc, &m);
  return uniform(from_fp16(b.d) * static_cast<float>(sc), from_fp16(b.dmin) * static_cast<float>(m), 0, Levels);
}
GgmlValueGrid grid_q6_k(const void* vb, int j) {
  const auto& b = as<BlockQ6_K>(vb);
  return uniform(from_fp16(b.d) * static_cast<float>(b.scales[j / 16]), 0.0f, 32, 64);
}
GgmlValueGrid grid_iq4_nl(const void* b, int) { return {from_fp16(as<BlockIQ4_NL>(b).d), 0.0f, 0, 16, kValuesIQ4NL}; }
GgmlValueGrid grid_iq4_xs(const void* vb, int j) {
  const auto& b = as<BlockIQ4_XS>(vb);
  return {from_fp16(b.d) * static_cast<float>(iq4_xs_scale(b, j / 32)), 0.0f, 0, 16, kValuesIQ4NL};
}

void codes_q4_0(void* b, const uint8_t* L) { pack_nibbles_32(L, as<BlockQ4_0>(b).qs); }
void codes_q4_1(void* b, const uint8_t* L) { pack_nibbles_32(L, as<BlockQ4_1>(b).qs); }
void codes_q5_0(void* b, const uint8_t* L) { pack_q5_bits(L, as<BlockQ5_0>(b).qs, as<BlockQ5_0>(b).qh); }
void codes_q5_1(void* b, const uint8_t* L) { pack_q5_bits(L, as<BlockQ5_1>(b).qs, as<BlockQ5_1>(b).qh); }
void codes_q8_0(void* b, const uint8_t* L) {
  for (int j = 0; j < QK8_0; ++j) as<BlockQ8_0>(b).qs[j] = static_cast<int8_t>(L[j] - 127);
}
void codes_q2_k(void* b, const uint8_t* L) { pack_2bit(L, as<BlockQ2_K>(b).qs); }
void codes_q3_k(void* b, const uint8_t* L) { pack_q3_k_codes(L, as<BlockQ3_K>(b)); }
void codes_q4_k(void* b, const uint8_t* L) { pack_q4_k_codes(L, as<BlockQ4_K>(b).qs); }
void codes_q5_k(void* b, const uint8_t* L) { pack_q5_k_codes(L, as<BlockQ5_K>(b).qh, as<BlockQ5_K>(b).qs); }
void codes_q6_k(void* b, const uint8_t* L) { pack_q6_k_codes(L, as<BlockQ6_K>(b).ql, as<BlockQ6_K>(b).qh); }
void codes_iq4_nl(void* b, const uint8_t* L) { pack_nibbles_32(L, as<BlockIQ4_NL>(b).qs); }
void codes_iq4_xs(void* b, const uint8_t* L) {
  for (int i = 0; i < QK_K / 32; ++i) pack_nibbles_32(L + 32 * i, as<BlockIQ4_XS>(b).qs + 16 * i);
}
}  // namespace

const GgmlBlockCodes kCodesQ4_0{quantize_block_q4_0, grid_q4_0, codes_q4_0};
const GgmlBlockCodes kCodesQ4_1{quantize_block_q4_1, grid_q4_1, codes_q4_1};
const GgmlBlockCodes kCodesQ5_0{quantize_block_q5_0, grid_q5_0, codes_q5_0};
const GgmlBlockCodes kCodesQ5_1{quantize_block_q5_1, grid_q5_1, codes_q5_1};
const GgmlBlockCodes kCodesQ8_0{whole_block<quantize_q8_0, QK8_0>, grid_q8_0, codes_q8_0};
const GgmlBlockCodes kCodesQ2_K{whole_block<quantize_q2_k, QK_K>, grid_q2_k, codes_q2_k};
const GgmlBlockCodes kCodesQ3_K{whole_block<quantize_q3_k, QK_K>, grid_q3_k, codes_q3_k};
const GgmlBlockCodes kCodesQ4_K{whole_block<quantize_q4_k, QK_K>, grid_q45_k<BlockQ4_K, 16>, codes_q4_k};
const GgmlBlockCodes kCodesQ5_K{whole_block<quantize_q5_k, QK_K>, grid_q45_k<BlockQ5_K, 32>, codes_q5_k};
const GgmlBlockCodes kCodesQ6_K{whole_block<quantize_q6_k, QK_K>, grid_q6_k, codes_q6_k};
const GgmlBlockCodes kCodesIQ4_NL{whole_block<quantize_iq4_nl, QK4_NL>, grid_iq4_nl, codes_iq4_nl};
const GgmlBlockCodes kCodesIQ4_XS{whole_block<quantize_iq4_xs, QK_K>, grid_iq4_xs, codes_iq4_xs};

}  // namespace vernier::ggml
