// The runtime against the reference runs in shared/golden/runtime: llama2.c's 200 greedy steps of
// stories260K, and llama.cpp's 64 greedy tokens of the stories260K and TinyStories-656K GGUF files.
#include <gtest/gtest.h>

#include <map>

#include <algorithm>
#include <cmath>
#include <random>
#include <fstream>
#include <iterator>

#include "shared_data.hpp"
#include "vernier/error.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {
namespace {

std::string read_text(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// run.c's loop: feed the prompt, then greedy tokens, for `steps` positions counting the prompt.
std::string greedy(const std::string& model, const std::string& prompt, int64_t steps, int64_t* prompt_tokens = nullptr) {
  const Model m = load_model(model);
  const Tokenizer tok(m.tokenizer);
  LlamaRuntime rt(m, 0, 2);
  const std::vector<int32_t> p = tok.encode(prompt, true, false);
  if (prompt_tokens) *prompt_tokens = static_cast<int64_t>(p.size());
  std::string text;
  int32_t token = p[0];
  for (int64_t pos = 0; pos < steps; ++pos) {
    const auto logits = rt.forward(token, pos);
    const int32_t next = pos < static_cast<int64_t>(p.size()) - 1
                             ? p[static_cast<size_t>(pos) + 1]
                             : static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
    if (next == tok.bos()) break;
    text += tok.decode(token, next);
    token = next;
  }
  return text;
}

TEST(Runtime, Stories260KGreedyReproducesLlama2cs200Steps) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K.greedy200.llama2c.txt");
  const std::string want = read_text(testdata::shared("golden/runtime/stories260K.greedy200.llama2c.txt"));
  EXPECT_EQ(greedy(testdata::shared("models/stories260K/stories260K.bin"), "Once upon a time", 200) + "\n", want);
}

void check_llamacpp_golden(const std::string& model, const std::string& golden, const std::string& bos_text) {
  std::string want = read_text(golden);
  ASSERT_EQ(want.rfind(bos_text + " ", 0), 0u) << "the golden starts with the BOS text";
  want = want.substr(bos_text.size() + 1);
  if (!want.empty() && want.back() == '\n') want.pop_back();
  int64_t n_prompt = 0;
  greedy(model, "Once upon a time", 1, &n_prompt);
  // llama-simple -n 64: 64 generated tokens after the prompt
  EXPECT_EQ(greedy(model, "Once upon a time", n_prompt - 1 + 64), want);
}

TEST(Runtime, Stories260KGgufGreedyReproducesLlamaCpp) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K.greedy64.llamacpp.txt");
  check_llamacpp_golden(testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf"),
                        testdata::shared("golden/runtime/stories260K.greedy64.llamacpp.txt"), "<s>");
}

TEST(Runtime, TinyStoriesQ8_0GgufGreedyReproducesLlamaCpp) {
  VERNIER_REQUIRE_SHARED("golden/runtime/TinyStories-656K-Q8_0.greedy64.llamacpp.txt");
  check_llamacpp_golden(testdata::shared("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf"),
                        testdata::shared("golden/runtime/TinyStories-656K-Q8_0.greedy64.llamacpp.txt"), "<|start_story|>");
}

TEST(Runtime, TokenizerRoundTripsSharedTextAndRefusesPositionsPastTheContext) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const Model m = load_model(testdata::shared("models/stories260K/stories260K.bin"));
  const Tokenizer tok(m.tokenizer);
  const std::string text = read_text(testdata::shared("text/tinystories-sample.txt"));
  const std::vector<int32_t> ids = tok.encode(text, true, false);
  std::string back;
  for (size_t i = 1; i < ids.size(); ++i) back += tok.decode(ids[i - 1], ids[i]);
  EXPECT_EQ(back, text);  // the dummy-prefix space is dropped after BOS
  EXPECT_LT(ids.size(), text.size() / 2) << "merges happened";
  LlamaRuntime rt(m, 8, 1);
  EXPECT_THROW(rt.forward(1, 8), Error);
  EXPECT_THROW(rt.forward(100000, 0), Error);
}

}  // namespace
}  // namespace vernier

#include "vernier/perplexity.hpp"

namespace vernier {
namespace {

double ppl_of(const std::string& model, const std::string& text_file, int64_t ctx) {
  PerplexityOptions o;
  o.ctx = ctx;
  o.threads = 2;
  return perplexity(load_model(model), read_text(text_file), o).ppl;
}

// llama-perplexity -c 256 on tinystories-excerpt.txt: stories260K 5.4280 (its F32 GGUF: 5.428037),
// TinyStories-656K-Q8_0 192.2565; the issue asks for ±0.1%.
TEST(Perplexity, Stories260KMatchesLlamaCpp) {
  VERNIER_REQUIRE_SHARED("text/tinystories-excerpt.txt");
  const std::string text = testdata::shared("text/tinystories-excerpt.txt");
  EXPECT_NEAR(ppl_of(testdata::shared("models/stories260K/stories260K.bin"), text, 256), 5.4280, 5.4280 * 0.001);
  EXPECT_NEAR(ppl_of(testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf"), text, 256), 5.4280, 5.4280 * 0.001);
}

TEST(Perplexity, TinyStoriesQ8_0MatchesLlamaCpp) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf");
  EXPECT_NEAR(ppl_of(testdata::shared("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf"),
                     testdata::shared("text/tinystories-excerpt.txt"), 256),
              192.2565, 192.2565 * 0.001);
}

TEST(Perplexity, TextsTooShortAreClearErrors) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const Model m = load_model(testdata::shared("models/stories260K/stories260K.bin"));
  PerplexityOptions o;
  o.ctx = 256;
  try {
    perplexity(m, "Once upon a time.", o);
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("at least 512"), std::string::npos) << e.what();
  }
  EXPECT_THROW(perplexity(m, "", o), Error);
}

}  // namespace
}  // namespace vernier

namespace vernier {
namespace {

struct KldGolden { const char* type; double mean_kld; double same_top; };

// llama-perplexity -c 256 --kl-divergence against the F32 file (golden/runtime/*.kld-vs-F32.llamacpp.txt);
// the issue asks for mean KLD and same-top-p within 2% relative.
TEST(Perplexity, KlDivergenceOfLlamaCppsQuantizedFilesMatchesLlamaCpp) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K-Q8_0.kld-vs-F32.llamacpp.txt");
  const KldGolden goldens[] = {{"Q8_0", 0.000821, 0.98058}, {"Q4_0", 0.097050, 0.82822}, {"Q4_K_M", 0.019623, 0.91850}};
  const Model base = load_model(testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf"));
  const std::string text = read_text(testdata::shared("text/tinystories-excerpt.txt"));
  for (const KldGolden& g : goldens) {
    PerplexityOptions o;
    o.ctx = 256;
    o.threads = 2;
    const Model m = load_model(testdata::shared(std::string("golden/runtime/stories260K-") + g.type + ".llamacpp.gguf"));
    const PerplexityResult r = perplexity(m, text, o, &base);
    ASSERT_TRUE(r.has_kld);
    EXPECT_NEAR(r.kld.mean, g.mean_kld, g.mean_kld * 0.02) << g.type;
    EXPECT_NEAR(r.kld.same_top1, g.same_top, g.same_top * 0.02) << g.type;
    EXPECT_LE(r.kld.median, r.kld.p90) << g.type;
    EXPECT_LE(r.kld.p99, r.kld.max) << g.type;
  }
}

}  // namespace
}  // namespace vernier

#include "vernier/kv_cache.hpp"
#include "vernier/metrics.hpp"

namespace vernier {
namespace {

// KV cache formats on random K/V rows (8 heads × 64): relative RMS error within what each format's
// step allows (reasoned: half a step of a uniform grid is step/√12 RMS; budgets leave a 2× margin).
TEST(KvCache, EveryFormatRoundTripsWithinItsBudgetAndCountsItsBytes) {
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t heads = 8, hd = 64, rows = 16;
  std::vector<float> x(static_cast<size_t>(rows * heads * hd));
  for (auto& v : x) v = nd(rng);
  struct Case { KvType t; double max_rel_rms; uint64_t bytes; };
  const Case cases[] = {
      {KvType::f32, 0.0, 2048},         {KvType::f16, 1e-3, 1024},
      {KvType::bf16, 5e-3, 1024},       {KvType::q8_0, 0.02, 16 * 34},   // absmax/127 steps over ~3σ: ~0.7%
      {KvType::q4_0, 0.2, 16 * 18},     {KvType::int8, 0.02, 512 + 32},   // one FP32 scale per head
      {KvType::int4, 0.2, 256 + 64},    {KvType::fp8_e4m3, 0.06, 512 + 32}, // 3 mantissa bits: ≤ 2^-4 relative
      {KvType::fp8_e5m2, 0.12, 512 + 32},
  };
  for (const Case& c : cases) {
    KvStore s(c.t, rows, heads, hd);
    EXPECT_EQ(s.bytes_per_row(), c.bytes) << kv_type_name(c.t);
    for (int64_t r = 0; r < rows; ++r) s.write(r, x.data() + r * heads * hd);
    std::vector<float> y(x.size());
    for (int64_t r = 0; r < rows; ++r) s.read(r, y.data() + r * heads * hd);
    const ErrorStats st = error_stats(x, y);
    EXPECT_LE(st.rmse / std::sqrt(st.signal_power), c.max_rel_rms + 1e-12) << kv_type_name(c.t);
    EXPECT_LT(std::fabs(st.mean_signed), 0.01) << kv_type_name(c.t);
  }
  EXPECT_THROW(parse_kv_type("q3_k"), Error);
  EXPECT_THROW(KvStore(KvType::q8_0, 4, 1, 24), Error) << "rows of 24 fit no 32-value block";
}

TEST(KvCache, Q8_0CacheCostsLittleAndEvalCountsItsBytes) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const Model m = load_model(testdata::shared("models/stories260K/stories260K.bin"));
  PerplexityOptions o;
  o.ctx = 256;
  o.max_chunks = 6;
  o.kv = KvType::q8_0;
  const PerplexityResult r = perplexity(m, read_text(testdata::shared("text/tinystories-excerpt.txt")), o, &m);
  EXPECT_EQ(r.kv_bytes_per_token, 2u * 5 * 34);  // K and V, 5 layers, one Q8_0 block of the 32-wide row
  EXPECT_GT(r.kld.mean, 0.0);
  EXPECT_LT(r.kld.mean, 0.01);
}

}  // namespace
}  // namespace vernier

#include "vernier/imatrix.hpp"
#include "vernier/imatrix_collect.hpp"

namespace vernier {
namespace {

// vernier imatrix on llama-imatrix's setting for golden/ggml/imatrix/imatrix.gguf (input-F32.gguf,
// calibration.txt, ctx 128, 40 chunks). llama-imatrix ran with llama.cpp's default F16 KV cache:
// with the same cache every entry agrees to float rounding (measured: at most 3.6e-5 relative,
// medians below 1e-6).
TEST(Imatrix, ReproducesLlamaImatrixToFloatRounding) {
  VERNIER_REQUIRE_SHARED("golden/ggml/imatrix/imatrix.gguf");
  const Model m = load_model(testdata::shared("golden/ggml/input-F32.gguf"));
  const std::string text = read_text(testdata::shared("golden/ggml/imatrix/calibration.txt"));
  ImatrixStats s = collect_imatrix(m, text, 128, 40, 2, {}, KvType::f16);
  s.dataset = "imatrix/calibration.txt";
  EXPECT_EQ(s.sum2.size(), 14u);
  const std::string g = testdata::temp_path("im.gguf"), d = testdata::temp_path("im.dat");
  write_imatrix_gguf(s, g, true);
  write_imatrix_dat(s, d, true);
  const ImportanceMatrix a = load_imatrix(g), b = load_imatrix(d);
  const ImportanceMatrix ref = load_imatrix(testdata::shared("golden/ggml/imatrix/imatrix.gguf"));
  EXPECT_EQ(a.chunks, 40);
  ASSERT_EQ(a.weights.size(), ref.weights.size());
  for (const auto& [name, w] : ref.weights) {
    const std::vector<float>* mine = a.find(name);
    const std::vector<float>* legacy = b.find(name);
    ASSERT_NE(mine, nullptr) << name;
    ASSERT_NE(legacy, nullptr) << name;
    for (size_t i = 0; i < w.size(); ++i) {
      EXPECT_NEAR((*legacy)[i], (*mine)[i], 1e-5f * std::fabs((*mine)[i])) << name << ": .dat and GGUF agree";
      EXPECT_NEAR((*mine)[i], w[i], 1e-4f * std::fabs(w[i])) << name << " column " << i;
    }
  }
  // the cache only touches what reads it: the layer-0 Q/K/V inputs are the same with an F32 cache
  const ImatrixStats f32 = collect_imatrix(m, text, 128, 40, 2);
  const auto& q = f32.sum2.at("blk.0.attn_q.weight");
  for (size_t i = 0; i < q.size(); ++i) EXPECT_NEAR(q[i], s.sum2.at("blk.0.attn_q.weight")[i], 1e-6f * std::fabs(q[i]));
}

TEST(Tokenizer, ByteOnlyVocabularyGetsTheDummyPrefixAsBytes) {
  // input-F32.gguf's vocabulary has no U+2581 token: llama.cpp prefixes the text with it, which byte
  // fallback turns into E2 96 81 (token ids 3 + byte)
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  const Model m = load_model(testdata::shared("golden/ggml/input-F32.gguf"));
  const Tokenizer tok(m.tokenizer);
  EXPECT_EQ(tok.encode("Hi", true, false), (std::vector<int32_t>{1, 3 + 0xE2, 3 + 0x96, 3 + 0x81, 3 + 'H', 3 + 'i'}));
}

TEST(Tokenizer, ByteLevelBpeMergesByRankAndAddsBosOnlyWhenTheVocabularyAsks) {
  // a hand-made GPT-2-style vocabulary: the 256 byte symbols (bytes_to_unicode), then merges
  TokenizerSpec spec;
  spec.model = "gpt2";
  spec.pre = "gpt2";
  const auto symbol = [](int b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE;
    static int next = 256;
    static std::map<int, int> assigned;
    int cp = b;
    if (!printable) {
      if (!assigned.count(b)) assigned[b] = next++;
      cp = assigned[b];
    }
    std::string out;
    if (cp < 0x80) out += static_cast<char>(cp);
    else {
      out += static_cast<char>(0xC0 | (cp >> 6));
      out += static_cast<char>(0x80 | (cp & 0x3F));
    }
    return out;
  };
  for (int b = 0; b < 256; ++b) spec.tokens.push_back(symbol(b));
  const std::string G = symbol(' ');  // "Ġ"
  spec.merges = {"h e", G + " t", G + "t he", "a n", G + " an"};
  for (const char* t : {"he", "", "", "an", ""}) spec.tokens.push_back(t);
  spec.tokens[257] = G + "t";
  spec.tokens[258] = G + "the";
  spec.tokens[260] = G + "an";
  spec.tokens.push_back("<|endoftext|>");
  spec.types.assign(spec.tokens.size(), 1);
  spec.types.back() = 3;
  spec.bos = spec.eos = static_cast<uint32_t>(spec.tokens.size() - 1);
  const Tokenizer plain(spec);
  EXPECT_FALSE(plain.adds_bos()) << "gpt2 vocabularies add no BOS unless they say so";
  const std::vector<int32_t> ids = plain.encode(" the an", true, false);
  EXPECT_EQ(ids, (std::vector<int32_t>{258, 260}));
  std::string back;
  for (size_t i = 0; i < ids.size(); ++i) back += plain.decode(i ? ids[i - 1] : -1, ids[i]);
  EXPECT_EQ(back, " the an");
  spec.add_bos = true;
  const Tokenizer with_bos(spec);
  EXPECT_EQ(with_bos.encode(" the", true, false), (std::vector<int32_t>{261, 258}));
  EXPECT_EQ(with_bos.encode(" the", false, false), (std::vector<int32_t>{258}));
  spec.pre = "qwen2";
  EXPECT_THROW(Tokenizer{spec}, Error) << "an unknown pre-tokenizer is refused by name";
}

}  // namespace
}  // namespace vernier
