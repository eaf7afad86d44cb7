// Internal: the scale searches of llama.cpp's K-quants and importance-weighted quantizers.
//
// These are where byte-exactness is won or lost, so each follows llama.cpp's arithmetic step for
// step: the same float operations in the same order, the same loop bounds and tie rules. vernier is
// compiled in ISO C++ mode, which forbids contracting a*b+c into an FMA, so every product and sum
// is rounded as written.
#pragma once

#include <cstdint>
#include <cstring>

#include "vernier/float_codecs.hpp"

namespace vernier::ggml {

inline constexpr float kGroupMaxEps = 1e-15f;

// ggml's rounding: adding 1.5 × 2^23 leaves round(fval) (ties to even, the default FP rounding that
// vernier never changes) in the low mantissa bits. Valid for |fval| <= 4194303.
inline int nearest_int(float fval) {
  const float val = fval + 12582912.f;
  int32_t i;
  std::memcpy(&i, &val, sizeof i);
  return (i & 0x007fffff) - 0x00400000;
}

inline uint16_t to_fp16(float x) { return fp16_from_float(x); }  // RNE, as _cvtss_sh and ggml's fallback
inline float from_fp16(uint16_t h) { return fp16_to_float(h); }

template <class T> constexpr T min_of(T a, T b) { return a < b ? a : b; }
template <class T> constexpr T max_of(T a, T b) { return a > b ? a : b; }

// Index of the nearest of n (a power of two) sorted int8 levels to x; a value on a midpoint takes
// the upper level. Comparing 2x with the sum of neighbours keeps both sides exact.
inline int best_index_int8(int n, const int8_t* val, float x) {
  const float x2 = x + x;
  int idx = 0;
  for (int step = n >> 1; step > 0; step >>= 1) {
    const int j = idx + step;
    idx = (x2 >= static_cast<float>(val[j - 1] + val[j])) ? j : idx;
  }
  return idx;
}

float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw);
float make_qx_quants_reference(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw);
float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse);
// make_qkx2/qkx3 evaluate their trial scales several at a time with SIMD (search_simd.cpp) and give
// the same bits as the scalar *_reference versions, which stay built for the tests to compare.
float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
float make_qkx2_quants_reference(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                                 uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
float make_qkx3_quants_reference(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                                 uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad);
float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights);

}  // namespace vernier::ggml
