// The scale searches, as llama.cpp's ggml-quants.c has them (see search.hpp).
#include "search.hpp"

#include "search_simd.hpp"

#include <cmath>

namespace vernier::ggml {

float make_qx_quants_reference(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
  // Symmetric grid −nmax..nmax−1 with the sign chosen so the largest magnitude lands on −nmax; then
  // 19 trial scales around it, keeping the one with the best weighted least-squares fit.
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = -nmax / max;
  if (rmse_type == 0) {
    for (int i = 0; i < n; ++i) {
      const int l = nearest_int(iscale * x[i]);
      L[i] = static_cast<int8_t>(nmax + max_of(-nmax, min_of(nmax - 1, l)));
    }
    return 1 / iscale;
  }
  bool return_early = false;
  if (rmse_type < 0) {
    rmse_type = -rmse_type;
    return_early = true;
  }
  const auto weight = [&](int i) {
    return qw ? qw[i] : rmse_type == 1 ? x[i] * x[i] : rmse_type == 2 ? 1 : rmse_type == 3 ? std::fabs(x[i]) : std::sqrt(std::fabs(x[i]));
  };
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = max_of(-nmax, min_of(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    const float w = weight(i);
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  if (return_early) return suml2 > 0 ? 0.5f * (scale + 1 / iscale) : 1 / iscale;
  float best = scale * sumlx;
  for (int is = -9; is <= 9; ++is) {
    if (is == 0) continue;
    iscale = -(nmax + 0.1f * is) / max;
    sumlx = suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = max_of(-nmax, min_of(nmax - 1, l));
      const float w = weight(i);
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    if (suml2 > 0 && sumlx * sumlx > best * suml2) {
      for (int i = 0; i < n; ++i) {
        const int l = nearest_int(iscale * x[i]);
        L[i] = static_cast<int8_t>(nmax + max_of(-nmax, min_of(nmax - 1, l)));
      }
      scale = sumlx / suml2;
      best = scale * sumlx;
    }
  }
  return scale;
}

float make_q3_quants(int n, int nmax, const float* x, int8_t* L, bool do_rmse) {
  // As make_qx_quants, then (do_rmse) coordinate descent: move one code at a time while the
  // weighted fit (weights x²) improves, at most 5 sweeps.
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  const float iscale = -nmax / max;
  if (do_rmse) {
    float sumlx = 0, suml2 = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * x[i]);
      l = max_of(-nmax, min_of(nmax - 1, l));
      L[i] = static_cast<int8_t>(l);
      const float w = x[i] * x[i];
      sumlx += w * x[i] * l;
      suml2 += w * l * l;
    }
    for (int itry = 0; itry < 5; ++itry) {
      int n_changed = 0;
      for (int i = 0; i < n; ++i) {
        const float w = x[i] * x[i];
        float slx = sumlx - w * x[i] * L[i];
        if (slx > 0) {
          float sl2 = suml2 - w * L[i] * L[i];
          int new_l = nearest_int(x[i] * sl2 / slx);
          new_l = max_of(-nmax, min_of(nmax - 1, new_l));
          if (new_l != L[i]) {
            slx += w * x[i] * new_l;
            sl2 += w * new_l * new_l;
            if (sl2 > 0 && slx * slx * suml2 > sumlx * sumlx * sl2) {
              L[i] = static_cast<int8_t>(new_l);
              sumlx = slx;
              suml2 = sl2;
              ++n_changed;
            }
          }
        }
      }
      if (!n_changed) break;
    }
    for (int i = 0; i < n; ++i) L[i] = static_cast<int8_t>(L[i] + nmax);
    return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
  }
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = max_of(-nmax, min_of(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
  }
  return 1 / iscale;
}

float make_qkx2_quants_reference(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  // Affine grid 0..nmax with a non-positive minimum: start from [min(x, 0), max x], then try nstep+1
  // scales (rmin + rdelta·is + nmax)/(max − min), each refitted by weighted least squares for
  // (scale, min), keeping the smallest weighted error (squared, or absolute with use_mad).
  float min = x[0], max = x[0];
  float sum_w = weights[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max == min) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += weights[i] * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale * (x[i] - min));
      l = max_of(0, min_of(nmax, l));
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float cur_error = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        cur_error += weights[i] * diff;
      }
      if (cur_error < best_error) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_error = cur_error;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qkx3_quants_reference(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  // make_qkx2_quants with optional weights (default x²) and a guard for values the current best
  // minimum puts out of range.
  float min = x[0], max = x[0];
  float sum_w = weights ? weights[0] : x[0] * x[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    const float w = weights ? weights[i] : x[i] * x[i];
    sum_w += w;
    sum_x += w * x[i];
  }
  if (min > 0) min = 0;
  if (max <= min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *the_min = -min;
    return 0.f;
  }
  float iscale = nmax / (max - min);
  float scale = 1 / iscale;
  float best_mad = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    const float w = weights ? weights[i] : x[i] * x[i];
    best_mad += w * diff;
  }
  if (nstep < 1) {
    *the_min = -min;
    return scale;
  }
  for (int is = 0; is <= nstep; ++is) {
    iscale = (rmin + rdelta * is + nmax) / (max - min);
    float sum_l = 0, sum_l2 = 0, sum_xl = 0;
    for (int i = 0; i < n; ++i) {
      const float v = iscale * (x[i] - min);
      const int l = v > 0 ? nearest_int(min_of(v, static_cast<float>(nmax))) : 0;
      Laux[i] = static_cast<uint8_t>(l);
      const float w = weights ? weights[i] : x[i] * x[i];
      sum_l += w * l;
      sum_l2 += w * l * l;
      sum_xl += w * l * x[i];
    }
    const float D = sum_w * sum_l2 - sum_l * sum_l;
    if (D > 0) {
      float this_scale = (sum_w * sum_xl - sum_x * sum_l) / D;
      float this_min = (sum_l2 * sum_x - sum_l * sum_xl) / D;
      if (this_min > 0) {
        this_min = 0;
        this_scale = sum_xl / sum_l2;
      }
      float mad = 0;
      for (int i = 0; i < n; ++i) {
        float diff = this_scale * Laux[i] + this_min - x[i];
        diff = use_mad ? std::fabs(diff) : diff * diff;
        const float w = weights ? weights[i] : x[i] * x[i];
        mad += w * diff;
      }
      if (mad < best_mad) {
        for (int i = 0; i < n; ++i) L[i] = Laux[i];
        best_mad = mad;
        scale = this_scale;
        min = this_min;
      }
    }
  }
  *the_min = -min;
  return scale;
}

float make_qp_quants(int n, int nmax, const float* x, uint8_t* L, const float* quant_weights) {
  // Non-negative values (sub-block scales and mins) on 0..nmax: 9 trial scales, then coordinate
  // descent on the weighted fit, at most 5 sweeps.
  float max = 0;
  for (int i = 0; i < n; ++i) max = max_of(max, x[i]);
  if (max < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float iscale = nmax / max;
  for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(nearest_int(iscale * x[i]));
  const float scale = 1 / iscale;
  float best_mse = 0;
  for (int i = 0; i < n; ++i) {
    const float diff = x[i] - scale * L[i];
    best_mse += quant_weights[i] * diff * diff;
  }
  for (int is = -4; is <= 4; ++is) {
    if (is == 0) continue;
    const float iscale_is = (0.1f * is + nmax) / max;
    const float scale_is = 1 / iscale_is;
    float mse = 0;
    for (int i = 0; i < n; ++i) {
      int l = nearest_int(iscale_is * x[i]);
      l = min_of(nmax, l);
      const float diff = x[i] - scale_is * l;
      mse += quant_weights[i] * diff * diff;
    }
    if (mse < best_mse) {
      best_mse = mse;
      iscale = iscale_is;
    }
  }
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = min_of(nmax, l);
    L[i] = static_cast<uint8_t>(l);
    const float w = quant_weights[i];
    sumlx += w * x[i] * l;
    suml2 += w * l * l;
  }
  for (int itry = 0; itry < 5; ++itry) {
    int n_changed = 0;
    for (int i = 0; i < n; ++i) {
      const float w = quant_weights[i];
      float slx = sumlx - w * x[i] * L[i];
      float sl2 = suml2 - w * L[i] * L[i];
      if (slx > 0 && sl2 > 0) {
        int new_l = nearest_int(x[i] * sl2 / slx);
        new_l = min_of(nmax, new_l);
        if (new_l != L[i]) {
          slx += w * x[i] * new_l;
          sl2 += w * new_l * new_l;
          if (slx * slx * suml2 > sumlx * sumlx * sl2) {
            L[i] = static_cast<uint8_t>(new_l);
            sumlx = slx;
            suml2 = sl2;
            ++n_changed;
          }
        }
      }
    }
    if (!n_changed) break;
  }
  return suml2 > 0.0f ? sumlx / suml2 : 0.0f;
}

namespace {
// The trial loop of make_qkx2/qkx3 with several trials per SIMD instruction (search_simd.cpp). A
// trial that improves the fit changes `min`, and every later trial depends on it, so trials are
// evaluated in batches from the current state and the batch is cut at the first improvement: the
// next batch starts right after it with the new minimum. The sequence of accepted trials, and every
// number, is the scalar loop's.
float affine_search(int n, int nmax, const float* x, const float* w, uint8_t* L, float* the_min, float min, float max,
                    float sum_w, float sum_x, float scale, float best_error, float rmin, float rdelta, int nstep,
                    bool use_mad, bool guard) {
  AffineTrialInput in{n, nmax, x, w, min, max, sum_w, sum_x, rmin, rdelta, use_mad, guard};
  AffineTrialOutput out[8];
  AffineTrialCodes codes;
  int is = 0;
  while (is <= nstep) {
    const int count = eval_affine_trials(in, is, min_of(8, nstep + 1 - is), out, &codes);
    int accepted = -1;
    for (int k = 0; k < count; ++k) {
      if (out[k].D > 0 && out[k].error < best_error) {
        accepted = k;
        break;
      }
    }
    if (accepted < 0) {
      is += count;
      continue;
    }
    const AffineTrialOutput& o = out[accepted];
    for (int i = 0; i < n; ++i) L[i] = static_cast<uint8_t>(codes.codes[i * codes.stride + accepted]);
    best_error = o.error;
    scale = o.scale;
    in.min = o.min;
    is += accepted + 1;
  }
  *the_min = -in.min;
  return scale;
}
}  // namespace

namespace {
// The start of make_qkx2/qkx3 (range, weighted sums, the first fit), then the SIMD trial loop. The two
// differ only in qkx3's default weights x², its `max <= min` test and its out-of-range guard.
float affine_quants_fast(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min, float rmin,
                         float rdelta, int nstep, bool use_mad, bool qkx3) {
  float w2[kMaxTrialN] = {};
  const float* w = weights;
  if (!w) {  // only make_qkx3 allows no weights
    for (int i = 0; i < n; ++i) w2[i] = x[i] * x[i];
    w = w2;
  }
  float min = x[0], max = x[0];
  float sum_w = w[0];
  float sum_x = sum_w * x[0];
  for (int i = 1; i < n; ++i) {
    if (x[i] < min) min = x[i];
    if (x[i] > max) max = x[i];
    sum_w += w[i];
    sum_x += w[i] * x[i];
  }
  if (min > 0) min = 0;
  if (qkx3 ? max <= min : max == min) {
    std::memset(L, 0, static_cast<size_t>(n));
    *the_min = -min;
    return 0.f;
  }
  const float iscale = nmax / (max - min);
  const float scale = 1 / iscale;
  float best_error = 0;
  for (int i = 0; i < n; ++i) {
    const int l = nearest_int(iscale * (x[i] - min));
    L[i] = static_cast<uint8_t>(max_of(0, min_of(nmax, l)));
    float diff = scale * L[i] + min - x[i];
    diff = use_mad ? std::fabs(diff) : diff * diff;
    best_error += w[i] * diff;
  }
  return affine_search(n, nmax, x, w, L, the_min, min, max, sum_w, sum_x, scale, best_error, rmin, rdelta, nstep, use_mad,
                       qkx3);
}
}  // namespace

float make_qkx2_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  if (n > kMaxTrialN || nstep < 1) {
    return make_qkx2_quants_reference(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta, nstep, use_mad);
  }
  return affine_quants_fast(n, nmax, x, weights, L, the_min, rmin, rdelta, nstep, use_mad, false);
}

float make_qkx3_quants(int n, int nmax, const float* x, const float* weights, uint8_t* L, float* the_min,
                       uint8_t* Laux, float rmin, float rdelta, int nstep, bool use_mad) {
  if (n > kMaxTrialN || nstep < 1) {
    return make_qkx3_quants_reference(n, nmax, x, weights, L, the_min, Laux, rmin, rdelta, nstep, use_mad);
  }
  return affine_quants_fast(n, nmax, x, weights, L, the_min, rmin, rdelta, nstep, use_mad, true);
}

float make_qx_quants(int n, int nmax, const float* x, int8_t* L, int rmse_type, const float* qw) {
  // The 18 trial scales do not depend on each other (only the choice among them is sequential), so
  // all their sums come from eval_symmetric_trials and the scalar code only picks, in order.
  if (n > kMaxTrialN || rmse_type != 1) return make_qx_quants_reference(n, nmax, x, L, rmse_type, qw);
  float max = 0, amax = 0;
  for (int i = 0; i < n; ++i) {
    const float ax = std::fabs(x[i]);
    if (ax > amax) { amax = ax; max = x[i]; }
  }
  if (amax < kGroupMaxEps) {
    for (int i = 0; i < n; ++i) L[i] = 0;
    return 0.f;
  }
  float w[kMaxTrialN];
  for (int i = 0; i < n; ++i) w[i] = qw ? qw[i] : x[i] * x[i];
  const auto fill = [&](float iscale) {
    for (int i = 0; i < n; ++i) {
      const int l = nearest_int(iscale * x[i]);
      L[i] = static_cast<int8_t>(nmax + max_of(-nmax, min_of(nmax - 1, l)));
    }
  };
  float iscale = -nmax / max;
  float sumlx = 0, suml2 = 0;
  for (int i = 0; i < n; ++i) {
    int l = nearest_int(iscale * x[i]);
    l = max_of(-nmax, min_of(nmax - 1, l));
    L[i] = static_cast<int8_t>(l + nmax);
    sumlx += w[i] * x[i] * l;
    suml2 += w[i] * l * l;
  }
  float scale = suml2 ? sumlx / suml2 : 0.0f;
  float best = scale * sumlx;
  float trial_iscale[18], trial_lx[18], trial_l2[18];
  int k = 0;
  for (int is = -9; is <= 9; ++is) {
    if (is != 0) trial_iscale[k++] = -(nmax + 0.1f * is) / max;
  }
  eval_symmetric_trials(n, nmax, x, w, trial_iscale, 18, trial_lx, trial_l2);
  int chosen = -1;
  for (k = 0; k < 18; ++k) {
    if (trial_l2[k] > 0 && trial_lx[k] * trial_lx[k] > best * trial_l2[k]) {
      scale = trial_lx[k] / trial_l2[k];
      best = scale * trial_lx[k];
      chosen = k;
    }
  }
  if (chosen >= 0) fill(trial_iscale[chosen]);
  return scale;
}

}  // namespace vernier::ggml
