// Scalar reference dot products, one per weight type, and the Q8_1 / Q8_0S activation quantizers.
//
// Each block's product is an integer sum of weight codes times activation codes (in int32, exact),
// then scaled by the block's FP16 weight scale and the activation scale, as llama.cpp's generic
// ggml_vec_dot_<type>_q8_<x> does; blocks are summed in order in float32. F32/F16/BF16 rows sum the
// float products in double, as ggml's scalar vec_dot_f32/f16 do. The SIMD kernels must reproduce the
// integer sums exactly; their float sums may only differ by reassociation (see test_kernels.cpp).
#include <cmath>
#include <cstring>

#include "reference_dot.hpp"
#include "types.hpp"
#include "vernier/float_codecs.hpp"

namespace vernier::ggml {

namespace {
float h(uint16_t v) { return fp16_to_float(v); }
}  // namespace

float dot_f32(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const float*>(vw);
  const auto* x = static_cast<const float*>(vx);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(w[i] * x[i]);
  return static_cast<float>(s);
}
namespace {
template <float (*Decode)(uint16_t)>
float dot_half(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const uint16_t*>(vw);
  const auto* x = static_cast<const uint16_t*>(vx);
  double s = 0;
  for (int64_t i = 0; i < n; ++i) s += static_cast<double>(Decode(w[i]) * Decode(x[i]));
  return static_cast<float>(s);
}
}  // namespace

float dot_q4_0(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ4_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0S*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK4_0; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += ((w[i].qs[j] & 15) - 8) * x[i].qs[j] + ((w[i].qs[j] >> 4) - 8) * x[i].qs[j + 16];
    sum += static_cast<float>(s) * h(w[i].d) * h(x[i].d);
  }
  return sum;
}
float dot_q4_1(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ4_1*>(vw);
  const auto* x = static_cast<const BlockQ8_1*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK4_1; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += (w[i].qs[j] & 15) * x[i].qs[j] + (w[i].qs[j] >> 4) * x[i].qs[j + 16];
    sum += (h(w[i].d) * h(x[i].d)) * static_cast<float>(s) + h(w[i].m) * h(x[i].s);
  }
  return sum;
}
// Q5_0 / Q5_1: the 5-bit code of element j (0..31) of a block.
namespace {
template <typename B>
int q5_code(const B& b, int j) {
  uint32_t qh;
  std::memcpy(&qh, b.qh, 4);
  const int lo = j < 16 ? (b.qs[j] & 15) : (b.qs[j - 16] >> 4);
  return lo | static_cast<int>(((qh >> j) & 1u) << 4);
}
}  // namespace
float dot_q5_0(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ5_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK5_0; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += (q5_code(w[i], j) - 16) * x[i].qs[j];
    sum += (h(w[i].d) * h(x[i].d)) * static_cast<float>(s);
  }
  return sum;
}
float dot_q5_1(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ5_1*>(vw);
  const auto* x = static_cast<const BlockQ8_1*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK5_1; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += q5_code(w[i], j) * x[i].qs[j];
    sum += (h(w[i].d) * h(x[i].d)) * static_cast<float>(s) + h(w[i].m) * h(x[i].s);
  }
  return sum;
}
float dot_q8_0(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ8_0*>(vw);
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 32; ++j) s += w[i].qs[j] * x[i].qs[j];
    sum += static_cast<float>(s) * (h(w[i].d) * h(x[i].d));
  }
  return sum;
}
float dot_iq4_nl(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockIQ4_NL*>(vw);
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK4_NL; ++i) {
    int32_t s = 0;
    for (int j = 0; j < 16; ++j) s += kValuesIQ4NL[w[i].qs[j] & 15] * x[i].qs[j] + kValuesIQ4NL[w[i].qs[j] >> 4] * x[i].qs[j + 16];
    sum += (h(w[i].d) * h(x[i].d)) * static_cast<float>(s);
  }
  return sum;
}

// K-quants: the 256 codes of a superblock in element order, and Σ_sub scale_sub × Σ code × q8.
namespace {
int32_t scaled_sum(const int8_t* a, const int8_t* q8, const int* scales, int sub) {
  int32_t total = 0;
  for (int b = 0; b < QK_K / sub; ++b) {
    int32_t s = 0;
    for (int l = 0; l < sub; ++l) s += a[b * sub + l] * q8[b * sub + l];
    total += scales[b] * s;
  }
  return total;
}
// The 6-bit scales and mins of Q4_K/Q5_K.
void scales_mins_k4(const uint8_t* q, int* sc, int* m) {
  for (int j = 0; j < 8; ++j) {
    uint8_t d, mn;
    get_scale_min_k4(j, q, &d, &mn);
    sc[j] = d;
    m[j] = mn;
  }
}
// Σ min_j × (sum of the 32 activation codes of sub-block j), from the Q8_K 16-value sums.
int32_t min_sum_32(const BlockQ8_K& x, const int* m) {
  int32_t s = 0;
  for (int j = 0; j < 8; ++j) s += m[j] * (x.bsums[2 * j] + x.bsums[2 * j + 1]);
  return s;
}
}  // namespace

float dot_q2_k(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ2_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t a[QK_K];
    int sc[16];
    int32_t summs = 0;
    for (int j = 0; j < 16; ++j) {
      sc[j] = w[i].scales[j] & 15;
      summs += (w[i].scales[j] >> 4) * x[i].bsums[j];
    }
    for (int half = 0; half < 2; ++half)
      for (int s = 0; s < 4; ++s)
        for (int l = 0; l < 32; ++l) a[half * 128 + s * 32 + l] = static_cast<int8_t>((w[i].qs[half * 32 + l] >> (2 * s)) & 3);
    const int32_t isum = scaled_sum(a, x[i].qs, sc, 16);
    const float dall = x[i].d * h(w[i].d), dmin = x[i].d * h(w[i].dmin);
    sum += dall * static_cast<float>(isum) - dmin * static_cast<float>(summs);
  }
  return sum;
}
float dot_q3_k(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ3_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t a[QK_K];
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = q3_k_scale(w[i], j);
    for (int half = 0; half < 2; ++half)
      for (int k = 0; k < 4; ++k)
        for (int l = 0; l < 32; ++l) {
          const int e = half * 128 + k * 32 + l;
          const int q = (w[i].qs[half * 32 + l] >> (2 * k)) & 3;
          const bool high = w[i].hmask[l] & (1u << (half * 4 + k));
          a[e] = static_cast<int8_t>(q - (high ? 0 : 4));
        }
    sum += (h(w[i].d) * x[i].d) * static_cast<float>(scaled_sum(a, x[i].qs, sc, 16));
  }
  return sum;
}
namespace {
template <bool kFive>
float dot_q45_k(const void* vw, const void* vx, int64_t n) {
  using B = std::conditional_t<kFive, BlockQ5_K, BlockQ4_K>;
  const auto* w = static_cast<const B*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t a[QK_K];
    int sc[8], m[8];
    scales_mins_k4(w[i].scales, sc, m);
    for (int k = 0; k < 4; ++k)  // 64 values: 32 low nibbles then 32 high nibbles
      for (int l = 0; l < 32; ++l) {
        int lo = w[i].qs[k * 32 + l] & 15, hi = w[i].qs[k * 32 + l] >> 4;
        if constexpr (kFive) {
          lo |= ((w[i].qh[l] >> (2 * k)) & 1) << 4;
          hi |= ((w[i].qh[l] >> (2 * k + 1)) & 1) << 4;
        }
        a[k * 64 + l] = static_cast<int8_t>(lo);
        a[k * 64 + 32 + l] = static_cast<int8_t>(hi);
      }
    const float d = h(w[i].d) * x[i].d, dmin = h(w[i].dmin) * x[i].d;
    sum += d * static_cast<float>(scaled_sum(a, x[i].qs, sc, 32)) - dmin * static_cast<float>(min_sum_32(x[i], m));
  }
  return sum;
}
}  // namespace
float dot_q6_k(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockQ6_K*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t a[QK_K];
    int sc[16];
    for (int j = 0; j < 16; ++j) sc[j] = w[i].scales[j];
    for (int half = 0; half < 2; ++half) {
      const uint8_t* ql = w[i].ql + half * 64;
      const uint8_t* qh = w[i].qh + half * 32;
      int8_t* o = a + half * 128;
      for (int l = 0; l < 32; ++l) {
        o[l] = static_cast<int8_t>(((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4)) - 32);
        o[l + 32] = static_cast<int8_t>(((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4)) - 32);
        o[l + 64] = static_cast<int8_t>(((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32);
        o[l + 96] = static_cast<int8_t>(((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32);
      }
    }
    sum += (h(w[i].d) * x[i].d) * static_cast<float>(scaled_sum(a, x[i].qs, sc, 16));
  }
  return sum;
}
float dot_iq4_xs(const void* vw, const void* vx, int64_t n) {
  const auto* w = static_cast<const BlockIQ4_XS*>(vw);
  const auto* x = static_cast<const BlockQ8_K*>(vx);
  float sum = 0;
  for (int64_t i = 0; i < n / QK_K; ++i) {
    int8_t a[QK_K];
    int sc[8];
    for (int b = 0; b < 8; ++b) {
      sc[b] = iq4_xs_scale(w[i], b);
      for (int j = 0; j < 16; ++j) {
        a[b * 32 + j] = kValuesIQ4NL[w[i].qs[b * 16 + j] & 15];
        a[b * 32 + j + 16] = kValuesIQ4NL[w[i].qs[b * 16 + j] >> 4];
      }
    }
    sum += (h(w[i].d) * x[i].d) * static_cast<float>(scaled_sum(a, x[i].qs, sc, 32));
  }
  return sum;
}

float dot_f16(const void* w, const void* x, int64_t n) { return dot_half<fp16_to_float>(w, x, n); }
float dot_bf16(const void* w, const void* x, int64_t n) { return dot_half<bf16_to_float>(w, x, n); }
float dot_q4_k(const void* w, const void* x, int64_t n) { return dot_q45_k<false>(w, x, n); }
float dot_q5_k(const void* w, const void* x, int64_t n) { return dot_q45_k<true>(w, x, n); }

void quantize_q8_1(const float* x, void* vy, int64_t n) {
  // As quantize_row_q8_1_ref: d = amax / 127, q = roundf(x / d), s = d × Σq in FP16.
  auto* y = static_cast<BlockQ8_1*>(vy);
  for (int64_t i = 0; i < n / 32; ++i, x += 32) {
    float amax = 0;
    for (int j = 0; j < 32; ++j) amax = std::max(amax, std::fabs(x[j]));
    const float d = amax / 127.0f;
    const float id = d != 0.0f ? 1.0f / d : 0.0f;
    int sum = 0;
    for (int j = 0; j < 32; ++j) {
      y[i].qs[j] = static_cast<int8_t>(std::roundf(x[j] * id));
      sum += y[i].qs[j];
    }
    y[i].d = fp16_from_float(d);
    y[i].s = fp16_from_float(static_cast<float>(sum) * d);
  }
}

void quantize_q8_0s(const float* x, void* vy, int64_t n) {
  auto* y = static_cast<BlockQ8_0S*>(vy);
  for (int64_t i = 0; i < n / 32; ++i) {
    BlockQ8_0 b;
    ggml::quantize_q8_0(x + 32 * i, &b, 32, nullptr);
    y[i].d = b.d;
    int sum = 0;
    for (int j = 0; j < 32; ++j) sum += b.qs[j];
    y[i].sum = static_cast<int16_t>(sum);
    std::memcpy(y[i].qs, b.qs, 32);
  }
}

}  // namespace vernier::ggml
