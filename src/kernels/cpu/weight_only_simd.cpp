// SIMD kernels for vernier's weight-only formats: 4- and 8-bit integer codes (either mode, any
// granularity whose groups are whole multiples of 32 values), NF4 and FP8, decoded to float32 in
// registers and multiplied with float32 activations. Per group the products go into four vector
// accumulators, which are scaled into one row accumulator; the zero-point terms s·z·X are summed
// apart and the row is reduced once. Against the reference (weight_only.cpp) only the order of
// the float additions and where the scale multiplies differ (the test's budget covers both).
//   4-bit  : 16 bytes → nibbles (AND, shift) → element order (byte unpack) → vpmovzxbd → float
//   NF4    : the same indices into the 16 levels: two vpermps over 8 levels each, blended on bit 3
//   8-bit  : vpmovzxbd (signed symmetric codes are flipped to offset form: u XOR 0x80, zero 128)
//   E5M2   : the byte is the top byte of an FP16: vpmovzxbw, shift by 8, vcvtph2ps
//   E4M3   : sign to bit 15, exponent and mantissa to bits 7..13 of an FP16 whose value is the
//            E4M3 value / 256 (subnormals included), vcvtph2ps; the 256 is applied with the scale.
//            (NaN codes, which vernier's quantizer never writes, would read as 480.)
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/weight_only_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "dot.hpp"
#include "vernier/nf4.hpp"
#include "weight_only.hpp"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

HWY_INLINE __m256 U8ToFloat(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }

struct Nf4Table {
  __m256 lo, hi;
  Nf4Table()
      : lo(_mm256_loadu_ps(kNf4Levels.data())), hi(_mm256_loadu_ps(kNf4Levels.data() + 8)) {}
  HWY_INLINE __m256 operator()(__m128i b) const {
    const __m256i idx = _mm256_cvtepu8_epi32(b);
    const __m256 mask = _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28));  // bit 3 → sign bit
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx), mask);
  }
};

// 32 values of one kind, in element order, multiplied into four accumulators (one FMA chain per
// accumulator per 32 values: with two, the FMA latency was the limit).
template <WoKind K, int kBits>
HWY_INLINE void Accumulate32(const uint8_t* c, const float* x, __m128i flip, const Nf4Table& nf4, __m256& a0, __m256& a1,
                             __m256& a2, __m256& a3) {
  if constexpr (kBits == 4) {
    const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip);
    const __m128i m = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(t, m), hi = _mm_and_si128(_mm_srli_epi16(t, 4), m);
    const __m128i e0 = _mm_unpacklo_epi8(lo, hi), e1 = _mm_unpackhi_epi8(lo, hi);
    const auto conv = [&](__m128i b) { return K == WoKind::nf4 ? nf4(b) : U8ToFloat(b); };
    a0 = _mm256_fmadd_ps(conv(e0), _mm256_loadu_ps(x), a0);
    a1 = _mm256_fmadd_ps(conv(_mm_srli_si128(e0, 8)), _mm256_loadu_ps(x + 8), a1);
    a2 = _mm256_fmadd_ps(conv(e1), _mm256_loadu_ps(x + 16), a2);
    a3 = _mm256_fmadd_ps(conv(_mm_srli_si128(e1, 8)), _mm256_loadu_ps(x + 24), a3);
  } else if constexpr (K == WoKind::integer) {
    const __m128i t0 = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip);
    const __m128i t1 = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16)), flip);
    a0 = _mm256_fmadd_ps(U8ToFloat(t0), _mm256_loadu_ps(x), a0);
    a1 = _mm256_fmadd_ps(U8ToFloat(_mm_srli_si128(t0, 8)), _mm256_loadu_ps(x + 8), a1);
    a2 = _mm256_fmadd_ps(U8ToFloat(t1), _mm256_loadu_ps(x + 16), a2);
    a3 = _mm256_fmadd_ps(U8ToFloat(_mm_srli_si128(t1, 8)), _mm256_loadu_ps(x + 24), a3);
  } else {  // FP8 through FP16
    for (int h = 0; h < 2; ++h) {
      const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * h)));
      __m256i f16;
      if constexpr (K == WoKind::fp8_e5m2) {
        f16 = _mm256_slli_epi16(w, 8);
      } else {
        f16 = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7),
                              _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8));
      }
      __m256& p = h == 0 ? a0 : a2;
      __m256& q = h == 0 ? a1 : a3;
      p = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_castsi256_si128(f16)), _mm256_loadu_ps(x + 16 * h), p);
      q = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm256_extracti128_si256(f16, 1)), _mm256_loadu_ps(x + 16 * h + 8), q);
    }
  }
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// AVX-512: 16 values per conversion and multiply-add (half the instructions of the 8-lane form),
// and NF4's 16 levels in one vpermps.
HWY_INLINE __m512 U8ToFloat16(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }
template <WoKind K, int kBits>
HWY_INLINE void Accumulate32x16(const uint8_t* c, const float* x, __m128i flip, __m512 levels, __m512& a0, __m512& a1) {
  if constexpr (kBits == 4) {
    const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip);
    const __m128i m = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(t, m), hi = _mm_and_si128(_mm_srli_epi16(t, 4), m);
    const __m128i e0 = _mm_unpacklo_epi8(lo, hi), e1 = _mm_unpackhi_epi8(lo, hi);
    if constexpr (K == WoKind::nf4) {
      a0 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(e0), levels), _mm512_loadu_ps(x), a0);
      a1 = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_cvtepu8_epi32(e1), levels), _mm512_loadu_ps(x + 16), a1);
    } else {
      a0 = _mm512_fmadd_ps(U8ToFloat16(e0), _mm512_loadu_ps(x), a0);
      a1 = _mm512_fmadd_ps(U8ToFloat16(e1), _mm512_loadu_ps(x + 16), a1);
    }
  } else if constexpr (K == WoKind::integer) {
    a0 = _mm512_fmadd_ps(U8ToFloat16(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip)), _mm512_loadu_ps(x), a0);
    a1 = _mm512_fmadd_ps(U8ToFloat16(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16)), flip)),
                         _mm512_loadu_ps(x + 16), a1);
  } else {
    const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)));
    __m512i f16;
    if constexpr (K == WoKind::fp8_e5m2) {
      f16 = _mm512_slli_epi16(w, 8);
    } else {
      f16 = _mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x7F)), 7),
                            _mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x80)), 8));
    }
    a0 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_castsi512_si256(f16)), _mm512_loadu_ps(x), a0);
    a1 = _mm512_fmadd_ps(_mm512_cvtph_ps(_mm512_extracti64x4_epi64(f16, 1)), _mm512_loadu_ps(x + 16), a1);
  }
}
#endif

template <WoKind K, int kBits>
float WoDot(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum) {
  const int64_t L = d.group_len;
  const __m128i flip = _mm_set1_epi8(static_cast<char>(kBits == 4 ? (d.flip * 0x11) : d.flip));
  const float post = K == WoKind::fp8_e4m3 ? 256.0f : 1.0f;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  const __m512 levels = _mm512_loadu_ps(kNf4Levels.data());
#else
  const Nf4Table nf4;
#endif
  // Each group's lane partials are scaled and added into one vector; the row is reduced once. (A
  // horizontal sum per group was the bottleneck: a dependent chain of ~20 cycles per 128 values.)
  float zero_term = 0.0f;
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  __m512 total = _mm512_setzero_ps();
#else
  __m256 total = _mm256_setzero_ps();
#endif
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    const uint8_t* cg = codes + j * L * kBits / 8;
    const float* xg = x + j * L;
    const int64_t g = d.group_of(row, j);
    const float scale = d.scales[g] * post;
    if constexpr (K == WoKind::integer) zero_term += d.scales[g] * (static_cast<float>(d.zeros ? d.zeros[g] : d.fixed_zero) * xsum[j]);
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
    __m512 a0 = _mm512_setzero_ps(), a1 = _mm512_setzero_ps(), a2 = _mm512_setzero_ps(), a3 = _mm512_setzero_ps();
    int64_t i = 0;
    for (; i + 64 <= L; i += 64) {
      Accumulate32x16<K, kBits>(cg + i * kBits / 8, xg + i, flip, levels, a0, a1);
      Accumulate32x16<K, kBits>(cg + (i + 32) * kBits / 8, xg + i + 32, flip, levels, a2, a3);
    }
    if (i < L) Accumulate32x16<K, kBits>(cg + i * kBits / 8, xg + i, flip, levels, a0, a1);
    total = _mm512_fmadd_ps(_mm512_set1_ps(scale), _mm512_add_ps(_mm512_add_ps(a0, a1), _mm512_add_ps(a2, a3)), total);
#else
    __m256 a0 = _mm256_setzero_ps(), a1 = _mm256_setzero_ps(), a2 = _mm256_setzero_ps(), a3 = _mm256_setzero_ps();
    for (int64_t i = 0; i < L; i += 32) Accumulate32<K, kBits>(cg + i * kBits / 8, xg + i, flip, nf4, a0, a1, a2, a3);
    total = _mm256_fmadd_ps(_mm256_set1_ps(scale), _mm256_add_ps(_mm256_add_ps(a0, a1), _mm256_add_ps(a2, a3)), total);
#endif
  }
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
  return _mm512_reduce_add_ps(total) - zero_term;
#else
  return HSum(total) - zero_term;
#endif
}

WoDotFn PickWo(const WoDesc& d) {
  if (d.group_len % 32 != 0 || d.cols % d.group_len != 0) return nullptr;
  switch (d.kind) {
    case WoKind::integer:
      return d.bits == 4 ? WoDot<WoKind::integer, 4> : d.bits == 8 ? WoDot<WoKind::integer, 8> : nullptr;
    case WoKind::nf4: return WoDot<WoKind::nf4, 4>;
    case WoKind::fp8_e4m3: return WoDot<WoKind::fp8_e4m3, 8>;
    case WoKind::fp8_e5m2: return WoDot<WoKind::fp8_e5m2, 8>;
  }
  return nullptr;
}

#else

WoDotFn PickWo(const WoDesc&) { return nullptr; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
WoDotFn wo_simd_dot(int64_t target, const WoDesc& d) {
  struct Entry {
    int64_t target;
    WoDotFn (*pick)(const WoDesc&);
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(PickWo)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(PickWo)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(PickWo)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.pick) return e.pick(d);
  }
  return nullptr;
}
}  // namespace vernier::kernels
#endif
