// vernier's quantize pipeline against llama-quantize's files: whole files byte for byte, every file
// type's per-tensor choice and bytes, and the bad-input rules.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>

#include "shared_data.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/quantize_model.hpp"

namespace vernier {
namespace {

std::vector<uint8_t> read_all(const std::string& p) {
  std::ifstream in(p, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

QuantizeModelReport quantize(const std::string& in, const std::string& out, const char* type,
                             const ImportanceMatrix* im = nullptr, int threads = 2) {
  QuantizeModelOptions o;
  o.file_type = find_gguf_file_type(type);
  o.imatrix = im;
  o.imatrix_path = "imatrix/imatrix.gguf";  // as llama-quantize was given it for the golden file
  o.threads = threads;
  o.overwrite = true;
  return quantize_model(load_model(in), out, o);
}

TEST(QuantizeModel, MixedQ4KMFileIsReproducedWhole) {
  VERNIER_REQUIRE_SHARED("golden/ggml/mix/Q4_K_M.gguf");
  const std::string out = testdata::temp_path("q4km.gguf");
  quantize(testdata::shared("golden/ggml/input-F32.gguf"), out, "Q4_K_M");
  EXPECT_EQ(read_all(out), read_all(testdata::shared("golden/ggml/mix/Q4_K_M.gguf")));
}

TEST(QuantizeModel, ImportanceWeightedQ4KMFileIsReproducedWholeFromEitherImatrixFormat) {
  VERNIER_REQUIRE_SHARED("golden/ggml/imatrix/Q4_K_M.gguf");
  const auto want = read_all(testdata::shared("golden/ggml/imatrix/Q4_K_M.gguf"));
  for (const char* f : {"golden/ggml/imatrix/imatrix.gguf", "golden/ggml/imatrix/imatrix.dat"}) {
    const ImportanceMatrix im = load_imatrix(testdata::shared(f));
    EXPECT_EQ(im.weights.size(), 14u);
    EXPECT_EQ(im.chunks, 40);
    const std::string out = testdata::temp_path("q4km-im.gguf");
    quantize(testdata::shared("golden/ggml/input-F32.gguf"), out, "Q4_K_M", &im);
    EXPECT_EQ(read_all(out), want) << f;
  }
}

TEST(QuantizeModel, Stories260KFilesWithTheirFallbacksAreReproducedWhole) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K-F32.llamacpp.gguf");
  for (const char* type : {"Q8_0", "Q4_0", "Q4_K_M"}) {
    const std::string out = testdata::temp_path(std::string("s260-") + type + ".gguf");
    const auto r = quantize(testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf"), out, type);
    EXPECT_EQ(read_all(out), read_all(testdata::shared(std::string("golden/runtime/stories260K-") + type + ".llamacpp.gguf"))) << type;
    bool saw_fallback = false;
    for (const auto& t : r.tensors) {
      if (t.name.find("ffn_down") != std::string::npos) {
        EXPECT_EQ(t.type, ggml_type::F16) << t.name << ": rows of 172 fit no block";
        saw_fallback = saw_fallback || t.reason.find("fallback") != std::string::npos;
      }
    }
    EXPECT_TRUE(saw_fallback) << "the report says why";
  }
}

TEST(QuantizeModel, TinyStoriesFromSafetensorsToQ8_0MatchesItsLlamaCppGguf) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf");
  const std::string out = testdata::temp_path("ts-q8.gguf");
  quantize(testdata::shared("models/TinyStories-656K"), out, "Q8_0");
  const GgufFile ours = GgufFile::open(out);
  const GgufFile ref = GgufFile::open(testdata::shared("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf"));
  for (const auto& r : ref.tensors()) {
    const GgufTensorInfo* o = ours.find_tensor(r.name);
    ASSERT_NE(o, nullptr) << r.name;
    EXPECT_EQ(o->type, r.type) << r.name;
    const auto a = ours.tensor_data(*o), b = ref.tensor_data(r);
    EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << r.name;
  }
}

TEST(QuantizeModel, EveryFileTypeGivesTheListedTypesAndThePureFilesBytes) {
  VERNIER_REQUIRE_SHARED("golden/ggml/mix/types.json");
  std::ifstream js(testdata::shared("golden/ggml/mix/types.json"));
  const auto key = nlohmann::json::parse(js)["types"];
  for (auto it = key.begin(); it != key.end(); ++it) {
    const std::string out = testdata::temp_path("mix.gguf");
    quantize(testdata::shared("golden/ggml/input-F32.gguf"), out, it.key().c_str());
    const GgufFile g = GgufFile::open(out);
    for (const auto& t : g.tensors()) {
      const std::string type(ggml_type_info(t.type)->name);
      EXPECT_EQ(type, it.value()[t.name].get<std::string>()) << it.key() << " " << t.name;
      if (t.type == ggml_type::F32) continue;
      const GgufFile pure = GgufFile::open(testdata::shared("golden/ggml/pure/" + type + ".gguf"));
      const auto a = g.tensor_data(t), b = pure.tensor_data(*pure.find_tensor(t.name));
      EXPECT_TRUE(std::equal(a.begin(), a.end(), b.begin(), b.end())) << it.key() << " " << t.name;
    }
  }
}

TEST(QuantizeModel, ThreadCountDoesNotChangeTheBytes) {
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  const std::string a = testdata::temp_path("t1.gguf"), b = testdata::temp_path("t3.gguf");
  quantize(testdata::shared("golden/ggml/input-F32.gguf"), a, "Q3_K_M", nullptr, 1);
  quantize(testdata::shared("golden/ggml/input-F32.gguf"), b, "Q3_K_M", nullptr, 3);
  EXPECT_EQ(read_all(a), read_all(b));
}

TEST(QuantizeModel, NonFiniteWeightsAreRefusedNamingTheTensorAndIndexAndNothingIsWritten) {
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  // a copy of input-F32.gguf with a NaN planted in blk.1.ffn_up.weight
  const GgufFile src = GgufFile::open(testdata::shared("golden/ggml/input-F32.gguf"));
  auto bytes = read_all(testdata::shared("golden/ggml/input-F32.gguf"));
  const GgufTensorInfo* t = src.find_tensor("blk.1.ffn_up.weight");
  const float nan = std::nanf("");
  std::memcpy(bytes.data() + src.data_offset() + t->offset + 4 * 1000, &nan, 4);
  const std::string in = testdata::temp_path("nan.gguf"), out = testdata::temp_path("nan-q.gguf");
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  std::filesystem::remove(out);
  try {
    quantize(in, out, "Q4_K_M");
    FAIL() << "accepted a NaN";
  } catch (const Error& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("blk.1.ffn_up.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find("element 1000"), std::string::npos) << msg;
  }
  EXPECT_FALSE(std::filesystem::exists(out));
  QuantizeModelOptions o;
  o.file_type = find_gguf_file_type("Q8_0");
  o.allow_nonfinite = true;
  o.overwrite = true;
  EXPECT_NO_THROW(quantize_model(load_model(in), out, o));
}

// One finite weight too large for the type's FP16 block scale (3e38: Q4_0's d = 3e38 / 8, Q8_0's 3e38 / 127, both
// beyond 65504) makes every weight of its block Inf or NaN once stored; llama.cpp writes it silently.
TEST(QuantizeModel, AWeightTheTypesScaleCannotHoldIsRefusedNamingTheTensor) {
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  const GgufFile src = GgufFile::open(testdata::shared("golden/ggml/input-F32.gguf"));
  auto bytes = read_all(testdata::shared("golden/ggml/input-F32.gguf"));
  const GgufTensorInfo* t = src.find_tensor("blk.0.attn_k.weight");
  const float huge = 3e38f;
  std::memcpy(bytes.data() + src.data_offset() + t->offset + 4 * 77, &huge, 4);
  const std::string in = testdata::temp_path("huge.gguf"), out = testdata::temp_path("huge-q.gguf");
  std::ofstream(in, std::ios::binary).write(reinterpret_cast<const char*>(bytes.data()), static_cast<std::streamsize>(bytes.size()));
  for (const char* ft : {"Q4_0", "Q8_0", "Q4_K_M"}) {
    std::filesystem::remove(out);
    try {
      quantize(in, out, ft);
      FAIL() << ft << ": accepted a weight its scale cannot hold";
    } catch (const Error& e) {
      const std::string msg = e.what();
      EXPECT_NE(msg.find("blk.0.attn_k.weight"), std::string::npos) << msg;
      EXPECT_NE(msg.find("overflows"), std::string::npos) << msg;
    }
    EXPECT_FALSE(std::filesystem::exists(out)) << ft;
  }
}

TEST(QuantizeModel, RequantizingNeedsItsFlag) {
  VERNIER_REQUIRE_SHARED("golden/ggml/pure/Q8_0.gguf");
  const std::string out = testdata::temp_path("rq.gguf");
  EXPECT_THROW(quantize(testdata::shared("golden/ggml/pure/Q8_0.gguf"), out, "Q4_0"), Error);
  QuantizeModelOptions o;
  o.file_type = find_gguf_file_type("Q4_0");
  o.allow_requantize = true;
  o.overwrite = true;
  const auto r = quantize_model(load_model(testdata::shared("golden/ggml/pure/Q8_0.gguf")), out, o);
  EXPECT_GT(r.total_bytes, 0u);
}

}  // namespace
}  // namespace vernier
