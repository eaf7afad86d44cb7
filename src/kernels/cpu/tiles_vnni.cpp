// AVX-512 VNNI tile kernels on the x16 layouts (x16.hpp): 16 weight rows × up to 8 tokens per call.
// Per block column the weights are loaded and decoded into registers once (four codes of each of the
// 16 rows per zmm lane), then each token's four activation codes at a time are broadcast from memory
// into vpdpbusd, which adds the four products into each row's own lane. Offsets are folded into the
// accumulator's start (Q4_0's −8 and Q8_0's +128 per block, Q6_K's −32 per sub-block: the extras'
// int32 terms); the K-quants' sub-block scales multiply the int32 sums (vpmulld) and Q4_K's min term
// is four vpdpwssd of the mins against the sub-block sums. Every integer sum is the reference's
// exactly (x16.hpp gives the bounds); per block the float term is formed in the reference's order
// and added with a fused multiply-add.
//
// Raw intrinsics, compiled for AVX-512 with VNNI by pragma as dot_vnni.cpp (Highway 1.0.3 names no
// target for Zen 4's EVEX-only VNNI); chosen at run time where the CPU reports AVX512-VNNI.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized on its _mm512_undefined_* placeholders
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"

#include <immintrin.h>

#include <cstring>
#include <type_traits>

#include "x16.hpp"
#include "vernier/ggml_blocks.hpp"

namespace vernier::kernels {
namespace {
using namespace vernier::ggml;

inline __m512i Load(const uint8_t* p) { return _mm512_loadu_si512(p); }
// Four activation codes (one dword) in every lane: folded into vpdpbusd as an embedded broadcast.
inline __m512i Bcast(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm512_set1_epi32(v);
}
inline __m512i BcastI32(const int32_t* p) { return _mm512_set1_epi32(*p); }
inline __m512 BcastF(const float* p) { return _mm512_set1_ps(*p); }
inline __m512 Scales16(const uint8_t* p) { return _mm512_cvtph_ps(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(p))); }

// Calls f(std::integral_constant<int, T>) for T = tokens (1…8).
template <class F>
inline void ByTokens(int tokens, F f) {
  switch (tokens) {
    case 1: return f(std::integral_constant<int, 1>{});
    case 2: return f(std::integral_constant<int, 2>{});
    case 3: return f(std::integral_constant<int, 3>{});
    case 4: return f(std::integral_constant<int, 4>{});
    case 5: return f(std::integral_constant<int, 5>{});
    case 6: return f(std::integral_constant<int, 6>{});
    case 7: return f(std::integral_constant<int, 7>{});
    default: return f(std::integral_constant<int, 8>{});
  }
}

// Q4_0 (nibbles against Q8_0S codes) and Q8_0 (codes + 128 against Q8_0 codes): 8 lanes of weights
// per block; per token one chain of 8 vpdpbusd from the offset term (two chains where there are too
// few tokens to hide the instruction's latency).
template <int T, bool kQ4>
void Q32Tile(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int64_t nb, float* y, int64_t ys) {
  constexpr int64_t kBlock = x16_block_bytes(kQ4 ? ggml_type::Q4_0 : ggml_type::Q8_0);
  constexpr int64_t kActBlock = kQ4 ? sizeof(BlockQ8_0S) : sizeof(BlockQ8_0);
  constexpr int64_t kCodes = kQ4 ? 4 : 2;  // offset of the codes in the activation block
  constexpr bool kSplit = T <= 2;
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kBlock) {
    __m512i w[8];
    if constexpr (kQ4) {
      for (int j = 0; j < 4; ++j) {
        const __m512i p = Load(g + 32 + 64 * j);
        w[j] = _mm512_and_si512(p, m4);                         // values 4j..4j+3
        w[4 + j] = _mm512_and_si512(_mm512_srli_epi16(p, 4), m4);  // values 16+4j..
      }
    } else {
      for (int j = 0; j < 8; ++j) w[j] = Load(g + 32 + 64 * j);
    }
    const __m512 dw = Scales16(g);
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = act + t * as;
      const uint8_t* xq = a + b * kActBlock + kCodes;
      const auto* xd = reinterpret_cast<const float*>(a + eo) + b;
      const auto* off = reinterpret_cast<const int32_t*>(a + eo) + nb + b;
      __m512i s = BcastI32(off), s1 = _mm512_setzero_si512();
      for (int j = 0; j < 4; ++j) s = _mm512_dpbusd_epi32(s, w[j], Bcast(xq + 4 * j));
      for (int j = 4; j < 8; ++j) {
        const int64_t at = kQ4 ? 16 + 4 * (j - 4) : 4 * j;
        if constexpr (kSplit) s1 = _mm512_dpbusd_epi32(s1, w[j], Bcast(xq + at));
        else s = _mm512_dpbusd_epi32(s, w[j], Bcast(xq + at));
      }
      if constexpr (kSplit) s = _mm512_add_epi32(s, s1);
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(_mm512_cvtepi32_ps(s), dw), BcastF(xd), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// Q4_K against Q8_K: per sub-block 8 lanes of nibbles, per token 8 vpdpbusd and one vpmulld by the
// 16 rows' scales into the super-block's int32 sum (≤ 8·63·32·15·127 < 2^31); the min term Σ m_j·Σq
// as four vpdpwssd of the (m_2p, m_2p+1) pairs against the extras' sub-block sums.
template <int T>
void Q4_KTile(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int64_t nb, float* y, int64_t ys) {
  constexpr int64_t kBlock = x16_block_bytes(ggml_type::Q4_K);
  const __m512i m4 = _mm512_set1_epi8(15);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kBlock) {
    __m512i sumi[T];
    for (int t = 0; t < T; ++t) sumi[t] = _mm512_setzero_si512();
    for (int sb = 0; sb < 8; ++sb) {
      const __m512i sc = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 64 + 16 * sb)));
      const uint8_t* q = g + 320 + 512 * (sb / 2);
      __m512i w[8];
      for (int j = 0; j < 8; ++j) {
        const __m512i p = Load(q + 64 * j);
        w[j] = _mm512_and_si512(sb % 2 ? _mm512_srli_epi16(p, 4) : p, m4);
      }
      for (int t = 0; t < T; ++t) {
        const uint8_t* xq = act + t * as + b * static_cast<int64_t>(sizeof(BlockQ8_K)) + 4 + 32 * sb;
        __m512i s = _mm512_setzero_si512(), s1 = _mm512_setzero_si512();
        for (int j = 0; j < 4; ++j) s = _mm512_dpbusd_epi32(s, w[j], Bcast(xq + 4 * j));
        for (int j = 4; j < 8; ++j) s1 = _mm512_dpbusd_epi32(s1, w[j], Bcast(xq + 4 * j));
        sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(_mm512_add_epi32(s, s1), sc));
      }
    }
    __m512i mp[4];
    for (int p = 0; p < 4; ++p) mp[p] = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(g + 192 + 32 * p)));
    const __m512 dv = Scales16(g), dm = Scales16(g + 32);
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = act + t * as;
      const auto* e = reinterpret_cast<const int32_t*>(a + eo) + 20 * b;
      __m512i m = _mm512_setzero_si512();
      for (int p = 0; p < 4; ++p) m = _mm512_dpwssd_epi32(m, mp[p], BcastI32(e + p));
      const __m512 xd = BcastF(reinterpret_cast<const float*>(a + b * static_cast<int64_t>(sizeof(BlockQ8_K))));
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dv, xd), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
      acc[t] = _mm512_fnmadd_ps(_mm512_mul_ps(dm, xd), _mm512_cvtepi32_ps(m), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

// Q6_K against Q8_K: per 16-value sub-block 4 lanes of 6-bit codes (low nibble | high bits << 4, one
// vpternlogd each), per token 4 vpdpbusd from −32·Σq and one vpmulld by the int8 scales
// (|sum| ≤ 16·128·16·32·128 < 2^31).
template <int T>
void Q6_KTile(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int64_t nb, float* y, int64_t ys) {
  constexpr int64_t kBlock = x16_block_bytes(ggml_type::Q6_K);
  const __m512i m4 = _mm512_set1_epi8(15), m30 = _mm512_set1_epi8(0x30);
  __m512 acc[T];
  for (int t = 0; t < T; ++t) acc[t] = _mm512_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, g += kBlock) {
    __m512i sumi[T];
    for (int t = 0; t < T; ++t) sumi[t] = _mm512_setzero_si512();
    for (int u = 0; u < 4; ++u) {
      const uint8_t* unit = g + 288 + 768 * u;
      __m512i qh[4];
      for (int d = 0; d < 4; ++d) qh[d] = Load(unit + 512 + 64 * d);
      for (int s = 0; s < 4; ++s) {
        const int j = 4 * u + s;  // the sub-block
        const __m512i sc = _mm512_cvtepi8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(g + 32 + 16 * j)));
        __m512i w[4];
        for (int d = 0; d < 4; ++d) {
          const __m512i ql = Load(unit + 64 * ((s % 2) * 4 + d));
          const __m512i nib = _mm512_and_si512(s < 2 ? ql : _mm512_srli_epi16(ql, 4), m4);
          const __m512i hb = s == 0 ? _mm512_slli_epi16(qh[d], 4) : s == 1 ? _mm512_slli_epi16(qh[d], 2)
                                   : s == 2 ? qh[d] : _mm512_srli_epi16(qh[d], 2);
          w[d] = _mm512_ternarylogic_epi32(hb, m30, nib, 0xEA);  // (hb & 0x30) | nib
        }
        for (int t = 0; t < T; ++t) {
          const uint8_t* a = act + t * as;
          const uint8_t* xq = a + b * static_cast<int64_t>(sizeof(BlockQ8_K)) + 4 + 16 * j;
          const auto* e = reinterpret_cast<const int32_t*>(a + eo) + 20 * b + 4 + j;
          __m512i v = BcastI32(e);
          for (int d = 0; d < 4; ++d) v = _mm512_dpbusd_epi32(v, w[d], Bcast(xq + 4 * d));
          sumi[t] = _mm512_add_epi32(sumi[t], _mm512_mullo_epi32(v, sc));
        }
      }
    }
    const __m512 dv = Scales16(g);
    for (int t = 0; t < T; ++t) {
      const uint8_t* a = act + t * as;
      const __m512 xd = BcastF(reinterpret_cast<const float*>(a + b * static_cast<int64_t>(sizeof(BlockQ8_K))));
      acc[t] = _mm512_fmadd_ps(_mm512_mul_ps(dv, xd), _mm512_cvtepi32_ps(sumi[t]), acc[t]);
    }
  }
  for (int t = 0; t < T; ++t) _mm512_storeu_ps(y + t * ys, acc[t]);
}

void Q4_0Tiles(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int tokens, int64_t nb, float* y, int64_t ys) {
  ByTokens(tokens, [&](auto t) { Q32Tile<decltype(t)::value, true>(g, act, as, eo, nb, y, ys); });
}
void Q8_0Tiles(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int tokens, int64_t nb, float* y, int64_t ys) {
  ByTokens(tokens, [&](auto t) { Q32Tile<decltype(t)::value, false>(g, act, as, eo, nb, y, ys); });
}
void Q4_KTiles(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int tokens, int64_t nb, float* y, int64_t ys) {
  ByTokens(tokens, [&](auto t) { Q4_KTile<decltype(t)::value>(g, act, as, eo, nb, y, ys); });
}
void Q6_KTiles(const uint8_t* g, const uint8_t* act, int64_t as, int64_t eo, int tokens, int64_t nb, float* y, int64_t ys) {
  ByTokens(tokens, [&](auto t) { Q6_KTile<decltype(t)::value>(g, act, as, eo, nb, y, ys); });
}
}  // namespace

X16Kernels vnni_tiles() { return {Q4_0Tiles, Q8_0Tiles, Q4_KTiles, Q6_KTiles}; }

}  // namespace vernier::kernels

#pragma GCC pop_options
