// The trial loops of make_qkx2_quants / make_qkx3_quants, several trials at once.
//
// Each SIMD lane runs one trial scale through exactly the scalar code's sequence of float operations
// (the same multiplies, adds and divisions, in the same order over i; vernier builds with
// -ffp-contract=off so nothing is fused), so every lane's result is bit-identical to the scalar
// trial. Vectorising across trials rather than across the values of a block is what keeps it exact:
// the sums over i are never reordered. The caller then picks the winner sequentially, as the scalar
// loop does. One translation unit compiled for every target Highway supports, chosen at run time.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/ggml/search_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include "search_simd.hpp"

HWY_BEFORE_NAMESPACE();
namespace vernier::ggml::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

int EvalAffineTrials(const AffineTrialInput& in, int first, int count, AffineTrialOutput* out, AffineTrialCodes* codes) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int N = static_cast<int>(hn::Lanes(df));
  HWY_ALIGN float iscale_lanes[hn::MaxLanes(df)];
  codes->stride = N;
  count = count < N ? count : N;
  {
    const int base = 0;
    for (int k = 0; k < N; ++k) {
      const int is = first + base + (base + k < count ? k : 0);
      iscale_lanes[k] = (in.rmin + in.rdelta * is + in.nmax) / (in.max - in.min);
    }
    const auto iscale = hn::Load(df, iscale_lanes);
    const auto magic = hn::Set(df, 12582912.f);
    const auto mask = hn::Set(di, 0x007fffff);
    const auto offset = hn::Set(di, 0x00400000);
    const auto zero_i = hn::Zero(di);
    const auto nmax_i = hn::Set(di, in.nmax);
    const auto nmax_f = hn::Set(df, static_cast<float>(in.nmax));
    auto sum_l = hn::Zero(df), sum_l2 = hn::Zero(df), sum_xl = hn::Zero(df);
    int32_t* lbuf = codes->codes;
    for (int i = 0; i < in.n; ++i) {
      const auto v = hn::Mul(iscale, hn::Set(df, in.x[i] - in.min));
      hn::Vec<decltype(di)> l;
      if (in.guard_range) {  // make_qkx3: v > 0 ? nearest_int(min(v, nmax)) : 0
        const auto vc = hn::Min(v, nmax_f);
        const auto r = hn::Sub(hn::And(hn::BitCast(di, hn::Add(vc, magic)), mask), offset);
        l = hn::IfThenElse(hn::RebindMask(di, hn::Gt(v, hn::Zero(df))), r, zero_i);
      } else {  // make_qkx2: clamp(nearest_int(v), 0, nmax)
        const auto r = hn::Sub(hn::And(hn::BitCast(di, hn::Add(v, magic)), mask), offset);
        l = hn::Max(zero_i, hn::Min(nmax_i, r));
      }
      hn::StoreU(l, di, lbuf + i * N);
      const auto lf = hn::ConvertTo(df, l);
      const auto w = hn::Set(df, in.w[i]);
      const auto wl = hn::Mul(w, lf);
      sum_l = hn::Add(sum_l, wl);
      sum_l2 = hn::Add(sum_l2, hn::Mul(wl, lf));
      sum_xl = hn::Add(sum_xl, hn::Mul(wl, hn::Set(df, in.x[i])));
    }
    const auto sum_w = hn::Set(df, in.sum_w), sum_x = hn::Set(df, in.sum_x);
    const auto D = hn::Sub(hn::Mul(sum_w, sum_l2), hn::Mul(sum_l, sum_l));
    auto scale = hn::Div(hn::Sub(hn::Mul(sum_w, sum_xl), hn::Mul(sum_x, sum_l)), D);
    auto min = hn::Div(hn::Sub(hn::Mul(sum_l2, sum_x), hn::Mul(sum_l, sum_xl)), D);
    const auto positive_min = hn::Gt(min, hn::Zero(df));
    scale = hn::IfThenElse(positive_min, hn::Div(sum_xl, sum_l2), scale);
    min = hn::IfThenElse(positive_min, hn::Zero(df), min);
    auto err = hn::Zero(df);
    for (int i = 0; i < in.n; ++i) {
      const auto lf = hn::ConvertTo(df, hn::LoadU(di, lbuf + i * N));
      auto diff = hn::Sub(hn::Add(hn::Mul(scale, lf), min), hn::Set(df, in.x[i]));
      diff = in.use_mad ? hn::Abs(diff) : hn::Mul(diff, diff);
      err = hn::Add(err, hn::Mul(hn::Set(df, in.w[i]), diff));
    }
    HWY_ALIGN float d_out[hn::MaxLanes(df)], s_out[hn::MaxLanes(df)], m_out[hn::MaxLanes(df)], e_out[hn::MaxLanes(df)];
    hn::Store(D, df, d_out);
    hn::Store(scale, df, s_out);
    hn::Store(min, df, m_out);
    hn::Store(err, df, e_out);
    for (int k = 0; k < N && base + k < count; ++k) {
      AffineTrialOutput& o = out[base + k];
      o.D = d_out[k];
      o.scale = s_out[k];
      o.min = m_out[k];
      o.error = e_out[k];
    }
  }
  return count;
}

void EvalSymmetricTrials(int n, int nmax, const float* x, const float* w, const float* iscale, int count, float* sumlx,
                         float* suml2) {
  const hn::ScalableTag<float> df;
  const hn::RebindToSigned<decltype(df)> di;
  const int N = static_cast<int>(hn::Lanes(df));
  HWY_ALIGN float lanes[hn::MaxLanes(df)];
  HWY_ALIGN float out_lx[hn::MaxLanes(df)], out_l2[hn::MaxLanes(df)];
  const auto magic = hn::Set(df, 12582912.f);
  const auto mask = hn::Set(di, 0x007fffff);
  const auto offset = hn::Set(di, 0x00400000);
  const auto lo = hn::Set(di, -nmax), hi = hn::Set(di, nmax - 1);
  for (int base = 0; base < count; base += N) {
    for (int k = 0; k < N; ++k) lanes[k] = iscale[base + k < count ? base + k : base];
    const auto is = hn::Load(df, lanes);
    auto slx = hn::Zero(df), sl2 = hn::Zero(df);
    for (int i = 0; i < n; ++i) {
      const auto xi = hn::Set(df, x[i]);
      const auto r = hn::Sub(hn::And(hn::BitCast(di, hn::Add(hn::Mul(is, xi), magic)), mask), offset);
      const auto lf = hn::ConvertTo(df, hn::Max(lo, hn::Min(hi, r)));
      const auto wi = hn::Set(df, w[i]);
      slx = hn::Add(slx, hn::Mul(hn::Mul(wi, xi), lf));  // w*x[i]*l
      sl2 = hn::Add(sl2, hn::Mul(hn::Mul(wi, lf), lf));  // w*l*l
    }
    hn::Store(slx, df, out_lx);
    hn::Store(sl2, df, out_l2);
    for (int k = 0; k < N && base + k < count; ++k) {
      sumlx[base + k] = out_lx[k];
      suml2[base + k] = out_l2[k];
    }
  }
}

void EvalNonlinearTrials(int n, const float* x, const float* w, const int8_t* levels, const float* id, int count,
                         float* sumqx, float* sumq2) {
  // The level index is the number of midpoints (sums of neighbouring levels, compared with 2·id·x)
  // at or below the value, which is what best_index_int8's binary search finds for sorted levels;
  // the level itself is levels[0] plus the steps passed, exact in float for int8 levels.
  const hn::ScalableTag<float> df;
  const int N = static_cast<int>(hn::Lanes(df));
  HWY_ALIGN float lanes[hn::MaxLanes(df)];
  HWY_ALIGN float out_qx[hn::MaxLanes(df)], out_q2[hn::MaxLanes(df)];
  float thr[15], step[15];
  for (int k = 1; k < 16; ++k) {
    thr[k - 1] = static_cast<float>(levels[k - 1] + levels[k]);
    step[k - 1] = static_cast<float>(levels[k] - levels[k - 1]);
  }
  const auto q0 = hn::Set(df, static_cast<float>(levels[0]));
  for (int base = 0; base < count; base += N) {
    for (int k = 0; k < N; ++k) lanes[k] = id[base + k < count ? base + k : base];
    const auto idv = hn::Load(df, lanes);
    auto sqx = hn::Zero(df), sq2 = hn::Zero(df);
    for (int j = 0; j < n; ++j) {
      const auto xj = hn::Set(df, x[j]);
      const auto al = hn::Mul(idv, xj);
      const auto x2 = hn::Add(al, al);
      auto q = q0;
      for (int k = 0; k < 15; ++k) {
        q = hn::Add(q, hn::IfThenElseZero(hn::Ge(x2, hn::Set(df, thr[k])), hn::Set(df, step[k])));
      }
      const auto wq = hn::Mul(hn::Set(df, w[j]), q);
      sqx = hn::Add(sqx, hn::Mul(wq, xj));  // w*q*xb[j]
      sq2 = hn::Add(sq2, hn::Mul(wq, q));   // w*q*q
    }
    hn::Store(sqx, df, out_qx);
    hn::Store(sq2, df, out_q2);
    for (int k = 0; k < N && base + k < count; ++k) {
      sumqx[base + k] = out_qx[k];
      sumq2[base + k] = out_q2[k];
    }
  }
}

}  // namespace vernier::ggml::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::ggml {
HWY_EXPORT(EvalAffineTrials);
int eval_affine_trials(const AffineTrialInput& in, int first, int count, AffineTrialOutput* out, AffineTrialCodes* codes) {
  return HWY_DYNAMIC_DISPATCH(EvalAffineTrials)(in, first, count, out, codes);
}
HWY_EXPORT(EvalSymmetricTrials);
void eval_symmetric_trials(int n, int nmax, const float* x, const float* w, const float* iscale, int count,
                           float* sumlx, float* suml2) {
  HWY_DYNAMIC_DISPATCH(EvalSymmetricTrials)(n, nmax, x, w, iscale, count, sumlx, suml2);
}
HWY_EXPORT(EvalNonlinearTrials);
void eval_nonlinear_trials(int n, const float* x, const float* w, const int8_t* levels16, const float* id, int count,
                           float* sumqx, float* sumq2) {
  HWY_DYNAMIC_DISPATCH(EvalNonlinearTrials)(n, x, w, levels16, id, count, sumqx, sumq2);
}
}  // namespace vernier::ggml
#endif
