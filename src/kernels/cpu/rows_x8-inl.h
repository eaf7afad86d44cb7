// Internal: the eight-row kernel bodies (Q4_0x8, Q8_0x8), shared by rows_x8.cpp (per Highway target,
// u8×i8 by vpmaddubsw + vpmaddwd) and dot_vnni.cpp (vpdpbusd). `dp(u, s)` returns the eight int32
// sums of four u8 × i8 products. Per block column: one activation load, eight rows' code products, a
// vphaddd tree that turns the eight rows' lane sums into one vector of eight row sums, then the eight
// FP16 scales converted at once. Q4_0 takes the unsigned nibbles against Q8_0S codes and subtracts
// 8·Σy per block (the −8 re-centering); Q8_0 takes |w| against sign(w)·y (the sign trick of DotI8I8);
// Q4_K (vpmaddubsw only) is below.
// The integer sum of each row and block is the reference's exactly.
#if defined(VERNIER_KERNELS_ROWS_X8_INL_H_) == defined(HWY_TARGET_TOGGLE)
#ifdef VERNIER_KERNELS_ROWS_X8_INL_H_
#undef VERNIER_KERNELS_ROWS_X8_INL_H_
#else
#define VERNIER_KERNELS_ROWS_X8_INL_H_
#endif

// Int16 lane i of each 128-bit half broadcast by a byte shuffle (a sub-block's scale).
inline __m256i SubBlockScale(int i) { return _mm256_set1_epi16(static_cast<int16_t>((2 * i) | ((2 * i + 1) << 8))); }
// The int16 pair (q8sum_2jp, q8sum_2jp+1) as one int32 (lane jp of the vector).
inline int32_t Q8SumPair(__m128i q8sums, int jp) {
  alignas(16) int32_t v[4];
  _mm_store_si128(reinterpret_cast<__m128i*>(v), q8sums);
  return v[jp];
}
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

// Q4_K against Q8_K. Per super-block column: the eight activation vectors loaded once; per row the
// sub-block products as DotQ45_K does them (vpmaddubsw of the nibbles, vpmaddwd with the sub-block
// scale broadcast by a byte shuffle); the min term Σ_j m_j·(bsum_2j + bsum_2j+1) of all eight rows in
// four vpmaddwd (mins stored as [pair][row][2]); d and dmin of the eight rows converted at once.
inline void Q4_Kx8Body(const uint8_t* group, const void* vx, int64_t nb, float* out) {
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
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(plo, _mm256_shuffle_epi8(sc, SubBlockScale(2 * k))));
        sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(phi, _mm256_shuffle_epi8(sc, SubBlockScale(2 * k + 1))));
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
inline void Q6_Kx8Body(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  const __m256i m4 = _mm256_set1_epi8(15), m2 = _mm256_set1_epi8(3);
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
        v[0] = _mm256_or_si256(_mm256_and_si256(qa, m4), _mm256_slli_epi16(_mm256_and_si256(hb, m2), 4));
        v[1] = _mm256_or_si256(_mm256_and_si256(qb, m4), _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 2), m2), 4));
        v[2] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qa, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 4), m2), 4));
        v[3] = _mm256_or_si256(_mm256_and_si256(_mm256_srli_epi16(qb, 4), m4),
                               _mm256_slli_epi16(_mm256_and_si256(_mm256_srli_epi16(hb, 6), m2), 4));
        for (int k = 0; k < 4; ++k) {
          const __m256i p = _mm256_maddubs_epi16(v[k], xq[4 * half + k]);  // ≤ 2·63·127: no saturation
          sumi = _mm256_add_epi32(sumi, _mm256_madd_epi16(p, _mm256_shuffle_epi8(sc, SubBlockScale(4 * half + k))));
        }
      }
      s[r] = sumi;
    }
    const __m256 d = _mm256_mul_ps(_mm256_cvtph_ps(_mm_loadu_si128(reinterpret_cast<const __m128i*>(group))), _mm256_set1_ps(x[b].d));
    acc = _mm256_fmadd_ps(_mm256_cvtepi32_ps(RowSums8(s)), d, acc);
  }
  _mm256_storeu_ps(out, acc);
}

#endif  // VERNIER_KERNELS_ROWS_X8_INL_H_
