// The CPU backend's float operations on every kernel path against double-precision oracles:
// attention (the SIMD paths' matrix products and vector exp; the scalar path's dot-by-dot loop) and
// SwiGLU.
//
// Error budget for attention, per output value o_e = Σ_t p_t·v_te. A score s_t = q·k_t/√d summed in
// another order is off by at most γ_d·Σ_i|q_i·k_ti|/√d ≈ d·u·A_t (u = 2^-24); exp adds a few ulp
// (Highway's Exp) and the normalisation a few roundings, so each p_t is off by a relative
// 2·max_t(d·u·A_t) + 16u at most (the max shift cancels in the ratio). The weighted sum over T
// positions then adds γ_T·Σ_t p_t|v_te|. Budget: (2·max_t d·u·A_t + (T + 32)·u)·Σ_t p_t|v_te|, twice
// over for slack in the constants.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <vector>

#include "vernier/backend.hpp"
#include "vernier/kernels.hpp"

namespace vernier {
namespace {

struct Case {
  int64_t heads, kv_heads, head_dim, n, pos0;
};

TEST(CpuBackend, AttentionOnEveryPathIsWithinItsBudgetOfTheDoubleOracle) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const double u = std::ldexp(1.0, -24);
  const Case cases[] = {{8, 8, 64, 1, 0}, {8, 8, 64, 1, 40}, {8, 2, 64, 5, 0}, {4, 4, 16, 33, 0},
                        {4, 1, 16, 70, 3}, {2, 2, 64, 31, 17}, {2, 1, 8, 65, 64}};
  for (const std::string& isa : available_kernel_isas()) {
    const std::unique_ptr<Backend> be = make_cpu_backend(make_kernel_context(isa, 2));
    for (const Case& c : cases) {
      const int64_t D = c.heads * c.head_dim, KV = c.kv_heads * c.head_dim, T = c.pos0 + c.n, group = c.heads / c.kv_heads;
      std::vector<float> q(static_cast<size_t>(c.n * D)), k(static_cast<size_t>(T * KV)), v(k.size()), out(q.size(), -1.0f);
      for (auto& e : q) e = 2.0f * nd(rng);  // scores of a few units: a peaked softmax, not a flat one
      for (auto& e : k) e = nd(rng);
      for (auto& e : v) e = nd(rng);
      be->attention({q.data(), k.data(), v.data(), out.data(), c.n, c.pos0, c.heads, c.kv_heads, c.head_dim});
      for (int64_t i = 0; i < c.n; ++i) {
        const int64_t count = c.pos0 + i + 1;
        for (int64_t h = 0; h < c.heads; ++h) {
          const float* qi = q.data() + i * D + h * c.head_dim;
          const int64_t kvh = h / group;
          std::vector<double> s(static_cast<size_t>(count)), p(s.size());
          double smax = -INFINITY, amax = 0, sum = 0;
          for (int64_t t = 0; t < count; ++t) {
            const float* kt = k.data() + t * KV + kvh * c.head_dim;
            double dot = 0, a = 0;
            for (int64_t e = 0; e < c.head_dim; ++e) {
              dot += static_cast<double>(qi[e]) * kt[e];
              a += std::fabs(static_cast<double>(qi[e]) * kt[e]);
            }
            s[static_cast<size_t>(t)] = dot / std::sqrt(static_cast<double>(c.head_dim));
            amax = std::max(amax, a / std::sqrt(static_cast<double>(c.head_dim)));
            smax = std::max(smax, s[static_cast<size_t>(t)]);
          }
          for (int64_t t = 0; t < count; ++t) sum += p[static_cast<size_t>(t)] = std::exp(s[static_cast<size_t>(t)] - smax);
          const double rel = 2 * static_cast<double>(c.head_dim) * u * amax + static_cast<double>(count + 32) * u;
          for (int64_t e = 0; e < c.head_dim; ++e) {
            double o = 0, mag = 0;
            for (int64_t t = 0; t < count; ++t) {
              const double vt = v[static_cast<size_t>(t * KV + kvh * c.head_dim + e)];
              o += p[static_cast<size_t>(t)] / sum * vt;
              mag += p[static_cast<size_t>(t)] / sum * std::fabs(vt);
            }
            EXPECT_NEAR(out[static_cast<size_t>(i * D + h * c.head_dim + e)], o, 2 * rel * mag + 1e-30)
                << isa << " heads " << c.heads << "/" << c.kv_heads << " d " << c.head_dim << " n " << c.n << " pos0 " << c.pos0
                << " token " << i << " head " << h << " e " << e;
          }
        }
      }
    }
  }
}

TEST(CpuBackend, SwiGluOnEveryPathIsWithinAFewUlpOfTheDoubleOracle) {
  // SiLU(g)·up = g·up / (1 + e^−g): exp within a few ulp, a division and two products; where e^−g
  // overflows float (g < −88.7) the result is below 1e-37·|g·up| on every path
  std::mt19937 rng(6);
  std::normal_distribution<float> nd(0.0f, 4.0f);
  std::vector<float> g(1000), up(g.size());
  for (auto& e : g) e = nd(rng);
  for (auto& e : up) e = nd(rng);
  const float special[] = {0.0f, -0.0f, 1e-30f, -1e-30f, 88.0f, -88.0f, -88.5f, -89.0f, -100.0f, 100.0f, -1e30f, 1e30f};
  for (size_t i = 0; i < std::size(special); ++i) g[i] = special[i];
  for (const std::string& isa : available_kernel_isas()) {
    const std::unique_ptr<Backend> be = make_cpu_backend(make_kernel_context(isa, 1));
    for (const size_t n : {size_t{1}, size_t{7}, size_t{16}, size_t{17}, g.size()}) {
      std::vector<float> out(g.begin(), g.begin() + static_cast<std::ptrdiff_t>(n));
      be->swiglu(out.data(), up.data(), static_cast<int64_t>(n));
      for (size_t i = 0; i < n; ++i) {
        const double gi = g[i], want = gi / (1.0 + std::exp(-gi)) * up[i];
        EXPECT_NEAR(out[i], want, 16 * std::ldexp(1.0, -24) * std::fabs(want) + 1e-37 * std::fabs(gi * up[i]) + 1e-45)
            << isa << " g " << g[i] << " up " << up[i];
      }
    }
  }
}

}  // namespace
}  // namespace vernier
