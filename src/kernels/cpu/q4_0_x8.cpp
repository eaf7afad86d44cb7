// Q4_0 with eight rows interleaved ("Q4_0x8"): for every 32-value block column, the eight rows' FP16
// scales (16 bytes) and then their nibbles (8 × 16 bytes). A mat-vec then loads each activation block
// once for eight rows, converts the eight weight scales with one vcvtph2ps, and reduces the eight rows'
// int32 lane sums with a vphaddd tree into one vector of eight row sums, so the conversion,
// multiply-add and the −8·Σy correction are done for eight rows at a time. Per block and row the
// integer sum is the reference's exactly; the float accumulation over blocks is per row in order
// (a fused multiply-add instead of the reference's multiply then add).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/q4_0_x8.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "dot.hpp"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

void Q4_0x8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  const auto* x = static_cast<const BlockQ8_0S*>(vx);
  const __m256i ones = _mm256_set1_epi16(1);
  __m256 acc = _mm256_setzero_ps(), corr = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += kQ4_0x8BlockBytes) {
    const __m256i y = Load32(x[b].qs);
    __m256i s[8];
    for (int r = 0; r < 8; ++r) s[r] = _mm256_madd_epi16(_mm256_maddubs_epi16(Nibbles16(group + 16 + 16 * r), y), ones);
    const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
    const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
    const __m256i isum = _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))), _mm256_set1_ps(Half(x[b].d)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(isum), d, acc);
    corr = _mm256_fmadd_ps(d, _mm256_set1_ps(static_cast<float>(x[b].sum)), corr);
  }
  _mm256_storeu_ps(out, _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), corr, acc));
}

PackedRowsFn GetQ4_0x8() { return Q4_0x8Rows; }

#else

PackedRowsFn GetQ4_0x8() { return nullptr; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
PackedRowsFn q4_0x8_kernel(int64_t target) {
  struct Entry {
    int64_t target;
    PackedRowsFn (*get)();
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(GetQ4_0x8)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(GetQ4_0x8)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(GetQ4_0x8)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.get) return e.get();
  }
  return nullptr;
}

void repack_q4_0x8(const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  const auto* base = static_cast<const uint8_t*>(w) + group * 8 * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += kQ4_0x8BlockBytes) {
    for (int r = 0; r < 8; ++r) {
      ggml::BlockQ4_0 blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      std::memcpy(out + 2 * r, &blk.d, 2);
      std::memcpy(out + 16 + 16 * r, blk.qs, 16);
    }
  }
}
}  // namespace vernier::kernels
#endif
