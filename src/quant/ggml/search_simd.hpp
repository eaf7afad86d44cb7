// Internal: the trial loops of the affine scale searches, several trials per SIMD instruction.
#pragma once

#include <cstdint>

namespace vernier::ggml {

inline constexpr int kMaxTrialN = 32;  // values per sub-block (Q4_K/Q5_K/Q4_1/Q5_1: 32, Q2_K: 16)

struct AffineTrialInput {
  int n;               // values, at most kMaxTrialN
  int nmax;
  const float* x;
  const float* w;      // weights (for make_qkx3 without weights: x², precomputed by the caller)
  float min, max;      // the starting range (min already clamped to <= 0)
  float sum_w, sum_x;
  float rmin, rdelta;
  bool use_mad;
  bool guard_range;    // make_qkx3's out-of-range guard
};

struct AffineTrialOutput {
  float D, scale, min, error;
};

// Codes of every trial of the last evaluation: code of value i in trial k at codes[i * stride + k].
struct AffineTrialCodes {
  static constexpr int kMaxLanes = 64;
  int32_t codes[kMaxTrialN * kMaxLanes];
  int stride = 0;
};

// Trials is = first .. first + min(count, lanes) − 1, iscale = (rmin + rdelta·is + nmax) / (max − min);
// returns how many it evaluated (one vector's worth).
int eval_affine_trials(const AffineTrialInput& in, int first, int count, AffineTrialOutput* out, AffineTrialCodes* codes);

// make_qx_quants's trials: for each iscale[k] (k < count <= 18) the weighted sums
// sumlx = Σ w·x·l and suml2 = Σ w·l·l with l = clamp(nearest_int(iscale·x), −nmax, nmax − 1),
// each lane in the scalar order.
void eval_symmetric_trials(int n, int nmax, const float* x, const float* w, const float* iscale, int count,
                           float* sumlx, float* suml2);

// quantize_row_iq4_nl_impl's trials: for each id[k] (k < count) the weighted sums sumqx = Σ w·q·x and
// sumq2 = Σ w·q·q with q the nearest of the 16 sorted levels to id·x (best_index_int8's rule: a value
// on a midpoint takes the upper level), each lane in the scalar order.
void eval_nonlinear_trials(int n, const float* x, const float* w, const int8_t* levels16, const float* id, int count,
                           float* sumqx, float* sumq2);

}  // namespace vernier::ggml
