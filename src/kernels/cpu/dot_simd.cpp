// SIMD dot products for x86 targets with 256-bit integer vectors (AVX2, AVX-512, AVX-512 VNNI),
// compiled once per Highway target and picked at run time (see matmul.cpp).
//
// Every quantized kernel computes each block's integer sum exactly as the scalar reference does
// (the products of codes, summed in int32 — no saturation can occur: the largest pair sum that
// _mm256_maddubs_epi16 forms is 2 × 63 × 127 = 16002 < 32767), then multiplies by the block scales
// in float32 and accumulates in eight float lanes. Only that last float sum is reassociated relative
// to the reference. Highway 1.0.3 has no u8×i8 pairwise multiply-add, so the integer products use
// the x86 intrinsics (vpmaddubsw; vpdpbusd where VNNI is present) in one helper per target; float
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

HWY_INLINE float Half(uint16_t h) { return _cvtsh_ss(h); }

// Eight int32 sums of 4 adjacent products u[i] × s[i] (u unsigned bytes, s signed; each pair sum
// must fit int16, which the callers' value ranges guarantee).
HWY_INLINE __m256i DotU8I8(__m256i u, __m256i s) {
  return _mm256_madd_epi16(_mm256_maddubs_epi16(u, s), _mm256_set1_epi16(1));
}
// Signed × signed (w may be −128; x is an activation code in −127..127).
HWY_INLINE __m256i DotI8I8(__m256i w, __m256i x) {
  return DotU8I8(_mm256_sign_epi8(w, w), _mm256_sign_epi8(x, w));
}
HWY_INLINE float HSum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
HWY_INLINE __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
// 16 bytes of nibbles → 32 bytes: low nibbles in elements 0..15, high nibbles in 16..31.
HWY_INLINE __m256i Nibbles16(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
}

// The product of each block's two FP16 scales for 8 blocks at a time: the 16 halves are gathered
// with plain loads and converted by one vcvtph2ps each; the block loop then broadcasts its scale
// from memory (a load, not a shuffle). Converting scales one by one cost a quarter of Q4_0's time.
template <class BW, class BX>
HWY_INLINE __m256 ScaleProducts8(const BW* w, const BX* x, float* out) {
  alignas(16) uint16_t hw[8], hx[8];
  for (int j = 0; j < 8; ++j) {
    hw[j] = w[j].d;
    hx[j] = x[j].d;
  }
  const __m256 a = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(hw)));
  const __m256 b = _mm256_cvtph_ps(_mm_load_si128(reinterpret_cast<const __m128i*>(hx)));
  const __m256 p = _mm256_mul_ps(a, b);
  _mm256_store_ps(out, p);
  return p;
}

// Σ over blocks of scale(i) × (8 int32 partial sums of block i), scales 8 blocks at a time. (Folding
// four blocks' sums into one vector with vphaddd before the convert was tried: no faster here.)
template <class BW, class BX, class BlockDot>
HWY_INLINE float Blocks32(const BW* w, const BX* x, int64_t nb, BlockDot block_dot) {
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  alignas(32) float sc[8];
  int64_t i = 0;
  for (; i + 8 <= nb; i += 8) {
    ScaleProducts8(w + i, x + i, sc);
    for (int j = 0; j < 8; j += 2) {
      acc0 = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j), _mm256_cvtepi32_ps(block_dot(w[i + j], x[i + j])), acc0);
      acc1 = _mm256_fmadd_ps(_mm256_broadcast_ss(sc + j + 1), _mm256_cvtepi32_ps(block_dot(w[i + j + 1], x[i + j + 1])), acc1);
    }
  }
  for (; i < nb; ++i) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * Half(x[i].d)), _mm256_cvtepi32_ps(block_dot(w[i], x[i])), acc0);
  }
  return HSum(_mm256_add_ps(acc0, acc1));
}

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

// Q4_K / Q5_K. Scales and mins come out of their 12 packed bytes with four 32-bit operations (the
// bytes of utmp are then sc0..sc7, m0..m7), widen to 16 int16 lanes, and are broadcast per sub-block
// with one byte shuffle each; the min term Σ m_j·(bsum_2j + bsum_2j+1) is one pairwise add and one
// multiply-add of int16 vectors.
HWY_INLINE __m256i ScaleShuffleK4(int i) {  // broadcasts int16 lane i of each 128-bit half
  return _mm256_set1_epi16(static_cast<int16_t>((2 * i) | ((2 * i + 1) << 8)));
}
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
  const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3), c32 = _mm256_set1_epi8(32);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    __m256i sumi = _mm256_setzero_si256();
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[i].ql + 64 * half;
      const int8_t* q8 = x[i].qs + 128 * half;
      const int8_t* scales = w[i].scales + 8 * half;
      const __m256i qa = Load32(ql), qb = Load32(ql + 32), hb = Load32(w[i].qh + 32 * half);
      __m256i v[4];
      v[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
      v[1] = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
      v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
      v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                             _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
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
  t[ggml_type::Q8_0] = DotQ8_0;
  t[ggml_type::Q4_K] = DotQ45_K<false>;
  t[ggml_type::Q5_K] = DotQ45_K<true>;
  t[ggml_type::Q6_K] = DotQ6_K;
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
    if (e.target == target && e.fill) return e.fill(out);
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
