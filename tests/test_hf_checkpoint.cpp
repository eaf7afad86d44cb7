// Quantized Hugging Face checkpoints end to end (hf_checkpoint.hpp): write → load gives the in-memory
// quantization bit for bit; the runtime multiplies the stored codes (act order and rotate-half rows
// included); shards, atomic replacement and refusals.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>
#include <random>

#include "shared_data.hpp"
#include "small_model.hpp"
#include "vernier/error.hpp"
#include "vernier/hf_checkpoint.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace fs = std::filesystem;

namespace vernier {
namespace {

fs::path temp_dir(const std::string& name) {
  const fs::path p = fs::temp_directory_path() / ("vernier_hfck_" + name + "_" + std::to_string(::getpid()));
  fs::remove_all(p);
  return p;
}

std::vector<float> read_all(const ModelTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.elements()));
  read_f32(t, v);
  return v;
}

// What the file must hold: the source's weights in Hugging Face's row order, quantized, dequantized,
// and put back in GGUF's order.
std::vector<float> expected_weights(const Model& src, const ModelTensor& t, const Scheme& s) {
  std::vector<float> w = read_all(t);
  const int64_t rows = t.ne[1], cols = t.ne[0];
  int64_t heads = 0;
  if (t.name.ends_with(".attn_q.weight")) heads = src.config.heads;
  if (t.name.ends_with(".attn_k.weight")) heads = src.config.kv_heads;
  const auto permute = [&](std::vector<float>& v, bool to_gguf) {
    std::vector<float> o(v.size());
    permute_rope_rows({reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4}, {reinterpret_cast<uint8_t*>(o.data()), o.size() * 4},
                      heads, rows, static_cast<uint64_t>(cols) * 4, to_gguf);
    v = std::move(o);
  };
  if (heads) permute(w, false);
  std::vector<float> d = dequantize(quantize(TensorView{w.data(), rows, cols, t.name}, s));
  if (heads) permute(d, true);
  return d;
}

// The largest difference between two models' logits over a prompt.
double max_logit_difference(const Model& a, const Model& b, const std::vector<int32_t>& tokens) {
  LlamaRuntime ra(a, RuntimeOptions{16, 1, KvType::f32, 8, ""});
  LlamaRuntime rb(b, RuntimeOptions{16, 1, KvType::f32, 8, ""});
  const auto la = ra.forward(tokens, 0, true);
  const std::vector<float> va(la.begin(), la.end());
  const auto lb = rb.forward(tokens, 0, true);
  if (va.size() != lb.size()) return INFINITY;
  double worst = 0;
  for (size_t i = 0; i < va.size(); ++i) worst = std::max(worst, std::fabs(static_cast<double>(va[i]) - lb[i]));
  return worst;
}

void check_layout(HfLayout layout, const std::string& scheme_name) {
  SCOPED_TRACE(std::string(hf_layout_name(layout)) + " " + scheme_name);
  SmallModel sm;
  const fs::path dir = temp_dir("rt");
  HfCheckpointOptions opt;
  opt.layout = layout;
  opt.scheme = parse_scheme(scheme_name);
  write_hf_checkpoint(sm.m, dir.string(), opt);
  const Scheme stored = hf_layout_scheme(layout, opt.scheme);
  const Model back = load_model(dir.string());
  EXPECT_EQ(back.layout, hf_layout_name(layout));
  EXPECT_TRUE(back.warnings.empty()) << (back.warnings.empty() ? "" : back.warnings[0]);
  uint64_t packed = 0;
  for (const ModelTensor& t : sm.m.tensors) {
    const ModelTensor* b = back.find(t.name);
    ASSERT_NE(b, nullptr) << t.name;
    ASSERT_EQ(b->ne, t.ne) << t.name;
    const std::vector<float> got = read_all(*b);
    if (is_block_linear(t.name)) {
      ASSERT_TRUE(b->scheme) << t.name << " is not held as codes";
      EXPECT_EQ(describe(b->scheme->scheme), describe(stored)) << t.name;
      packed += b->scheme->bytes();
      const std::vector<float> want = expected_weights(sm.m, t, stored);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << t.name << ": not the in-memory quantization";
    } else {
      EXPECT_FALSE(b->scheme) << t.name;
      EXPECT_EQ(got, read_all(t)) << t.name;  // kept as stored
    }
  }
  // the runtime multiplies the stored codes: its resident bytes are the packed bytes, and its logits
  // are those of the same quantization held in memory
  const LlamaRuntime rt(back, RuntimeOptions{16, 1, KvType::f32, 8, ""});
  uint64_t plain = 0;
  for (const ModelTensor& t : back.tensors) {
    if (!t.scheme) plain += t.nbytes;
  }
  EXPECT_EQ(rt.resident_weight_bytes(), packed + plain);
  fs::remove_all(dir);
}

TEST(HfCheckpoint, EveryLayoutRoundTripsThroughAFile) {
  for (const char* s : {"int4-sym-g32", "int4-asym-g32", "int3-asym-g32", "int8-sym-channel", "int2-asym-g32"}) check_layout(HfLayout::gptq, s);
  for (const char* s : {"int4-asym-g32", "int4-asym-g16"}) check_layout(HfLayout::awq, s);
  for (const char* s : {"int4-sym-g32", "int4-asym-g32", "int8-sym-channel", "int4-sym-tensor", "fp8_e4m3-channel", "fp8_e4m3-tensor"}) {
    check_layout(HfLayout::compressed_tensors, s);
  }
  for (const char* s : {"nf4-b32", "nf4-b32-dq"}) check_layout(HfLayout::bnb, s);
}

TEST(HfCheckpoint, ForwardMatchesTheInMemoryQuantization) {
  SmallModel sm;
  const fs::path dir = temp_dir("fwd");
  HfCheckpointOptions opt;
  opt.layout = HfLayout::bnb;
  opt.scheme = parse_scheme("nf4-b32-dq");  // double quantization spans rows: Q/K stay in their stored order
  write_hf_checkpoint(sm.m, dir.string(), opt);
  const Model back = load_model(dir.string());
  // the same codes, held as float32 in GGUF's order
  Model dense = back;
  std::vector<std::shared_ptr<std::vector<float>>> keep;
  for (ModelTensor& t : dense.tensors) {
    if (!t.scheme) continue;
    auto d = std::make_shared<std::vector<float>>(read_all(t));
    keep.push_back(d);
    t.scheme.reset();
    t.output_perm.reset();
    t.read = [d](std::span<uint8_t> out) { std::memcpy(out.data(), d->data(), out.size()); };
  }
  EXPECT_LT(max_logit_difference(back, dense, {1, 5, 9, 13, 2, 7}), 2e-4);  // the weight-only kernel's f32 sums against the dense product's
  fs::remove_all(dir);
}

TEST(HfCheckpoint, ActOrderPermutationRunsInTheRuntime) {
  SmallModel sm;
  Model m = sm.m;
  // blk.0.ffn_down as an act-order layer: its columns quantized in a shuffled order
  ModelTensor* t = nullptr;
  for (auto& x : m.tensors) {
    if (x.name == "blk.0.ffn_down.weight") t = &x;
  }
  ASSERT_NE(t, nullptr);
  const int64_t rows = t->ne[1], cols = t->ne[0];
  std::vector<float> w = read_all(*t);
  std::vector<int32_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  std::shuffle(perm.begin(), perm.end(), std::mt19937(9));
  std::vector<float> wp(w.size());
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) wp[static_cast<size_t>(r * cols + k)] = w[static_cast<size_t>(r * cols + perm[static_cast<size_t>(k)])];
  }
  QuantizedLinear ql{quantize(TensorView{wp.data(), rows, cols, "w"}, parse_scheme("int4-asym-g32-f16")), perm};
  auto dense = std::make_shared<std::vector<float>>(dequantize_linear(ql));
  Model md = m;
  for (auto& x : md.tensors) {
    if (x.name == t->name) x.read = [dense](std::span<uint8_t> out) { std::memcpy(out.data(), dense->data(), out.size()); };
  }
  t->scheme = std::make_shared<const PackedTensor>(pack(ql.q));
  t->input_perm = std::make_shared<const std::vector<int32_t>>(perm);
  t->read = [dense](std::span<uint8_t> out) { std::memcpy(out.data(), dense->data(), out.size()); };
  EXPECT_LT(max_logit_difference(m, md, {3, 1, 4, 1, 5}), 2e-4);
}

TEST(HfCheckpoint, ShardsWithAnIndexAndLoadsThem) {
  SmallModel sm;
  const fs::path dir = temp_dir("shards");
  HfCheckpointOptions opt;
  opt.layout = HfLayout::compressed_tensors;
  opt.scheme = parse_scheme("int4-asym-g32");
  opt.max_shard_bytes = 8000;
  const HfCheckpointReport r = write_hf_checkpoint(sm.m, dir.string(), opt);
  EXPECT_GT(r.shards, 2);
  ASSERT_TRUE(fs::exists(dir / "model.safetensors.index.json"));
  char first[64];
  std::snprintf(first, sizeof first, "model-00001-of-%05d.safetensors", r.shards);
  EXPECT_TRUE(fs::exists(dir / first)) << first;
  std::ifstream in(dir / "model.safetensors.index.json");
  const auto idx = nlohmann::json::parse(in);
  EXPECT_EQ(idx["metadata"]["total_size"].get<uint64_t>(), r.bytes);
  const Model back = load_model(dir.string());
  for (const ModelTensor& t : sm.m.tensors) {
    const ModelTensor* b = back.find(t.name);
    ASSERT_NE(b, nullptr);
    if (is_block_linear(t.name)) {
      const std::vector<float> want = expected_weights(sm.m, t, opt.scheme), got = read_all(*b);
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << t.name;
    }
  }
  std::ifstream cfg(dir / "config.json");
  const auto c = nlohmann::json::parse(cfg);
  EXPECT_EQ(c["quantization_config"]["quant_method"], "compressed-tensors");
  EXPECT_EQ(c["quantization_config"]["ignore"], nlohmann::json::array({"lm_head"}));
  fs::remove_all(dir);
}

TEST(HfCheckpoint, DirectoryAppearsCompleteOrNotAtAll) {
  SmallModel sm;
  const fs::path dir = temp_dir("atomic");
  HfCheckpointOptions opt;
  opt.layout = HfLayout::gptq;
  opt.scheme = parse_scheme("int4-sym-g32");
  write_hf_checkpoint(sm.m, dir.string(), opt);
  // an existing directory is refused without overwrite, and left as it was
  EXPECT_THROW(write_hf_checkpoint(sm.m, dir.string(), opt), Error);
  EXPECT_TRUE(fs::exists(dir / "model.safetensors"));
  // a failure part-way (a tensor that cannot be read) leaves the old directory and no temporary one
  Model broken = sm.m;
  broken.tensors[5].read = [](std::span<uint8_t>) { throw_bad_input("(test) the source went away"); };
  opt.overwrite = true;
  opt.layout = HfLayout::awq;
  opt.scheme = parse_scheme("int4-asym-g32");
  EXPECT_THROW(write_hf_checkpoint(broken, dir.string(), opt), Error);
  std::ifstream in(dir / "config.json");
  EXPECT_EQ(nlohmann::json::parse(in)["quantization_config"]["quant_method"], "gptq");
  for (const auto& e : fs::directory_iterator(dir.parent_path())) {
    EXPECT_EQ(e.path().filename().string().find(dir.filename().string() + ".vernier-tmp"), std::string::npos) << e.path();
  }
  // --force replaces it once the new one is complete
  write_hf_checkpoint(sm.m, dir.string(), opt);
  std::ifstream in2(dir / "config.json");
  EXPECT_EQ(nlohmann::json::parse(in2)["quantization_config"]["quant_method"], "awq");
  fs::remove_all(dir);
}

TEST(HfCheckpoint, RefusesShapesALayoutCannotPack) {
  SmallModel sm;
  HfCheckpointOptions opt;
  opt.layout = HfLayout::gptq;
  opt.scheme = parse_scheme("int4-sym-g128");  // 128 does not divide the model's 64 inputs
  try {
    write_hf_checkpoint(sm.m, temp_dir("shape").string(), opt);
    FAIL() << "expected a refusal";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("group size 128 does not divide"), std::string::npos) << e.what();
  }
  EXPECT_FALSE(fs::exists(temp_dir("shape")));
}

TEST(HfCheckpoint, TinyStoriesCheckpointsCarryItsFilesAndMatchInMemory) {
  if (!testdata::have("models/TinyStories-656K/model.safetensors")) {
    GTEST_SKIP() << "shared/models/TinyStories-656K absent (set VERNIER_SHARED_DIR): skipping its checkpoints";
  }
  const std::string src = testdata::shared("models/TinyStories-656K");
  const Model m = load_model(src);
  const fs::path dir = temp_dir("tiny");
  HfCheckpointOptions opt;
  opt.layout = HfLayout::gptq;
  opt.scheme = parse_scheme("int4-asym-g64");
  write_hf_checkpoint(m, dir.string(), opt);
  for (const char* f : {"tokenizer.json", "tokenizer_config.json", "generation_config.json", "quantize_config.json"}) {
    EXPECT_TRUE(fs::exists(dir / f)) << f;
  }
  std::ifstream in(dir / "config.json");
  const auto c = nlohmann::json::parse(in);
  EXPECT_EQ(c["quantization_config"]["checkpoint_format"], "gptq_v2");
  EXPECT_EQ(c["quantization_config"]["sym"], false);
  EXPECT_EQ(c["hidden_size"], 128);  // the source's config, carried over
  const Model back = load_model(dir.string());
  EXPECT_EQ(back.tokenizer.tokens.size(), m.tokenizer.tokens.size());
  fs::remove_all(dir);
  const std::pair<HfLayout, const char*> cases[] = {{HfLayout::gptq, "int4-asym-g64"}, {HfLayout::gptq, "int3-sym-g128"},
                                                    {HfLayout::awq, "int4-asym-g128"}, {HfLayout::bnb, "nf4-b64-dq"},
                                                    {HfLayout::compressed_tensors, "fp8_e4m3-channel"}};
  for (const auto& [layout, scheme] : cases) {
    opt.layout = layout;
    opt.scheme = parse_scheme(scheme);
    write_hf_checkpoint(m, dir.string(), opt);
    const Model q = load_model(dir.string());
    const Scheme stored = hf_layout_scheme(opt.layout, opt.scheme);
    for (const ModelTensor& t : m.tensors) {
      if (!is_block_linear(t.name)) continue;
      const std::vector<float> want = expected_weights(m, t, stored), got = read_all(*q.find(t.name));
      EXPECT_EQ(std::memcmp(got.data(), want.data(), got.size() * 4), 0) << scheme << " " << t.name;
      EXPECT_EQ(describe(q.find(t.name)->scheme->scheme), describe(stored)) << t.name;
    }
    fs::remove_all(dir);
  }
}

}  // namespace
}  // namespace vernier

namespace vernier {
namespace {
TEST(HfCheckpoint, ThreadsDoNotChangeTheFiles) {
  SmallModel sm;
  std::string bytes[2];
  for (int k = 0; k < 2; ++k) {
    const fs::path dir = temp_dir("threads" + std::to_string(k));
    HfCheckpointOptions opt;
    opt.layout = HfLayout::bnb;
    opt.scheme = parse_scheme("nf4-b32-dq");
    opt.threads = k == 0 ? 1 : 3;
    write_hf_checkpoint(sm.m, dir.string(), opt);
    std::ifstream in(dir / "model.safetensors", std::ios::binary);
    bytes[k].assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
    fs::remove_all(dir);
  }
  EXPECT_FALSE(bytes[0].empty());
  EXPECT_EQ(bytes[0], bytes[1]);
}
}  // namespace
}  // namespace vernier

namespace vernier {
namespace {
// AutoGPTQ-style checkpoints carry a bias buffer of zeros on every quantized layer.
TEST(HfCheckpoint, ZeroBiasOfAQuantizedLayerIsAcceptedANonZeroOneRefused) {
  SmallModel sm;
  const fs::path dir = temp_dir("bias");
  HfCheckpointOptions opt;
  opt.layout = HfLayout::gptq;
  opt.scheme = parse_scheme("int4-sym-g32");
  write_hf_checkpoint(sm.m, dir.string(), opt);
  const fs::path st = dir / "model.safetensors", copy = temp_dir("bias-orig.safetensors");
  fs::copy_file(st, copy);
  const auto rewrite = [&](uint16_t bias_bits) {
    const SafetensorsFile in = SafetensorsFile::open(copy.string());
    SafetensorsWriter w(st.string(), true);
    for (const auto& t : in.tensors()) w.add_tensor(t.name, t.dtype, t.shape);
    w.add_tensor("model.layers.0.self_attn.q_proj.bias", StDtype::F16, {64});
    w.write_header();
    for (const auto& t : in.tensors()) w.write_tensor(in.tensor_data(t));
    std::vector<uint16_t> bias(64, 0x8000);  // -0.0
    bias[3] = bias_bits;
    w.write_tensor({reinterpret_cast<const uint8_t*>(bias.data()), bias.size() * 2});
    w.finish();
  };
  rewrite(0x0000);
  EXPECT_NO_THROW(load_model(dir.string()));
  rewrite(0x3c00);  // 1.0
  try {
    load_model(dir.string());
    FAIL() << "a non-zero bias was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("'model.layers.0.self_attn.q_proj.bias': a non-zero bias"), std::string::npos) << e.what();
  }
  fs::remove_all(dir);
  fs::remove(copy);
}
}  // namespace
}  // namespace vernier
