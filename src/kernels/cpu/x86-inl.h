// Internal, per Highway target: the x86 helpers the SIMD dot-product translation units share
// (dot_simd.cpp: float rows and 32-value blocks; dot_simd_k.cpp: the K-quants). Included inside
// HWY_NAMESPACE for targets with 256-bit integer vectors (AVX2 and the AVX-512 targets).
#if defined(VERNIER_KERNELS_X86_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef VERNIER_KERNELS_X86_INL_H_
#undef VERNIER_KERNELS_X86_INL_H_
#else
#define VERNIER_KERNELS_X86_INL_H_
#endif

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

// Broadcasts int16 lane i of each 128-bit half (a K-quant sub-block's scale) by one byte shuffle.
HWY_INLINE __m256i ScaleShuffleK4(int i) {
  return _mm256_set1_epi16(static_cast<int16_t>((2 * i) | ((2 * i + 1) << 8)));
}

// Q6_K's 6-bit codes of one 128-value half: low nibbles from ql (qa = bytes 0..31, qb = 32..63), top
// two bits from qh (hb); v[k] holds the 32 codes of values 32k … 32k + 31 of the half.
HWY_INLINE void DecodeQ6K(__m256i qa, __m256i qb, __m256i hb, __m256i* v) {
  const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
  v[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
  v[1] = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
  v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
  v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                         _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
}

#endif  // VERNIER_KERNELS_X86_INL_H_
