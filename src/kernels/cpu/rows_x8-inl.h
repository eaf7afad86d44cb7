// Internal: the eight-row kernel bodies (Q4_0x8, Q8_0x8), shared by rows_x8.cpp (per Highway target,
// u8×i8 by vpmaddubsw + vpmaddwd) and dot_vnni.cpp (vpdpbusd). `dp(u, s)` returns the eight int32
// sums of four u8 × i8 products. Per block column: one activation load, eight rows' code products, a
// vphaddd tree that turns the eight rows' lane sums into one vector of eight row sums, then the eight
// FP16 scales converted at once. Q4_0 takes the unsigned nibbles against Q8_0S codes and subtracts
// 8·Σy per block (the −8 re-centering); Q8_0 takes |w| against sign(w)·y (the sign trick of DotI8I8).
// (The K-quant bodies, vpmaddubsw only, are in rows_x8.cpp.)
// The integer sum of each row and block is the reference's exactly.
#if defined(VERNIER_KERNELS_ROWS_X8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef VERNIER_KERNELS_ROWS_X8_INL_H_
#undef VERNIER_KERNELS_ROWS_X8_INL_H_
#else
#define VERNIER_KERNELS_ROWS_X8_INL_H_
#endif

// The eight rows' int32 lane sums → one vector of the eight row sums (row r in lane r).
inline __m256i RowSums8(const __m256i* s) {
  const __m256i h0123 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[0], s[1]), _mm256_hadd_epi32(s[2], s[3]));
  const __m256i h4567 = _mm256_hadd_epi32(_mm256_hadd_epi32(s[4], s[5]), _mm256_hadd_epi32(s[6], s[7]));
  return _mm256_add_epi32(_mm256_permute2x128_si256(h0123, h4567, 0x20), _mm256_permute2x128_si256(h0123, h4567, 0x31));
}

template <class Dp>
inline void Q4_0x8Body(const uint8_t* group, const void* vx, int64_t nb, float* out, Dp dp) {
  const auto* x = static_cast<const BlockQ8_0S*>(vx);
  const __m256i m4 = _mm256_set1_epi8(15);
  __m256 acc = _mm256_setzero_ps(), corr = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += x8_block_bytes(ggml_type::Q4_0)) {
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    __m256i s[8];
    for (int r = 0; r < 8; ++r) {
      const __m128i t = _mm_loadu_si128(reinterpret_cast<const __m128i*>(group + 16 + 16 * r));
      s[r] = dp(_mm256_and_si256(_mm256_set_m128i(_mm_srli_epi16(t, 4), t), m4), y);
    }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))),
                                   _mm256_set1_ps(_cvtsh_ss(x[b].d)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(RowSums8(s)), d, acc);
    corr = _mm256_fmadd_ps(d, _mm256_set1_ps(static_cast<float>(x[b].sum)), corr);
  }
  _mm256_storeu_ps(out, _mm256_fnmadd_ps(_mm256_set1_ps(8.0f), corr, acc));
}

template <class Dp>
inline void Q8_0x8Body(const uint8_t* group, const void* vx, int64_t nb, float* out, Dp dp) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  __m256 acc = _mm256_setzero_ps();
  for (int64_t b = 0; b < nb; ++b, group += x8_block_bytes(ggml_type::Q8_0)) {
    const __m256i y = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(x[b].qs));
    __m256i s[8];
    for (int r = 0; r < 8; ++r) {
      const __m256i q = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(group + 16 + 32 * r));
      s[r] = dp(_mm256_sign_epi8(q, q), _mm256_sign_epi8(y, q));
    }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))),
                                   _mm256_set1_ps(_cvtsh_ss(x[b].d)));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(RowSums8(s)), d, acc);
  }
  _mm256_storeu_ps(out, acc);
}

#endif  // VERNIER_KERNELS_ROWS_X8_INL_H_
