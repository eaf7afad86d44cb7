// SIMD kernels for vernier's weight-only formats: 4- and 8-bit integer codes (either mode, any
// granularity whose groups are whole multiples of 32 values), NF4 and FP8, decoded to float32 in
// registers and multiplied with float32 activations; several rows share each activation load (see
// WoRows). Against the reference (weight_only.cpp) only the order of the float additions and
// where the scale multiplies differ (the test's budget covers both).
//   4-bit  : 16 bytes → nibbles (AND, shift) → element order (byte unpack) → vpmovzxbd → float
//   NF4    : the same indices into the 16 levels: one vpermps (AVX-512), two blended on bit 3 (AVX2)
//   8-bit  : vpmovzxbd (signed symmetric codes are flipped to offset form: u XOR 0x80, zero 128)
//   E5M2   : the byte is the top byte of an FP16: vpmovzxbw, shift by 8, vcvtph2ps
//   E4M3   : sign to bit 15, exponent and mantissa to bits 7..13 of an FP16 whose value is the
//            E4M3 value / 256 (subnormals included), vcvtph2ps; the 256 is applied with the scale.
//            (NaN codes, which vernier's quantizer never writes, would read as 480.)
// GCC 12's own avx512fintrin.h trips -Wmaybe-uninitialized on its _mm512_undefined_* placeholders
// (inside _mm512_cvtepu8_epi32 and friends); the warning is about the header, not this code.
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wuninitialized"
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/weight_only_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>
#include <utility>

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

// The vector width of this target: 16-lane zmm on AVX-512 (half the instructions of 8-lane ymm
// per value) and 8-lane ymm on AVX2. Decode32 turns the codes of 32 consecutive values into
// 32 / N float vectors in element order.
#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
struct Lanes {
  using V = __m512;
  static constexpr int N = 16, kRows = 4;  // rows sharing each activation load (8 accumulators)
  static V Zero() { return _mm512_setzero_ps(); }
  static V Load(const float* p) { return _mm512_loadu_ps(p); }
  static V Fma(V a, V b, V c) { return _mm512_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm512_add_ps(a, b); }
  static V Set1(float v) { return _mm512_set1_ps(v); }
  static float Reduce(V v) { return _mm512_reduce_add_ps(v); }
  static V FromU8(__m128i b) { return _mm512_cvtepi32_ps(_mm512_cvtepu8_epi32(b)); }
  static V Nf4(__m128i b) { return _mm512_permutexvar_ps(_mm512_cvtepu8_epi32(b), _mm512_loadu_ps(kNf4Levels.data())); }
  template <WoKind K>
  static void Fp8(const uint8_t* c, V* out) {
    const __m512i w = _mm512_cvtepu8_epi16(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(c)));
    __m512i h;
    if constexpr (K == WoKind::fp8_e5m2) {
      h = _mm512_slli_epi16(w, 8);
    } else {
      h = _mm512_or_si512(_mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x7F)), 7),
                          _mm512_slli_epi16(_mm512_and_si512(w, _mm512_set1_epi16(0x80)), 8));
    }
    out[0] = _mm512_cvtph_ps(_mm512_castsi512_si256(h));
    out[1] = _mm512_cvtph_ps(_mm512_extracti64x4_epi64(h, 1));
  }
  template <class F>
  static void Bytes16(__m128i b, F conv, V* out) { out[0] = conv(b); }  // 16 bytes → 1 vector
};
#else
struct Lanes {
  using V = __m256;
  static constexpr int N = 8, kRows = 2;  // 8 accumulators of the 16 ymm registers
  static V Zero() { return _mm256_setzero_ps(); }
  static V Load(const float* p) { return _mm256_loadu_ps(p); }
  static V Fma(V a, V b, V c) { return _mm256_fmadd_ps(a, b, c); }
  static V Add(V a, V b) { return _mm256_add_ps(a, b); }
  static V Set1(float v) { return _mm256_set1_ps(v); }
  static float Reduce(V v) { return HSum(v); }
  static V FromU8(__m128i b) { return _mm256_cvtepi32_ps(_mm256_cvtepu8_epi32(b)); }
  static V Nf4(__m128i b) {  // two 8-level permutes blended on bit 3 of the index
    const __m256i idx = _mm256_cvtepu8_epi32(b);
    const __m256 lo = _mm256_loadu_ps(kNf4Levels.data()), hi = _mm256_loadu_ps(kNf4Levels.data() + 8);
    return _mm256_blendv_ps(_mm256_permutevar8x32_ps(lo, idx), _mm256_permutevar8x32_ps(hi, idx),
                            _mm256_castsi256_ps(_mm256_slli_epi32(idx, 28)));
  }
  template <WoKind K>
  static void Fp8(const uint8_t* c, V* out) {
    for (int h = 0; h < 2; ++h) {
      const __m256i w = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16 * h)));
      __m256i f16;
      if constexpr (K == WoKind::fp8_e5m2) {
        f16 = _mm256_slli_epi16(w, 8);
      } else {
        f16 = _mm256_or_si256(_mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x7F)), 7),
                              _mm256_slli_epi16(_mm256_and_si256(w, _mm256_set1_epi16(0x80)), 8));
      }
      out[2 * h] = _mm256_cvtph_ps(_mm256_castsi256_si128(f16));
      out[2 * h + 1] = _mm256_cvtph_ps(_mm256_extracti128_si256(f16, 1));
    }
  }
  template <class F>
  static void Bytes16(__m128i b, F conv, V* out) {  // 16 bytes → 2 vectors
    out[0] = conv(b);
    out[1] = conv(_mm_srli_si128(b, 8));
  }
};
#endif
using V = Lanes::V;
constexpr int kPer32 = 32 / Lanes::N;  // vectors per 32 values

// Kernels that take R rows at once read R streams a row apart, and the hardware prefetchers start
// over on every row: from memory that streamed 12–25% slower than with a software prefetch of the
// same cache line R rows further down (the rows this call's next step will take).
template <int R>
HWY_INLINE void PrefetchNextRows(const uint8_t* line, int64_t row_bytes) {
  _mm_prefetch(reinterpret_cast<const char*>(line + R * row_bytes), _MM_HINT_T0);
}

template <WoKind K, int kBits>
HWY_INLINE void Decode32(const uint8_t* c, __m128i flip, V* out) {
  if constexpr (kBits == 4) {  // byte j holds values 2j (low nibble) and 2j + 1 (high): unpack to order
    const __m128i t = _mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip);
    const __m128i m = _mm_set1_epi8(15);
    const __m128i lo = _mm_and_si128(t, m), hi = _mm_and_si128(_mm_srli_epi16(t, 4), m);
    const auto conv = [](__m128i b) { return K == WoKind::nf4 ? Lanes::Nf4(b) : Lanes::FromU8(b); };
    Lanes::Bytes16(_mm_unpacklo_epi8(lo, hi), conv, out);
    Lanes::Bytes16(_mm_unpackhi_epi8(lo, hi), conv, out + kPer32 / 2);
  } else if constexpr (K == WoKind::integer) {
    const auto conv = [](__m128i b) { return Lanes::FromU8(b); };
    Lanes::Bytes16(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c)), flip), conv, out);
    Lanes::Bytes16(_mm_xor_si128(_mm_loadu_si128(reinterpret_cast<const __m128i*>(c + 16)), flip), conv, out + kPer32 / 2);
  } else {
    Lanes::Fp8<K>(c, out);
  }
}

// R rows at once: each activation vector is loaded once and multiplied into every row's
// accumulators (with float32 activations the activation loads, 4 bytes per value, otherwise
// outweigh the codes). Per group a row's accumulators are scaled into its total (a horizontal sum
// per group was a ~20-cycle dependent chain per 128 values); the zero-point terms s·z·X are summed
// apart; each row is reduced once at the end. R = 1 is the single-row kernel, so a row gets the
// same operations whichever entry computes it.
template <WoKind K, int kBits, int R>
HWY_INLINE void WoRows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out) {
  const int64_t L = d.group_len;
  const __m128i flip = _mm_set1_epi8(static_cast<char>(kBits == 4 ? (d.flip * 0x11) : d.flip));
  const float post = K == WoKind::fp8_e4m3 ? 256.0f : 1.0f;  // E4M3 is decoded as value / 256
  V total[R];
  float zero_term[R];
  for (int r = 0; r < R; ++r) {
    total[r] = Lanes::Zero();
    zero_term[r] = 0.0f;
  }
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    V acc[R][kPer32];
    for (int r = 0; r < R; ++r)
      for (int v = 0; v < kPer32; ++v) acc[r][v] = Lanes::Zero();
    const float* xg = x + j * L;
    for (int64_t i = 0; i < L; i += 32) {
      V xv[kPer32];
      for (int v = 0; v < kPer32; ++v) xv[v] = Lanes::Load(xg + i + v * Lanes::N);
      for (int r = 0; r < R; ++r) {
        const uint8_t* c = codes + r * d.row_bytes + (j * L + i) * kBits / 8;
        if (R > 1 && (j * L + i) * kBits % 512 == 0) PrefetchNextRows<R>(c, d.row_bytes);
        V w[kPer32];
        Decode32<K, kBits>(c, flip, w);
        for (int v = 0; v < kPer32; ++v) acc[r][v] = Lanes::Fma(w[v], xv[v], acc[r][v]);
      }
    }
    for (int r = 0; r < R; ++r) {
      const int64_t g = d.group_of(row + r, j);
      V sum = acc[r][0];
      for (int v = 1; v < kPer32; ++v) sum = Lanes::Add(sum, acc[r][v]);
      total[r] = Lanes::Fma(Lanes::Set1(d.scales[g] * post), sum, total[r]);
      if constexpr (K == WoKind::integer) {
        zero_term[r] += d.scales[g] * (static_cast<float>(d.zeros ? d.zeros[g] : d.fixed_zero) * xsum[j]);
      }
    }
  }
  for (int r = 0; r < R; ++r) out[r] = Lanes::Reduce(total[r]) - zero_term[r];
}

template <WoKind K, int kBits>
struct Decoded {
  static constexpr int kRows = Lanes::kRows;
  template <int R>
  static void Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out) {
    WoRows<K, kBits, R>(d, codes, row, x, xsum, out);
  }
};
template <WoKind K, int kBits>
WoKernels Kernels() {
  return EntryPoints<Decoded<K, kBits>>();
}

#if HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL
// The 16 values t[u] a 4-bit code u stands for before scale and zero point: u XOR flip for integers,
// NF4's levels.
template <WoKind K>
HWY_INLINE __m512 CodeValues(const WoDesc& d) {
  if constexpr (K == WoKind::nf4) return _mm512_loadu_ps(kNf4Levels.data());
  return _mm512_cvtepi32_ps(_mm512_xor_si512(_mm512_set_epi32(15, 14, 13, 12, 11, 10, 9, 8, 7, 6, 5, 4, 3, 2, 1, 0),
                                             _mm512_set1_epi32(static_cast<int>(d.flip))));
}
// Group j's table s·(t − z) for each of R rows from `row`.
template <WoKind K, int R>
HWY_INLINE void GroupTables(const WoDesc& d, int64_t row, int64_t j, __m512 values, __m512* lut) {
  for (int r = 0; r < R; ++r) {
    const int64_t g = d.group_of(row + r, j);
    const float z = K == WoKind::integer ? static_cast<float>(d.zeros ? d.zeros[g] : d.fixed_zero) : 0.0f;
    lut[r] = _mm512_mul_ps(_mm512_sub_ps(values, _mm512_set1_ps(z)), _mm512_set1_ps(d.scales[g]));
  }
}

// AVX-512, 4-bit codes (integer and NF4): a group's 16 possible weights s·(t[u] − z) fit one zmm,
// and vpermps looks each code up in it, reading only bits 0..3 of its index lane — so 16 bytes
// widened to dwords (vpmovzxbd) index the low nibbles as they are and, shifted right by 4, the high
// ones. Per 32 values and row: one widening, one shift, two lookups, two FMAs — no int→float
// conversion and no per-group reduction (the scale and zero point are in the table). The lookups
// give each 32 values' even elements, then the odd ones, so x comes de-interleaved the same way
// (XLayout::split32). Against the reference the weight is rounded once (s·(t − z)) and the
// sum is reordered across groups; the test's budget covers both.
// The frame both table kernels share: per group, each row's table; per kStep values, `step` (which
// adds into acc[r][0..1]); at the end, each row's two accumulators summed.
template <WoKind K, int R, int kStep, class Step>
HWY_INLINE void TableRows(const WoDesc& d, int64_t row, float* out, Step step) {
  const int64_t L = d.group_len;
  const __m512 table = CodeValues<K>(d);
  __m512 acc[R][2];
  for (int r = 0; r < R; ++r) acc[r][0] = acc[r][1] = _mm512_setzero_ps();
  for (int64_t j = 0; j < d.groups_per_row; ++j) {
    __m512 lut[R];
    GroupTables<K, R>(d, row, j, table, lut);
    for (int64_t i = j * L; i < (j + 1) * L; i += kStep) step(i, lut, acc);
  }
  for (int r = 0; r < R; ++r) out[r] = _mm512_reduce_add_ps(_mm512_add_ps(acc[r][0], acc[r][1]));
}
template <WoKind K, int R>
HWY_INLINE void Lut4Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* xs, const float*, float* out) {
  TableRows<K, R, 32>(d, row, out, [&](int64_t i, const __m512* lut, __m512 (*acc)[2]) HWY_ATTR {
    const __m512 x0 = _mm512_loadu_ps(xs + i), x1 = _mm512_loadu_ps(xs + i + 16);
    for (int r = 0; r < R; ++r) {
      if (i % 128 == 0) PrefetchNextRows<R>(codes + r * d.row_bytes + i / 2, d.row_bytes);
      const __m512i b = _mm512_cvtepu8_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(codes + r * d.row_bytes + i / 2)));
      acc[r][0] = _mm512_fmadd_ps(_mm512_permutexvar_ps(b, lut[r]), x0, acc[r][0]);
      acc[r][1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(_mm512_srli_epi32(b, 4), lut[r]), x1, acc[r][1]);
    }
  });
}
template <WoKind K>
struct Lut4 {
  static constexpr int kRows = 8;  // 16 accumulators + 8 tables + 2 activations of the 32 zmm registers
  template <int R>
  static void Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* xs, const float* xsum, float* out) {
    Lut4Rows<K, R>(d, codes, row, xs, xsum, out);
  }
};
template <WoKind K>
WoKernels Lut4Kernels() {
  return EntryPoints<Lut4<K>>(XLayout::split32);
}

// AVX-512, 4-bit codes in groups of a multiple of 128 values: 64 bytes are 16 dwords of 8 nibbles
// each; nibble s of every dword is one shift away, and vpermps reads only bits 0..3 of its index, so
// no mask is needed: the 16 lanes hold elements 8k + s, k = 0..15, the order x arrives in
// (XLayout::dwords128). Per 16 values and row: a shift (7 of 8 times), a lookup in the group's
// table s·(t − z) and an FMA.
template <int S, int R>
HWY_INLINE void Nib128Step(const __m512i* c, const __m512* lut, const float* xs, __m512 (*acc)[2]) {
  const __m512 x = _mm512_loadu_ps(xs + 16 * S);
  for (int r = 0; r < R; ++r) {
    __m512i n = c[r];
    if constexpr (S > 0) n = _mm512_srli_epi32(n, 4 * S);
    acc[r][S & 1] = _mm512_fmadd_ps(_mm512_permutexvar_ps(n, lut[r]), x, acc[r][S & 1]);
  }
}
template <int R, int... S>
HWY_INLINE void Nib128Block(const __m512i* c, const __m512* lut, const float* xs, __m512 (*acc)[2], std::integer_sequence<int, S...>) {
  (Nib128Step<S, R>(c, lut, xs, acc), ...);
}
template <WoKind K, int R>
HWY_INLINE void Nib128Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* xs, const float*, float* out) {
  TableRows<K, R, 128>(d, row, out, [&](int64_t i, const __m512* lut, __m512 (*acc)[2]) HWY_ATTR {
    __m512i c[R];
    for (int r = 0; r < R; ++r) {
      PrefetchNextRows<R>(codes + r * d.row_bytes + i / 2, d.row_bytes);
      c[r] = _mm512_loadu_si512(codes + r * d.row_bytes + i / 2);
    }
    Nib128Block<R>(c, lut, xs + i, acc, std::make_integer_sequence<int, 8>());
  });
}
template <WoKind K>
struct Nib128 {
  static constexpr int kRows = 6;  // 12 accumulators, 6 tables, 6 code vectors
  template <int R>
  static void Rows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* xs, const float* xsum, float* out) {
    Nib128Rows<K, R>(d, codes, row, xs, xsum, out);
  }
};
template <WoKind K>
WoKernels Int4Kernels(const WoDesc& d) {
  if (d.group_len % 128 == 0) return EntryPoints<Nib128<K>>(XLayout::dwords128);
  return Lut4Kernels<K>();
}
#else
template <WoKind K>
WoKernels Lut4Kernels() {
  return Kernels<K, 4>();
}
template <WoKind K>
WoKernels Int4Kernels(const WoDesc&) { return Kernels<K, 4>(); }
#endif

WoKernels PickWo(const WoDesc& d) {
  if (d.group_len % 32 != 0 || d.cols % d.group_len != 0) return {};
  switch (d.kind) {
    case WoKind::integer:
      if (d.bits == 4) return Int4Kernels<WoKind::integer>(d);
      if (d.bits == 8) return Kernels<WoKind::integer, 8>();
      return {};
    case WoKind::nf4: return Int4Kernels<WoKind::nf4>(d);
    case WoKind::fp8_e4m3: return Kernels<WoKind::fp8_e4m3, 8>();
    case WoKind::fp8_e5m2: return Kernels<WoKind::fp8_e5m2, 8>();
  }
  return {};
}

#else

WoKernels PickWo(const WoDesc&) { return {}; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
WoKernels wo_simd_kernels(int64_t target, const WoDesc& d) {
  struct Entry {
    int64_t target;
    WoKernels (*pick)(const WoDesc&);
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(PickWo)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(PickWo)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(PickWo)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.pick) return e.pick(d);
  }
  return {};
}
}  // namespace vernier::kernels
#endif
