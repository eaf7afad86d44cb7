// SIMD dot products of the K-quants (Q2_K … Q6_K) and IQ4_XS against Q8_K activations, for the
// x86 targets with 256-bit integer vectors; see dot_simd.cpp for the scheme and the error budget.
// Per 256-value superblock the integer sum Σ_j scale_j · Σ code·q8 is formed exactly in int32 lanes
// (vpmaddubsw pair sums stay within int16: at most 2 × 63 × 127), then scaled once in float.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/dot_simd_k.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "dot.hpp"
#include "vernier/ggml_types.hpp"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

// Q4_K / Q5_K. Scales and mins come out of their 12 packed bytes with four 32-bit operations (the
// bytes of utmp are then sc0..sc7, m0..m7), widen to 16 int16 lanes, and are broadcast per sub-block
// with one byte shuffle each; the min term Σ m_j·(bsum_2j + bsum_2j+1) is one pairwise add and one
// multiply-add of int16 vectors.
template <bool kFive>
float DotQ45_K(const void* vw, const void* vx, int64_t n) {
  using B = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const auto* w = static_cast<const B*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  __m256 acc = _mm256_setzero_ps();
  __m128 acc_m = _mm_setzero_ps();
  const __m256i m4 = _mm256_set1_epi8(15);
  constexpr uint32_t kmask1 = 0x3f3f3f3f, kmask2 = 0x0f0f0f0f, kmask3 = 0x03030303;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    uint32_t utmp[4];
    std::memcpy(utmp, w[i].scales, 12);
    utmp[3] = ((utmp[2] >> 4) & kmask2) | (((utmp[1] >> 6) & kmask3) << 4);
    const uint32_t uaux = utmp[1] & kmask1;
    utmp[1] = (utmp[2] & kmask2) | (((utmp[0] >> 6) & kmask3) << 4);
    utmp[2] = uaux;
    utmp[0] &= kmask1;
    const __m256i mins_and_scales = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(utmp)));
    const __m128i q8sums = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].bsums)),
                                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[i].bsums + 8)));
    const __m128i prod = _mm_madd_epi16(_mm256_extracti128_si256(mins_and_scales, 1), q8sums);
    const __m256i scales = _mm256_broadcastsi128_si256(_mm256_castsi256_si128(mins_and_scales));
    __m256i sumi = _mm256_setzero_si256();
    [[maybe_unused]] __m256i hbits;
    if constexpr (kFive) hbits = Load32(w[i].qh);
    for (int k = 0; k < 4; ++k) {
      const __m256i q = Load32(w[i].qs + 32 * k);
      __m256i lo = _mm256_and_si256(q, m4);
      __m256i hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
      if constexpr (kFive) {  // bit 2k of qh[l] → bit 4 of element l, bit 2k+1 → of element 32 + l
        const __m256i one = _mm256_set1_epi8(1);
        lo = _mm256_or_si256(lo, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * k), one), 4));
        hi = _mm256_or_si256(hi, _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hbits, 2 * k + 1), one), 4));
      }
      const __m256i plo = _mm256_maddubs_epi16(lo, Load32(x[i].qs + 64 * k));
      const __m256i phi = _mm256_maddubs_epi16(hi, Load32(x[i].qs + 64 * k + 32));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(scales, ScaleShuffleK4(2 * k))));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(scales, ScaleShuffleK4(2 * k + 1))));
    }
    const float d = Half(w[i].d) * x[i].d, dmin = Half(w[i].dmin) * x[i].d;
    acc = _mm256_fmadd_ps(_mm256_set1_ps(d), _mm256_cvtepi32_ps(sumi), acc);
    acc_m = _mm_fmadd_ps(_mm_set1_ps(dmin), _mm_cvtepi32_ps(prod), acc_m);
  }
  const __m128 m = _mm_add_ps(acc_m, _mm_movehl_ps(acc_m, acc_m));
  return HSum(acc) - _mm_cvtss_f32(_mm_add_ss(m, _mm_movehdup_ps(m)));
}

float DotQ6_K(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ6_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  __m256 acc = _mm256_setzero_ps();
  const __m256i c32 = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[i].ql + 64 * half;
      const int8_t* q8 = x[i].qs + 128 * half;
      const int8_t* scales = w[i].scales + 8 * half;
      __m256i v[4];
      DecodeQ6K(Load32(ql), Load32(ql + 32), Load32(w[i].qh + 32 * half), v);
      for (int k = 0; k < 4; ++k) {
        const __m256i y = Load32(q8 + 32 * k);
        // (q − 32)·y pair sums: |63·127·2| and |32·127·2| both fit int16, and so does their difference
        const __m256i p = _mm256_sub_epi16(_mm256_maddubs_epi16(v[k], y), _mm256_maddubs_epi16(c32, y));
        const __m256i s = _mm256_set_m128i(_mm_set1_epi16(scales[2 * k + 1]), _mm_set1_epi16(scales[2 * k]));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, s));
      }
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HSum(acc);
}

// Q2_K: 2-bit codes (unsigned, straight into vpmaddubsw) with a 4-bit scale per 16 values; the
// mins (4-bit, per 16) meet the Q8_K 16-value sums in one int16 multiply-add.
float DotQ2_K(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ2_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  __m256 acc = _mm256_setzero_ps();
  float acc_min = 0.0f;
  const __m256i m3 = _mm256_set1_epi8(3);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const __m128i sc8 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(w[i].scales));
    const __m256i mins = _mm256_cvtepu8_epi16(_mm_and_si128(_mm_srli_epi16(sc8, 4), _mm_set1_epi8(15)));
    const __m256i msum = _mm256_madd_epi16(mins, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].bsums)));
    alignas(16) uint8_t sc[16];
    _mm_store_si128(reinterpret_cast<__m128i*>(sc), _mm_and_si128(sc8, _mm_set1_epi8(15)));
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q = Load32(w[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k) {
        const __m256i v = _mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3);
        const __m256i p = _mm256_maddubs_epi16(v, Load32(x[i].qs + 128 * half + 32 * k));
        const int j = 8 * half + 2 * k;
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set_m128i(_mm_set1_epi16(sc[j + 1]), _mm_set1_epi16(sc[j]))));
      }
    }
    const float dall = x[i].d * Half(w[i].d), dmin = x[i].d * Half(w[i].dmin);
    acc = _mm256_fmadd_ps(_mm256_set1_ps(dall), _mm256_cvtepi32_ps(sumi), acc);
    const __m128i m = _mm_add_epi32(_mm256_castsi256_si128(msum), _mm256_extracti128_si256(msum, 1));
    const __m128i m2 = _mm_add_epi32(m, _mm_shuffle_epi32(m, 0x4E));
    acc_min += dmin * static_cast<float>(_mm_cvtsi128_si32(_mm_add_epi32(m2, _mm_shuffle_epi32(m2, 0xB1))));
  }
  return HSum(acc) - acc_min;
}

// Q3_K: the code is (2 low bits) + 4 where the hmask bit is set, minus 4: multiplied unsigned
// (0..7) and the 4·Σq8 per 16 values subtracted through the Q8_K sums, scaled by the 6-bit scales.
float DotQ3_K(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ3_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  __m256 acc = _mm256_setzero_ps();
  const __m256i m3 = _mm256_set1_epi8(3), four = _mm256_set1_epi8(4);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    alignas(32) int16_t sc[16];
    const uint8_t* s = w[i].scales;
    for (int j = 0; j < 16; ++j) {
      const int lo = j < 8 ? (s[j] & 15) : (s[j - 8] >> 4);
      sc[j] = static_cast<int16_t>((lo | (((s[8 + j % 4] >> (2 * (j / 4))) & 3) << 4)) - 32);
    }
    const __m256i scales = _mm256_load_si256(reinterpret_cast<const __m256i*>(sc));
    // Σ_j sc_j · 4 · bsum_j, subtracted at the end
    const __m256i corr = _mm256_madd_epi16(scales, _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[i].bsums)));
    const __m256i hm = Load32(w[i].hmask);
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const __m256i q = Load32(w[i].qs + 32 * half);
      for (int k = 0; k < 4; ++k) {
        const int bit = 4 * half + k;
        const __m256i hbit = _mm256_cmpeq_epi8(_mm256_and_si256(hm, _mm256_set1_epi8(static_cast<char>(1 << bit))),
                                               _mm256_set1_epi8(static_cast<char>(1 << bit)));
        const __m256i v = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(q, 2 * k), m3), _mm256_and_si256(hbit, four));
        const __m256i p = _mm256_maddubs_epi16(v, Load32(x[i].qs + 128 * half + 32 * k));
        const int j = 8 * half + 2 * k;
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set_m128i(_mm_set1_epi16(sc[j + 1]), _mm_set1_epi16(sc[j]))));
      }
    }
    sumi = _mm256_sub_epi32(sumi, _mm256_slli_epi32(corr, 2));
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HSum(acc);
}

// IQ4_XS: non-linear levels by byte shuffle (signed, so the sign trick), a 6-bit scale per 32.
float DotIQ4_XS(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockIQ4_XS*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  __m256 acc = _mm256_setzero_ps();
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIQ4NL)));
  for (int64_t i = 0; i < n / QK_K; ++i) {
    __m256i sumi = _mm256_setzero_si256();
    for (int b = 0; b < 8; ++b) {
      const int ls = iq4_xs_scale(w[i], b);
      const __m256i v = _mm256_shuffle_epi8(table, Nibbles16(w[i].qs + 16 * b));
      const __m256i y = Load32(x[i].qs + 32 * b);
      const __m256i p = _mm256_maddubs_epi16(_mm256_sign_epi8(v, v), _mm256_sign_epi8(y, v));
      sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_set1_epi16(static_cast<int16_t>(ls))));
    }
    acc = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * x[i].d), _mm256_cvtepi32_ps(sumi), acc);
  }
  return HSum(acc);
}

bool FillDotsK(DotTable& t) {
  t[ggml_type::Q2_K] = DotQ2_K;
  t[ggml_type::Q3_K] = DotQ3_K;
  t[ggml_type::Q4_K] = DotQ45_K<false>;
  t[ggml_type::Q5_K] = DotQ45_K<true>;
  t[ggml_type::Q6_K] = DotQ6_K;
  t[ggml_type::IQ4_XS] = DotIQ4_XS;
  return true;
}

#else

bool FillDotsK(DotTable&) { return false; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
bool simd_dots_k(int64_t target, DotTable& out) {
  struct Entry {
    int64_t target;
    bool (*fill)(DotTable&);
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(FillDotsK)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(FillDotsK)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(FillDotsK)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.fill) return e.fill(out);
  }
  return false;
}
}  // namespace vernier::kernels
#endif
