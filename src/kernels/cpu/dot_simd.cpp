// SIMD dot products for x86 targets with 256-bit integer vectors (AVX2, AVX-512): float rows and the
// 32-value block types here, the K-quants in dot_simd_k.cpp; compiled once per Highway target and
// picked at run time (see matmul.cpp).
//
// Every quantized kernel computes each block's integer sum exactly as the scalar reference does
// (the products of codes, summed in int32 — no saturation can occur: the largest pair sum that
// _mm256_maddubs_epi16 forms is 2 × 63 × 127 = 16002 < 32767), then multiplies by the block scales
// in float32 and accumulates in eight float lanes. Only that last float sum is reassociated relative
// to the reference. Highway 1.0.3 has no u8×i8 pairwise multiply-add, so the integer products use
// the x86 intrinsics (vpmaddubsw) in shared helpers (x86-inl.h); float
// rows (F32, F16, BF16) use portable Highway ops. VNNI (vpdpbusd) is not used: Highway 1.0.3's
// AVX3_DL target enables "avxvnni" (the VEX form, absent on Zen 4, which SIGILLs here) and not
// "avx512vnni", so that target is not compiled; the kernels are memory-bound at batch 1 anyway.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/dot_simd.cpp"
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
namespace hn = hwy::HWY_NAMESPACE;
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

// Q4_0 against Q8_0 codes with their block sums: Σ(q − 8)·y = Σ q·y − 8·Σy, so the unsigned
// nibbles go straight into vpmaddubsw and the −8 is one float multiply-add per 8 blocks.
float DotQ4_0(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ4_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0S*>(vx);
  const int64_t nb = n / QK4_0;
  const __m256i ones = _mm256_set1_epi16(1);
  const auto block = [&](int64_t i) {
    return _mm256_cvtepi32_ps(_mm256_madd_epi16(_mm256_maddubs_epi16(Nibbles16(w[i].qs), Load32(x[i].qs)), ones));
  };
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps(), corr = _mm256_setzero_ps();
  alignas(32) float sc[8];
  alignas(16) int16_t sums[8];
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    const __m256 s8 = ScaleProducts8(w + i, x + i, sc);
    for (int j = 0; j < 8; ++j) sums[j] = x[i + j].sum;
    corr = _mm256_fmadd_ps(s8, _mm256_cvtepi32_ps(_mm256_cvtepi16_epi32(_mm_load_si128(reinterpret_cast<const __m128i*>(sums)))), corr);
    for (int j = 0; j < 8; j += 2) {
      acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j), block(i + j), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j + 1), block(i + j + 1), acc1);
    }
  }
  float corr_tail = 0.0f;
  for (; i < nb; ++i) {
    const float d = Half(w[i].d) * Half(x[i].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), block(i), acc0);
    corr_tail += d * static_cast<float>(x[i].sum);
  }
  return HSum(_mm256_add_ps(acc0, acc1)) - 8.0f * (HSum(corr) + corr_tail);
}

float DotQ8_0(const void* vw, const void* vx, int64_t n) {
  return Blocks32(static_cast<const BlockQ8_0*>(vw), static_cast<const BlockQ8_0*>(vx), n / QK8_0,
                  [](const BlockQ8_0& w, const BlockQ8_0& x) { return DotI8I8(Load32(w.qs), Load32(x.qs)); });
}

// Q4_1 and Q5_1 against Q8_1: unsigned codes straight into vpmaddubsw, and the min term m·s (s = d·Σy,
// stored in the activation block) as one float multiply-add per 8 blocks.
template <class BW, class Codes>
HWY_INLINE float DotWithMin(const BW* w, const BlockQ8_1* x, int64_t nb, Codes codes) {
  float mins = 0.0f;
  __m256 corr = _mm256_setzero_ps();
  alignas(16) uint16_t hm[8], hs[8];
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    for (int j = 0; j < 8; ++j) {
      hm[j] = w[i + j].m;
      hs[j] = x[i + j].s;
    }
    corr = _mm256_fmadd_ps(_mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(hm))),
                           _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(hs))), corr);
  }
  for (; i < nb; ++i) mins += Half(w[i].m) * Half(x[i].s);
  return Blocks32(w, x, nb, [&](const BW& b, const BlockQ8_1& y) { return DotU8I8(codes(b), Load32(y.qs)); }) + HSum(corr) + mins;
}

// Bit j of a 32-bit word → byte j of a vector, as 0xFF (set) or 0x00.
HWY_INLINE __m256i BitsToBytes(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  const __m256i shuf = _mm256_set_epi64x(0x0303030303030303, 0x0202020202020202, 0x0101010101010101, 0x0000000000000000);
  __m256i bytes = _mm256_shuffle_epi8(_mm256_set1_epi32(static_cast<int>(v)), shuf);
  bytes = _mm256_or_si256(bytes, _mm256_set1_epi64x(0x7fbfdfeff7fbfdfe));
  return _mm256_cmpeq_epi8(bytes, _mm256_set1_epi64x(-1));
}

float DotQ4_1(const void* vw, const void* vx, int64_t n) {
  return DotWithMin(static_cast<const BlockQ4_1*>(vw), static_cast<const BlockQ8_1*>(vx), n / QK4_1,
                    [](const BlockQ4_1& b) { return Nibbles16(b.qs); });
}
float DotQ5_1(const void* vw, const void* vx, int64_t n) {
  return DotWithMin(static_cast<const BlockQ5_1*>(vw), static_cast<const BlockQ8_1*>(vx), n / QK5_1, [](const BlockQ5_1& b) {
    return _mm256_or_si256(Nibbles16(b.qs), _mm256_and_si256(BitsToBytes(b.qh), _mm256_set1_epi8(16)));
  });
}
// Q5_0: (q − 16) as int8 is the nibble with 0xF0 or'ed in where the fifth bit is clear.
float DotQ5_0(const void* vw, const void* vx, int64_t n) {
  return Blocks32(static_cast<const BlockQ5_0*>(vw), static_cast<const BlockQ8_0*>(vx), n / QK5_0,
                  [](const BlockQ5_0& w, const BlockQ8_0& x) {
                    const __m256i hi = _mm256_andnot_si256(BitsToBytes(w.qh), _mm256_set1_epi8(static_cast<char>(0xF0)));
                    return DotI8I8(_mm256_or_si256(Nibbles16(w.qs), hi), Load32(x.qs));
                  });
}
// IQ4_NL: the 16 non-linear levels by a byte shuffle of the nibbles.
HWY_INLINE __m256i IQ4Values(__m256i nibbles) {
  const __m256i table = _mm256_broadcastsi128_si256(_mm_loadu_si128(reinterpret_cast<const __m128i*>(kValuesIQ4NL)));
  return _mm256_shuffle_epi8(table, nibbles);
}
float DotIQ4_NL(const void* vw, const void* vx, int64_t n) {
  return Blocks32(static_cast<const BlockIQ4_NL*>(vw), static_cast<const BlockQ8_0*>(vx), n / QK4_NL,
                  [](const BlockIQ4_NL& w, const BlockQ8_0& x) { return DotI8I8(IQ4Values(Nibbles16(w.qs)), Load32(x.qs)); });
}

// Float rows: four independent accumulators of Highway vectors, then one reduction.
template <class D, class Load>
HWY_INLINE float FloatDot(D df, int64_t n, const Load& load) {
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  auto a0 = hn::Zero(df), a1 = hn::Zero(df), a2 = hn::Zero(df), a3 = hn::Zero(df);
  int64_t i = 0;
  for (; i + 4 * N <= n; i += 4 * N) {
    a0 = hn::MulAdd(load.w(i), load.x(i), a0);
    a1 = hn::MulAdd(load.w(i + N), load.x(i + N), a1);
    a2 = hn::MulAdd(load.w(i + 2 * N), load.x(i + 2 * N), a2);
    a3 = hn::MulAdd(load.w(i + 3 * N), load.x(i + 3 * N), a3);
  }
  for (; i + N <= n; i += N) a0 = hn::MulAdd(load.w(i), load.x(i), a0);
  float s = hn::GetLane(hn::SumOfLanes(df, hn::Add(hn::Add(a0, a1), hn::Add(a2, a3))));
  for (; i < n; ++i) s += load.tail(i);
  return s;
}
float DotF32(const void* vw, const void* vx, int64_t n) {
  const hn::ScalableTag<float> df;
  struct L {
    decltype(df) d;
    const float* w_;
    const float* x_;
    auto w(int64_t i) const { return hn::LoadU(d, w_ + i); }
    auto x(int64_t i) const { return hn::LoadU(d, x_ + i); }
    float tail(int64_t i) const { return w_[i] * x_[i]; }
  } l{df, static_cast<const float*>(vw), static_cast<const float*>(vx)};
  return FloatDot(df, n, l);
}
template <bool kBF16>
float DotHalf(const void* vw, const void* vx, int64_t n) {
  const hn::ScalableTag<float> df;
  using T = std::conditional_t<kBF16, hwy::bfloat16_t, hwy::float16_t>;
  const hn::Rebind<T, decltype(df)> dh;
  struct L {
    decltype(df) d;
    decltype(dh) h;
    const T* w_;
    const T* x_;
    auto w(int64_t i) const { return hn::PromoteTo(d, hn::LoadU(h, w_ + i)); }
    auto x(int64_t i) const { return hn::PromoteTo(d, hn::LoadU(h, x_ + i)); }
    float tail(int64_t) const { return 0.0f; }  // never called: FloatDot gets whole vectors only
  } l{df, dh, static_cast<const T*>(vw), static_cast<const T*>(vx)};
  const int64_t N = static_cast<int64_t>(hn::Lanes(df));
  const int64_t body = n / N * N;
  float s = FloatDot(df, body, l);
  const auto* w16 = static_cast<const uint16_t*>(vw);
  const auto* x16 = static_cast<const uint16_t*>(vx);
  for (int64_t i = body; i < n; ++i) {
    if constexpr (kBF16) {
      uint32_t a = static_cast<uint32_t>(w16[i]) << 16, b = static_cast<uint32_t>(x16[i]) << 16;
      float fa, fb;
      std::memcpy(&fa, &a, 4);
      std::memcpy(&fb, &b, 4);
      s += fa * fb;
    } else {
      s += Half(w16[i]) * Half(x16[i]);
    }
  }
  return s;
}

bool FillDots(DotTable& t) {
  t[ggml_type::F32] = DotF32;
  t[ggml_type::F16] = DotHalf<false>;
  t[ggml_type::BF16] = DotHalf<true>;
  t[ggml_type::Q4_0] = DotQ4_0;
  t[ggml_type::Q4_1] = DotQ4_1;
  t[ggml_type::Q5_0] = DotQ5_0;
  t[ggml_type::Q5_1] = DotQ5_1;
  t[ggml_type::Q8_0] = DotQ8_0;
  t[ggml_type::IQ4_NL] = DotIQ4_NL;
  return true;
}

#else   // targets without 256-bit integer vectors: the scalar reference serves them

bool FillDots(DotTable&) { return false; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
namespace {
struct TargetEntry {
  int64_t target;
  bool (*fill)(DotTable&);
};
// Best first. HWY_CHOOSE_* is nullptr for a target this build did not compile.
const TargetEntry kTargets[] = {
    {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(FillDots)},
    {HWY_AVX3, HWY_CHOOSE_AVX3(FillDots)},
    {HWY_AVX2, HWY_CHOOSE_AVX2(FillDots)},
};
}  // namespace

bool simd_dots(int64_t target, DotTable& out) {
  for (const TargetEntry& e : kTargets) {
    if (e.target == target && e.fill) return e.fill(out) && simd_dots_k(target, out);
  }
  return false;
}

std::array<int64_t, 8> simd_targets(int& count) {
  std::array<int64_t, 8> out{};
  count = 0;
  const int64_t supported = hwy::SupportedTargets();
  for (const TargetEntry& e : kTargets) {
    if (e.fill && (supported & e.target)) out[static_cast<size_t>(count++)] = e.target;
  }
  return out;
}
}  // namespace vernier::kernels
#endif
