// The sums behind ErrorAccumulator (metrics.cpp), in double lanes of the best Highway target: the
// quantizer's per-tensor error report reads every weight and its dequantized value once, and the
// scalar loop (five loop-carried double additions per value) had cost as much as the quantization.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "quant/metrics_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cmath>
#include <cstddef>

#include "quant/metrics_simd.hpp"

HWY_BEFORE_NAMESPACE();
namespace vernier::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

void ErrorSumsT(const float* ref, const float* approx, size_t n, ErrorSums* out) {
  const hn::ScalableTag<double> dd;
  const hn::Rebind<float, decltype(dd)> df;  // as many floats as a double vector has lanes
  const size_t N = hn::Lanes(dd);
  auto e2 = hn::Zero(dd), e1 = hn::Zero(dd), r2 = hn::Zero(dd), a2 = hn::Zero(dd), ra = hn::Zero(dd), mx = hn::Zero(dd);
  size_t i = 0;
  for (; i + N <= n; i += N) {
    const auto r = hn::PromoteTo(dd, hn::LoadU(df, ref + i));
    const auto a = hn::PromoteTo(dd, hn::LoadU(df, approx + i));
    const auto e = hn::Sub(a, r);
    e2 = hn::MulAdd(e, e, e2);
    e1 = hn::Add(e1, e);
    r2 = hn::MulAdd(r, r, r2);
    a2 = hn::MulAdd(a, a, a2);
    ra = hn::MulAdd(r, a, ra);
    mx = hn::Max(mx, hn::Abs(e));
  }
  ErrorSums s;
  s.err2 = hn::GetLane(hn::SumOfLanes(dd, e2));
  s.err = hn::GetLane(hn::SumOfLanes(dd, e1));
  s.ref2 = hn::GetLane(hn::SumOfLanes(dd, r2));
  s.app2 = hn::GetLane(hn::SumOfLanes(dd, a2));
  s.dot = hn::GetLane(hn::SumOfLanes(dd, ra));
  s.max_abs = hn::GetLane(hn::MaxOfLanes(dd, mx));
  for (; i < n; ++i) {
    const double r = ref[i], a = approx[i], e = a - r;
    s.err2 += e * e;
    s.err += e;
    s.ref2 += r * r;
    s.app2 += a * a;
    s.dot += r * a;
    if (std::fabs(e) > s.max_abs) s.max_abs = std::fabs(e);
  }
  // a NaN anywhere (an error of NaN, or Inf − Inf) makes the sum of squares NaN; vector Max may have
  // dropped it, so it is reported through max_abs as the scalar loop did
  if (std::isnan(s.err2)) s.max_abs = s.err2;
  *out = s;
}

}  // namespace vernier::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier {
HWY_EXPORT(ErrorSumsT);
ErrorSums error_sums(const float* ref, const float* approx, size_t n) {
  ErrorSums s;
  HWY_DYNAMIC_DISPATCH(ErrorSumsT)(ref, approx, n, &s);
  return s;
}
}  // namespace vernier
#endif
