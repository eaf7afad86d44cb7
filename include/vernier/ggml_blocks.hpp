// vernier/ggml_blocks.hpp — the block layouts of llama.cpp's quantized GGUF types, byte for byte.
//
// Each struct is one block, trivially copyable, with its size asserted; a row of n values of a type
// is n / block_size consecutive blocks. "d" fields are IEEE FP16 bit patterns. Element order inside
// a block is given above each struct (it is not always sequential: the K-quants interleave).
#pragma once

#include <cstdint>
#include <type_traits>

namespace vernier::ggml {

inline constexpr int QK4_0 = 32, QK4_1 = 32, QK5_0 = 32, QK5_1 = 32, QK8_0 = 32, QK_K = 256, QK4_NL = 32;

// Q4_0 (4.5 bits/weight): x = d × (q − 8). qs[j] low nibble = element j, high nibble = element j + 16.
struct BlockQ4_0 { uint16_t d; uint8_t qs[QK4_0 / 2]; };
// Q4_1 (5.0): x = d × q + m; nibble order as Q4_0.
struct BlockQ4_1 { uint16_t d; uint16_t m; uint8_t qs[QK4_1 / 2]; };
// Q5_0 (5.5): x = d × (q − 16); low 4 bits as Q4_0, bit 4 of element j in bit j of qh (little-endian u32).
struct BlockQ5_0 { uint16_t d; uint8_t qh[4]; uint8_t qs[QK5_0 / 2]; };
// Q5_1 (6.0): x = d × q + m; bits as Q5_0.
struct BlockQ5_1 { uint16_t d; uint16_t m; uint8_t qh[4]; uint8_t qs[QK5_1 / 2]; };
// Q8_0 (8.5): x = d × q, q int8 in element order.
struct BlockQ8_0 { uint16_t d; int8_t qs[QK8_0]; };

// Q2_K (2.625): 16 sub-blocks of 16; scales[j] low nibble = scale, high nibble = min of sub-block j;
// x = d × scale × q − dmin × min. qs: for each half (128 values) byte l holds elements l, l+32, l+64,
// l+96 of that half in bit pairs 0-1, 2-3, 4-5, 6-7.
struct BlockQ2_K { uint8_t scales[QK_K / 16]; uint8_t qs[QK_K / 4]; uint16_t d; uint16_t dmin; };
// Q3_K (3.4375): x = d × (scale − 32) × (q − 4 if the hmask bit is clear else q); 6-bit scales packed
// in 12 bytes (low nibbles of 0..15 in bytes 0..7, top two bits in bytes 8..11); low 2 bits of q as
// Q2_K; bit 2 of element j in bit j / 32 of hmask[j % 32].
struct BlockQ3_K { uint8_t hmask[QK_K / 8]; uint8_t qs[QK_K / 4]; uint8_t scales[12]; uint16_t d; };
// Q4_K (4.5): 8 sub-blocks of 32; 6-bit scale and min each, packed in 12 bytes (get_scale_min_k4);
// x = d × scale × q − dmin × min; qs: for each 64 values byte l holds element l (low) and l+32 (high).
struct BlockQ4_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qs[QK_K / 2]; };
// Q5_K (5.5): as Q4_K plus the 5th bit of element n+j (n = 64·k) in bit 2k of qh[j], of n+32+j in 2k+1.
struct BlockQ5_K { uint16_t d; uint16_t dmin; uint8_t scales[12]; uint8_t qh[QK_K / 8]; uint8_t qs[QK_K / 2]; };
// Q6_K (6.5625): 16 sub-blocks of 16 with int8 scales; x = d × scale × (q − 32); per 128 values, low
// nibbles of l, l+32 in ql[l], ql[l+32] (high nibbles: l+64, l+96), top 2 bits of the four in qh[l].
struct BlockQ6_K { uint8_t ql[QK_K / 2]; uint8_t qh[QK_K / 4]; int8_t scales[QK_K / 16]; uint16_t d; };
// Q8_K (activation format of K-quant dot products): float d, int8 q, and the sum of each 16 q.
struct BlockQ8_K { float d; int8_t qs[QK_K]; int16_t bsums[QK_K / 16]; };
// IQ4_NL (4.5): x = d × kvalues_iq4nl[q]; nibble order as Q4_0.
struct BlockIQ4_NL { uint16_t d; uint8_t qs[QK4_NL / 2]; };
// IQ4_XS (4.25): 8 sub-blocks of 32 with 6-bit scales (low 4 bits in scales_l nibbles, top 2 bits in
// scales_h); x = d × (scale − 32) × kvalues_iq4nl[q]; nibble order per 32 as Q4_0.
struct BlockIQ4_XS { uint16_t d; uint16_t scales_h; uint8_t scales_l[QK_K / 64]; uint8_t qs[QK_K / 2]; };

// Q8_1 (activation format of Q4_1 and Q5_1 products): Q8_0 plus s = d × Σq (FP16), the min term.
struct BlockQ8_1 { uint16_t d; uint16_t s; int8_t qs[32]; };
// Q8_0S (vernier's activation format of Q4_0 products; not a GGUF type): exactly Q8_0's codes and
// scale, plus the block's int16 code sum, so that a kernel multiplies the unsigned nibbles 0..15
// and subtracts 8·Σq once per block instead of re-centering every byte.
struct BlockQ8_0S { uint16_t d; int16_t sum; int8_t qs[32]; };

#define VERNIER_BLOCK(T, size) \
  static_assert(sizeof(T) == (size) && std::is_trivially_copyable_v<T>, #T " must be " #size " bytes")
VERNIER_BLOCK(BlockQ4_0, 18);
VERNIER_BLOCK(BlockQ4_1, 20);
VERNIER_BLOCK(BlockQ5_0, 22);
VERNIER_BLOCK(BlockQ5_1, 24);
VERNIER_BLOCK(BlockQ8_0, 34);
VERNIER_BLOCK(BlockQ2_K, 84);
VERNIER_BLOCK(BlockQ3_K, 110);
VERNIER_BLOCK(BlockQ4_K, 144);
VERNIER_BLOCK(BlockQ5_K, 176);
VERNIER_BLOCK(BlockQ6_K, 210);
VERNIER_BLOCK(BlockQ8_K, 292);
VERNIER_BLOCK(BlockQ8_1, 36);
VERNIER_BLOCK(BlockQ8_0S, 36);
VERNIER_BLOCK(BlockIQ4_NL, 18);
VERNIER_BLOCK(BlockIQ4_XS, 136);
#undef VERNIER_BLOCK

// Scale and min of sub-block j (0..7) of a Q4_K/Q5_K block's 12 packed bytes: j < 4 in the low six
// bits of bytes j (scale) and j + 4 (min); j >= 4 in the nibbles of byte j + 4, with their top two
// bits in the high bits of bytes j − 4 (scale) and j (min). As llama.cpp's get_scale_min_k4.
inline void get_scale_min_k4(int j, const uint8_t* q, uint8_t* d, uint8_t* m) {
  if (j < 4) {
    *d = q[j] & 63;
    *m = q[j + 4] & 63;
  } else {
    *d = static_cast<uint8_t>((q[j + 4] & 0xF) | ((q[j - 4] >> 6) << 4));
    *m = static_cast<uint8_t>((q[j + 4] >> 4) | ((q[j - 0] >> 6) << 4));
  }
}

// Q3_K's 16 six-bit sub-block scales, stored offset by 32 in 12 bytes: the low nibble of scale j in
// byte j (j < 8) or the high nibble of byte j − 8, its top two bits in bits 2·(j / 4) of byte
// 8 + j % 4. q3_k_scale gives scale j as a signed value (−32 … 31); q3_k_set_scale ORs l (0 … 63) in
// (the 12 bytes start zeroed).
inline int q3_k_scale(const BlockQ3_K& b, int j) {
  const auto lo = static_cast<int8_t>(j < 8 ? b.scales[j] & 0xF : b.scales[j - 8] >> 4);
  return static_cast<int8_t>(lo | (((b.scales[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32;
}
inline void q3_k_set_scale(BlockQ3_K& b, int j, int l) {
  if (j < 8) b.scales[j] = static_cast<uint8_t>(l & 0xF);
  else b.scales[j - 8] = static_cast<uint8_t>(b.scales[j - 8] | ((l & 0xF) << 4));
  l >>= 4;
  b.scales[j % 4 + 8] = static_cast<uint8_t>(b.scales[j % 4 + 8] | (l << (2 * (j / 4))));
}
// IQ4_XS's scale of sub-block ib (0 … 7), stored offset by 32: low four bits in nibble ib % 2 of
// scales_l[ib / 2], top two in bits 2·ib of scales_h. Returns the signed scale (−32 … 31).
inline int iq4_xs_scale(const BlockIQ4_XS& b, int ib) {
  return (((b.scales_l[ib / 2] >> (4 * (ib % 2))) & 0xF) | (((b.scales_h >> (2 * ib)) & 3) << 4)) - 32;
}

inline constexpr int8_t kValuesIQ4NL[16] = {-127, -104, -83, -65, -49, -35, -22, -10, 1, 13, 25, 38, 53, 69, 89, 113};

}  // namespace vernier::ggml
