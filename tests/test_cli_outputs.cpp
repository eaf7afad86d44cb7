// Outputs never replace inputs: every writing command refuses an output path that is one of the files it
// reads (through links too, --force or not), and a destination that is a FIFO or device (issue 17, item 2).
#include <gtest/gtest.h>

#include <cmath>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "cli_run.hpp"
#include "shared_data.hpp"
#include "vernier/gguf.hpp"

namespace {
std::string text_file() { return std::string(VERNIER_SOURCE_DIR) + "/README.md"; }
}  // namespace

namespace {

std::string checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  const std::string s{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  return std::to_string(std::hash<std::string>{}(s)) + ":" + std::to_string(s.size());
}

// No writing command replaces one of its own inputs, --force or not, through a link too; nor a FIFO.
TEST(CliOutputs, NoCommandOverwritesItsInputs) {
  const std::string model = vernier::testdata::temp_path("inputs_model.gguf"), text = vernier::testdata::temp_path("inputs_text.txt");
  ASSERT_EQ(run("synth --force -o " + model + " --dim 64 --ffn 128 --layers 1 --vocab 300 --ctx 64").code, 0);
  std::filesystem::copy_file(text_file(), text, std::filesystem::copy_options::overwrite_existing);
  const std::string link = vernier::testdata::temp_path("inputs_link.gguf");
  std::filesystem::remove(link);
  std::filesystem::create_symlink(model, link);
  const std::string before_model = checksum(model), before_text = checksum(text);
  const std::vector<std::string> attempts = {
      "imatrix " + model + " -f " + text + " -o " + model + " --force -c 32 --chunks 1",
      "imatrix " + model + " -f " + text + " -o " + link + " --force -c 32 --chunks 1",
      "imatrix " + model + " -f " + text + " -o " + text + " --force -c 32 --chunks 1",
      "eval " + model + " -f " + text + " --save-logits " + model + " --force -c 32 --chunks 1",
      "eval " + model + " -f " + text + " --save-logits " + text + " --force -c 32 --chunks 1",
      "quantize " + model + " -o " + text + " --type Q8_0 --imatrix " + text + " --force",
      "convert " + model + " -o " + link + " --force",
      "compare " + model + " --schemes Q8_0 -f " + text + " --html " + text,
  };
  for (const std::string& a : attempts) {
    const CliResult r = run(a);
    EXPECT_EQ(r.code, 2) << a << "\n" << r.err;
    EXPECT_NE(r.err.find("input"), std::string::npos) << a << "\n" << r.err;
  }
  EXPECT_EQ(checksum(model), before_model);
  EXPECT_EQ(checksum(text), before_text);
  const std::string fifo = vernier::testdata::temp_path("inputs_fifo");
  std::filesystem::remove(fifo);
  ASSERT_EQ(std::system(("mkfifo " + fifo).c_str()), 0);
  const CliResult f = run("imatrix " + model + " -f " + text + " -o " + fifo + " --force -c 32 --chunks 1");
  EXPECT_EQ(f.code, 2) << f.err;
  EXPECT_NE(f.err.find("not a regular file"), std::string::npos) << f.err;
  EXPECT_TRUE(std::filesystem::is_fifo(fifo)) << "the FIFO is still a FIFO";
}

}  // namespace

namespace {
TEST(CliHostile, ValuesAScaleCannotHoldAndNegativeCountsAreRefused) {
  // 3e38 − (−3e38) overflows float32: the asymmetric scale is infinite, and every error would be NaN
  CliResult r = run("explain --values 3e38,-3e38,1");
  EXPECT_EQ(r.code, 1) << r.out;
  EXPECT_NE(r.err.find("overflows"), std::string::npos) << r.err;
  for (const char* cmd : {"eval", "imatrix"}) {
    r = run(std::string(cmd) + " model.gguf -f " + text_file() + " --chunks -1" + (std::string(cmd) == "imatrix" ? " -o x.gguf" : ""));
    EXPECT_EQ(r.code, 2) << cmd;
    EXPECT_NE(r.err.find("--chunks"), std::string::npos) << r.err;
    EXPECT_NE(r.err.find("not a count of 0 or more"), std::string::npos) << r.err;
    EXPECT_EQ(r.err.find("1797693"), std::string::npos) << "no range up to DBL_MAX in the message: " << r.err;
  }
  r = run("eval model.gguf -f " + text_file() + " --chunks 2x");
  EXPECT_EQ(r.code, 2);
}
}  // namespace

namespace {
// a legacy llama-imatrix .dat with one entry
void write_dat(const std::string& path, const std::string& name, int32_t nval, float value) {
  std::ofstream f(path, std::ios::binary);
  auto i32 = [&](int32_t v) { f.write(reinterpret_cast<const char*>(&v), 4); };
  i32(1);
  i32(static_cast<int32_t>(name.size()));
  f.write(name.data(), static_cast<std::streamsize>(name.size()));
  i32(1);
  i32(nval);
  for (int32_t i = 0; i < nval; ++i) f.write(reinterpret_cast<const char*>(&value), 4);
}

TEST(CliHostile, AnImatrixOfAnotherModelOrWithNegativeSumsIsRefused) {
  const std::string model = vernier::testdata::temp_path("imx_model.gguf"), out = vernier::testdata::temp_path("imx_out.gguf");
  ASSERT_EQ(run("synth --force -o " + model + " --dim 64 --ffn 128 --layers 1 --vocab 300 --ctx 64").code, 0);
  const std::string other = vernier::testdata::temp_path("other.dat"), negative = vernier::testdata::temp_path("negative.dat");
  write_dat(other, "model.layers.0.mlp.up_proj.weight", 64, 1.0f);
  write_dat(negative, "blk.0.attn_q.weight", 64, -2.0f);
  std::filesystem::remove(out);
  CliResult r = run("quantize " + model + " " + out + " Q4_K_M --imatrix " + other);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("none of its 1 entries"), std::string::npos) << r.err;
  r = run("quantize " + model + " " + out + " Q4_K_M --imatrix " + negative);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find("negative"), std::string::npos) << r.err;
  EXPECT_FALSE(std::filesystem::exists(out));
}
}  // namespace

namespace {
// A header's context_length of 2^31: run sizes the KV cache to the prompt and -n, and refuses the whole
// context by name instead of ending in bad_alloc after gigabytes.
TEST(CliHostile, TheKvCacheIsSizedToTheRunAndAnAbsurdContextIsRefused) {
  const std::string model = vernier::testdata::temp_path("huge_ctx.gguf");
  ASSERT_EQ(run("synth --force -o " + model + " --dim 64 --ffn 128 --layers 1 --vocab 300 --ctx 2147483648").code, 0);
  const CliResult ok = run("run " + model + " -p Hi -n 4 --json");
  ASSERT_EQ(ok.code, 0) << ok.err;
  const nlohmann::json j = nlohmann::json::parse(ok.out);
  EXPECT_LT(j.at("peak_rss_bytes").get<uint64_t>(), 256ull << 20) << "the cache holds 5 positions, not 2^31";
  const CliResult bad = run("run " + model + " -p Hi");
  EXPECT_EQ(bad.code, 2) << bad.err;
  EXPECT_NE(bad.err.find("context_length"), std::string::npos) << bad.err;
}
}  // namespace

namespace {
// A GGUF whose hyperparameters a LLaMA forward pass cannot run is neither quantized nor converted
// into a file `run` would then refuse: refused before writing, naming the hyperparameter.
void write_config_model(const std::string& path, uint32_t heads, uint32_t blocks, float theta, float eps) {
  vernier::GgufWriter w(path, true);
  w.set_metadata({{"general.architecture", vernier::GgufValue::string("llama")},
                  {"llama.embedding_length", vernier::GgufValue::u32(64)},
                  {"llama.feed_forward_length", vernier::GgufValue::u32(128)},
                  {"llama.block_count", vernier::GgufValue::u32(blocks)},
                  {"llama.attention.head_count", vernier::GgufValue::u32(heads)},
                  {"llama.attention.head_count_kv", vernier::GgufValue::u32(heads)},
                  {"llama.rope.freq_base", vernier::GgufValue::f32(theta)},
                  {"llama.attention.layer_norm_rms_epsilon", vernier::GgufValue::f32(eps)}});
  w.add_tensor("token_embd.weight", {64, 8}, vernier::GgmlType::F32);
  w.add_tensor("blk.0.attn_q.weight", {64, 64}, vernier::GgmlType::F32);
  w.write_header();
  std::vector<float> v(64 * 64);
  for (size_t i = 0; i < v.size(); ++i) v[i] = 0.01f * static_cast<float>(i % 97) - 0.3f;
  w.write_tensor({reinterpret_cast<const uint8_t*>(v.data()), 64 * 8 * 4});
  w.write_tensor({reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
  w.finish();
}

TEST(CliHostile, HyperparametersARunWouldRefuseAreRefusedBeforeWriting) {
  const std::string in = vernier::testdata::temp_path("config_model.gguf"), out = vernier::testdata::temp_path("config_out.gguf");
  std::filesystem::remove(out);
  write_config_model(in, 4, 1, 10000.0f, 1e-5f);
  ASSERT_EQ(run("convert " + in + " -o " + out + " --quiet").code, 0) << "the well-formed one converts";
  std::filesystem::remove(out);
  struct Case {
    uint32_t heads, blocks;
    float theta, eps;
    const char* names;
  };
  const Case cases[] = {{0, 1, 10000.0f, 1e-5f, "attention heads"},
                        {3, 1, 10000.0f, 1e-5f, "heads of an even size"},
                        {4, 2, 10000.0f, 1e-5f, "blocks"},
                        {4, 1, -1.0f, 1e-5f, "RoPE base"},
                        {4, 1, 10000.0f, NAN, "RMSNorm epsilon"}};
  for (const Case& c : cases) {
    write_config_model(in, c.heads, c.blocks, c.theta, c.eps);
    for (const std::string cmd : {"convert " + in + " -o " + out + " --quiet", "quantize " + in + " -o " + out + " --type Q8_0 --quiet"}) {
      const CliResult r = run(cmd);
      EXPECT_EQ(r.code, 1) << cmd << ": " << r.err;
      EXPECT_NE(r.err.find(c.names), std::string::npos) << cmd << ": " << r.err;
      EXPECT_NE(r.err.find(in), std::string::npos) << "names the file: " << r.err;
      EXPECT_FALSE(std::filesystem::exists(out)) << cmd;
    }
  }
}

// Names and values from a file reach the terminal escaped: no byte of them is a control sequence.
TEST(CliHostile, NamesAndValuesArePrintedEscaped) {
  const std::string path = vernier::testdata::temp_path("escape.gguf");
  {
    vernier::GgufWriter w(path, true);
    w.set_metadata({{"general.architecture", vernier::GgufValue::string("llama")},
                    {"general.name", vernier::GgufValue::string("evil\x1b]0;title\x07 \xc2\x9b" "2J")}});
    w.add_tensor("blk.0.attn_q\x1b[31m.weight", {32, 2}, vernier::GgmlType::F32);
    w.write_header();
    const std::vector<uint8_t> zeros(32 * 2 * 4, 0);
    w.write_tensor(zeros);
    w.finish();
  }
  const CliResult r = run("inspect " + path + " --metadata");
  ASSERT_EQ(r.code, 0) << r.err;
  for (const std::string& s : {r.out, r.err}) {
    EXPECT_EQ(s.find('\x1b'), std::string::npos);
    EXPECT_EQ(s.find('\x07'), std::string::npos);
    EXPECT_EQ(s.find("\xc2\x9b"), std::string::npos) << "a C1 control (CSI) in UTF-8";
  }
  EXPECT_NE(r.out.find("blk.0.attn_q\\x1b[31m.weight"), std::string::npos) << r.out;
}
}  // namespace

namespace {
// Bad data is exit status 1 (the input's fault), a bad command line 2.
TEST(CliHostile, BadDataExitsOneNotTwo) {
  const std::string model = vernier::testdata::temp_path("exit_model.gguf"), empty = vernier::testdata::temp_path("empty.txt");
  ASSERT_EQ(run("synth --force -o " + model + " --dim 64 --ffn 128 --layers 1 --vocab 300 --ctx 64").code, 0);
  std::ofstream(empty).close();
  for (const std::string& cmd : {"eval " + model + " -f " + empty, "imatrix " + model + " -f " + empty + " -o " + vernier::testdata::temp_path("e.gguf")}) {
    const CliResult r = run(cmd);
    EXPECT_EQ(r.code, 1) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find("empty"), std::string::npos) << r.err;
  }
}
}  // namespace

namespace {
// An output that cannot be written is refused before the work, not after it.
TEST(CliHostile, AnUnwritableOutputIsRefusedBeforeTheWork) {
  const std::string model = vernier::testdata::temp_path("early_model.gguf");
  ASSERT_EQ(run("synth --force -o " + model + " --dim 64 --ffn 128 --layers 1 --vocab 300 --ctx 64").code, 0);
  for (const std::string& cmd : {"imatrix " + model + " -f " + text_file() + " -o /nonexistent-vernier/x.gguf",
                                 "eval " + model + " -f " + text_file() + " --save-logits /nonexistent-vernier/x.logits",
                                 "quantize " + model + " /nonexistent-vernier/x.gguf Q8_0", "convert " + model + " -o /nonexistent-vernier/x.gguf"}) {
    const CliResult r = run(cmd);
    EXPECT_EQ(r.code, 2) << cmd << "\n" << r.err;
    EXPECT_NE(r.err.find("does not exist"), std::string::npos) << cmd << "\n" << r.err;
    EXPECT_EQ(r.err.find("[1/"), std::string::npos) << "no progress: nothing was computed\n" << r.err;
  }
}
}  // namespace
