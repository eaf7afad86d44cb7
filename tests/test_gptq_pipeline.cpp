// The block pipeline's memory seams: a window run in chunks through one KV store shared by the layers
// is the same pass as the whole window through per-layer caches; a dropped matrix cannot run; codes
// parked in a scratch file read back as held; GPTQ over a model gives the same codes parked or not.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "small_model.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/gptq_model.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace vernier {
namespace {

const std::vector<int32_t> kTokens = {1, 5, 9, 33, 2, 47, 12, 8, 8, 30, 3, 17};

TEST(GptqPipeline, ChunksThroughOneSharedKvStoreAreTheWholeWindowsPass) {
  const SmallModel sm;
  const auto n = static_cast<int64_t>(kTokens.size());
  LlamaRuntime whole(sm.m, RuntimeOptions{n, 1, KvType::f32, n, ""});
  const std::vector<float> want(whole.forward(kTokens, 0, true).begin(), whole.forward(kTokens, 0, true).end());
  for (int64_t chunk : {1, 4, 5, 12}) {  // dividing the window, and not
    SCOPED_TRACE(chunk);
    LlamaRuntime rt(sm.m, RuntimeOptions{n, 1, KvType::f32, chunk, "", true});
    EXPECT_EQ(rt.kv_bytes_per_token() * static_cast<uint64_t>(sm.m.config.layers), whole.kv_bytes_per_token());  // one layer's store
    const int64_t D = sm.m.config.dim;
    std::vector<float> x(static_cast<size_t>(n * D));
    for (int64_t p = 0; p < n; p += chunk) {
      const int64_t k = std::min(chunk, n - p);
      rt.embed(std::span<const int32_t>(kTokens).subspan(static_cast<size_t>(p), static_cast<size_t>(k)), x.data() + p * D);
    }
    for (int64_t l = 0; l < sm.m.config.layers; ++l) {  // layer by layer over the whole window, as calibration runs
      for (int64_t p = 0; p < n; p += chunk) rt.run_layer(l, x.data() + p * D, std::min(chunk, n - p), p);
    }
    std::vector<float> got;
    for (int64_t p = 0; p < n; p += chunk) {
      const std::span<const float> lg = rt.head(x.data() + p * D, std::min(chunk, n - p));
      got.insert(got.end(), lg.begin(), lg.end());
    }
    ASSERT_EQ(got.size(), want.size());
    double worst = 0;
    for (size_t i = 0; i < got.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
    EXPECT_LT(worst, 1e-5);  // the same arithmetic per token; only the products' batching differs
  }
  LlamaRuntime shared(sm.m, RuntimeOptions{n, 1, KvType::f32, n, "", true});
  EXPECT_NO_THROW(shared.forward(kTokens, 0));
  EXPECT_THROW(shared.forward(std::span<const int32_t>(kTokens).first(2), 3), Error);  // would read the last layer's K/V
}

TEST(GptqPipeline, ADroppedMatrixCannotRunAgain) {
  const SmallModel sm;
  LlamaRuntime rt(sm.m, 32, 1);
  std::vector<float> x(static_cast<size_t>(4 * sm.m.config.dim), 0.5f);
  const uint64_t before = rt.weight_bytes();
  rt.drop_matrix(0, "ffn_down.weight");
  EXPECT_EQ(rt.weight_bytes(), before - sm.m.find("blk.0.ffn_down.weight")->nbytes);
  EXPECT_NO_THROW(rt.run_layer(0, x.data(), 4, 0, InputGroup::ffn_mid));  // up to down's input: not multiplied
  EXPECT_THROW(rt.run_layer(0, x.data(), 4, 0), Error);
  EXPECT_NO_THROW(rt.run_layer(1, x.data(), 4, 0));
  EXPECT_THROW(rt.drop_matrix(0, "attn_z.weight"), Error);
  EXPECT_THROW(rt.drop_matrix(2, "attn_q.weight"), Error);
}

std::vector<uint8_t> bytes_of(const ModelTensor& t) {
  std::vector<uint8_t> b(t.nbytes);
  t.read(b);
  return b;
}

TEST(GptqPipeline, ParkedTensorsReadBackAsHeld) {
  const SmallModel sm;
  auto file = std::make_shared<ScratchFile>(std::filesystem::temp_directory_path().string());
  for (const char* type : {"int4-asym-g32", "int3-sym-g32", "int8-sym-channel", "Q8_0"}) {
    SCOPED_TRACE(type);
    InMemoryOptions o;
    o.type = parse_weight_type(type);
    o.threads = 1;
    const Model held = quantize_in_memory(sm.m, o);
    Model parked = held;
    for (ModelTensor& t : parked.tensors) {
      if (!is_block_linear(t.name)) continue;
      t = parked_tensor(t, file);
      EXPECT_FALSE(t.scheme) << t.name;  // nothing left in memory
      EXPECT_FALSE(t.view) << t.name;
      const ModelTensor& h = *held.find(t.name);
      EXPECT_EQ(t.weight_type().name(), h.weight_type().name());
      EXPECT_EQ(bytes_of(t), bytes_of(h)) << t.name;
      if (h.scheme) {
        const std::shared_ptr<const PackedTensor> back = t.packed();
        ASSERT_TRUE(back);
        EXPECT_EQ(back->codes, h.scheme->codes);
        EXPECT_EQ(back->scales, h.scheme->scales);
        EXPECT_EQ(back->zeros, h.scheme->zeros);
        EXPECT_EQ(back->row_bytes, h.scheme->row_bytes);
      }
    }
    LlamaRuntime a(held, 32, 1), b(parked, 32, 1);
    const std::vector<float> want(a.forward(kTokens, 0, true).begin(), a.forward(kTokens, 0, true).end());
    const std::span<const float> got = b.forward(kTokens, 0, true);
    ASSERT_EQ(got.size(), want.size());
    EXPECT_EQ(std::memcmp(got.data(), want.data(), want.size() * 4), 0);
  }
  EXPECT_GT(file->size(), 0u);
  EXPECT_THROW(ScratchFile("/nonexistent/folder"), Error);
}

TEST(GptqPipeline, ParkedOrHeldGptqCodesAreTheSame) {
  const SmallModel sm;
  std::mt19937 rng(7);
  std::vector<std::vector<int32_t>> windows(6, std::vector<int32_t>(16));
  for (auto& w : windows)
    for (auto& t : w) t = static_cast<int32_t>(rng() % static_cast<uint32_t>(sm.m.config.vocab));
  GptqModelOptions o;
  o.scheme = parse_scheme("int4-asym-g32");
  o.threads = 1;
  o.batch = 5;  // windows of 16 in chunks of 5, 5, 5, 1
  GptqModelReport held_rep, parked_rep;
  const Model held = gptq_quantize_model(sm.m, windows, o, &held_rep);
  o.park_dir = std::filesystem::temp_directory_path().string();
  const Model parked = gptq_quantize_model(sm.m, windows, o, &parked_rep);
  size_t n = 0;
  for (const ModelTensor& t : parked.tensors) {
    if (!is_block_linear(t.name)) continue;
    ++n;
    const ModelTensor& h = *held.find(t.name);
    ASSERT_TRUE(h.scheme && !t.scheme && t.load_scheme) << t.name;
    EXPECT_EQ(t.packed()->codes, h.scheme->codes) << t.name;
    EXPECT_EQ(bytes_of(t), bytes_of(h)) << t.name;
  }
  EXPECT_EQ(n, 14u);
  ASSERT_EQ(parked_rep.layers.size(), held_rep.layers.size());
  for (size_t i = 0; i < held_rep.layers.size(); ++i) {
    EXPECT_EQ(parked_rep.layers[i].loss, held_rep.layers[i].loss);
    EXPECT_LT(parked_rep.layers[i].loss, parked_rep.layers[i].rtn_loss) << parked_rep.layers[i].name;
  }
  // the same model in one chunk per window: the same calibration up to the sums' order
  o.batch = 16;
  o.park_dir.clear();
  GptqModelReport whole_rep;
  gptq_quantize_model(sm.m, windows, o, &whole_rep);
  for (size_t i = 0; i < held_rep.layers.size(); ++i) {
    EXPECT_NEAR(whole_rep.layers[i].rtn_loss, held_rep.layers[i].rtn_loss, 1e-4 * held_rep.layers[i].rtn_loss) << held_rep.layers[i].name;
  }
}

}  // namespace
}  // namespace vernier
