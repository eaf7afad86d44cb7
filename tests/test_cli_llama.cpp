// The CLI as a llama.cpp user meets it (issue 20): llama.cpp's flag names with llama.cpp's meanings,
// the old spellings that changed meaning refused by name, llama-quantize's positional form, the
// fallback summary, statistics of quantized tensors and progress lines in a pipe.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.hpp"
#include "shared_data.hpp"
#include "vernier/gguf.hpp"

namespace {
namespace fs = std::filesystem;

std::string stories() { return vernier::testdata::shared("models/stories260K/stories260K.bin"); }

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

nlohmann::json json_of(const CliResult& r) {
  EXPECT_EQ(r.code, 0) << r.err;
  return r.code == 0 ? nlohmann::json::parse(r.out) : nlohmann::json::object();
}

TEST(CliLlamaFlags, RunCountsTokensAndSamplesAsLlamaCpp) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string m = stories();
  const std::string golden = read_file(vernier::testdata::shared("golden/runtime/stories260K.greedy200.llama2c.txt"));
  // -n counts the tokens after the prompt: llama2.c's 200 steps over a 5-token prompt are -n 196
  const auto j = json_of(run("run -m " + m + " -p 'Once upon a time' -n 7 --json"));
  ASSERT_EQ(j["prompt_tokens"].size(), 5u);
  EXPECT_EQ(j["generated_tokens"].size(), 7u);
  EXPECT_EQ(j["stopped"], "length");
  EXPECT_EQ(run("run " + m + " -p 'Once upon a time' -n 196").out, golden);
  EXPECT_EQ(run("run " + m + " --prompt 'Once upon a time' --steps 200").out, golden);
  // -f reads the prompt from a file; -b 1 feeds it one token at a time; -t 1 is one thread
  const std::string prompt_file = vernier::testdata::temp_path("prompt.txt");
  std::ofstream(prompt_file) << "Once upon a time";
  CliResult r = run("run " + m + " -f " + prompt_file + " -n 196 -b 1 -t 1");
  EXPECT_EQ(r.out, golden) << r.err;
  EXPECT_NE(r.err.find("(1 threads"), std::string::npos) << r.err;
  // -n 0 feeds the prompt and generates nothing; -c is the context, which also ends -n -1
  const auto none = json_of(run("run " + m + " -p 'Once upon a time' -n 0 --json"));
  EXPECT_TRUE(none["generated_tokens"].empty());
  const auto full = json_of(run("run " + m + " -p 'Once upon a time' -n -1 -c 32 --temp 1 --min-p 0 --top-k 0 --top-p 1 --json"));
  EXPECT_LE(full["generated_tokens"].size(), 28u);  // 1 + 32 − 5: every position of the context
  if (full["stopped"] == "context full") EXPECT_EQ(full["generated_tokens"].size(), 28u);
  // sampling: --top-k 1 leaves only the argmax, whatever the temperature; a seed repeats
  const auto greedy = json_of(run("run " + m + " -p 'Once upon a time' -n 40 --json"));
  const auto top1 = json_of(run("run " + m + " -p 'Once upon a time' -n 40 --temp 1.5 --top-k 1 -s 3 --json"));
  EXPECT_EQ(top1["generated_tokens"], greedy["generated_tokens"]);
  const std::string sampled = "run " + m + " -p 'Once upon a time' -n 40 --temp 1.2 --top-k 20 --top-p 0.9 --min-p 0.02 "
                              "--repeat-penalty 1.3 --repeat-last-n 16 -s 11 --json";
  const auto s1 = json_of(run(sampled)), s2 = json_of(run(sampled));
  EXPECT_EQ(s1["generated_tokens"], s2["generated_tokens"]);
  EXPECT_EQ(s1["seed"], 11);
  EXPECT_NE(s1["generated_tokens"], greedy["generated_tokens"]);
  EXPECT_EQ(run("run " + m + " -p 'Once upon a time' -n 4 -s -1 --temp 1 --json").code, 0);  // a random seed
}

TEST(CliLlamaFlags, OldSpellingsThatChangedMeaningAreRefusedByName) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string m = stories();
  struct Case {
    const char* args;
    const char* names;
  };
  for (const Case& c : {Case{"-t 0.8", "--temp"}, Case{"-p 0.9", "--top-p"}, Case{"-i 'Once upon'", "-p/--prompt"},
                        Case{"--temp -1", "--temp"}, Case{"--top-p 0", "--top-p"}, Case{"--min-p 2", "--min-p"},
                        Case{"--repeat-penalty 0", "--repeat-penalty"}, Case{"-n 5 --steps 9", "--steps"},
                        Case{"-p a --prompt b", "once"}}) {
    const CliResult r = run("run " + m + " " + c.args);
    EXPECT_EQ(r.code, 2) << c.args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << c.args;
    EXPECT_NE(r.err.find(c.names), std::string::npos) << c.args << ": " << r.err;
  }
  CliResult r = run("run");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("-m/--model"), std::string::npos) << r.err;
  EXPECT_EQ(run("run " + m + " -m " + m).code, 2) << "the model twice";
  // -t is a thread count everywhere
  r = run("eval " + m + " -f /dev/null -t 0.5");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("thread"), std::string::npos) << r.err;
}

TEST(CliLlamaFlags, EvalImatrixAndBenchTakeLlamaCppsNames) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string m = stories(), text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const auto old_names = json_of(run("eval " + m + " --text " + text + " --ctx 128 --batch 32 --chunks 3 --threads 1 --json --quiet"));
  const auto new_names = json_of(run("eval -m " + m + " -f " + text + " -c 128 -b 32 --chunks 3 -t 1 --json --quiet"));
  EXPECT_EQ(new_names["chunks"], 3);
  EXPECT_EQ(new_names["scored"], 3 * 63);
  EXPECT_EQ(new_names["ppl"], old_names["ppl"]);
  const std::string out = vernier::testdata::temp_path("flags.imatrix.gguf");
  fs::remove(out);
  CliResult r = run("imatrix -m " + m + " -f " + text + " -c 128 --chunks 2 -t 1 -o " + out);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("2 chunks of 128 tokens"), std::string::npos) << r.out;
  fs::remove(out);
  // llama-bench's comma lists for -t and -b, and -r
  const auto b = json_of(run("bench --types Q4_0 --shapes 64x256 -b 1,2 -t 1 -r 2 --bandwidth-mib 16 --paired-mib 0 --json --quiet"));
  ASSERT_TRUE(b.contains("matvec")) << b.dump();
  EXPECT_EQ(b["matvec"].size(), 2u) << b.dump();  // batches 1 and 2 at one thread count
}

TEST(CliLlamaFlags, QuantizeTakesLlamaQuantizesPositionalForm) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const fs::path dir = vernier::testdata::temp_path("positional");
  fs::remove_all(dir);
  fs::create_directories(dir);
  const std::string in = (dir / "stories260K.bin").string();
  fs::copy_file(stories(), in);
  fs::copy_file(vernier::testdata::shared("models/stories260K/tok512.bin"), dir / "tok512.bin");
  const std::string a = (dir / "a.gguf").string(), b = (dir / "b.gguf").string();
  ASSERT_EQ(run("quantize " + in + " -o " + a + " --type Q4_K_M --threads 1 --quiet").code, 0);
  CliResult r = run("quantize " + in + " " + b + " q4_k_m 1 --quiet");  // IN OUT TYPE THREADS, the type in any case
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(read_file(a), read_file(b));
  // IN TYPE: ggml-model-TYPE.gguf beside the input; TYPE as llama_ftype's number (7: Q8_0)
  r = run("quantize " + in + " 7 --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string named = (dir / "ggml-model-Q8_0.gguf").string();
  ASSERT_TRUE(fs::exists(named)) << r.out;
  const vernier::GgufFile g = vernier::GgufFile::open(named);
  ASSERT_NE(g.find("general.file_type"), nullptr);
  EXPECT_EQ(g.find("general.file_type")->as_u64(), 7u);
  for (const std::string& bad : {in + " " + b + " Q4_K_M -o " + a, in + " " + b + " Q4_K_M --type Q8_0", in + " " + b + " Q9_X",
                                 in + " " + b + " Q4_K_M many", in + " " + b + " Q4_K_M 1 extra", in}) {
    r = run("quantize " + bad + " --force");
    EXPECT_EQ(r.code, 2) << bad << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << bad;
  }
  fs::remove_all(dir);
}

TEST(CliLlamaFlags, QuantizeSaysWhatFellBackAndProgressIsPlainLinesInAPipe) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string out = vernier::testdata::temp_path("fallback.gguf");
  CliResult r = run("quantize " + stories() + " " + out + " Q4_K_M --force");
  ASSERT_EQ(r.code, 0) << r.err;
  // stories260K's rows are 64 and 172 values: no Q4_K or Q6_K block (256 values) fits, so every
  // K-quant tensor fell back, and the file holds no Q4_K at all
  EXPECT_NE(r.out.find("fallback: "), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("Q4_K -> Q5_0 (rows of 64"), std::string::npos) << r.out;
  EXPECT_NE(r.out.find("this Q4_K_M file holds no Q4_K tensor at all"), std::string::npos) << r.out;
  // progress on a pipe: plain lines (no carriage return), the first step and the last
  EXPECT_EQ(r.err.find('\r'), std::string::npos);
  EXPECT_NE(r.err.find("[1/48] "), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("[48/48] "), std::string::npos) << r.err;
  const auto j = json_of(run("quantize " + stories() + " " + out + " Q4_K_M --force --json --quiet"));
  int fell = 0;
  for (const auto& t : j["tensors"]) fell += t["reason"].get<std::string>().starts_with("fallback");
  EXPECT_GT(fell, 0);
  EXPECT_EQ(j["fallback"]["count"], fell);
  EXPECT_EQ(j["fallback"]["holds_default_type"], false);
  // a type whose blocks fit these rows where it is planned says so
  r = run("quantize " + stories() + " " + out + " Q8_0 --force --quiet --pure --tensor-type 'ffn_down=F16'");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("fallback: none"), std::string::npos) << r.out;
  fs::remove(out);
}

TEST(CliLlamaFlags, InspectStatsCoverQuantizedTensors) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string q8 = vernier::testdata::temp_path("stats-q8.gguf"), f32 = vernier::testdata::temp_path("stats-f32.gguf");
  ASSERT_EQ(run("quantize " + stories() + " " + q8 + " Q8_0 --force --quiet").code, 0);
  ASSERT_EQ(run("convert " + stories() + " -o " + f32 + " --force --quiet").code, 0);
  const auto q = json_of(run("inspect " + q8 + " --stats --json --tensor attn_q"));
  const auto f = json_of(run("inspect " + f32 + " --stats --json --tensor attn_q"));
  ASSERT_EQ(q["stats"].size(), 5u);
  ASSERT_EQ(f["stats"].size(), 5u);
  for (size_t i = 0; i < 5; ++i) {
    const auto& a = q["stats"][i];
    const auto& b = f["stats"][i];
    EXPECT_EQ(a["stored"], "Q8_0");
    EXPECT_TRUE(a["dequantized"].get<bool>());
    EXPECT_FALSE(b["dequantized"].get<bool>());
    // Q8_0 rounds each value by at most half a step, absmax/254 of its 32-value block
    const double step = b["row_absmax_max"].get<double>() / 127;
    EXPECT_NEAR(a["max"].get<double>(), b["max"].get<double>(), step / 2 + 1e-6);
    EXPECT_NEAR(a["min"].get<double>(), b["min"].get<double>(), step / 2 + 1e-6);
    EXPECT_NEAR(a["std"].get<double>(), b["std"].get<double>(), 0.01 * b["std"].get<double>());
  }
  fs::remove(q8);
  fs::remove(f32);
}

}  // namespace
