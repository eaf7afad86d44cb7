// Q4_0, Q4_1, Q5_0, Q5_1, Q8_0: 32-value blocks with one FP16 scale (and min), as llama.cpp makes
// them. Reference path: scale from the block's extreme; importance path (imatrix): a weighted scale
// search per block with weights imatrix[j] × sqrt(σ² + x²), σ² the row's mean square.
#include <cfloat>
#include <cmath>
#include <cstring>

#include "pack_codes.hpp"
#include "search.hpp"
#include "types.hpp"

namespace vernier::ggml {

namespace {
// roundf(v) for |v| <= 127 without a libm call: truncate, then step away from zero on a remainder of
// at least one half (the remainder v − trunc(v) is exact).
int round_half_away(float v) {
  const int t = static_cast<int>(v);
  const float frac = v - static_cast<float>(t);
  return t + (frac >= 0.5f) - (frac <= -0.5f);
}

// The importance weights of one block: imatrix[j] × sqrt(σ² + x²), σ² the row's mean square.
void block_weights(const float* xb, const float* qw, float sigma2, float* weight) {
  for (int j = 0; j < 32; ++j) weight[j] = qw[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
}

// The value of largest magnitude, with its sign.
float signed_max(const float* xb) {
  float amax = 0, max = 0;
  for (int j = 0; j < 32; ++j) {
    if (amax < std::fabs(xb[j])) { amax = std::fabs(xb[j]); max = xb[j]; }
  }
  return max;
}

// Reference rule of the types with a min: d = (max − min)/nmax, codes truncating (x − min)/d + 0.5.
void min_max_codes(const float* xb, int nmax, uint16_t* d_out, uint16_t* m_out, uint8_t* L) {
  float min = FLT_MAX, max = -FLT_MAX;
  for (int j = 0; j < 32; ++j) {
    if (xb[j] < min) min = xb[j];
    if (xb[j] > max) max = xb[j];
  }
  const float d = (max - min) / static_cast<float>(nmax);
  const float id = d ? 1.0f / d : 0.0f;
  *d_out = to_fp16(d);
  *m_out = to_fp16(min);
  for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(min_of(nmax, static_cast<int>(static_cast<int8_t>((xb[j] - min) * id + 0.5f))));
}

// Importance rule of the types with a min: make_qkx3's weighted affine fit.
void weighted_min_codes(const float* xb, int nmax, const float* weight, uint16_t* d_out, uint16_t* m_out, uint8_t* L) {
  uint8_t Laux[32];
  float min;
  const float d = make_qkx3_quants(32, nmax, xb, weight, L, &min, Laux, -0.9f, 0.05f, 36, false);
  *d_out = to_fp16(d);
  *m_out = to_fp16(-min);
}

// Reference rule of the types without a min: d = max / −(nmax + 1) of the signed extreme, codes
// truncating x/d + nmax + 1.5 (round half up; the extreme maps to the lowest code exactly).
void signed_max_codes(const float* xb, int half, uint16_t* d_out, uint8_t* L) {
  const float d = signed_max(xb) / static_cast<float>(-half);
  const float id = d ? 1.0f / d : 0.0f;
  *d_out = to_fp16(d);
  const float bias = static_cast<float>(half) + 0.5f;
  for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(min_of(2 * half - 1, static_cast<int>(static_cast<int8_t>(xb[j] * id + bias))));
}

void weighted_signed_codes(const float* xb, int half, const float* weight, uint16_t* d_out, uint8_t* L) {
  int8_t Ls[32];
  *d_out = to_fp16(make_qx_quants(32, half, xb, Ls, 1, weight));
  for (int j = 0; j < 32; ++j) L[j] = static_cast<uint8_t>(Ls[j]);
}

template <class Block, class Fn>
void each_block(const float* x, void* vy, int64_t n, const float* qw, Fn block) {
  auto* y = static_cast<Block*>(vy);
  const float sigma2 = qw ? row_sigma2(x, n) : 0.0f;
  for (int64_t ib = 0; ib < n / 32; ++ib) block(x + 32 * ib, &y[ib], qw ? qw + 32 * ib : nullptr, sigma2);
}
}  // namespace

float row_sigma2(const float* x, int64_t n) {
  float sum_x2 = 0;
  for (int64_t j = 0; j < n; ++j) sum_x2 += x[j] * x[j];
  return sum_x2 / static_cast<float>(n);
}

namespace {
// One block's scale and codes under the importance rule where qw is given, else the reference rule:
// without a min (Q4_0, Q5_0: codes 0 … 2·half − 1) and with one (Q4_1, Q5_1: codes 0 … nmax).
void signed_block(const float* xb, const float* qw, float sigma2, int half, uint16_t* d, uint8_t* L) {
  if (!qw) return signed_max_codes(xb, half, d, L);
  float weight[32];
  block_weights(xb, qw, sigma2, weight);
  weighted_signed_codes(xb, half, weight, d, L);
}
void min_block(const float* xb, const float* qw, float sigma2, int nmax, uint16_t* d, uint16_t* m, uint8_t* L) {
  if (!qw) return min_max_codes(xb, nmax, d, m, L);
  float weight[32];
  block_weights(xb, qw, sigma2, weight);
  weighted_min_codes(xb, nmax, weight, d, m, L);
}
}  // namespace

void quantize_block_q4_0(const float* xb, void* vy, const float* qw, float sigma2) {
  auto* y = static_cast<BlockQ4_0*>(vy);
  uint8_t L[32];
  signed_block(xb, qw, sigma2, 8, &y->d, L);
  pack_nibbles_32(L, y->qs);
}

void quantize_block_q4_1(const float* xb, void* vy, const float* qw, float sigma2) {
  auto* y = static_cast<BlockQ4_1*>(vy);
  uint8_t L[32];
  min_block(xb, qw, sigma2, 15, &y->d, &y->m, L);
  pack_nibbles_32(L, y->qs);
}

void quantize_block_q5_0(const float* xb, void* vy, const float* qw, float sigma2) {
  auto* y = static_cast<BlockQ5_0*>(vy);
  uint8_t L[32];
  signed_block(xb, qw, sigma2, 16, &y->d, L);
  pack_q5_bits(L, y->qs, y->qh);
}

void quantize_block_q5_1(const float* xb, void* vy, const float* qw, float sigma2) {
  auto* y = static_cast<BlockQ5_1*>(vy);
  uint8_t L[32];
  min_block(xb, qw, sigma2, 31, &y->d, &y->m, L);
  pack_q5_bits(L, y->qs, y->qh);
}

void quantize_q4_0(const float* x, void* vy, int64_t n, const float* qw) { each_block<BlockQ4_0>(x, vy, n, qw, quantize_block_q4_0); }
void quantize_q4_1(const float* x, void* vy, int64_t n, const float* qw) { each_block<BlockQ4_1>(x, vy, n, qw, quantize_block_q4_1); }
void quantize_q5_0(const float* x, void* vy, int64_t n, const float* qw) { each_block<BlockQ5_0>(x, vy, n, qw, quantize_block_q5_0); }
void quantize_q5_1(const float* x, void* vy, int64_t n, const float* qw) { each_block<BlockQ5_1>(x, vy, n, qw, quantize_block_q5_1); }

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
