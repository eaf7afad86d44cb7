// GPTQ into GGML block types: the per-element grids and code writers of every block type
// (src/quant/ggml/codes.hpp) against llama.cpp's own quantizers and dequantizers, then
// gptq_quantize_ggml — H = I is llama.cpp's imatrix quantization (byte for byte for the K-quants),
// correlated inputs give a loss below it, and the refusals.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>

#include "gptq_test_util.hpp"
#include "quant/ggml/codes.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/gptq.hpp"

namespace vernier {
namespace {

std::vector<const GgmlTypeInfo*> types_with_codes() {
  std::vector<const GgmlTypeInfo*> out;
  for (const GgmlTypeInfo& t : ggml_types()) {
    if (t.codes) out.push_back(&t);
  }
  return out;
}

uint32_t bits(float x) {
  uint32_t u;
  std::memcpy(&u, &x, 4);
  return u;
}

// Heavy-tailed rows (a few outliers per block) with and without importance weights.
std::vector<float> test_rows(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < x.size(); ++i) x[i] = nd(rng) * (i % 37 == 5 ? 6.0f : 1.0f) * 0.02f;
  return x;
}

TEST(GgmlCodes, EveryGgmlQuantizerHasItsGridAndWriter) {
  // the registry's quantizable block types that GPTQ can fill
  std::vector<std::string> names;
  for (const GgmlTypeInfo* t : types_with_codes()) names.emplace_back(t->name);
  EXPECT_EQ(names, (std::vector<std::string>{"Q4_0", "Q4_1", "Q5_0", "Q5_1", "Q8_0", "Q2_K", "Q3_K", "Q4_K", "Q5_K", "Q6_K",
                                             "IQ4_NL", "IQ4_XS"}));
}

// Each element's grid value for every code c is what the dequantizer gives for a block holding c
// everywhere (exhaustive over the levels).
TEST(GgmlCodes, GridValuesAreTheDequantizersValuesForEveryCode) {
  for (const GgmlTypeInfo* t : types_with_codes()) {
    const int64_t n = t->block_size;
    const std::vector<float> x = test_rows(1, n, 3);
    std::vector<uint8_t> block(static_cast<size_t>(t->block_bytes));
    t->quantize(x.data(), block.data(), n, nullptr);
    const int levels = t->codes->grid(block.data(), 0).levels;
    std::vector<float> back(static_cast<size_t>(n));
    for (int c = 0; c < levels; ++c) {
      std::vector<uint8_t> codes(static_cast<size_t>(n), static_cast<uint8_t>(c));
      t->codes->set_codes(block.data(), codes.data());
      t->dequantize(block.data(), back.data(), n);
      for (int64_t j = 0; j < n; ++j) {
        const GgmlValueGrid g = t->codes->grid(block.data(), static_cast<int>(j));
        ASSERT_EQ(g.levels, levels) << t->name;
        ASSERT_EQ(bits(g.value(c)), bits(back[static_cast<size_t>(j)])) << t->name << " element " << j << " code " << c;
      }
    }
  }
}

// Reading each value's code back from its grid and writing the codes into a copy of the block rebuilds
// llama.cpp's block byte for byte (the nearest code of a level's own value is that level), with and
// without an importance matrix.
TEST(GgmlCodes, GridAndWriterRebuildLlamaCppBlocks) {
  for (const GgmlTypeInfo* t : types_with_codes()) {
    const int64_t rows = 16, cols = 512;
    const std::vector<float> x = test_rows(rows, cols, 4);
    std::vector<float> imatrix(static_cast<size_t>(cols));
    std::mt19937 rng(5);
    std::uniform_real_distribution<float> ud(0.1f, 4.0f);
    for (auto& v : imatrix) v = ud(rng);
    const int64_t row_bytes = *ggml_row_bytes(*t, cols);
    for (const float* qw : {static_cast<const float*>(nullptr), static_cast<const float*>(imatrix.data())}) {
      std::vector<uint8_t> q(static_cast<size_t>(rows * row_bytes));
      ggml_quantize(t->type, x.data(), q.data(), rows, cols, qw);
      std::vector<float> back(x.size());
      ggml_dequantize(t->type, q.data(), back.data(), rows * cols);
      int64_t identical = 0, blocks = 0;
      for (int64_t b = 0; b < rows * cols / t->block_size; ++b) {
        const uint8_t* src = q.data() + b * t->block_bytes;
        std::vector<uint8_t> codes(static_cast<size_t>(t->block_size));
        bool zero_scale = false;
        for (int64_t j = 0; j < t->block_size; ++j) {
          const GgmlValueGrid g = t->codes->grid(src, static_cast<int>(j));
          const float v = back[static_cast<size_t>(b * t->block_size + j)];
          const int c = g.nearest(v);
          codes[static_cast<size_t>(j)] = static_cast<uint8_t>(c);
          zero_scale = zero_scale || g.a == 0;
          ASSERT_EQ(bits(g.value(c)), bits(v)) << t->name << " block " << b << " element " << j;
        }
        std::vector<uint8_t> copy(src, src + t->block_bytes);
        std::vector<uint8_t> zeros(static_cast<size_t>(t->block_size), 0);
        t->codes->set_codes(copy.data(), zeros.data());  // every code field rewritten, not only OR-ed in
        t->codes->set_codes(copy.data(), codes.data());
        ++blocks;
        if (std::memcmp(copy.data(), src, static_cast<size_t>(t->block_bytes)) == 0) {
          ++identical;
        } else {
          // a sub-block whose scale rounded to 0 holds any codes, all of value −m
          EXPECT_TRUE(zero_scale) << t->name << " block " << b << (qw ? " (imatrix)" : "");
        }
      }
      EXPECT_GE(identical, blocks * 9 / 10) << t->name;
    }
  }
}

TEST(GgmlCodes, NearestIsTheClosestLevel) {
  for (const GgmlTypeInfo* t : types_with_codes()) {
    const std::vector<float> x = test_rows(1, t->block_size, 6);
    std::vector<uint8_t> block(static_cast<size_t>(t->block_bytes));
    t->quantize(x.data(), block.data(), t->block_size, nullptr);
    std::mt19937 rng(7);
    std::normal_distribution<float> nd(0.0f, 0.08f);
    for (int trial = 0; trial < 200; ++trial) {
      const int j = trial % static_cast<int>(t->block_size);
      const GgmlValueGrid g = t->codes->grid(block.data(), j);
      const float v = nd(rng);
      const int c = g.nearest(v);
      float best = INFINITY;
      for (int k = 0; k < g.levels; ++k) best = std::min(best, std::fabs(g.value(k) - v));
      EXPECT_LE(std::fabs(g.value(c) - v), best * (1 + 1e-5f) + 1e-9f) << t->name << " " << v;
    }
  }
}

// With H = I there is nothing to compensate: each block's scales are llama.cpp's rule on the weights
// with uniform importance, each code the nearest level under them. The K-quants requantize with their
// stored scales exactly so (the same bytes); the 32-value types choose their codes at the unrounded
// scale, which the stored FP16 grid's nearest level can only improve on.
TEST(GptqGgml, IdentityHessianIsLlamaCppsImatrixQuantization) {
  const int64_t rows = 12, cols = 512;
  const std::vector<float> w = test_rows(rows, cols, 8);
  const std::vector<float> h = identity(cols);
  const std::vector<float> ones(static_cast<size_t>(cols), 1.0f);
  GptqOptions o;
  o.block = 128;
  for (const GgmlTypeInfo* t : types_with_codes()) {
    const GptqResult g = gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, t->type, o);
    std::vector<uint8_t> ref(g.blocks.size());
    ggml_quantize(t->type, w.data(), ref.data(), rows, cols, ones.data());
    const std::string n(t->name);
    if (n == "Q2_K" || n == "Q3_K" || n == "Q4_K" || n == "Q5_K" || n == "Q6_K") {
      EXPECT_EQ(g.blocks, ref) << n;
    }
    EXPECT_LE(g.loss, g.rtn_loss * (1 + 1e-6)) << n;
    EXPECT_GT(g.loss, 0) << n;
  }
}

TEST(GptqGgml, LossIsBelowImatrixRoundToNearestOnCorrelatedInputs) {
  const int64_t rows = 32, cols = 512, n = 2048;
  for (uint32_t seed = 1; seed <= 3; ++seed) {
    const std::vector<float> w = random_weights(rows, cols, seed);
    const std::vector<float> x = correlated_inputs(n, cols, seed + 100);
    const std::vector<float> h = hessian_of(x, n, cols);
    for (const GgmlTypeInfo* t : types_with_codes()) {
      for (bool act_static : {false, true}) {
        GptqOptions o;
        o.act_order = o.static_groups = act_static;
        const GptqResult g = gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, t->type, o);
        ASSERT_EQ(static_cast<int64_t>(g.blocks.size()), rows * *ggml_row_bytes(*t, cols));
        EXPECT_LT(g.loss, g.rtn_loss) << t->name << " seed " << seed << (act_static ? " act order + static groups" : "");
        std::vector<float> back(static_cast<size_t>(rows * cols));
        ggml_dequantize(t->type, g.blocks.data(), back.data(), rows * cols);
        for (float v : back) ASSERT_TRUE(std::isfinite(v)) << t->name;
      }
    }
  }
}

TEST(GptqGgml, RefusesWhatAGgufRowCannotHold) {
  const int64_t rows = 4, cols = 96;
  const std::vector<float> w = random_weights(rows, cols, 9);
  const std::vector<float> h = identity(cols);
  GptqOptions o;
  EXPECT_THROW(gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, GgmlType::Q4_K, o), Error);  // 96 is not 256s
  EXPECT_NO_THROW(gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, GgmlType::Q4_0, o));
  EXPECT_THROW(gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, GgmlType::F16, o), Error);
  o.act_order = true;  // a permutation GGUF cannot store
  try {
    gptq_quantize_ggml(TensorView{w.data(), rows, cols, "blk.0.attn_q.weight"}, h, GgmlType::Q4_0, o);
    FAIL() << "act order without static groups was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("static groups"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("blk.0.attn_q.weight"), std::string::npos) << e.what();
  }
  o.static_groups = true;
  EXPECT_NO_THROW(gptq_quantize_ggml(TensorView{w.data(), rows, cols, "w"}, h, GgmlType::Q4_0, o));
}

}  // namespace
}  // namespace vernier
