// GPTQ on one layer (gptq.hpp): H = I is round to nearest; on correlated inputs its loss is below
// round to nearest's; act order, static groups, dead inputs and an indefinite H.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>

#include "vernier/error.hpp"
#include "gptq_test_util.hpp"
#include "vernier/gptq.hpp"

namespace vernier {
namespace {

TEST(Gptq, HessianIsTwoOverNTimesXTransposeX) {
  const int64_t n = 37, cols = 9;
  const std::vector<float> x = correlated_inputs(n, cols, 1);
  const std::vector<float> h = hessian_of(x, n, cols);
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = 0; j < cols; ++j) {
      double want = 0;
      for (int64_t t = 0; t < n; ++t) want += static_cast<double>(x[static_cast<size_t>(t * cols + i)]) * x[static_cast<size_t>(t * cols + j)];
      want *= 2.0 / static_cast<double>(n);
      EXPECT_NEAR(h[static_cast<size_t>(i * cols + j)], want, 1e-4 * (1 + std::fabs(want))) << i << "," << j;
    }
  }
}

TEST(Gptq, IdentityHessianIsRoundToNearestCodeForCode) {
  const int64_t rows = 24, cols = 160;  // a ragged last group at g64 and several blocks at block 64
  const std::vector<float> w = random_weights(rows, cols, 2);
  const std::vector<float> h = identity(cols);
  GptqOptions o;
  o.block = 64;
  for (const char* name : {"int4-asym-g32", "int3-asym-g64", "int8-asym-channel", "int4-asym-g128-f16", "int2-asym-g16"}) {
    const Scheme s = parse_scheme(name);
    const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, s, o);
    const QuantizedTensor rtn = quantize(TensorView{w.data(), rows, cols, "w"}, s);
    EXPECT_EQ(g.w.q.codes, rtn.codes) << name;
    EXPECT_EQ(g.w.q.scales, rtn.scales) << name;
    EXPECT_EQ(g.w.q.zero_points, rtn.zero_points) << name;
    EXPECT_NEAR(g.loss, g.rtn_loss, 1e-9 * (1 + g.rtn_loss)) << name;
  }
  // symmetric: GPTQ's full-range grid, s = 2·absmax/15, codes −8…7, round to nearest
  const Scheme s = parse_scheme("int4-sym-g32");
  const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, s, o);
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c0 = 0; c0 < cols; c0 += 32) {
      float amax = 0;
      for (int64_t c = c0; c < c0 + 32; ++c) amax = std::max(amax, std::fabs(w[static_cast<size_t>(r * cols + c)]));
      const float sc = 2.0f * amax / 15.0f, inv = 1.0f / sc;
      EXPECT_EQ(g.w.q.scales[static_cast<size_t>(r * 5 + c0 / 32)], sc);
      for (int64_t c = c0; c < c0 + 32; ++c) {
        const int want = std::clamp(static_cast<int>(std::nearbyint(w[static_cast<size_t>(r * cols + c)] * inv)), -8, 7);
        EXPECT_EQ(g.w.q.code(r, c), want) << r << "," << c;
      }
    }
  }
}

TEST(Gptq, LossIsBelowRoundToNearestOnCorrelatedInputs) {
  const int64_t rows = 48, cols = 128, n = 512;
  for (uint32_t seed = 1; seed <= 8; ++seed) {
    const std::vector<float> w = random_weights(rows, cols, 100 + seed);
    const std::vector<float> x = correlated_inputs(n, cols, 200 + seed);
    const std::vector<float> h = hessian_of(x, n, cols);
    for (const char* name : {"int4-asym-g32", "int4-sym-g128", "int3-asym-g32", "int2-asym-g64", "int8-sym-channel"}) {
      for (int variant = 0; variant < 3; ++variant) {
        GptqOptions o;
        o.act_order = variant >= 1;
        o.static_groups = variant == 2;
        o.block = 32;
        const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme(name), o);
        EXPECT_LT(g.loss, g.rtn_loss) << name << " seed " << seed << " variant " << variant;
        EXPECT_EQ(g.damp_raises, 0);
      }
    }
  }
}

TEST(Gptq, ActOrderSweepsByDecreasingHessianDiagonal) {
  const int64_t rows = 16, cols = 64, n = 256;
  const std::vector<float> w = random_weights(rows, cols, 5);
  const std::vector<float> x = correlated_inputs(n, cols, 6);
  const std::vector<float> h = hessian_of(x, n, cols);
  GptqOptions o;
  o.act_order = true;
  const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme("int4-asym-g16"), o);
  ASSERT_EQ(g.w.perm.size(), static_cast<size_t>(cols));
  std::vector<int32_t> sorted = g.w.perm;
  std::sort(sorted.begin(), sorted.end());
  for (int64_t i = 0; i < cols; ++i) EXPECT_EQ(sorted[static_cast<size_t>(i)], i);
  for (int64_t k = 1; k < cols; ++k) {
    EXPECT_GE(h[static_cast<size_t>(g.w.perm[static_cast<size_t>(k - 1)] * (cols + 1))], h[static_cast<size_t>(g.w.perm[static_cast<size_t>(k)] * (cols + 1))]);
  }
  // the loss is of the weights in the input's order
  const std::vector<float> d = dequantize_linear(g.w);
  EXPECT_NEAR(hessian_loss(w.data(), d.data(), rows, cols, h), g.loss, 1e-6 * g.loss);
  // static groups keep the groups in the input's order: no permutation to store
  o.static_groups = true;
  EXPECT_TRUE(gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme("int4-asym-g16"), o).w.perm.empty());
}

TEST(Gptq, DeadInputsGetZeroWeights) {
  const int64_t rows = 8, cols = 32, n = 100;
  const std::vector<float> w = random_weights(rows, cols, 7);
  std::vector<float> x = correlated_inputs(n, cols, 8);
  for (int64_t t = 0; t < n; ++t) x[static_cast<size_t>(t * cols + 5)] = 0.0f;  // input 5 never fires
  const std::vector<float> h = hessian_of(x, n, cols);
  const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme("int4-asym-g32"), GptqOptions{});
  EXPECT_EQ(g.dead_columns, 1);
  const std::vector<float> d = dequantize_linear(g.w);
  for (int64_t r = 0; r < rows; ++r) EXPECT_EQ(d[static_cast<size_t>(r * cols + 5)], 0.0f);
}

TEST(Gptq, IndefiniteHessianRaisesTheDampingAndNonFiniteInputsAreRefused) {
  const int64_t rows = 8, cols = 32;
  const std::vector<float> w = random_weights(rows, cols, 9);
  // rank one and slightly negative off the diagonal: not positive definite without damping
  std::vector<float> h(static_cast<size_t>(cols * cols), 1.0f);
  for (int64_t i = 0; i < cols; ++i) h[static_cast<size_t>(i * cols + i)] = 0.999f;
  GptqOptions o;
  o.damp = 0;
  const GptqResult g = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, parse_scheme("int4-asym-g32"), o);
  EXPECT_GE(g.damp_raises, 1);
  EXPECT_GT(g.damp, 0);
  for (float v : dequantize_linear(g.w)) EXPECT_TRUE(std::isfinite(v));
  std::vector<float> bad = identity(cols);
  bad[3] = NAN;
  EXPECT_THROW(gptq_quantize(TensorView{w.data(), rows, cols, "w"}, bad, parse_scheme("int4-asym-g32"), o), Error);
  std::vector<float> wn = w;
  wn[0] = INFINITY;
  EXPECT_THROW(gptq_quantize(TensorView{wn.data(), rows, cols, "w"}, identity(cols), parse_scheme("int4-asym-g32"), o), Error);
  EXPECT_THROW(gptq_quantize(TensorView{w.data(), rows, cols, "w"}, identity(cols), parse_scheme("nf4-b32"), o), Error);
  EXPECT_THROW(gptq_quantize(TensorView{w.data(), rows, cols, "w"}, identity(16), parse_scheme("int4-asym-g32"), o), Error);
}

// A group's one factorisation (in the Hessian's own buffer) serves each of its matrices as a fresh one
// would, keeps H (in its lower triangle) for the losses, and the values returned are the codes' values.
TEST(Gptq, OneFactorisationServesTheGroupAndKeepsItsHessian) {
  const int64_t rows = 20, cols = 96, n = 400;
  const std::vector<float> h = hessian_of(correlated_inputs(n, cols, 31), n, cols);
  for (bool act : {false, true}) {
    GptqOptions o;
    o.act_order = act;
    std::vector<float> buf = h;
    const GptqHessian f = gptq_factorise(buf, cols, o, "blk.0.attn_q.weight");
    for (uint32_t seed : {32u, 33u}) {
      const std::vector<float> w = random_weights(rows, cols, seed);
      const Scheme s = parse_scheme("int4-asym-g32");
      const GptqResult shared = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, f, s, o);
      const GptqResult fresh = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, s, o);
      EXPECT_EQ(shared.w.q.codes, fresh.w.q.codes) << act << " " << seed;
      EXPECT_EQ(shared.values, dequantize_linear(shared.w)) << act << " " << seed;
      EXPECT_NEAR(shared.loss, hessian_loss(w.data(), shared.values.data(), rows, cols, h), 1e-5 * shared.loss);
      const std::vector<float> rtn = dequantize(quantize(TensorView{w.data(), rows, cols, "w"}, s));
      EXPECT_NEAR(shared.rtn_loss, hessian_loss(w.data(), rtn.data(), rows, cols, h), 1e-5 * shared.rtn_loss);
    }
    for (int64_t i = 0; i < cols; ++i) {  // H, in the sweep's order, in the lower triangle
      for (int64_t j = 0; j <= i; ++j) {
        ASSERT_EQ(buf[static_cast<size_t>(i * cols + j)], h[static_cast<size_t>(f.perm[i] * cols + f.perm[j])]) << i << "," << j;
      }
    }
  }
}

}  // namespace
}  // namespace vernier
