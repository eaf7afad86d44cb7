// The runtime's seams: embed / run_layer / head compose to forward bit for bit; the observer sees each
// input group of each block once per call with the [n × d] rows the products read; a KernelContext
// per runtime (no process state); models quantized in memory to any weight type run on the packed
// weights and agree with the float32 model of their dequantized weights.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "small_model.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace vernier {
namespace {

const std::vector<int32_t> kTokens = {1, 5, 9, 33, 2, 47, 12, 8, 8, 30, 3, 17};

TEST(RuntimeSeams, StepsComposeToForwardBitForBit) {
  const SmallModel sm;
  LlamaRuntime a(sm.m, 32, 1), b(sm.m, 32, 1);
  const auto n = static_cast<int64_t>(kTokens.size());
  const std::vector<float> ref(a.forward(kTokens, 0, true).begin(), a.forward(kTokens, 0, true).end());
  // (forward twice at position 0 rewrites the same cache rows: the second call is the first's result)
  std::vector<float> x(static_cast<size_t>(n * sm.m.config.dim));
  b.embed(kTokens, x.data());
  for (int64_t l = 0; l < sm.m.config.layers; ++l) b.run_layer(l, x.data(), n, 0);
  const std::span<const float> got = b.head(x.data(), n);
  ASSERT_EQ(got.size(), ref.size());
  EXPECT_EQ(std::memcmp(got.data(), ref.data(), ref.size() * sizeof(float)), 0);
  EXPECT_THROW(b.run_layer(2, x.data(), n, 0), Error);      // no such layer
  EXPECT_THROW(b.run_layer(0, x.data(), 40, 0), Error);     // more than the batch buffers hold
}

struct Recorder final : LayerObserver {
  struct Call {
    int64_t layer;
    InputGroup group;
    int64_t n, d;
    std::vector<float> rows;
  };
  std::vector<Call> calls;
  void observe(int64_t layer, InputGroup group, const float* x, int64_t n, int64_t d) override {
    calls.push_back({layer, group, n, d, std::vector<float>(x, x + n * d)});
  }
};

TEST(RuntimeSeams, ObserverSeesEveryInputGroupOfEveryBlockInOrder) {
  const SmallModel sm;
  LlamaRuntime rt(sm.m, 32, 1);
  Recorder rec;
  rt.set_observer(&rec);
  rt.forward(std::span<const int32_t>(kTokens.data(), 5), 0);
  const LlamaConfig& c = sm.m.config;
  ASSERT_EQ(rec.calls.size(), static_cast<size_t>(4 * c.layers));
  for (size_t i = 0; i < rec.calls.size(); ++i) {
    const auto& call = rec.calls[i];
    EXPECT_EQ(call.layer, static_cast<int64_t>(i / 4));
    EXPECT_EQ(call.group, kInputGroups[i % 4]);
    EXPECT_EQ(call.n, 5);
    EXPECT_EQ(call.d, call.group == InputGroup::ffn_mid ? c.ffn : c.dim);
  }
  // attn_in is the RMS-normed residual: with unit norm weights each row has mean square 1 (± eps)
  for (int64_t i = 0; i < 5; ++i) {
    double ss = 0;
    for (int64_t j = 0; j < c.dim; ++j) ss += rec.calls[0].rows[static_cast<size_t>(i * c.dim + j)] * rec.calls[0].rows[static_cast<size_t>(i * c.dim + j)];
    EXPECT_NEAR(ss / static_cast<double>(c.dim), 1.0, 1e-4);
  }
  // the groups name the matrices they feed
  EXPECT_EQ(input_group_tensors(InputGroup::attn_in).size(), 3u);
  EXPECT_EQ(input_group_tensors(InputGroup::ffn_mid)[0], "ffn_down.weight");
  rt.set_observer(nullptr);
  rt.forward(kTokens[5], 5);
  EXPECT_EQ(rec.calls.size(), static_cast<size_t>(4 * c.layers));  // detached: no more calls
}

TEST(RuntimeSeams, EachRuntimeRunsOnItsOwnContext) {
  const SmallModel sm;
  RuntimeOptions scalar{32, 1, KvType::f32, 512, "scalar"}, best{32, 2, KvType::f32, 512, "auto"};
  LlamaRuntime a(sm.m, scalar), b(sm.m, best);
  EXPECT_NE(a.backend().name().find("scalar"), std::string::npos);
  EXPECT_NE(b.backend().name().find("2 threads"), std::string::npos);
  const std::vector<float> la(a.forward(kTokens, 0, true).begin(), a.forward(kTokens, 0, true).end());
  const std::span<const float> lb = b.forward(kTokens, 0, true);
  double worst = 0;
  for (size_t i = 0; i < la.size(); ++i) worst = std::max(worst, static_cast<double>(std::fabs(la[i] - lb[i])));
  EXPECT_LT(worst, 1e-3);  // F32 products summed in another order: reassociation only
  EXPECT_THROW(LlamaRuntime(sm.m, RuntimeOptions{32, 1, KvType::f32, 512, "neon"}), Error);
}

// The model of the dequantized weights, in float32: what a weight-only product computes exactly.
Model dequantized(const Model& q, std::vector<std::vector<float>>& keep) {
  Model out = q;
  keep.reserve(out.tensors.size());
  for (ModelTensor& t : out.tensors) {
    if (!t.scheme) continue;
    keep.emplace_back(dequantize(unpack(*t.scheme)));
    const std::vector<float>* v = &keep.back();
    t.scheme.reset();
    t.read = [v](std::span<uint8_t> dst) { std::memcpy(dst.data(), v->data(), dst.size()); };
  }
  return out;
}

TEST(RuntimeSeams, SchemesRunOnThePackedWeightsAndMatchTheirDequantizedModel) {
  const SmallModel sm;
  LlamaRuntime f32(sm.m, 32, 1);
  const std::vector<float> base(f32.forward(kTokens, 0, true).begin(), f32.forward(kTokens, 0, true).end());
  for (const char* name : {"int4-asym-g32", "int4-sym-g32", "int8-sym-channel", "int3-asym-g32", "nf4-b64-dq", "fp8_e4m3-channel"}) {
    SCOPED_TRACE(name);
    InMemoryOptions o;
    o.type = parse_weight_type(name);
    o.threads = 1;
    InMemoryReport rep;
    const Model q = quantize_in_memory(sm.m, o, &rep);
    ASSERT_EQ(rep.tensors.size(), 14u);  // 7 block matrices × 2 layers, nothing else
    uint64_t packed = 0;
    for (const ModelTensor& t : q.tensors) {
      if (is_block_linear(t.name)) {
        ASSERT_TRUE(t.scheme) << t.name;
        EXPECT_EQ(t.weight_type().name(), o.type.name());
        packed += t.scheme->bytes();
        EXPECT_EQ(t.scheme->bytes(), unpack(*t.scheme).storage_bytes());
      } else {
        EXPECT_FALSE(t.scheme) << t.name;
      }
    }
    EXPECT_EQ(packed, rep.bytes);
    LlamaRuntime rt(q, 32, 1);
    // stored bytes: the packed matrices plus the float32 rest; resident: what the kernels read
    uint64_t rest = 0;
    for (const ModelTensor& t : sm.m.tensors)
      if (!is_block_linear(t.name)) rest += t.nbytes;
    EXPECT_EQ(rt.weight_bytes(), packed + rest);
    EXPECT_EQ(rt.resident_weight_bytes(), rt.weight_bytes());
    for (const auto& [matrix, type] : rt.matrix_types())
      if (is_block_linear(matrix)) EXPECT_EQ(type, o.type.name()) << matrix;
    const std::vector<float> got(rt.forward(kTokens, 0, true).begin(), rt.forward(kTokens, 0, true).end());
    std::vector<std::vector<float>> keep;
    const Model dq = dequantized(q, keep);
    LlamaRuntime ref(dq, 32, 1);
    const std::span<const float> want = ref.forward(kTokens, 0, true);
    double worst = 0, moved = 0;
    for (size_t i = 0; i < got.size(); ++i) {
      worst = std::max(worst, static_cast<double>(std::fabs(got[i] - want[i])));
      moved = std::max(moved, static_cast<double>(std::fabs(got[i] - base[i])));
    }
    // the same products up to float reassociation (the weight-only kernels sum codes per group,
    // then scale), against the change quantization itself makes
    EXPECT_LT(worst, 2e-3) << "quantization moved the logits by up to " << moved;
    EXPECT_GT(moved, 10 * worst);
  }
}

TEST(RuntimeSeams, GgmlTypesInMemoryAreTheQuantizersBytes) {
  const SmallModel sm;
  InMemoryOptions o;
  o.type = parse_weight_type("Q8_0");
  const Model q = quantize_in_memory(sm.m, o);
  const ModelTensor* t = q.find("blk.1.ffn_down.weight");
  const ModelTensor* src = sm.m.find("blk.1.ffn_down.weight");
  ASSERT_TRUE(t && src);
  EXPECT_EQ(t->type, GgmlType::Q8_0);
  std::vector<float> x(static_cast<size_t>(src->elements()));
  read_f32(*src, x);
  std::vector<uint8_t> want(t->nbytes), got(t->nbytes);
  ggml_quantize(GgmlType::Q8_0, x.data(), want.data(), src->ne[1], src->ne[0], nullptr);
  t->read(got);
  EXPECT_EQ(got, want);
  LlamaRuntime rt(q, 32, 1);
  EXPECT_EQ(rt.forward(kTokens, 0).size(), static_cast<size_t>(sm.m.config.vocab));
  // rows of 96 are not whole 256-value blocks: a clear error naming the tensor
  o.type = parse_weight_type("Q4_K");
  try {
    quantize_in_memory(sm.m, o);
    ADD_FAILURE() << "Q4_K on rows of 64 was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("blk.0."), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace vernier
