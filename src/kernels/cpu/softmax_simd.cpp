// v[i] = exp(v[i] − shift), and their sum: attention's softmax numerators, per Highway target
// (Highway's Exp: a polynomial after range reduction, within a few ulp of std::exp over the range
// softmax uses, x ≤ 0; exp of −inf is 0). The scalar path keeps std::exp (exp_sum in matmul.cpp).
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/softmax_simd.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>
#include <hwy/contrib/math/math-inl.h>

#include <cmath>

#include "dot.hpp"

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
namespace hn = hwy::HWY_NAMESPACE;

float ExpSum(float* v, int64_t n, float shift) {
  const hn::ScalableTag<float> d;
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  const auto s = hn::Set(d, shift);
  auto acc = hn::Zero(d);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto e = hn::Exp(d, hn::Sub(hn::LoadU(d, v + i), s));
    hn::StoreU(e, d, v + i);
    acc = hn::Add(acc, e);
  }
  float sum = hn::GetLane(hn::SumOfLanes(d, acc));
  for (; i < n; ++i) {
    v[i] = std::exp(v[i] - shift);
    sum += v[i];
  }
  return sum;
}

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
ExpSumFn exp_sum_fn(int64_t target) {
  struct Entry {
    int64_t target;
    ExpSumFn fn;
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(ExpSum)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(ExpSum)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(ExpSum)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.fn) return e.fn;
  }
  return nullptr;
}
}  // namespace vernier::kernels
#endif
