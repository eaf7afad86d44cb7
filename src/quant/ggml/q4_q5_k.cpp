// Q4_K and Q5_K: 256-value super-blocks of 8 sub-blocks of 32, each with a 6-bit scale and a 6-bit
// min under FP16 super-block scales, as llama.cpp makes them. The two differ only in the code width
// (15 or 31) and the bit packing.
#include <cmath>
#include <cstring>

#include "pack_codes.hpp"
#include "search.hpp"
#include "types.hpp"

namespace vernier::ggml {

namespace {
struct SuperBlock {
  uint16_t* d;
  uint16_t* dmin;
  uint8_t* scales;  // 12 bytes
};

void pack_scale_min(uint8_t* s, int j, uint8_t ls, uint8_t lm) {
  if (j < 4) {
    s[j] = ls;
    s[j + 4] = lm;
  } else {
    s[j + 4] = static_cast<uint8_t>((ls & 0xF) | ((lm & 0xF) << 4));
    s[j - 4] = static_cast<uint8_t>(s[j - 4] | ((ls >> 4) << 6));
    s[j - 0] = static_cast<uint8_t>(s[j - 0] | ((lm >> 4) << 6));
  }
}

// Chooses scales and mins of one super-block and returns the codes (0..nmax) in L.
void quantize_super_block(const float* x, const float* qw, int nmax, SuperBlock b, uint8_t* L) {
  uint8_t Laux[32];
  float weights[32], mins[QK_K / 32], scales[QK_K / 32];
  if (!qw) {
    float max_scale = 0, max_min = 0;
    for (int j = 0; j < QK_K / 32; ++j) {
      float sum_x2 = 0;
      for (int l = 0; l < 32; ++l) sum_x2 += x[32 * j + l] * x[32 * j + l];
      const float av_x = std::sqrt(sum_x2 / 32);
      for (int l = 0; l < 32; ++l) weights[l] = av_x + std::fabs(x[32 * j + l]);
      scales[j] = nmax == 15 ? make_qkx2_quants(32, 15, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -1.f, 0.1f, 20, false)
                             : make_qkx2_quants(32, 31, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.5f, 0.1f, 15, false);
      if (scales[j] > max_scale) max_scale = scales[j];
      if (mins[j] > max_min) max_min = mins[j];
    }
    const float inv_scale = max_scale > 0 ? 63.f / max_scale : 0.f;
    const float inv_min = max_min > 0 ? 63.f / max_min : 0.f;
    for (int j = 0; j < QK_K / 32; ++j) {
      uint8_t ls = static_cast<uint8_t>(nearest_int(inv_scale * scales[j]));
      uint8_t lm = static_cast<uint8_t>(nearest_int(inv_min * mins[j]));
      ls = min_of<uint8_t>(63, ls);
      lm = min_of<uint8_t>(63, lm);
      pack_scale_min(b.scales, j, ls, lm);
    }
    *b.d = to_fp16(max_scale / 63.f);
    *b.dmin = to_fp16(max_min / 63.f);
  } else {
    uint8_t Ls[QK_K / 32], Lm[QK_K / 32];
    float sw[QK_K / 32];
    float sum_x2 = 0;
    for (int l = 0; l < QK_K; ++l) sum_x2 += x[l] * x[l];
    const float sigma2 = 2 * sum_x2 / QK_K;
    for (int j = 0; j < QK_K / 32; ++j) {
      const float* w = qw + 32 * j;
      for (int l = 0; l < 32; ++l) weights[l] = w[l] * std::sqrt(sigma2 + x[32 * j + l] * x[32 * j + l]);
      float sumw = 0;
      for (int l = 0; l < 32; ++l) sumw += weights[l];
      sw[j] = sumw;
      scales[j] = make_qkx3_quants(32, nmax, x + 32 * j, weights, L + 32 * j, &mins[j], Laux, -0.9f, 0.05f, 36, false);
    }
    const float d_block = make_qp_quants(QK_K / 32, 63, scales, Ls, sw);
    const float m_block = make_qp_quants(QK_K / 32, 63, mins, Lm, sw);
    for (int j = 0; j < QK_K / 32; ++j) pack_scale_min(b.scales, j, min_of<uint8_t>(63, Ls[j]), min_of<uint8_t>(63, Lm[j]));
    *b.d = to_fp16(d_block);
    *b.dmin = to_fp16(m_block);
  }
  // requantize with the stored scales
  for (int j = 0; j < QK_K / 32; ++j) {
    uint8_t sc, m;
    get_scale_min_k4(j, b.scales, &sc, &m);
    const float d = from_fp16(*b.d) * sc;
    if (!d) continue;
    const float dm = from_fp16(*b.dmin) * m;
    for (int ii = 0; ii < 32; ++ii) {
      const int l = nearest_int((x[32 * j + ii] + dm) / d);
      L[32 * j + ii] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
    }
  }
}
}  // namespace

void quantize_q4_k(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ4_K*>(vy);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i) {
    std::memset(y[i].scales, 0, 12);
    quantize_super_block(x + QK_K * i, qw ? qw + QK_K * i : nullptr, 15, {&y[i].d, &y[i].dmin, y[i].scales}, L);
    pack_q4_k_codes(L, y[i].qs);
  }
}

void quantize_q5_k(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ5_K*>(vy);
  uint8_t L[QK_K];
  for (int64_t i = 0; i < n / QK_K; ++i) {
    std::memset(y[i].scales, 0, 12);
    quantize_super_block(x + QK_K * i, qw ? qw + QK_K * i : nullptr, 31, {&y[i].d, &y[i].dmin, y[i].scales}, L);
    pack_q5_k_codes(L, y[i].qh, y[i].qs);
  }
}

void dequantize_q4_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const uint8_t* q = x[i].qs;
    const float d = from_fp16(x[i].d), min = from_fp16(x[i].dmin);
    int is = 0;
    for (int j = 0; j < QK_K; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>(q[l] & 0xF) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>(q[l] >> 4) - m2;
      q += 32;
      is += 2;
    }
  }
}

void dequantize_q5_k(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ5_K*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const uint8_t* ql = x[i].qs;
    const uint8_t* qh = x[i].qh;
    const float d = from_fp16(x[i].d), min = from_fp16(x[i].dmin);
    int is = 0;
    uint8_t u1 = 1, u2 = 2;
    for (int j = 0; j < QK_K; j += 64) {
      uint8_t sc, m;
      get_scale_min_k4(is + 0, x[i].scales, &sc, &m);
      const float d1 = d * sc, m1 = min * m;
      get_scale_min_k4(is + 1, x[i].scales, &sc, &m);
      const float d2 = d * sc, m2 = min * m;
      for (int l = 0; l < 32; ++l) *y++ = d1 * static_cast<float>((ql[l] & 0xF) + (qh[l] & u1 ? 16 : 0)) - m1;
      for (int l = 0; l < 32; ++l) *y++ = d2 * static_cast<float>((ql[l] >> 4) + (qh[l] & u2 ? 16 : 0)) - m2;
      ql += 32;
      is += 2;
      u1 = static_cast<uint8_t>(u1 << 2);
      u2 = static_cast<uint8_t>(u2 << 2);
    }
  }
}

}  // namespace vernier::ggml
