// Q2_K and Q3_K: 256-value super-blocks of 16 sub-blocks of 16, with 4-bit (Q2_K) or 6-bit (Q3_K)
// sub-block scales under one FP16 super-block scale, as llama.cpp makes them.
#include <cmath>
#include <cstring>

#include "pack_codes.hpp"
#include "search.hpp"
#include "types.hpp"

namespace vernier::ggml {


void quantize_q2_k(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ2_K*>(vy);
  const int64_t nb = n / QK_K;
  uint8_t L[QK_K], Laux[16];
  float weights[16], mins[QK_K / 16], scales[QK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += QK_K) {
    if (!qw) {
      // reference: per sub-block affine fit weighted by |x| (absolute error), then 4-bit scales/mins
      const float q4scale = 15.f;
      float max_scale = 0, max_min = 0;
      for (int j = 0; j < QK_K / 16; ++j) {
        for (int l = 0; l < 16; ++l) weights[l] = std::fabs(x[16 * j + l]);
        scales[j] = make_qkx2_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.5f, 0.1f, 15, true);
        if (scales[j] > max_scale) max_scale = scales[j];
        if (mins[j] > max_min) max_min = mins[j];
      }
      if (max_scale > 0) {
        const float iscale = q4scale / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = static_cast<uint8_t>(nearest_int(iscale * scales[j]));
        y[i].d = to_fp16(max_scale / q4scale);
      } else {
        for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = 0;
        y[i].d = to_fp16(0.f);
      }
      if (max_min > 0) {
        const float iscale = q4scale / max_min;
        for (int j = 0; j < QK_K / 16; ++j) {
          y[i].scales[j] = static_cast<uint8_t>(y[i].scales[j] | (nearest_int(iscale * mins[j]) << 4));
        }
        y[i].dmin = to_fp16(max_min / q4scale);
      } else {
        y[i].dmin = to_fp16(0.f);
      }
    } else {
      // importance path: weights imatrix × sqrt(σ² + x²), make_qkx3 per sub-block, make_qp for scales
      float sw[QK_K / 16];
      uint8_t Ls[QK_K / 16], Lm[QK_K / 16];
      std::memset(sw, 0, sizeof sw);
      float sumx2 = 0;
      for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
      const float sigma2 = sumx2 / QK_K;
      for (int j = 0; j < QK_K / 16; ++j) {
        const float* w = qw + QK_K * i + 16 * j;
        for (int l = 0; l < 16; ++l) weights[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        for (int l = 0; l < QK_K / 16; ++l) sw[j] += weights[l];
        scales[j] = make_qkx3_quants(16, 3, x + 16 * j, weights, L + 16 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
      }
      const float dm = make_qp_quants(QK_K / 16, 15, scales, Ls, sw);
      const float mm = make_qp_quants(QK_K / 16, 15, mins, Lm, sw);
      y[i].d = to_fp16(dm);
      y[i].dmin = to_fp16(mm);
      for (int j = 0; j < QK_K / 16; ++j) y[i].scales[j] = static_cast<uint8_t>(Ls[j] | (Lm[j] << 4));
    }
    // requantize every value with the stored (FP16, 4-bit) scales
    const float dm = from_fp16(y[i].d), mm = from_fp16(y[i].dmin);
    for (int j = 0; j < QK_K / 16; ++j) {
      const float d = dm * (y[i].scales[j] & 0xF);
      if (!d) continue;
      const float m = mm * (y[i].scales[j] >> 4);
      for (int ii = 0; ii < 16; ++ii) {
        const int l = nearest_int((x[16 * j + ii] + m) / d);
        L[16 * j + ii] = static_cast<uint8_t>(max_of(0, min_of(3, l)));
      }
    }
    pack_2bit(L, y[i].qs);
  }
}

void dequantize_q2_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ2_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d = from_fp16(x[i].d), min = from_fp16(x[i].dmin);
    const uint8_t* q = x[i].qs;
    int is = 0;
    for (int k = 0; k < QK_K; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        uint8_t sc = x[i].scales[is++];
        float dl = d * (sc & 0xF), ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l] >> shift) & 3) - ml;
        sc = x[i].scales[is++];
        dl = d * (sc & 0xF);
        ml = min * (sc >> 4);
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>((q[l + 16] >> shift) & 3) - ml;
        shift += 2;
      }
      q += 32;
    }
  }
}

namespace {
void finish_q3(BlockQ3_K& b, const float* x, int8_t* L) {
  for (int j = 0; j < QK_K / 16; ++j) {
    const float d = from_fp16(b.d) * static_cast<float>(q3_k_scale(b, j));
    if (!d) continue;
    for (int ii = 0; ii < 16; ++ii) {
      const int l = nearest_int(x[16 * j + ii] / d);
      L[16 * j + ii] = static_cast<int8_t>(max_of(-4, min_of(3, l)) + 4);
    }
  }
  uint8_t Lu[QK_K];
  for (int j = 0; j < QK_K; ++j) Lu[j] = static_cast<uint8_t>(L[j]);
  pack_q3_k_codes(Lu, b);
}
}  // namespace

void quantize_q3_k(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ3_K*>(vy);
  const int64_t nb = n / QK_K;
  int8_t L[QK_K];
  float scales[QK_K / 16];
  for (int64_t i = 0; i < nb; ++i, x += QK_K) {
    std::memset(y[i].scales, 0, 12);
    if (!qw) {
      float max_scale = 0, amax = 0;
      for (int j = 0; j < QK_K / 16; ++j) {
        scales[j] = make_q3_quants(16, 4, x + 16 * j, L + 16 * j, true);
        const float scale = std::fabs(scales[j]);
        if (scale > amax) { amax = scale; max_scale = scales[j]; }
      }
      if (max_scale) {
        const float iscale = -32.f / max_scale;
        for (int j = 0; j < QK_K / 16; ++j) {
          int8_t l = static_cast<int8_t>(nearest_int(iscale * scales[j]));
          l = static_cast<int8_t>(max_of(-32, min_of(31, static_cast<int>(l))) + 32);
          q3_k_set_scale(y[i], j, l);
        }
        y[i].d = to_fp16(1 / iscale);
      } else {
        y[i].d = to_fp16(0.f);
      }
    } else {
      float weight[16], sw[QK_K / 16];
      int8_t Ls[QK_K / 16];
      float sumx2 = 0;
      for (int j = 0; j < QK_K; ++j) sumx2 += x[j] * x[j];
      const float sigma2 = 2 * sumx2 / QK_K;
      for (int j = 0; j < QK_K / 16; ++j) {
        const float* w = qw + QK_K * i + 16 * j;
        for (int l = 0; l < 16; ++l) weight[l] = w[l] * std::sqrt(sigma2 + x[16 * j + l] * x[16 * j + l]);
        float sumw = 0;
        for (int l = 0; l < 16; ++l) sumw += weight[l];
        sw[j] = sumw;
        scales[j] = make_qx_quants(16, 4, x + 16 * j, L + 16 * j, 1, weight);
      }
      const float d_block = make_qx_quants(QK_K / 16, 32, scales, Ls, 1, sw);
      for (int j = 0; j < QK_K / 16; ++j) q3_k_set_scale(y[i], j, Ls[j]);
      y[i].d = to_fp16(d_block);
    }
    finish_q3(y[i], x, L);
  }
}

void dequantize_q3_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ3_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const float d_all = from_fp16(x[i].d);
    const uint8_t* q = x[i].qs;
    const uint8_t* hm = x[i].hmask;
    uint8_t m = 1;
    int is = 0;
    for (int k = 0; k < QK_K; k += 128) {
      int shift = 0;
      for (int j = 0; j < 4; ++j) {
        float dl = d_all * static_cast<float>(q3_k_scale(x[i], is++));
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>(((q[l] >> shift) & 3) - ((hm[l] & m) ? 0 : 4));
        dl = d_all * static_cast<float>(q3_k_scale(x[i], is++));
        for (int l = 0; l < 16; ++l) *y++ = dl * static_cast<float>(((q[l + 16] >> shift) & 3) - ((hm[l + 16] & m) ? 0 : 4));
        shift += 2;
        m = static_cast<uint8_t>(m << 1);
      }
      q += 32;
    }
  }
}

}  // namespace vernier::ggml
