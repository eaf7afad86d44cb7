// AVX-512 VNNI kernels (vpdpbusd: four u8×i8 products summed into an int32 lane in one instruction,
// where vpmaddubsw + vpmaddwd take two) for the types whose inner loop is that product: Q8_0, Q4_0
// and their eight-row kernels (Q4_0x8, Q8_0x8). Raw intrinsics in a translation unit compiled for
// "avx512f, avx512bw, avx512vl, avx512vnni" by pragma: Highway 1.0.3's AVX3_DL target names "avxvnni" (the VEX form,
// which Zen 4 lacks) instead, so it cannot be used here. Chosen at run time only where the CPU
// reports AVX512-VNNI (matmul.cpp); the integer sums are the reference's exactly, as for the other
// SIMD paths.
#pragma GCC push_options
#pragma GCC target("avx2,fma,f16c,bmi2,avx512f,avx512bw,avx512dq,avx512vl,avx512vnni")

#include <immintrin.h>

#include <cstring>

#include "dot.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier::kernels {
namespace {
using namespace vernier::ggml;

inline float Half(uint16_t h) { return _cvtsh_ss(h); }
inline __m256i Load32(const void* p) { return _mm256_loadu_si256(static_cast<const __m256i*>(p)); }
inline __m256i Nibbles16(const uint8_t* p) {
  const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  return _mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), _mm256_set1_epi8(15));
}
inline float HSum(__m256 v) {
  const __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
  const __m128 t = _mm_add_ps(s, _mm_movehl_ps(s, s));
  return _mm_cvtss_f32(_mm_add_ss(t, _mm_movehdup_ps(t)));
}
// u8 × i8, four products per int32 lane
inline __m256i Dp(__m256i u, __m256i s) { return _mm256_dpbusd_epi32(_mm256_setzero_si256(), u, s); }

float DotQ8_0Vnni(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ8_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  const int64_t nb = n / QK8_0;
  int64_t i = 0;
  const auto block = [&](int64_t b) {
    const __m256i q = Load32(w[b].qs), y = Load32(x[b].qs);
    return _mm256_cvtepi32_ps(Dp(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q)));
  };
  for (; i + 1 < nb; i += 2) {
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * Half(x[i].d)), block(i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i + 1].d) * Half(x[i + 1].d)), block(i + 1), acc1);
  }
  if (i < nb) acc0 = _mm256_fmadd_ps(_mm256_set1_ps(Half(w[i].d) * Half(x[i].d)), block(i), acc0);
  return HSum(_mm256_add_ps(acc0, acc1));
}

// Q4_0 against Q8_0 codes with block sums: Σ q·y − 8·Σy with the unsigned nibbles as vpdpbusd's u8.
float DotQ4_0Vnni(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ4_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0S*>(vx);
  __m256 acc0 = _mm256_setzero_ps(), acc1 = _mm256_setzero_ps();
  float corr = 0.0f;
  const int64_t nb = n / QK4_0;
  const auto block = [&](int64_t b) { return _mm256_cvtepi32_ps(Dp(Nibbles16(w[b].qs), Load32(x[b].qs))); };
  int64_t i = 0;
  for (; i + 1 < nb; i += 2) {
    const float d0 = Half(w[i].d) * Half(x[i].d), d1 = Half(w[i + 1].d) * Half(x[i + 1].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d0), block(i), acc0);
    acc1 = _mm256_fmadd_ps(_mm256_set1_ps(d1), block(i + 1), acc1);
    corr += d0 * static_cast<float>(x[i].sum) + d1 * static_cast<float>(x[i + 1].sum);
  }
  if (i < nb) {
    const float d = Half(w[i].d) * Half(x[i].d);
    acc0 = _mm256_fmadd_ps(_mm256_set1_ps(d), block(i), acc0);
    corr += d * static_cast<float>(x[i].sum);
  }
  return HSum(_mm256_add_ps(acc0, acc1)) - 8.0f * corr;
}

#include "kernels/cpu/rows_x8-inl.h"

void Q4_0x8RowsVnni(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q4_0x8Body(group, vx, nb, out, Dp); }
void Q8_0x8RowsVnni(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q8_0x8Body(group, vx, nb, out, Dp); }
}  // namespace

bool vnni_supported() {
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") && __builtin_cpu_supports("avx512vl") &&
         __builtin_cpu_supports("avx512vnni");
}

void vnni_dots(DotTable& t, X8Kernels& x8) {
  t[ggml_type::Q8_0] = DotQ8_0Vnni;
  t[ggml_type::Q4_0] = DotQ4_0Vnni;
  x8.q4_0 = Q4_0x8RowsVnni;
  x8.q8_0 = Q8_0x8RowsVnni;
}

}  // namespace vernier::kernels

#pragma GCC pop_options
