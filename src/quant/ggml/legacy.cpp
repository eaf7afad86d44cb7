// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: 32-value blocks with one FP16 scale (and min), as llama.cpp makes
// them. Reference path: scale from the block's extreme; importance path (imatrix): a weighted scale
// search per block with weights imatrix[j] × sqrt(σ² + x²), σ² the row's mean square.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "search.hpp"
#include "types.hpp"

namespace vernier::ggml {

namespace {
void pack_q5_bits(const uint8_t* L, uint8_t* qs, uint8_t* qh_out) {
  uint32_t qh = 0;
  for (int j = 0; j < 16; ++j) {
    const uint8_t xi0 = L[j], xi1 = L[j + 16];
    qs[j] = static_cast<uint8_t>((xi0 & 0x0F) | ((xi1 & 0x0F) << 4));
    qh |= ((xi0 & 0x10u) >> 4) << (j + 0);
    qh |= ((xi1 & 0x10u) >> 4) << (j + 16);
  }
  std::memcpy(qh_out, &qh, 4);
}

// roundf(v) for |v| <= 127 without a libm call: truncate, then step away from zero on a remainder of
// at least one half (the remainder v − trunc(v) is exact).
int round_half_away(float v) {
  const int t = static_cast<int>(v);
  const float frac = v - static_cast<float>(t);
  return t + (frac >= 0.5f) - (frac <= -0.5f);
}

float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / n;
}
}  // namespace

void quantize_q4_0(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ4_0*>(vy);
  const int64_t nb = n / QK4_0;
  if (!qw) {
    for (int64_t i = 0; i < nb; ++i) {
      const float* xb = x + i * QK4_0;
      float amax = 0, max = 0;  // the value of largest magnitude, with its sign
      for (int j = 0; j < QK4_0; ++j) {
        if (amax < std::fabs(xb[j])) { amax = std::fabs(xb[j]); max = xb[j]; }
      }
      const float d = max / -8;
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = to_fp16(d);
      for (int j = 0; j < QK4_0 / 2; ++j) {
        // truncating x/d + 8.5 rounds half up; the extreme maps to −8 exactly
        const uint8_t xi0 = static_cast<uint8_t>(min_of(15, static_cast<int>(static_cast<int8_t>(xb[j] * id + 8.5f))));
        const uint8_t xi1 = static_cast<uint8_t>(min_of(15, static_cast<int>(static_cast<int8_t>(xb[j + 16] * id + 8.5f))));
        y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
      }
    }
    return;
  }
  const float sigma2 = row_sigma2(x, n);
  float weight[QK4_0];
  int8_t L[QK4_0];
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + QK4_0 * ib;
    const float* w = qw + QK4_0 * ib;
    for (int j = 0; j < QK4_0; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants(QK4_0, 8, xb, L, 1, weight);
    y[ib].d = to_fp16(d);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void quantize_q4_1(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ4_1*>(vy);
  const int64_t nb = n / QK4_1;
  if (!qw) {
    for (int64_t i = 0; i < nb; ++i) {
      const float* xb = x + i * QK4_1;
      float min = FLT_MAX, max = -FLT_MAX;
      for (int j = 0; j < QK4_1; ++j) {
        if (xb[j] < min) min = xb[j];
        if (xb[j] > max) max = xb[j];
      }
      const float d = (max - min) / ((1 << 4) - 1);
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = to_fp16(d);
      y[i].m = to_fp16(min);
      for (int j = 0; j < QK4_1 / 2; ++j) {
        const uint8_t xi0 = static_cast<uint8_t>(min_of(15, static_cast<int>(static_cast<int8_t>((xb[j] - min) * id + 0.5f))));
        const uint8_t xi1 = static_cast<uint8_t>(min_of(15, static_cast<int>(static_cast<int8_t>((xb[j + 16] - min) * id + 0.5f))));
        y[i].qs[j] = static_cast<uint8_t>(xi0 | (xi1 << 4));
      }
    }
    return;
  }
  const float sigma2 = row_sigma2(x, n);
  float weight[QK4_1];
  uint8_t L[QK4_1], Laux[QK4_1];
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + QK4_1 * ib;
    const float* w = qw + QK4_1 * ib;
    for (int j = 0; j < QK4_1; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(QK4_1, 15, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    y[ib].d = to_fp16(d);
    y[ib].m = to_fp16(-min);
    for (int j = 0; j < 16; ++j) y[ib].qs[j] = static_cast<uint8_t>(L[j] | (L[j + 16] << 4));
  }
}

void quantize_q5_0(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ5_0*>(vy);
  const int64_t nb = n / QK5_0;
  uint8_t L[QK5_0];
  if (!qw) {
    for (int64_t i = 0; i < nb; ++i) {
      const float* xb = x + i * QK5_0;
      float amax = 0, max = 0;
      for (int j = 0; j < QK5_0; ++j) {
        if (amax < std::fabs(xb[j])) { amax = std::fabs(xb[j]); max = xb[j]; }
      }
      const float d = max / -16;
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = to_fp16(d);
      for (int j = 0; j < QK5_0; ++j) {
        L[j] = static_cast<uint8_t>(min_of(31, static_cast<int>(static_cast<int8_t>(xb[j] * id + 16.5f))));
      }
      pack_q5_bits(L, y[i].qs, y[i].qh);
    }
    return;
  }
  const float sigma2 = row_sigma2(x, n);
  float weight[QK5_0];
  int8_t Ls[QK5_0];
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + QK5_0 * ib;
    const float* w = qw + QK5_0 * ib;
    for (int j = 0; j < QK5_0; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    const float d = make_qx_quants(QK5_0, 16, xb, Ls, 1, weight);
    y[ib].d = to_fp16(d);
    for (int j = 0; j < QK5_0; ++j) L[j] = static_cast<uint8_t>(Ls[j]);
    pack_q5_bits(L, y[ib].qs, y[ib].qh);
  }
}

void quantize_q5_1(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockQ5_1*>(vy);
  const int64_t nb = n / QK5_1;
  uint8_t L[QK5_1], Laux[QK5_1];
  if (!qw) {
    for (int64_t i = 0; i < nb; ++i) {
      const float* xb = x + i * QK5_1;
      float min = FLT_MAX, max = -FLT_MAX;
      for (int j = 0; j < QK5_1; ++j) {
        if (xb[j] < min) min = xb[j];
        if (xb[j] > max) max = xb[j];
      }
      const float d = (max - min) / ((1 << 5) - 1);
      const float id = d ? 1.0f / d : 0.0f;
      y[i].d = to_fp16(d);
      y[i].m = to_fp16(min);
      for (int j = 0; j < QK5_1; ++j) L[j] = static_cast<uint8_t>((xb[j] - min) * id + 0.5f);
      pack_q5_bits(L, y[i].qs, y[i].qh);
    }
    return;
  }
  const float sigma2 = row_sigma2(x, n);
  float weight[QK5_1];
  for (int64_t ib = 0; ib < nb; ++ib) {
    const float* xb = x + QK5_1 * ib;
    const float* w = qw + QK5_1 * ib;
    for (int j = 0; j < QK5_1; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    float min;
    const float d = make_qkx3_quants(QK5_1, 31, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
    y[ib].d = to_fp16(d);
    y[ib].m = to_fp16(-min);
    pack_q5_bits(L, y[ib].qs, y[ib].qh);
  }
}

void quantize_q8_0(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<BlockQ8_0*>(vy);
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    const float* xb = x + i * QK8_0;
    float amax = 0;
    for (int j = 0; j < QK8_0; ++j) amax = max_of(amax, std::fabs(xb[j]));
    const float d = amax / ((1 << 7) - 1);
    const float id = d ? 1.0f / d : 0.0f;
    y[i].d = to_fp16(d);
    for (int j = 0; j < QK8_0; ++j) y[i].qs[j] = static_cast<int8_t>(round_half_away(xb[j] * id));
  }
}

void dequantize_q4_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_0*>(vx);
  for (int64_t i = 0; i < n / QK4_0; ++i) {
    const float d = from_fp16(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = static_cast<float>((x[i].qs[j] & 0x0F) - 8) * d;
      y[i * 32 + j + 16] = static_cast<float>((x[i].qs[j] >> 4) - 8) * d;
    }
  }
}

void dequantize_q4_1(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ4_1*>(vx);
  for (int64_t i = 0; i < n / QK4_1; ++i) {
    const float d = from_fp16(x[i].d), m = from_fp16(x[i].m);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = static_cast<float>(x[i].qs[j] & 0x0F) * d + m;
      y[i * 32 + j + 16] = static_cast<float>(x[i].qs[j] >> 4) * d + m;
    }
  }
}

namespace {
template <class B>
void dequantize_q5(const B* x, float* y, int64_t nb, bool has_min) {
  for (int64_t i = 0; i < nb; ++i) {
    const float d = from_fp16(x[i].d);
    float m = 0;
    if constexpr (requires { x[i].m; }) m = from_fp16(x[i].m);
    uint32_t qh;
    std::memcpy(&qh, x[i].qh, 4);
    for (int j = 0; j < 16; ++j) {
      const int h0 = ((qh >> j) << 4) & 0x10;
      const int h1 = (qh >> (j + 12)) & 0x10;
      const int x0 = ((x[i].qs[j] & 0x0F) | h0) - (has_min ? 0 : 16);
      const int x1 = ((x[i].qs[j] >> 4) | h1) - (has_min ? 0 : 16);
      y[i * 32 + j] = has_min ? static_cast<float>(x0) * d + m : static_cast<float>(x0) * d;
      y[i * 32 + j + 16] = has_min ? static_cast<float>(x1) * d + m : static_cast<float>(x1) * d;
    }
  }
}
}  // namespace

void dequantize_q5_0(const void* vx, float* y, int64_t n) { dequantize_q5(static_cast<const BlockQ5_0*>(vx), y, n / QK5_0, false); }
void dequantize_q5_1(const void* vx, float* y, int64_t n) { dequantize_q5(static_cast<const BlockQ5_1*>(vx), y, n / QK5_1, true); }

void dequantize_q8_0(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockQ8_0*>(vx);
  for (int64_t i = 0; i < n / QK8_0; ++i) {
    const float d = from_fp16(x[i].d);
    for (int j = 0; j < QK8_0; ++j) y[i * 32 + j] = static_cast<float>(x[i].qs[j]) * d;
  }
}

}  // namespace vernier::ggml
