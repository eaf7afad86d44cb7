// The model abstraction against llama.cpp's converters: stories260K (llama2.c) and TinyStories-656K
// (Hugging Face) convert to the tensors, shapes, bytes and keys of the reference GGUF files.
#include <gtest/gtest.h>

#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <utility>
#include <vector>

#include "shared_data.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/model.hpp"
#include "vernier/safetensors.hpp"

namespace vernier {
namespace {

TEST(Model, Stories260KConvertsToLlamaCppsGgufTensorsAndKeys) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K-F32.llamacpp.gguf");
  const Model m = load_model(testdata::shared("models/stories260K/stories260K.bin"));
  const std::string out = testdata::temp_path("stories260K.gguf");
  ConvertOptions opt;
  opt.overwrite = true;
  write_gguf(m, out, opt);
  const GgufFile ours = GgufFile::open(out);
  const GgufFile ref = GgufFile::open(testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf"));
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (size_t i = 0; i < ref.tensors().size(); ++i) {
    const auto& r = ref.tensors()[i];
    const auto& o = ours.tensors()[i];
    EXPECT_EQ(o.name, r.name);
    EXPECT_EQ(o.ne, r.ne) << r.name;
    EXPECT_EQ(o.type, r.type) << r.name;
    const auto a = ours.tensor_data(o), b = ref.tensor_data(r);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << r.name << ": F32 bytes differ";
  }
  for (const auto& [k, v] : ref.metadata()) {
    if (k.rfind("llama.", 0) != 0 && k.rfind("tokenizer.", 0) != 0) continue;
    const GgufValue* mine = ours.find(k);
    ASSERT_NE(mine, nullptr) << k;
    if (k == "llama.context_length") {
      EXPECT_EQ(mine->as_u64(), 512u);  // the checkpoint's seq_len (llama.cpp's converter writes 128)
      continue;
    }
    EXPECT_EQ(mine->type, v.type) << k;
    EXPECT_EQ(mine->bits, v.bits) << k;
    EXPECT_EQ(mine->str, v.str) << k;
    EXPECT_EQ(mine->raw, v.raw) << k;
    EXPECT_EQ(mine->strings, v.strings) << k;
  }
}

TEST(Model, TinyStoriesConvertsToTheNamesShapesAndTokenizerOfItsLlamaCppGguf) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf");
  const Model m = load_model(testdata::shared("models/TinyStories-656K"));
  EXPECT_EQ(m.config.dim, 128);
  EXPECT_EQ(m.config.kv_heads, 4);
  EXPECT_TRUE(m.config.tied_embeddings);
  const std::string out = testdata::temp_path("ts.gguf");
  ConvertOptions opt;
  opt.overwrite = true;
  write_gguf(m, out, opt);
  const GgufFile ours = GgufFile::open(out);
  const GgufFile ref = GgufFile::open(testdata::shared("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf"));
  ASSERT_EQ(ours.tensors().size(), ref.tensors().size());
  for (const auto& r : ref.tensors()) {
    const GgufTensorInfo* o = ours.find_tensor(r.name);
    ASSERT_NE(o, nullptr) << r.name;
    EXPECT_EQ(o->ne, r.ne) << r.name;
  }
  for (const char* k : {"tokenizer.ggml.model", "tokenizer.ggml.tokens", "tokenizer.ggml.scores", "tokenizer.ggml.token_type",
                        "tokenizer.ggml.bos_token_id", "tokenizer.ggml.eos_token_id", "tokenizer.ggml.add_bos_token",
                        "llama.block_count", "llama.embedding_length", "llama.feed_forward_length",
                        "llama.attention.head_count", "llama.attention.head_count_kv", "llama.rope.dimension_count",
                        "llama.rope.freq_base", "llama.attention.layer_norm_rms_epsilon", "llama.context_length"}) {
    const GgufValue* a = ours.find(k);
    const GgufValue* b = ref.find(k);
    ASSERT_NE(a, nullptr) << k;
    EXPECT_EQ(a->bits, b->bits) << k;
    EXPECT_EQ(a->str, b->str) << k;
    EXPECT_EQ(a->raw, b->raw) << k;
    EXPECT_EQ(a->strings, b->strings) << k;
  }
}

TEST(Model, SafetensorsToGgufToSafetensorsKeepsEveryTensorsBytes) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  const std::string gguf = testdata::temp_path("rt.gguf");
  const std::string st = testdata::temp_path("rt.safetensors");
  ConvertOptions opt;
  opt.overwrite = true;
  write_gguf(load_model(testdata::shared("models/TinyStories-656K")), gguf, opt);
  write_safetensors(load_model(gguf), st, opt);
  const auto orig = SafetensorsFile::open(testdata::shared("models/TinyStories-656K/model.safetensors"));
  const auto back = SafetensorsFile::open(st);
  ASSERT_EQ(back.tensors().size(), orig.tensors().size());
  for (const auto& t : orig.tensors()) {
    // the tied checkpoint stores lm_head.weight; it comes back as the embedding it is
    const std::string name = t.name == "lm_head.weight" ? "model.embed_tokens.weight" : t.name;
    const StTensorInfo* b = back.find(name);
    ASSERT_NE(b, nullptr) << name;
    EXPECT_EQ(b->shape, t.shape) << name;
    const auto x = orig.tensor_data(t), y = back.tensor_data(*b);
    EXPECT_TRUE(std::equal(x.begin(), x.end(), y.begin(), y.end())) << name << ": bytes differ";
  }
}

TEST(Model, RopePermutationIsInvertibleAndInterleavesHalves) {
  const int64_t heads = 3, hd = 8, cols = 5;
  std::vector<uint8_t> in(static_cast<size_t>(heads * hd * cols * 4)), mid(in.size()), back(in.size());
  std::mt19937 rng(1);
  for (auto& b : in) b = static_cast<uint8_t>(rng());
  permute_rope_rows(in, mid, heads, heads * hd, cols * 4, true);
  permute_rope_rows(mid, back, heads, heads * hd, cols * 4, false);
  EXPECT_EQ(in, back);
  // head 1, pair 2, second half: HF row 8 + 4 + 2 = 14 lands at GGUF row 8 + 2·2 + 1 = 13
  EXPECT_EQ(std::memcmp(mid.data() + 13 * cols * 4, in.data() + 14 * cols * 4, cols * 4), 0);
  EXPECT_THROW(permute_rope_rows(in, mid, 5, heads * hd, cols * 4, true), Error);  // 24 rows, 5 heads
}

TEST(Model, NameMapping) {
  EXPECT_EQ(hf_to_gguf_name("model.layers.12.self_attn.q_proj.weight"), "blk.12.attn_q.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.0.post_attention_layernorm.weight"), "blk.0.ffn_norm.weight");
  EXPECT_EQ(hf_to_gguf_name("model.embed_tokens.weight"), "token_embd.weight");
  EXPECT_EQ(hf_to_gguf_name("model.layers.x.mlp.up_proj.weight"), std::nullopt);
  EXPECT_EQ(gguf_to_hf_name("blk.3.ffn_down.weight"), "model.layers.3.mlp.down_proj.weight");
  EXPECT_EQ(gguf_to_hf_name("output.weight"), "lm_head.weight");
}

// A one-block Mistral-shaped checkpoint with zero weights, for the tokenizer tests.
void write_tiny_mistral(const std::filesystem::path& dir) {
  std::ofstream(dir / "config.json") << R"({"architectures": ["MistralForCausalLM"], "hidden_size": 4,
      "intermediate_size": 8, "num_hidden_layers": 1, "num_attention_heads": 2, "num_key_value_heads": 1,
      "vocab_size": 5, "max_position_embeddings": 16, "rms_norm_eps": 1e-5, "rope_theta": 1e6})";
  {
    SafetensorsWriter w((dir / "model.safetensors").string(), true);
    const std::pair<const char*, std::vector<int64_t>> shapes[] = {
        {"model.embed_tokens.weight", {5, 4}}, {"lm_head.weight", {5, 4}}, {"model.norm.weight", {4}},
        {"model.layers.0.self_attn.q_proj.weight", {4, 4}}, {"model.layers.0.self_attn.k_proj.weight", {2, 4}}};
    for (const auto& [n, s] : shapes) w.add_tensor(n, StDtype::F32, s);
    w.write_header();
    for (const auto& [n, s] : shapes) {
      std::vector<uint8_t> d(static_cast<size_t>(s.size() == 1 ? s[0] : s[0] * s[1]) * 4, 0);
      w.write_tensor(d);
    }
    w.finish();
  }
}

TEST(Model, ByteLevelBpeTokenizerBecomesGpt2WithMerges) {
  const auto dir = std::filesystem::path(testdata::temp_path("bpe-model"));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "tokenizer.json") << R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "Ġa": 3},
      "merges": ["a b", ["Ġ", "a"]]}, "pre_tokenizer": {"type": "ByteLevel"},
      "added_tokens": [{"id": 4, "content": "<|endoftext|>", "special": true}]})";
  std::ofstream(dir / "tokenizer_config.json") << R"({"bos_token": "<|endoftext|>", "eos_token": {"content": "<|endoftext|>"}})";
  write_tiny_mistral(dir);
  const Model m = load_model(dir.string());
  EXPECT_EQ(m.tokenizer.model, "gpt2");
  EXPECT_EQ(m.tokenizer.tokens.size(), 5u);
  EXPECT_EQ(m.tokenizer.tokens[3], "\xc4\xa0" "a");
  EXPECT_EQ(m.tokenizer.merges, (std::vector<std::string>{"a b", "\xc4\xa0 a"}));
  EXPECT_EQ(m.tokenizer.types[4], 3);
  EXPECT_EQ(m.tokenizer.bos, 4u);
  EXPECT_EQ(m.tokenizer.eos, 4u);
  EXPECT_FALSE(m.config.tied_embeddings);
  EXPECT_NE(m.find("output.weight"), nullptr);
  EXPECT_DOUBLE_EQ(m.config.rope_theta, 1e6);
  const std::string out = testdata::temp_path("bpe.gguf");
  ConvertOptions opt;
  opt.overwrite = true;
  write_gguf(m, out, opt);
  const GgufFile g = GgufFile::open(out);
  EXPECT_EQ(g.find("tokenizer.ggml.model")->str, "gpt2");
  EXPECT_EQ(g.find("tokenizer.ggml.merges")->strings.size(), 2u);
}

// Found by fuzz_tokenizer_json: JSON values of another type than the format's escaped as
// nlohmann::json exceptions (an "internal error" for the user). Each is bad input naming the file.
TEST(Model, TokenizerJsonValuesOfTheWrongTypeAreBadInputNamingTheFile) {
  const auto dir = std::filesystem::path(testdata::temp_path("bpe-wrong-types"));
  std::filesystem::create_directories(dir);
  write_tiny_mistral(dir);
  for (const char* text : {"1", R"({"model": 3})", R"({"model": {"type": 7, "vocab": {}}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": "zero"}}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [[1, 2]]}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": "x"}]})",
                           // ids that are numbers but not integers: 0.5 truncated to token 0's id, and 3.3e30
                           // (an integer literal past int64, parsed as a double) converted to int64 is
                           // undefined behaviour (UBSan; found by fuzz_tokenizer_json's 10-minute run)
                           R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 0.5}}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0, "b": 3333333333333333333333333333339}}})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [{"id": 1e30}]})",
                           R"({"model": {"type": "BPE", "vocab": {"a": 0}}, "added_tokens": [7]})"}) {
    std::ofstream(dir / "tokenizer.json") << text;
    try {
      (void)load_model(dir.string());
      ADD_FAILURE() << text << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input) << text;
      EXPECT_NE(std::string(e.what()).find("tokenizer.json"), std::string::npos) << e.what();
    }
  }
}

// Found by fuzz_hf_config's 10-minute run: optional config.json values of another JSON type
// (rms_norm_eps an object) escaped as nlohmann::json exceptions. Each is bad input naming file and key.
TEST(Model, ConfigValuesOfTheWrongTypeAreBadInputNamingFileAndKey) {
  const auto dir = std::filesystem::path(testdata::temp_path("config-wrong-types"));
  std::filesystem::create_directories(dir);
  write_tiny_mistral(dir);
  nlohmann::json good;
  std::ifstream(dir / "config.json") >> good;
  EXPECT_NO_THROW((void)load_model(dir.string()));
  for (const auto& [key, value] : std::vector<std::pair<std::string, nlohmann::json>>{
           {"rms_norm_eps", nlohmann::json::object()}, {"rope_theta", "10000"}, {"tie_word_embeddings", 1}, {"rms_norm_eps", true}}) {
    nlohmann::json bad = good;
    bad[key] = value;
    std::ofstream(dir / "config.json") << bad.dump();
    try {
      (void)load_model(dir.string());
      ADD_FAILURE() << key << " = " << value.dump() << ": accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input) << key;
      EXPECT_NE(std::string(e.what()).find("config.json"), std::string::npos) << e.what();
      EXPECT_NE(std::string(e.what()).find(key), std::string::npos) << e.what();
    }
  }
  nlohmann::json null_eps = good;
  null_eps["rms_norm_eps"] = nullptr;  // null: the default, as transformers reads it
  std::ofstream(dir / "config.json") << null_eps.dump();
  EXPECT_NO_THROW((void)load_model(dir.string()));
}

TEST(Model, UnsupportedArchitectureIsRefusedByName) {
  const auto dir = std::filesystem::path(testdata::temp_path("gpt2dir"));
  std::filesystem::create_directories(dir);
  std::ofstream(dir / "config.json") << R"({"architectures": ["GPT2LMHeadModel"], "n_embd": 64})";
  try {
    load_model(dir.string());
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("GPT2LMHeadModel"), std::string::npos) << e.what();
  }
}

TEST(Model, ConvertingToF16RoundsMatricesAndKeepsNormsF32) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const Model m = load_model(testdata::shared("models/stories260K/stories260K.bin"));
  const std::string out = testdata::temp_path("s16.gguf");
  ConvertOptions opt;
  opt.overwrite = true;
  opt.out_type = "f16";
  write_gguf(m, out, opt);
  const Model h = load_model(out);
  const GgufValue* ft = find_key(h.gguf_metadata, "general.file_type");
  ASSERT_NE(ft, nullptr);
  EXPECT_EQ(ft->as_u64(), 1u);
  for (const auto& t : h.tensors) {
    EXPECT_EQ(t.type, t.ne.size() == 1 ? ggml_type::F32 : ggml_type::F16) << t.name;
  }
  const ModelTensor* a = m.find("blk.0.attn_q.weight");
  const ModelTensor* b = h.find("blk.0.attn_q.weight");
  std::vector<float> x(static_cast<size_t>(a->elements())), y(x.size());
  read_f32(*a, x);
  read_f32(*b, y);
  for (size_t i = 0; i < x.size(); ++i) ASSERT_EQ(y[i], fp16_to_float(fp16_from_float(x[i])));
  EXPECT_THROW(write_gguf(m, out, ConvertOptions{}), Error) << "an existing output needs overwrite";
  EXPECT_THROW(write_gguf(h, out, opt), Error) << "the output may not be the input";
}

}  // namespace
}  // namespace vernier
