// AWQ: AWQ's quantizer, the scale candidates, the search protecting planted outlier channels, the
// clip search, folding exactness on a model (with and without grouped-query attention), s = 1 and no
// clipping giving round to nearest, and bad input.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "gptq_test_util.hpp"
#include "small_model.hpp"
#include "vernier/awq.hpp"
#include "vernier/awq_model.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/gptq.hpp"
#include "vernier/gptq_model.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace vernier {
namespace {

std::vector<float> roundtrip(const std::vector<float>& w, int64_t rows, int64_t cols, const Scheme& s) {
  return dequantize(quantize(TensorView{w.data(), rows, cols, "w"}, s));
}

TEST(Awq, QuantizerKeepsTheGroupsMinAndMax) {
  Scheme s = parse_scheme("int4-asym-g4");
  const std::vector<float> w = {0.1f, 0.2f, 0.3f, 0.5f, -0.4f, -0.1f, 0.2f, 0.35f};
  const std::vector<float> widened = roundtrip(w, 1, 8, s);
  s.range = AsymRange::min_max;
  const std::vector<float> awq = roundtrip(w, 1, 8, s);
  // an all-positive group: AWQ's grid spans [0.1, 0.5] (step 0.4/15), vernier's [0, 0.5] (step 0.5/15)
  const QuantizedTensor q = quantize(TensorView{w.data(), 1, 8, "w"}, s);
  EXPECT_FLOAT_EQ(q.scales[0], 0.4f / 15);
  EXPECT_EQ(q.zero_points[0], 0);  // -round(0.1 / s) = -4 clamps to 0: the top saturates, as AWQ's does
  EXPECT_FLOAT_EQ(awq[0], 4 * q.scales[0]);   // round(0.1 / s) = round(3.75)
  EXPECT_FLOAT_EQ(awq[3], 15 * q.scales[0]);  // 0.5 / s = 18.75 saturates at code 15: 0.4
  EXPECT_NE(awq[1], widened[1]);
  // a group that straddles 0: both rules are the same
  for (int i = 4; i < 8; ++i) EXPECT_FLOAT_EQ(awq[static_cast<size_t>(i)], widened[static_cast<size_t>(i)]);
  // a constant group: the span's 1e-5 floor gives a finite scale, no NaN
  const std::vector<float> flat(4, 0.25f);
  for (float v : roundtrip(flat, 1, 4, s)) EXPECT_TRUE(std::isfinite(v));
  for (float v : roundtrip(std::vector<float>(4, 0.0f), 1, 4, s)) EXPECT_EQ(v, 0.0f);
}

TEST(Awq, CandidateScalesStraddleOneAndAlphaZeroIsRoundToNearest) {
  const std::vector<float> x = {0.5f, 2.0f, 8.0f, 0.0f}, w = {0.3f, 0.5f, 0.9f, 0.1f};
  for (bool duo : {false, true}) {
    for (float alpha : {0.0f, 0.25f, 0.5f, 0.95f}) {
      const std::vector<float> s = awq_candidate_scales(x, w, alpha, duo);
      const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
      EXPECT_NEAR(*lo * *hi, 1.0f, 1e-5f);  // normalised by √(max · min)
      if (!duo && alpha > 0) {
        EXPECT_GT(s[2], s[1]);
        EXPECT_GT(s[1], s[0]);
      }
    }
  }
  for (float v : awq_candidate_scales(x, w, 0.0f, false)) EXPECT_FLOAT_EQ(v, 1.0f);
  // the fake quantization with s = 1 is the scheme's own round trip
  Scheme sc = parse_scheme("int4-asym-g32");
  sc.range = AsymRange::min_max;
  const std::vector<float> wm = random_weights(8, 64, 3);
  std::vector<float> fq(wm.size());
  awq_fake_quantize(TensorView{wm.data(), 8, 64, "w"}, std::vector<float>(64, 1.0f), sc, fq.data());
  EXPECT_EQ(fq, roundtrip(wm, 8, 64, sc));
}

TEST(Awq, SearchProtectsPlantedOutlierChannels) {
  const int64_t rows = 64, cols = 128, n = 1024;
  Scheme s = parse_scheme("int3-asym-g64");
  s.range = AsymRange::min_max;
  std::vector<float> w = random_weights(rows, cols, 11);
  std::vector<float> x = correlated_inputs(n, cols, 12);
  const std::vector<int64_t> outliers = {5, 77, 100};
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c : outliers) x[static_cast<size_t>(t * cols + c)] *= 40.0f;
  const std::vector<float> h = hessian_of(x, n, cols);
  std::vector<float> x_mean(static_cast<size_t>(cols), 0.0f);
  for (int64_t t = 0; t < n; ++t)
    for (int64_t c = 0; c < cols; ++c) x_mean[static_cast<size_t>(c)] += std::fabs(x[static_cast<size_t>(t * cols + c)]) / n;
  const auto dw_of = [&](const std::vector<float>& sc) {
    std::vector<float> q(w.size());
    awq_fake_quantize(TensorView{w.data(), rows, cols, "w"}, sc, s, q.data());
    for (size_t i = 0; i < q.size(); ++i) q[i] -= w[i];
    return q;
  };
  AwqOptions o;
  const AwqSearch r = awq_search_scales("test", x_mean, {}, o, [&](const std::vector<float>& sc) {
    const std::vector<float> dw = dw_of(sc);
    return quadratic_loss(dw.data(), rows, cols, h.data());
  });
  EXPECT_GT(r.alpha, 0.0) << "the search kept round to nearest";
  EXPECT_LT(r.loss_after, 0.7 * r.loss_before);
  // the outliers' weights are quantized finer than under round to nearest; the others a little coarser
  const std::vector<float> rtn = dw_of(std::vector<float>(static_cast<size_t>(cols), 1.0f)), awq = dw_of(r.s);
  const auto err = [&](const std::vector<float>& dw, int64_t c) {
    double e = 0;
    for (int64_t i = 0; i < rows; ++i) e += dw[static_cast<size_t>(i * cols + c)] * dw[static_cast<size_t>(i * cols + c)];
    return e;
  };
  for (int64_t c : outliers) {
    EXPECT_GT(r.s[static_cast<size_t>(c)], 1.0f) << c;
    EXPECT_LT(err(awq, c), 0.5 * err(rtn, c)) << "channel " << c;
  }
}

TEST(Awq, ClipSearchShrinksGroupsWithALoneOutlierAndNeverLosesToNoClip) {
  const int64_t rows = 16, cols = 64, n = 256;
  Scheme s = parse_scheme("int3-asym-g32");
  s.range = AsymRange::min_max;
  std::vector<float> w = random_weights(rows, cols, 21);
  for (int64_t r = 0; r < rows; ++r) w[static_cast<size_t>(r * cols + 7)] = 0.6f;  // one large weight per row in group 0
  const std::vector<float> x = correlated_inputs(n, cols, 22);
  AwqOptions o;
  std::vector<float> clipped = w;
  const AwqClipResult res = awq_clip(clipped.data(), rows, cols, x.data(), n, s, o, 1);
  EXPECT_LE(res.loss_after, res.loss_before);
  EXPECT_LT(res.mean_ratio, 1.0);
  ASSERT_EQ(res.bound.size(), static_cast<size_t>(rows * 2));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const float b = res.bound[static_cast<size_t>(r * 2 + c / 32)];
      EXPECT_LE(std::fabs(clipped[static_cast<size_t>(r * cols + c)]), b);
      EXPECT_GE(b, 0.55f * 0.6f * (c / 32 == 0) - 1e-6f);
    }
  }
  o.max_shrink = 0;  // one ratio, 1.0: nothing moves
  std::vector<float> same = w;
  awq_clip(same.data(), rows, cols, x.data(), n, s, o, 1);
  EXPECT_EQ(same, w);
}

std::vector<float> logits(const Model& m) {
  const std::vector<int32_t> tokens = {1, 5, 9, 33, 2, 47, 12, 8, 8, 30, 3, 17};
  LlamaRuntime rt(m, 32, 1);
  const std::span<const float> l = rt.forward(tokens, 0, true);
  return {l.begin(), l.end()};
}

std::vector<std::vector<int32_t>> windows_for(const Model& m, uint32_t seed) {
  std::mt19937 rng(seed);
  std::vector<std::vector<int32_t>> w(6, std::vector<int32_t>(16));
  for (auto& win : w)
    for (auto& t : win) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(m.config.vocab));
  return w;
}

TEST(Awq, FoldedScalesLeaveTheFloatModelsFunction) {
  for (int64_t kv_heads : {2, 4}) {  // grouped-query attention (O not scaled), and not
    SCOPED_TRACE(kv_heads);
    const SmallModel sm(kv_heads);
    AwqModelOptions o;
    o.scheme = parse_scheme("int3-asym-g32");
    o.scheme.range = AsymRange::min_max;
    o.awq.clip = false;
    o.threads = 1;
    o.batch = 5;
    AwqModelReport rep;
    const Model scaled = awq_scale_model(sm.m, windows_for(sm.m, 5), o, &rep);
    ASSERT_EQ(rep.scales.size(), static_cast<size_t>(kv_heads == 4 ? 8 : 6));
    EXPECT_EQ(rep.skipped.size(), kv_heads == 4 ? 0u : 2u);
    bool moved = false;
    for (const AwqScaleReport& g : rep.scales) {
      EXPECT_LE(g.loss_after, g.loss_before) << g.group;
      moved = moved || g.alpha > 0;
    }
    EXPECT_TRUE(moved) << "every group kept s = 1: the test folds nothing";
    const std::vector<float> want = logits(sm.m), got = logits(scaled);
    double worst = 0, scale = 0;
    for (size_t i = 0; i < want.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
      scale = std::max(scale, static_cast<double>(std::fabs(want[i])));
    }
    EXPECT_LT(worst, 1e-4 * scale) << "folding changed the float model";
  }
}

TEST(Awq, ScalesOfOneWithoutClippingAreRoundToNearest) {
  const SmallModel sm;
  AwqModelOptions o;
  o.scheme = parse_scheme("int4-asym-g32");
  o.scheme.range = AsymRange::min_max;
  o.awq.grid = 1;  // α = 0 only
  o.awq.clip = false;
  o.threads = 1;
  const Model scaled = awq_scale_model(sm.m, windows_for(sm.m, 9), o);
  InMemoryOptions q;
  q.type = WeightType::scheme(o.scheme);
  q.threads = 1;
  const Model a = quantize_in_memory(scaled, q), b = quantize_in_memory(sm.m, q);
  for (const ModelTensor& t : a.tensors) {
    const ModelTensor& u = *b.find(t.name);
    std::vector<uint8_t> x(t.nbytes), y(u.nbytes);
    t.read(x);
    u.read(y);
    EXPECT_EQ(x, y) << t.name;
  }
}

TEST(Awq, GgmlTargetsUseLlamaCppsQuantizerAndGiveAnImportanceMatrix) {
  // s = 1: llama.cpp's own round trip of the row (with the importance it is given)
  const std::vector<float> w = random_weights(4, 64, 31);
  std::vector<float> imp(64);
  for (size_t i = 0; i < imp.size(); ++i) imp[i] = 0.5f + static_cast<float>(i % 5);
  for (GgmlType t : {GgmlType::Q4_0, GgmlType::Q5_1, GgmlType::Q8_0}) {
    std::vector<float> got(w.size()), want(w.size());
    awq_fake_quantize_ggml(TensorView{w.data(), 4, 64, "w"}, std::vector<float>(64, 1.0f), t, imp.data(), got.data());
    std::vector<uint8_t> bytes(static_cast<size_t>(*ggml_row_bytes(ggml_info(t), 64)) * 4);
    ggml_quantize(t, w.data(), bytes.data(), 4, 64, imp.data());
    ggml_dequantize(t, bytes.data(), want.data(), 4 * 64);
    EXPECT_EQ(got, want) << ggml_info(t).name;
  }
  EXPECT_THROW(awq_fake_quantize_ggml(TensorView{w.data(), 2, 128, "w"}, std::vector<float>(128, 1.0f), GgmlType::Q4_K, nullptr,
                                      std::vector<float>(256).data()),
               Error);  // rows of 128: no 256-value blocks
  // a model into Q4_0: folding still leaves the float function, and every block matrix has an importance
  const SmallModel sm(4);
  AwqModelOptions o;
  o.ggml = true;
  for (const ModelTensor& t : sm.m.tensors)
    if (is_block_linear(t.name)) o.ggml_types[t.name] = GgmlType::Q4_0;
  o.awq.clip = false;
  o.threads = 1;
  AwqModelReport rep;
  const Model scaled = awq_scale_model(sm.m, windows_for(sm.m, 13), o, &rep);
  EXPECT_EQ(rep.importance.weights.size(), 14u);
  const std::vector<float> want = logits(sm.m), got = logits(scaled);
  for (size_t i = 0; i < want.size(); ++i) ASSERT_NEAR(got[i], want[i], 1e-4 * (1 + std::fabs(want[i])));
  o.awq.clip = true;
  awq_scale_model(sm.m, windows_for(sm.m, 13), o, &rep);
  EXPECT_EQ(rep.clips.size(), 10u);
  for (const AwqClipReport& c : rep.clips) EXPECT_LE(c.loss_after, c.loss_before) << c.name;
}

// The bytes a tensor holds (codes, scales and zero points, or GGML blocks; a float tensor's values)
std::vector<uint8_t> bytes_of(const ModelTensor& t) {
  std::vector<uint8_t> b(t.nbytes);
  t.read(b);
  return b;
}

TEST(AwqGptq, ScalesOfOneAreGptqItself) {
  // α = 0 only: the combined pipeline's every search keeps s = 1, and the result is GPTQ's, byte for byte
  const SmallModel sm(4);
  const auto windows = windows_for(sm.m, 21);
  for (bool ggml : {false, true}) {
    SCOPED_TRACE(ggml);
    GptqModelOptions g;
    g.threads = 1;
    g.batch = 5;
    if (ggml) {
      g.ggml = true;
      for (const ModelTensor& t : sm.m.tensors)
        if (is_block_linear(t.name)) g.ggml_types[t.name] = GgmlType::Q4_0;
    } else {
      g.scheme = parse_scheme("int3-asym-g32");
      g.scheme.range = AsymRange::min_max;
    }
    AwqOptions a;
    a.grid = 1;
    a.clip = false;
    AwqModelReport ar;
    GptqModelReport gr;
    const Model both = awq_gptq_quantize_model(sm.m, windows, g, a, &ar, &gr);
    const Model plain = gptq_quantize_model(sm.m, windows, g);
    EXPECT_EQ(ar.scales.size(), 8u);  // Q/K/V, O, gate/up, down per block
    for (const AwqScaleReport& r : ar.scales) EXPECT_EQ(r.alpha, 0.0) << r.group;
    EXPECT_EQ(gr.layers.size(), 14u);
    for (const ModelTensor& t : plain.tensors) EXPECT_EQ(bytes_of(*both.find(t.name)), bytes_of(t)) << t.name;
  }
}

TEST(AwqGptq, AHalfWithoutTargetsIsNeitherSearchedNorQuantized) {
  // GGUF targets for the attention only: the FFN half keeps the source's float tensors and no search
  // runs for it (and the last block's half-used search state outlives nothing it points to)
  const SmallModel sm(2);
  GptqModelOptions g;
  g.threads = 1;
  g.ggml = true;
  for (const ModelTensor& t : sm.m.tensors)
    if (is_block_linear(t.name) && t.name.find(".attn_") != std::string::npos) g.ggml_types[t.name] = GgmlType::Q4_0;
  AwqOptions a;
  a.clip = false;
  AwqModelReport ar;
  const Model q = awq_gptq_quantize_model(sm.m, windows_for(sm.m, 29), g, a, &ar);
  ASSERT_EQ(ar.scales.size(), 2u);  // Q/K/V per block (O skipped under grouped-query attention)
  for (const AwqScaleReport& r : ar.scales) EXPECT_NE(r.group.find("attn_q/k/v"), std::string::npos) << r.group;
  for (const ModelTensor& t : q.tensors) {
    if (t.name.find(".ffn_") == std::string::npos) continue;
    EXPECT_EQ(bytes_of(t), bytes_of(*sm.m.find(t.name))) << t.name;
  }
  for (const auto& [name, type] : g.ggml_types) EXPECT_EQ(q.find(name)->type, GgmlType::Q4_0) << name;
}

TEST(AwqGptq, EachHalfIsSearchedOnTheInputsGptqQuantizesItWith) {
  // the searches' chosen s: at most GPTQ's loss at s = 1 on the same inputs; the norms carry the scales;
  // the result is GPTQ's kind of model (codes), and grouped-query attention skips O as AWQ does
  for (int64_t kv_heads : {2, 4}) {
    SCOPED_TRACE(kv_heads);
    const SmallModel sm(kv_heads);
    GptqModelOptions g;
    g.threads = 1;
    g.batch = 8;
    g.scheme = parse_scheme("int3-asym-g32");
    g.scheme.range = AsymRange::min_max;
    AwqOptions a;
    a.clip = false;
    AwqModelReport ar;
    GptqModelReport gr;
    const Model q = awq_gptq_quantize_model(sm.m, windows_for(sm.m, 23), g, a, &ar, &gr);
    ASSERT_EQ(ar.scales.size(), static_cast<size_t>(kv_heads == 4 ? 8 : 6));
    EXPECT_EQ(ar.skipped.size(), kv_heads == 4 ? 0u : 2u);
    EXPECT_EQ(ar.block_seconds.size(), 2u);
    bool moved = false;
    for (const AwqScaleReport& r : ar.scales) {
      EXPECT_LE(r.loss_after, r.loss_before) << r.group;
      moved = moved || r.alpha > 0;
    }
    EXPECT_TRUE(moved) << "every group kept s = 1: the test checks nothing of the folding";
    for (const ModelTensor& t : q.tensors) {
      if (is_block_linear(t.name)) EXPECT_TRUE(t.held_as_scheme()) << t.name;
    }
    // the norms of a block whose Q/K/V scales moved are the source's divided by them
    for (const AwqScaleReport& r : ar.scales) {
      if (r.alpha == 0 || r.folded_into.find("_norm") == std::string::npos) continue;
      EXPECT_NE(bytes_of(*q.find(r.folded_into)), bytes_of(*sm.m.find(r.folded_into))) << r.folded_into;
    }
  }
}

TEST(Awq, BadInputIsAClearError) {
  SmallModel sm;
  AwqModelOptions o;
  o.scheme = parse_scheme("int4-asym-g32");
  o.threads = 1;
  const auto windows = windows_for(sm.m, 3);
  sm.data[6][17] = std::nanf("");  // a weight of blk.0.attn_v.weight (token_embd, output_norm, output, attn_norm, q, k, v)
  try {
    awq_scale_model(sm.m, windows, o);
    ADD_FAILURE() << "a NaN weight was accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input);
    EXPECT_NE(std::string(e.what()).find("attn_v.weight"), std::string::npos) << e.what();
  }
  SmallModel sn;
  sn.data[0][static_cast<size_t>(windows[0][0] * 64)] = std::nanf("");  // a used token's embedding: the block's inputs become NaN
  try {
    awq_scale_model(sn.m, windows, o);
    ADD_FAILURE() << "NaN activations were accepted";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::bad_input) << e.what();
    EXPECT_NE(std::string(e.what()).find("not finite"), std::string::npos) << e.what();
  }
  o.scheme = parse_scheme("nf4-b64");
  EXPECT_THROW(awq_scale_model(sm.m, windows, o), Error);
  o.scheme = parse_scheme("int4-asym-tensor");
  EXPECT_THROW(awq_scale_model(sm.m, windows, o), Error);
}

}  // namespace
}  // namespace vernier
