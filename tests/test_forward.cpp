// The forward pass's parts on a small synthetic model: RoPE against the direct formula, the causal
// mask, batched against one-token-at-a-time evaluation, determinism, and clear errors.
#include <gtest/gtest.h>

#include <cmath>
#include <complex>
#include <cstring>
#include <random>

#include "vernier/error.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/synthetic.hpp"
#include "small_model.hpp"

namespace vernier {
namespace {

TEST(Rope, MatchesTheComplexRotationFormula) {
  // each pair (2i, 2i+1) of a head is the complex number v_2i + i·v_2i+1 times e^{i·pos·θ^(−2i/d)}
  const int64_t head_dim = 16, heads = 3, n = head_dim * heads;
  for (int64_t rope_dim : {int64_t{16}, int64_t{8}}) {
    for (int64_t pos : {int64_t{0}, int64_t{1}, int64_t{17}, int64_t{4095}}) {
      std::mt19937 rng(static_cast<unsigned>(pos + rope_dim));
      std::normal_distribution<float> nd;
      std::vector<float> v(static_cast<size_t>(n));
      for (auto& x : v) x = nd(rng);
      std::vector<float> r = v;
      apply_rope(r.data(), n, head_dim, rope_dim, 10000.0f, pos);
      for (int64_t h = 0; h < heads; ++h) {
        for (int64_t i = 0; i < head_dim / 2; ++i) {
          const size_t a = static_cast<size_t>(h * head_dim + 2 * i);
          std::complex<double> z(v[a], v[a + 1]);
          if (2 * i < rope_dim) {
            const double angle = static_cast<double>(pos) * std::pow(10000.0, -2.0 * static_cast<double>(i) / static_cast<double>(rope_dim));
            z *= std::polar(1.0, angle);
          }
          // float32 angle and sin/cos: error grows with pos·freq (≈ pos · 2^-24 rad per unit)
          const double tol = 1e-5 + 4e-7 * static_cast<double>(pos);
          EXPECT_NEAR(r[a], z.real(), tol * (1 + std::abs(z))) << "pos " << pos << " head " << h << " pair " << i;
          EXPECT_NEAR(r[a + 1], z.imag(), tol * (1 + std::abs(z))) << "pos " << pos << " head " << h << " pair " << i;
        }
      }
    }
  }
}

TEST(Rope, ScoresDependOnlyOnTheRelativePosition) {
  const int64_t hd = 32;
  std::vector<float> q(hd), k(hd);
  std::mt19937 rng(3);
  std::normal_distribution<float> nd;
  for (auto& x : q) x = nd(rng);
  for (auto& x : k) x = nd(rng);
  const auto score = [&](int64_t m, int64_t n) {
    std::vector<float> a = q, b = k;
    apply_rope(a.data(), hd, hd, hd, 10000.0f, m);
    apply_rope(b.data(), hd, hd, hd, 10000.0f, n);
    double s = 0;
    for (int64_t i = 0; i < hd; ++i) s += static_cast<double>(a[static_cast<size_t>(i)]) * b[static_cast<size_t>(i)];
    return s;
  };
  EXPECT_NEAR(score(7, 3), score(104, 100), 1e-3);
  EXPECT_NEAR(score(3, 3), score(50, 50), 1e-3);
}

TEST(Forward, BatchedEqualsOneTokenAtATimeAndTheMaskHidesLaterTokens) {
  const SmallModel sm;
  const std::vector<int32_t> tokens = {1, 5, 9, 33, 2, 47, 12, 8, 8, 30};
  const int64_t V = sm.m.config.vocab, n = static_cast<int64_t>(tokens.size());
  LlamaRuntime seq(sm.m, 32, 1);
  std::vector<float> one;
  for (int64_t p = 0; p < n; ++p) {
    const auto l = seq.forward(tokens[static_cast<size_t>(p)], p);
    one.insert(one.end(), l.begin(), l.end());
  }
  LlamaRuntime bat(sm.m, 32, 1);
  const auto all = bat.forward(tokens, 0, true);
  ASSERT_EQ(static_cast<int64_t>(all.size()), n * V);
  for (int64_t i = 0; i < n * V; ++i) EXPECT_NEAR(all[static_cast<size_t>(i)], one[static_cast<size_t>(i)], 1e-4f) << i;
  // the causal mask: changing the last token changes no earlier position's logits
  std::vector<int32_t> other = tokens;
  other.back() = 3;
  LlamaRuntime bat2(sm.m, 32, 1);
  const auto all2 = bat2.forward(other, 0, true);
  for (int64_t i = 0; i < (n - 1) * V; ++i) EXPECT_EQ(all2[static_cast<size_t>(i)], all[static_cast<size_t>(i)]) << i;
  bool last_changed = false;
  for (int64_t i = (n - 1) * V; i < n * V; ++i) last_changed |= all2[static_cast<size_t>(i)] != all[static_cast<size_t>(i)];
  EXPECT_TRUE(last_changed);
  // a batch split in two gives what the whole batch gave
  LlamaRuntime split(sm.m, 32, 1);
  split.forward(std::span<const int32_t>(tokens.data(), 4), 0, false);
  const auto tail = split.forward(std::span<const int32_t>(tokens.data() + 4, 6), 4, true);
  for (int64_t i = 0; i < 6 * V; ++i) EXPECT_EQ(tail[static_cast<size_t>(i)], all[static_cast<size_t>(4 * V + i)]) << i;
}

// Greedy determinism: the same tokens give bit-identical logits on a fresh runtime. (At this size
// every product stays on one thread whatever the count; that a product's rows come out identical on
// 1 and 2 threads is Kernels.MatmulMatchesRowByRowReferenceForEveryShapeBatchAndThreadCount.)
TEST(Forward, RepeatedRunsGiveIdenticalLogits) {
  const SmallModel sm;
  const std::vector<int32_t> tokens = {1, 7, 7, 20, 41, 3};
  LlamaRuntime a(sm.m, 16, 1), b(sm.m, 16, 2);
  const auto la = a.forward(tokens, 0, true);
  const std::vector<float> copy(la.begin(), la.end());
  const auto lb = b.forward(tokens, 0, true);
  for (size_t i = 0; i < copy.size(); ++i) EXPECT_EQ(lb[i], copy[i]) << i;
}

TEST(Forward, RefusesBadBatchesClearly) {
  const SmallModel sm;
  LlamaRuntime rt(sm.m, 8, 1, KvType::f32, 4);
  const std::vector<int32_t> five = {1, 2, 3, 4, 5};
  EXPECT_THROW(rt.forward(five, 0), Error) << "more than max_batch";
  const std::vector<int32_t> two = {1, 2};
  EXPECT_THROW(rt.forward(two, 7), Error) << "past the context";
  const std::vector<int32_t> bad = {1, 48};
  EXPECT_THROW(rt.forward(bad, 0), Error) << "outside the vocabulary";
  EXPECT_THROW(rt.forward(std::span<const int32_t>(), 0), Error) << "no tokens";
}

}  // namespace
}  // namespace vernier
