// Internal: writing a block's codes into its bit fields, one function per layout. The quantizers
// (legacy.cpp, q2_q3_k.cpp, q4_q5_k.cpp, q6_k.cpp, iq4.cpp) and GPTQ's code writer (codes.cpp) share
// them, so a block GPTQ fills holds its codes exactly where llama.cpp's own quantizer puts them.
// L holds one code per value in element order (ggml_blocks.hpp gives each layout).
#pragma once

#include <cstdint>
#include <cstring>

#include "vernier/ggml_blocks.hpp"

namespace vernier::ggml {

// 32 four-bit codes: element j in the low nibble of qs[j], element j + 16 in the high one
// (Q4_0, Q4_1, IQ4_NL, and each 32 of IQ4_XS).
inline void pack_nibbles_32(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < 16; ++j) qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
}

// 32 five-bit codes (Q5_0, Q5_1): low nibbles as pack_nibbles_32, bit 4 of element j in bit j of qh
// (a little-endian u32).
inline void pack_q5_bits(const uint8_t* L, uint8_t* qs, uint8_t* qh_out) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t xi0 = L[j], xi1 = L[j + 16];
    qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
    qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
    qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_out, &qh, 4);
}

// 256 two-bit codes (Q2_K, the low bits of Q3_K): per 128 values, byte l holds elements l, l+32,
// l+64, l+96 in bit pairs 0-1, 2-3, 4-5, 6-7.
inline void pack_2bit(const uint8_t* L, uint8_t* qs) {
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      qs[j / 4 + l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 2) | (L[j + l + 64] << 4) | (L[j + l + 96] << 6));
    }
  }
}

// 256 three-bit codes 0 … 7 of Q3_K (value scale × (code − 4)): bit 2 in hmask (element j in bit j / 32
// of hmask[j % 32]), the low two bits as pack_2bit.
inline void pack_q3_k_codes(const uint8_t* L, BlockQ3_K& b) {
  std::memset(b.hmask, 0, QK_K / 8);
  uint8_t low[QK_K];
  int m = 0;
  uint8_t hm = 1;
  for (int j = 0; j < QK_K; ++j) {
    low[j] = L[j];
    if (L[j] > 3) {
      b.hmask[m] = static_cast<uint8_t>(b.hmask[m] | hm);
      low[j] = static_cast<uint8_t>(L[j] - 4);
    }
    if (++m == QK_K / 8) { m = 0; hm = static_cast<uint8_t>(hm << 1); }
  }
  pack_2bit(low, b.qs);
}

// 256 four-bit codes of Q4_K: per 64 values, byte l holds element l (low) and l + 32 (high).
inline void pack_q4_k_codes(const uint8_t* L, uint8_t* q) {
  for (int j = 0; j < QK_K; j += 64) {
    for (int l = 0; l < 32; ++l) q[l] = static_cast<uint8_t>(L[j + l] | (L[j + l + 32] << 4));
    q += 32;
  }
}

// 256 five-bit codes of Q5_K: low nibbles as Q4_K, the fifth bit of element 64k + j in bit 2k of
// qh[j] and of 64k + 32 + j in bit 2k + 1.
inline void pack_q5_k_codes(const uint8_t* L, uint8_t* qh, uint8_t* ql) {
  std::memset(qh, 0, QK_K / 8);
  uint8_t m1 = 1, m2 = 2;
  for (int k = 0; k < QK_K; k += 64) {
    for (int j = 0; j < 32; ++j) {
      int l1 = L[k + j];
      if (l1 > 15) { l1 -= 16; qh[j] = static_cast<uint8_t>(qh[j] | m1); }
      int l2 = L[k + j + 32];
      if (l2 > 15) { l2 -= 16; qh[j] = static_cast<uint8_t>(qh[j] | m2); }
      ql[j] = static_cast<uint8_t>(l1 | (l2 << 4));
    }
    m1 = static_cast<uint8_t>(m1 << 2);
    m2 = static_cast<uint8_t>(m2 << 2);
    ql += 32;
  }
}

// 256 six-bit codes of Q6_K (value scale × (code − 32)): per 128 values, the low nibbles of l, l+32
// in ql[l], ql[l+32], those of l+64, l+96 in their high nibbles, the top two bits of the four in qh[l].
inline void pack_q6_k_codes(const uint8_t* L, uint8_t* ql, uint8_t* qh) {
  for (int j = 0; j < QK_K; j += 128) {
    for (int l = 0; l < 32; ++l) {
      const uint8_t q1 = L[j + l + 0] & 0xF, q2 = L[j + l + 32] & 0xF, q3 = L[j + l + 64] & 0xF, q4 = L[j + l + 96] & 0xF;
      ql[l + 0] = static_cast<uint8_t>(q1 | (q3 << 4));
      ql[l + 32] = static_cast<uint8_t>(q2 | (q4 << 4));
      qh[l] = static_cast<uint8_t>((L[j + l] >> 4) | ((L[j + l + 32] >> 4) << 2) | ((L[j + l + 64] >> 4) << 4) | ((L[j + l + 96] >> 4) << 6));
    }
    ql += 64;
    qh += 32;
  }
}

}  // namespace vernier::ggml
