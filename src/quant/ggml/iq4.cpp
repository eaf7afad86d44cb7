// IQ4_NL (32-value blocks, one FP16 scale) and IQ4_XS (256-value super-blocks with 6-bit sub-block
// scales) on the 16 non-uniform levels kvalues_iq4nl, as llama.cpp's quantize_row_iq4_nl_impl.
#include <cmath>
#include <cstring>

#include "pack_codes.hpp"
#include "search.hpp"
#include "search_simd.hpp"
#include "types.hpp"

namespace vernier::ggml {

namespace {
constexpr const int8_t* kValues = kValuesIQ4NL;

// One super-block of `super` values in sub-blocks of 32: for each, 2·ntry+1 trial scales around
// −max/−127 fitted by weighted least squares; with several sub-blocks, 6-bit scales under one FP16 d.
void quantize_iq4(int super, const float* x, uint16_t* dh, uint8_t* q4, uint16_t* scales_h, uint8_t* scales_l,
                  const float* qw, int ntry) {
  constexpr int block = 32;
  float scales[QK_K / 32], weight[32];
  uint8_t L[QK_K];
  float sigma2 = 0;
  for (int j = 0; j < super; ++j) sigma2 += x[j] * x[j];
  sigma2 *= 2.f / super;
  std::memset(q4, 0, static_cast<size_t>(super / 2));
  dh[0] = to_fp16(0.f);
  float max_scale = 0, amax_scale = 0;
  for (int ib = 0; ib < super / block; ++ib) {
    const float* xb = x + ib * block;
    uint8_t* Lb = L + ib * block;
    if (qw) {
      const float* w = qw + ib * block;
      for (int j = 0; j < block; ++j) weight[j] = w[j] * std::sqrt(sigma2 + xb[j] * xb[j]);
    } else {
      for (int j = 0; j < block; ++j) weight[j] = xb[j] * xb[j];
    }
    float amax = 0, max = 0;
    for (int j = 0; j < block; ++j) {
      const float ax = std::fabs(xb[j]);
      if (ax > amax) { amax = ax; max = xb[j]; }
    }
    if (amax < kGroupMaxEps) {
      scales[ib] = 0;
      std::memset(Lb, 0, block);
      continue;
    }
    float d = ntry > 0 ? -max / kValues[0] : max / kValues[0];
    float id = 1 / d;
    float sumqx = 0, sumq2 = 0;
    for (int j = 0; j < block; ++j) {
      const float al = id * xb[j];
      const int l = best_index_int8(16, kValues, al);
      Lb[j] = static_cast<uint8_t>(l);
      const float q = kValues[l];
      const float w = weight[j];
      sumqx += w * q * xb[j];
      sumq2 += w * q * q;
    }
    d = sumq2 > 0 ? sumqx / sumq2 : 0.f;
    float best = d * sumqx;
    // the 2·ntry + 1 trial scales are independent: their sums come from SIMD lanes, the choice is
    // made in order (search_simd.cpp; same bits as the scalar loop, see tests/test_ggml_search.cpp)
    float ids[32], tqx[32], tq2[32];
    const int count = 2 * ntry + 1;
    for (int itry = -ntry; itry <= ntry; ++itry) ids[itry + ntry] = (itry + kValues[0]) / max;
    if (count > 0) eval_nonlinear_trials(block, xb, weight, kValues, ids, count, tqx, tq2);
    for (int k = 0; k < count; ++k) {
      if (tq2[k] > 0 && tqx[k] * tqx[k] > best * tq2[k]) {
        d = tqx[k] / tq2[k];
        best = d * tqx[k];
      }
    }
    scales[ib] = d;
    const float abs_d = std::fabs(d);
    if (abs_d > amax_scale) { amax_scale = abs_d; max_scale = d; }
  }
  if (super / block > 1) {
    const int nb = super / block;
    std::memset(scales_h, 0, static_cast<size_t>((nb + 7) / 8) * sizeof(uint16_t));
    const float d = -max_scale / 32;
    dh[0] = to_fp16(d);
    const float id = d ? 1 / d : 0.f;
    for (int ib = 0; ib < nb; ++ib) {
      int l = nearest_int(id * scales[ib]);
      l = max_of(-32, min_of(31, l));
      const float dl = d * l;
      const float idl = dl ? 1 / dl : 0.f;
      uint8_t* Lb = L + ib * block;
      const float* xb = x + ib * block;
      for (int j = 0; j < block; ++j) Lb[j] = static_cast<uint8_t>(best_index_int8(16, kValues, idl * xb[j]));
      l += 32;
      const uint8_t l_l = static_cast<uint8_t>(l & 0xf), l_h = static_cast<uint8_t>(l >> 4);
      if (ib % 2 == 0) scales_l[ib / 2] = l_l;
      else scales_l[ib / 2] = static_cast<uint8_t>(scales_l[ib / 2] | (l_l << 4));
      scales_h[ib / 8] = static_cast<uint16_t>(scales_h[ib / 8] | (l_h << 2 * (ib % 8)));
    }
  } else {
    dh[0] = to_fp16(scales[0]);
    if (ntry > 0) {
      const float id = scales[0] ? 1 / scales[0] : 0;
      for (int j = 0; j < super; ++j) L[j] = static_cast<uint8_t>(best_index_int8(16, kValues, id * x[j]));
    }
  }
  for (int i = 0; i < super / 32; ++i) pack_nibbles_32(L + 32 * i, q4 + 16 * i);
}
}  // namespace

void quantize_iq4_nl(const float* x, void* vy, int64_t n, const float* qw) {
  // llama.cpp's quantize_iq4_nl uses 7 trials on each side whether or not there is an imatrix
  auto* y = static_cast<BlockIQ4_NL*>(vy);
  uint16_t unused_h;
  for (int64_t ib = 0; ib < n / QK4_NL; ++ib) {
    quantize_iq4(QK4_NL, x + QK4_NL * ib, &y[ib].d, y[ib].qs, &unused_h, nullptr, qw ? qw + QK4_NL * ib : nullptr, 7);
  }
}

void quantize_iq4_xs(const float* x, void* vy, int64_t n, const float* qw) {
  auto* y = static_cast<BlockIQ4_XS*>(vy);
  for (int64_t ib = 0; ib < n / QK_K; ++ib) {
    quantize_iq4(QK_K, x + QK_K * ib, &y[ib].d, y[ib].qs, &y[ib].scales_h, y[ib].scales_l, qw ? qw + QK_K * ib : nullptr, 7);
  }
}

void dequantize_iq4_nl(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_NL*>(vx);
  for (int64_t i = 0; i < n / QK4_NL; ++i) {
    const float d = from_fp16(x[i].d);
    for (int j = 0; j < 16; ++j) {
      y[i * 32 + j] = d * kValues[x[i].qs[j] & 0xf];
      y[i * 32 + j + 16] = d * kValues[x[i].qs[j] >> 4];
    }
  }
}

void dequantize_iq4_xs(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const BlockIQ4_XS*>(vx);
  for (int64_t i = 0; i < n / QK_K; ++i) {
    const uint8_t* qs = x[i].qs;
    const float d = from_fp16(x[i].d);
    for (int ib = 0; ib < QK_K / 32; ++ib) {
      const float dl = d * static_cast<float>(iq4_xs_scale(x[i], ib));
      for (int j = 0; j < 16; ++j) {
        y[j + 0] = dl * kValues[qs[j] & 0xf];
        y[j + 16] = dl * kValues[qs[j] >> 4];
      }
      y += 32;
      qs += 16;
    }
  }
}

}  // namespace vernier::ggml
