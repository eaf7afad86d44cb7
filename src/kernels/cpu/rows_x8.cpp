// Q4_0, Q8_0, Q4_K and Q6_K with eight rows interleaved ("x8", layouts in dot.hpp): for every block
// column, the eight rows' scales and then their codes. A mat-vec then loads each activation block
// once for eight rows and does the scale conversion and multiply-add (and the offset or min terms)
// for eight rows at a time (rows_x8-inl.h). Per block and
// row the integer sum is the reference's exactly; the float accumulation over blocks is per row in
// order (a fused multiply-add instead of the reference's multiply then add). Also: the repacking, and
// the kernels of each Highway target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/rows_x8.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "dot.hpp"
#include "quant/ggml/search.hpp"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

#include "kernels/cpu/rows_x8-inl.h"

// The int16 pair (q8sum_2jp, q8sum_2jp+1) as one int32 (lane jp of the vector).
HWY_INLINE int32_t Q8SumPair(__m128i q8sums, int jp) {
  alignas(16) int32_t v[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(v), q8sums);
  return v[jp];
}

// Q4_K against Q8_K. Per super-block column: the eight activation vectors loaded once; per row the
// sub-block products as DotQ45_K does them (vpmaddubsw of the nibbles, vpmaddwd with the sub-block
// scale broadcast by a byte shuffle); the min term Σ_j m_j·(bsum_2j + bsum_2j+1) of all eight rows in
// four vpmaddwd (mins stored as [pair][row][2]); d and dmin of the eight rows converted at once.
HWY_INLINE void Q4_Kx8Body(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps(), acc_m = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += x8_block_bytes(ggml_type::Q4_K)) {
    const uint8_t* scales = group + 32;
    const uint8_t* mins = group + 96;
    const uint8_t* qs = group + 160;
    const __m128i q8sums = _mm_hadd_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums)),
                                          _mm_loadu_si128(reinterpret_cast<const __m128i*>(x[b].bsums + 8)));
    __m256i msum = _mm256_setzero_si256();
    for (int jp = 0; jp < 4; ++jp) {  // int32 lane jp of q8sums is the int16 pair (q8sum_2jp, q8sum_2jp+1)
      const __m256i mv = _mm256_cvtepu8_epi16(_mm_loadu_si128(reinterpret_cast<const __m128i*>(mins + 16 * jp)));
      msum = _mm256_add_epi32(msum, _mm256_madd_epi16(mv, _mm256_set1_epi32(Q8SumPair(q8sums, jp))));
    }
    __m256i xq[8];
    for (int k = 0; k < 8; ++k) xq[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * k));
    __m256i s[8];
    for (int r = 0; r < 8; ++r) {
      const __m256i sc = _mm256_broadcastsi128_si256(_mm_cvtepu8_epi16(_mm_loadl_epi64(reinterpret_cast<const __m128i*>(scales + 8 * r))));
      __m256i sumi = _mm256_setzero_si256();
      for (int k = 0; k < 4; ++k) {
        const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(qs + 128 * r + 32 * k));
        const __m256i lo = _mm256_and_si256(q, m4), hi = _mm256_and_si256(_mm256_srli_epi16(q, 4), m4);
        const __m256i plo = _mm256_maddubs_epi16(lo, xq[2 * k]), phi = _mm256_maddubs_epi16(hi, xq[2 * k + 1]);
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(sc, ScaleShuffleK4(2 * k))));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(sc, ScaleShuffleK4(2 * k + 1))));
      }
      s[r] = sumi;
    }
    const __m256 xd = _mm256_set1_ps(x[b].d);
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))), xd);
    const __m256 dmin = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16))), xd);
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(RowSums8(s)), d, acc);
    acc_m = _mm256_fmadd_ps(_mm256_cvtepi32_ps(msum), dmin, acc_m);
  }
  _mm256_storeu_ps(out, _mm256_sub_ps(acc, acc_m));
}

// Q6_K against Q8_K. Σ (q − 32)·y·s = Σ q·y·s − 32·Σ_j s_j·bsum_j (the Q8_K 16-value sums are Q6_K's
// sub-blocks), so the codes go into vpmaddubsw as they are and the −32 costs one vpmaddwd per row and
// super-block; each 32-value chunk's two scales (lane c of the even and of the odd half) come from
// one byte shuffle. Integer sums stay below 2^31 (256·63·127·127 and 32·16·127·2032).
HWY_INLINE void Q6_Kx8Body(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  // int16 lanes 0, 2, …, 14 to the low half and 1, 3, …, 15 to the high half (after the 64-bit permute)
  const __m256i eo = _mm256_setr_epi8(0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15,
                                      0, 1, 4, 5, 8, 9, 12, 13, 2, 3, 6, 7, 10, 11, 14, 15);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += x8_block_bytes(ggml_type::Q6_K)) {
    const __m256i bs = _mm256_permute4x64_epi64(
        _mm256_shuffle_epi8(_mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].bsums)), eo), 0xD8);
    __m256i xq[8];
    for (int k = 0; k < 8; ++k) xq[k] = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs + 32 * k));
    __m256i s[8];
    for (int r = 0; r < 8; ++r) {
      const __m256i sc = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 16 + 32 * r));
      const uint8_t* q = group + 16 + 256 + 192 * r;
      __m256i sumi = _mm256_slli_epi32(_mm256_madd_epi16(sc, bs), 5);  // 32·Σ s_j·bsum_j, subtracted below
      sumi = _mm256_sub_epi32(_mm256_setzero_si256(), sumi);
      for (int half = 0; half < 2; ++half) {
        const __m256i qa = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * half));
        const __m256i qb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 64 * half + 32));
        const __m256i hb = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(q + 128 + 32 * half));
        __m256i v[4];
        DecodeQ6K(qa, qb, hb, v);
        for (int k = 0; k < 4; ++k) {
          const __m256i p = _mm256_maddubs_epi16(v[k], xq[4 * half + k]);  // ≤ 2·63·127: no saturation
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, ScaleShuffleK4(4 * half + k))));
        }
      }
      s[r] = sumi;
    }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))), _mm256_set1_ps(x[b].d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(RowSums8(s)), d, acc);
  }
  _mm256_storeu_ps(out, acc);
}


void Q4_0x8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  Q4_0x8Body(group, vx, nb, out, [](__m256i u, __m256i v) { return DotU8I8(u, v); });
}
void Q8_0x8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  Q8_0x8Body(group, vx, nb, out, [](__m256i u, __m256i v) { return DotU8I8(u, v); });
}
void Q4_Kx8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q4_Kx8Body(group, vx, nb, out); }
void Q6_Kx8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q6_Kx8Body(group, vx, nb, out); }

X8Kernels GetX8() { return {Q4_0x8Rows, Q8_0x8Rows, Q4_Kx8Rows, Q6_Kx8Rows}; }

#else

X8Kernels GetX8() { return {}; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
X8Kernels x8_kernels(int64_t target) {
  struct Entry {
    int64_t target;
    X8Kernels (*get)();
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(GetX8)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(GetX8)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(GetX8)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.get) return e.get();
  }
  return {};
}

namespace {
// Rows 8·group … 8·group + 7, block column by block column: `place(block, r, out)` writes row r's block
// into the column's x8 bytes.
template <class Block, class Place>
void repack_rows(const void* w, int64_t row_bytes, int64_t group, int64_t nb, int64_t block_bytes, uint8_t* out, Place place) {
  const auto* base = static_cast<const uint8_t*>(w) + group * 8 * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += block_bytes) {
    for (int r = 0; r < 8; ++r) {
      Block blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      place(blk, r, out);
    }
  }
}
}  // namespace

void repack_x8(GgmlType type, const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  const int64_t bytes = x8_block_bytes(type);
  switch (type) {
    case ggml_type::Q4_0:  // the eight FP16 scales, then each row's 16 bytes of nibbles
      return repack_rows<ggml::BlockQ4_0>(w, row_bytes, group, nb, bytes, out, [](const ggml::BlockQ4_0& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        std::memcpy(o + 16 + 16 * r, b.qs, 16);
      });
    case ggml_type::Q8_0:  // the eight FP16 scales, then each row's 32 int8
      return repack_rows<ggml::BlockQ8_0>(w, row_bytes, group, nb, bytes, out, [](const ggml::BlockQ8_0& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        std::memcpy(o + 16 + 32 * r, b.qs, 32);
      });
    case ggml_type::Q4_K:  // d, dmin, the 6-bit scales and mins unpacked (get_scale_min_k4) to bytes —
                           // scales [row][8], mins [pair of sub-blocks][row][2] — then the nibbles
      return repack_rows<ggml::BlockQ4_K>(w, row_bytes, group, nb, bytes, out, [](const ggml::BlockQ4_K& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        std::memcpy(o + 16 + 2 * r, &b.dmin, 2);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          ggml::get_scale_min_k4(j, b.scales, &sc, &m);
          o[32 + 8 * r + j] = sc;
          o[96 + 16 * (j / 2) + 2 * r + j % 2] = m;
        }
        std::memcpy(o + 160 + 128 * r, b.qs, 128);
      });
    case ggml_type::Q6_K:  // d, each row's scales as int16 (even-numbered sub-blocks in lanes 0..7, odd
                           // ones in 8..15), then each row's ql and qh
      return repack_rows<ggml::BlockQ6_K>(w, row_bytes, group, nb, bytes, out, [](const ggml::BlockQ6_K& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        int16_t sc[16];
        for (int j = 0; j < 16; ++j) sc[(j % 2) * 8 + j / 2] = b.scales[j];
        std::memcpy(o + 16 + 32 * r, sc, 32);
        std::memcpy(o + 16 + 256 + 192 * r, b.ql, 128);
        std::memcpy(o + 16 + 256 + 192 * r + 128, b.qh, 64);
      });
    default:
      break;
  }
}
}  // namespace vernier::kernels
#endif
