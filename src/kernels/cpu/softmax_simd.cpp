// v[i] = exp(v[i] − shift), and their sum: attention's softmax numerators, per Highway target; and
// the FFN's SiLU(gate) · up.
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

// gate[i] = SiLU(gate[i]) · up[i] = gate[i] / (1 + exp(−gate[i])) · up[i] (the reference's
// g · (1 / (1 + exp(−g))) · up). exp's argument is clamped at 88 (exp(88) ≈ 1.7e38, still finite),
// where the reference's std::exp overflows to infinity and gives exactly 0: the two differ there by
// less than 1e-37 · |g|.
void SiluMul(float* gate, const float* up, int64_t n) {
  const hn::ScalableTag<float> d;
  const auto N = static_cast<int64_t>(hn::Lanes(d));
  const auto one = hn::Set(d, 1.0f), cap = hn::Set(d, 88.0f);
  int64_t i = 0;
  for (; i + N <= n; i += N) {
    const auto g = hn::LoadU(d, gate + i);
    const auto e = hn::Exp(d, hn::Min(hn::Neg(g), cap));
    const auto silu = hn::Mul(g, hn::Div(one, hn::Add(one, e)));
    hn::StoreU(hn::Mul(silu, hn::LoadU(d, up + i)), d, gate + i);
  }
  for (; i < n; ++i) {
    float g = gate[i];
    g *= 1.0f / (1.0f + std::exp(-g));
    gate[i] = g * up[i];
  }
}

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
#include "for_target.hpp"
namespace vernier::kernels {
ExpSumFn exp_sum_fn(int64_t target) {
  return for_target<ExpSumFn>(target, HWY_CHOOSE_AVX3_DL(ExpSum), HWY_CHOOSE_AVX3(ExpSum), HWY_CHOOSE_AVX2(ExpSum));
}
SiluMulFn silu_mul_fn(int64_t target) {
  return for_target<SiluMulFn>(target, HWY_CHOOSE_AVX3_DL(SiluMul), HWY_CHOOSE_AVX3(SiluMul), HWY_CHOOSE_AVX2(SiluMul));
}
}  // namespace vernier::kernels
#endif
