// The vernier CLI as a user meets it: the figures in --json, exit codes, and one-line errors with
// nothing on stdout.
#include <gtest/gtest.h>

#include <fcntl.h>
#include <map>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <iterator>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.hpp"
#include "process_util.hpp"
#include "shared_data.hpp"
#include "vernier/gguf.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/safetensors.hpp"
#include "vernier/weight_type.hpp"

namespace {

TEST(Cli, ExplainWorkedExampleJson) {
  const CliResult r = run("explain --values 0.10,-0.30,0.70,-1.00,0.50 --format int8 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_NEAR(j["scale"].get<double>(), 1.70 / 255, 1e-9);
  EXPECT_NEAR(j["scale"].get<double>(), 0.0066667, 1e-7);
  EXPECT_EQ(j["zero_point"].get<int>(), 150);
  EXPECT_EQ(j["q"][0].get<int>(), 165);
  EXPECT_EQ(j["q"].size(), 5u);
  EXPECT_NEAR(j["half_step"].get<double>(), 0.00333333, 1e-8);
  EXPECT_EQ(j["dequantized"].size(), 5u);
  EXPECT_EQ(j["errors"].size(), 5u);
  EXPECT_LE(j["max_abs_error"].get<double>(), j["half_step"].get<double>());
  EXPECT_GE(j["mse"].get<double>(), 0.0);
}

TEST(Cli, ExplainEveryFormatRuns) {
  for (const char* f : {"fp32", "fp16", "bf16", "fp8_e4m3", "fp8_e5m2", "int8", "int4", "uint4", "int2", "nf4"}) {
    const CliResult r = run(std::string("explain --values 0.10,-0.30,0.70,-1.00,0.50 --format ") + f);
    EXPECT_EQ(r.code, 0) << f << ": " << r.err;
    EXPECT_NE(r.out.find("MSE"), std::string::npos) << f;
    const CliResult j = run(std::string("explain --values 0.10,-0.30,0.70,-1.00,0.50 --group 2 --json --format ") + f);
    ASSERT_EQ(j.code, 0) << f << ": " << j.err;
    EXPECT_TRUE(nlohmann::json::accept(j.out)) << f << ": " << j.out;
  }
}

TEST(Cli, ExplainFp8WithScaleOneIsThePlainCastAndSaturationIsAFlag) {
  CliResult r = run("explain --values 1,500 --format fp8_e4m3 --scale 1 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["q"][0].get<int>(), 0x38);  // 1.0 in E4M3
  EXPECT_EQ(j["q"][1].get<int>(), 0x7e);  // 500 saturates to 448
  r = run("explain --values 1,500 --format fp8_e4m3 --scale 1 --no-saturate --json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["q"][1].get<int>(), 0x7f);  // NaN
  EXPECT_TRUE(j["dequantized"][1].is_null());
}

TEST(Cli, ExplainNf4ShowsTheNearestLevel) {
  const CliResult r = run("explain --values 0.10,-0.30,0.70,-1.00,0.50 --format nf4 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["q"][3].get<int>(), 0);   // -1.0 → level -1
  EXPECT_EQ(j["q"][2].get<int>(), 14);  // 0.7 → 0.7229568
  EXPECT_NEAR(j["levels"][2].get<double>(), 0.7229568, 1e-6);
}

TEST(Cli, PlanJsonHasTheExactFigures) {
  const CliResult r = run("plan --model llama2-7b --ctx 4096 --memory 24GiB --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["params"].get<int64_t>(), 6738415616);
  EXPECT_EQ(j["weights"]["fp16"].get<uint64_t>(), 13476831232ull);
  EXPECT_EQ(j["weights"]["fp32"].get<uint64_t>(), 26953662464ull);
  EXPECT_EQ(j["kv_cache"]["fp16"].get<uint64_t>(), 2147483648ull);
  EXPECT_EQ(j["nominal_weights"]["fp32"].get<double>(), 28e9);
  EXPECT_EQ(j["nominal_weights"]["int4_g128"].get<double>(), 3.5e9);
  EXPECT_FALSE(j["fits"]["fp32"].get<bool>());
  EXPECT_TRUE(j["fits"]["fp16"].get<bool>());
  const CliResult p = run("plan --params 7e9 --device h100-80gb --json");
  ASSERT_EQ(p.code, 0) << p.err;
  EXPECT_EQ(nlohmann::json::parse(p.out)["weights"]["int8"].get<uint64_t>(), 7000000000ull);
}

TEST(Cli, FormatsAndDemoRun) {
  CliResult r = run("formats --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["formats"].size(), 20u);
  r = run("formats");
  EXPECT_NE(r.out.find("fp8_e4m3"), std::string::npos);
  r = run("demo --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["schemes"].size(), 15u);
  EXPECT_EQ(j["plan"]["kv_cache"]["fp16"].get<uint64_t>(), 2147483648ull);
  // the model step: KL divergence from the F32 model grows as the bits shrink, and every type ran
  std::map<std::string, nlohmann::json> g;
  for (const auto& row : j["gguf"]) g[row["type"].get<std::string>()] = row;
  ASSERT_EQ(g.size(), 8u);
  EXPECT_EQ(j["model"]["stream_tokens"].get<int>(), 128);
  for (const auto& [type, row] : g) {
    EXPECT_GT(row["kld_mean"].get<double>(), 0.0) << type;
    EXPECT_FALSE(row.contains("decode_tokens_per_second")) << type << ": no speed two runs would not agree on";
    EXPECT_LE(row["same_top_p"].get<double>(), 1.0) << type;
  }
  EXPECT_LT(g["Q8_0"]["kld_mean"].get<double>(), g["Q4_K_M"]["kld_mean"].get<double>());
  EXPECT_LT(g["Q4_K_M"]["kld_mean"].get<double>(), g["Q2_K"]["kld_mean"].get<double>());
  EXPECT_GT(g["Q8_0"]["same_top_p"].get<double>(), g["Q2_K"]["same_top_p"].get<double>());
  r = run("demo");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("llama2-7b"), std::string::npos);
}

TEST(Cli, HelpOnEveryCommand) {
  for (const char* c : {"--help", "formats --help", "explain --help", "plan --help", "demo --help", "bench --help"}) {
    const CliResult r = run(c);
    EXPECT_EQ(r.code, 0) << c;
    EXPECT_NE(r.out.find("Usage"), std::string::npos) << c << ": " << r.out;
  }
}

TEST(Cli, AnUnknownOrMissingCommandIsNamedAndTheCommandsListed) {
  for (const char* args : {"frobnicate", "quantise model.gguf", ""}) {
    const CliResult r = run(args);
    EXPECT_EQ(r.code, 2) << args;
    EXPECT_TRUE(r.out.empty()) << args;
    const std::string word = std::string(args).substr(0, std::string(args).find(' '));
    if (!word.empty()) EXPECT_NE(r.err.find("unknown subcommand '" + word + "'"), std::string::npos) << r.err;
    else EXPECT_NE(r.err.find("no command given"), std::string::npos) << r.err;
    for (const char* c : {"formats", "quantize", "run", "eval", "imatrix", "bench", "synth", "demo"}) {
      EXPECT_NE(r.err.find(c), std::string::npos) << args << ": the list lacks " << c << ": " << r.err;
    }
  }
}

// Every command's --help reads as prose: no CLI11 rendering of a negated flag pair ("--x,--no-x{false}")
// or of a flag's default in braces. The command list comes from the top-level help, so a new command is covered.
TEST(Cli, HelpTextsCarryNoParserArtefacts) {
  const CliResult top = run("--help");
  ASSERT_EQ(top.code, 0) << top.err;
  const size_t at = top.out.find("Subcommands:");
  ASSERT_NE(at, std::string::npos) << top.out;
  std::vector<std::string> commands;
  size_t pos = top.out.find('\n', at);
  while (pos != std::string::npos && pos + 3 < top.out.size() && top.out.compare(pos + 1, 2, "  ") == 0) {
    const size_t start = pos + 3, end = top.out.find(' ', start);
    commands.push_back(top.out.substr(start, end - start));
    pos = top.out.find('\n', start);
  }
  ASSERT_GE(commands.size(), 10u) << top.out;
  for (const std::string& c : commands) {
    const CliResult r = run(c + " --help");
    EXPECT_EQ(r.code, 0) << c << ": " << r.err;
    for (const char* artefact : {"{false}", "{true}", ",--no-", "Excludes:", "(0x)"}) {
      EXPECT_EQ(r.out.find(artefact), std::string::npos) << c << " --help shows " << artefact << ":\n" << r.out;
    }
  }
}

TEST(Cli, BadUsageIsOneLineOnStderrExitTwoNothingOnStdout) {
  for (const char* args : {"explain --values 0.1,abc", "explain --values ,", "explain --values 1 --format int9",
                           "explain --values 1 --group 0", "explain --values 1 --scheme middle",
                           "explain --values 1 --format fp8 --scale -1", "explain --values nan --format int8",
                           "explain", "explain --values-file /nonexistent/file", "plan --model gpt-5",
                           "plan --memory 12parsecs", "plan --device toaster", "plan --kv int3", "plan --params lots",
                           "frobnicate", ""}) {
    const CliResult r = run(args);
    EXPECT_EQ(r.code, 2) << args << ": " << r.err;
    EXPECT_TRUE(r.out.empty()) << args << " printed: " << r.out;
    ASSERT_FALSE(r.err.empty()) << args;
    EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << args << ": " << r.err;
  }
}

TEST(CliFiles, InspectShowsHyperparametersTensorsAndStatistics) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string model = vernier::testdata::shared("models/stories260K/stories260K.bin");
  CliResult r = run("inspect " + model + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["format"], "llama2c");
  EXPECT_EQ(j["hparams"]["dim"], 64);
  EXPECT_EQ(j["hparams"]["kv_heads"], 4);
  EXPECT_EQ(j["tensors"].size(), 48u);
  EXPECT_EQ(j["tokenizer"]["tokens"], 512);
  r = run("inspect " + model + " --stats --tensor 'attn_q' --json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["stats"].size(), 5u);
  EXPECT_GT(j["stats"][0]["kurtosis"].get<double>(), 1.0);
  EXPECT_EQ(j["stats"][0]["outlier_columns"].size(), 3u);
  r = run("inspect " + vernier::testdata::shared("models/TinyStories-656K") + " --stats");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("blk.1.ffn_down.weight"), std::string::npos);
  r = run("inspect " + vernier::testdata::shared("golden/ggml/pure/Q4_K.gguf") + " --metadata");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("Q4_K"), std::string::npos);
}

TEST(CliFiles, ConvertRefusesBadInputWithoutLeavingAnOutput) {
  VERNIER_REQUIRE_SHARED("golden/ggml/pure/Q8_0.gguf");
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(vernier::testdata::temp_path("cli-convert"));
  fs::create_directories(dir);
  const std::string out = (dir / "out.gguf").string();
  fs::remove(out);
  // a truncated GGUF: exit 1, one line naming the file, no output and no temporary left
  const std::string broken = (dir / "broken.gguf").string();
  fs::copy_file(vernier::testdata::shared("golden/ggml/pure/Q8_0.gguf"), broken, fs::copy_options::overwrite_existing);
  fs::resize_file(broken, 5000);
  CliResult r = run("convert " + broken + " -o " + out);
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_NE(r.err.find(broken), std::string::npos) << r.err;
  EXPECT_EQ(std::count(r.err.begin(), r.err.end(), '\n'), 1) << r.err;
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().string().find("vernier-tmp"), std::string::npos);
  // quantized tensors cannot go to safetensors without --type: refused, nothing written
  r = run("convert " + vernier::testdata::shared("golden/ggml/pure/Q8_0.gguf") + " -o " + (dir / "q.safetensors").string() + " --quiet");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_FALSE(fs::exists(dir / "q.safetensors"));
  // usage errors: exit 2
  EXPECT_EQ(run("convert " + broken + " -o " + out + " --type q4").code, 2);
  EXPECT_EQ(run("convert " + broken + " -o " + out + " --to onnx").code, 2);
  EXPECT_EQ(run("convert /nonexistent/model.gguf -o " + out).code, 1);
  // an existing output is kept unless --force
  r = run("convert " + vernier::testdata::shared("golden/ggml/pure/Q8_0.gguf") + " -o " + out + " --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto size = fs::file_size(out);
  r = run("convert " + vernier::testdata::shared("models/stories260K/stories260K.bin") + " -o " + out + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_TRUE(r.out.empty());
  EXPECT_EQ(fs::file_size(out), size);
  r = run("convert " + vernier::testdata::shared("models/stories260K/stories260K.bin") + " -o " + out + " --force --json");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_GT(nlohmann::json::parse(r.out)["peak_rss_bytes"].get<uint64_t>(), 0u);
  // the input is never the output
  r = run("convert " + out + " -o " + out + " --force --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(fs::file_size(out), 0u);
}

TEST(CliFiles, QuantizeReportsAndRefusesBadRequests) {
  VERNIER_REQUIRE_SHARED("golden/ggml/input-F32.gguf");
  namespace fs = std::filesystem;
  const std::string in = vernier::testdata::shared("golden/ggml/input-F32.gguf");
  const std::string out = vernier::testdata::temp_path("cli-q.gguf");
  fs::remove(out);
  CliResult r = run("quantize " + in + " -o " + out + " --type Q4_K_M --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["tensors"].size(), 21u);
  EXPECT_EQ(j["tensors"][0]["name"], "output.weight");
  EXPECT_EQ(j["tensors"][0]["type"], "Q6_K");
  EXPECT_GT(j["tensors"][0]["rmse"].get<double>(), 0.0);
  EXPECT_NEAR(j["bits_per_weight"].get<double>(), 4.9, 0.1);
  EXPECT_GT(j["total_bytes"].get<uint64_t>(), 800000u);
  EXPECT_GT(j["seconds"].get<double>(), 0.0);
  r = run("quantize " + in + " -o " + out + " --type Q4_K_M --quiet");
  EXPECT_EQ(r.code, 2) << "existing output without --force";
  r = run("quantize " + in + " -o " + out + ".x --type Q9_K");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("Q4_K_M"), std::string::npos) << "lists the valid types: " << r.err;
  EXPECT_TRUE(r.out.empty());
  r = run("quantize " + in + " -o " + out + ".x --type Q4_0 --tensor-type 'ffn=Q77'");
  EXPECT_EQ(r.code, 2) << r.err;
  r = run("quantize " + in + " -o " + out + ".x --type Q4_0 --imatrix /nonexistent.dat");
  EXPECT_EQ(r.code, 1) << r.err;
  EXPECT_FALSE(fs::exists(out + ".x"));
  r = run("quantize " + in + " -o " + out + " --type Q8_0 --force --threads 1");
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.out.find("bits per weight"), std::string::npos);
  EXPECT_NE(r.err.find("[21/21]"), std::string::npos) << "plain progress lines when not a terminal: " << r.err;
}

TEST(CliFiles, InterruptedQuantizeLeavesNoFileBehind) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(vernier::testdata::temp_path("sigint"));
  fs::create_directories(dir);
  // a 48 MiB F32 model: IQ4_XS takes a few hundred milliseconds on it, time enough to interrupt it
  const std::string in = (dir / "big.gguf").string(), out = (dir / "big-iq4.gguf").string();
  {
    vernier::GgufWriter w(in, true);
    vernier::GgufMetadata kv;
    kv.emplace_back("general.architecture", vernier::GgufValue::string("llama"));
    kv.emplace_back("llama.block_count", vernier::GgufValue::u32(1));
    kv.emplace_back("llama.embedding_length", vernier::GgufValue::u32(1024));
    kv.emplace_back("llama.feed_forward_length", vernier::GgufValue::u32(4096));
    kv.emplace_back("llama.attention.head_count", vernier::GgufValue::u32(8));
    kv.emplace_back("llama.attention.head_count_kv", vernier::GgufValue::u32(8));
    w.set_metadata(kv);
    for (int i = 0; i < 3; ++i) w.add_tensor("blk.0.t" + std::to_string(i) + ".weight", {4096, 1024}, vernier::GgmlType::F32);
    w.write_header();
    std::vector<float> data(1024 * 4096);
    for (size_t i = 0; i < data.size(); ++i) data[i] = 0.02f * std::sin(0.001f * static_cast<float>(i));
    for (int i = 0; i < 3; ++i) w.write_tensor({reinterpret_cast<const uint8_t*>(data.data()), data.size() * 4});
    w.finish();
  }
  fs::remove(out);
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  const std::string err_path = (dir / "stderr.txt").string();
  if (pid == 0) {
    const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd >= 0) ::dup2(fd, 2);
    execl(VERNIER_CLI, VERNIER_CLI, "quantize", in.c_str(), "-o", out.c_str(), "--type", "IQ4_XS", "--threads", "1",
          "--quiet", static_cast<char*>(nullptr));
    _exit(127);
  }
  // interrupt as soon as the child holds its unfinished output open, that is in the middle of writing
  const auto has_temp = [&] { return vernier::testproc::writing_in(pid, dir); };
  for (int i = 0; i < 20000 && !has_temp(); ++i) usleep(500);
  ASSERT_TRUE(has_temp()) << "the quantizer never started writing";
  kill(pid, SIGINT);
  int status = 0;
  waitpid(pid, &status, 0);
  EXPECT_TRUE(WIFSIGNALED(status) && WTERMSIG(status) == SIGINT) << "status " << status;
  std::ifstream err(err_path);
  const std::string said{std::istreambuf_iterator<char>(err), std::istreambuf_iterator<char>()};
  EXPECT_NE(said.find("vernier: interrupted\n"), std::string::npos) << "stderr: " << said;
  fs::remove(err_path);
  EXPECT_FALSE(fs::exists(out));
  for (const auto& e : fs::directory_iterator(dir)) {
    EXPECT_EQ(e.path().string().find("vernier-tmp"), std::string::npos) << e.path() << " left behind";
  }
}

TEST(CliFiles, RunAndEvalGiveTheGoldenFiguresAndRefuseBadRequests) {
  VERNIER_REQUIRE_SHARED("models/stories260K/stories260K.bin");
  const std::string model = vernier::testdata::shared("models/stories260K/stories260K.bin");
  CliResult r = run("run " + model + " --prompt 'Once upon a time' --steps 200");
  ASSERT_EQ(r.code, 0) << r.err;
  std::ifstream g(vernier::testdata::shared("golden/runtime/stories260K.greedy200.llama2c.txt"));
  const std::string want{std::istreambuf_iterator<char>(g), std::istreambuf_iterator<char>()};
  EXPECT_EQ(r.out, want);
  EXPECT_NE(r.err.find("tok/s"), std::string::npos);
  r = run("run " + model + " --prompt 'Once upon a time' -n 20 --temp 0.8 --seed 7 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["generation_tokens_per_second"].get<double>(), 0.0);
  EXPECT_GT(j["peak_rss_bytes"].get<uint64_t>(), 0u);
  const auto again = nlohmann::json::parse(run("run " + model + " --prompt 'Once upon a time' -n 20 --temp 0.8 --seed 7 --json").out);
  EXPECT_EQ(again["generated_tokens"], j["generated_tokens"]) << "seeded sampling repeats";
  EXPECT_EQ(again["text"], j["text"]);
  // --profile: the same text; per phase the operations' times add up to at most the wall time, each
  // layer's products were timed (stories260K: 5 layers × 4 calls, Q/K/V and gate/up being fused
  // products, plus the output matrix), and the decode's products read the same bytes every token
  const auto prof = nlohmann::json::parse(run("run " + model + " --prompt 'Once upon a time' -n 20 --temp 0.8 --seed 7 --json --profile").out);
  EXPECT_EQ(prof["text"], j["text"]);
  for (const char* phase : {"prompt", "decode"}) {
    const auto& p = prof["profile"][phase];
    double sum = 0;
    for (const auto& [name, op] : p["operations"].items()) sum += op["seconds"].get<double>();
    EXPECT_LE(sum + p["sampling_seconds"].get<double>(), p["wall_seconds"].get<double>() * 1.0001 + 1e-6) << phase;
    EXPECT_GT(p["operations"]["matrix products"]["calls"].get<int64_t>(), 0) << phase;
  }
  const auto& dec = prof["profile"]["decode"];
  EXPECT_EQ(dec["operations"]["matrix products"]["calls"].get<int64_t>(), dec["tokens"].get<int64_t>() * (5 * 4 + 1));
  EXPECT_EQ(dec["weight_bytes_read"].get<uint64_t>() % static_cast<uint64_t>(dec["tokens"].get<int64_t>()), 0u);
  // weight-only schemes multiply against bfloat16 activations unless asked (W4A16); f32 stays available
  const std::string text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const auto kld = [&](const std::string& act) {
    const CliResult e = run("eval " + model + " --scheme int4-asym-g32 --base " + model + " --text " + text +
                            " --ctx 64 --chunks 4 --json --quiet" + (act.empty() ? "" : " --activations " + act));
    EXPECT_EQ(e.code, 0) << e.err;
    return e.code == 0 ? nlohmann::json::parse(e.out)["kld"]["mean"].get<double>() : -1.0;
  };
  const double k_default = kld(""), k_bf16 = kld("bf16"), k_f32 = kld("f32");
  EXPECT_EQ(k_default, k_bf16);
  EXPECT_NE(k_bf16, k_f32);
  EXPECT_NEAR(k_bf16, k_f32, 0.02 * k_f32) << "bfloat16 rounding of the activations moves the KLD by little";
  EXPECT_EQ(run("run " + model + " --prompt 'Once' -n 2 --activations fp4").code, 2);
  r = run("run " + model + " --prompt 'Once upon a time' -n 4 --profile");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("attention"), std::string::npos) << r.err;
  EXPECT_NE(r.err.find("GB/s in decode"), std::string::npos) << r.err;
  r = run("run " + model + " --prompt 'Once upon a time there was a bear' --ctx 4");
  EXPECT_EQ(r.code, 2) << "a prompt longer than the context: " << r.err;
  EXPECT_EQ(run("run " + model + " -n -2").code, 2);
  EXPECT_EQ(run("run " + model + " --steps 0").code, 2);
  r = run("eval " + model + " --text " + vernier::testdata::shared("text/tinystories-excerpt.txt") + " --ctx 256 --chunks 4 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["chunks"], 4);
  EXPECT_EQ(nlohmann::json::parse(r.out)["scored"], 4 * 127);
  const std::string empty = vernier::testdata::temp_path("empty.txt");
  std::ofstream(empty).close();
  r = run("eval " + model + " --text " + empty);
  EXPECT_EQ(r.code, 1) << r.err;  // the file's fault, not the command line's (issue 17)
  EXPECT_TRUE(r.out.empty());
}

TEST(CliFiles, SavedBaseLogitsGiveTheSameKlDivergenceAsRunningTheBase) {
  VERNIER_REQUIRE_SHARED("golden/runtime/stories260K-Q4_0.llamacpp.gguf");
  const std::string base = vernier::testdata::shared("golden/runtime/stories260K-F32.llamacpp.gguf");
  const std::string quant = vernier::testdata::shared("golden/runtime/stories260K-Q4_0.llamacpp.gguf");
  const std::string text = " --text " + vernier::testdata::shared("text/tinystories-excerpt.txt") + " --ctx 256 --chunks 6 --json --quiet";
  const std::string logits = vernier::testdata::temp_path("f32.logits");
  std::filesystem::remove(logits);
  CliResult r = run("eval " + base + text + " --save-logits " + logits);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto saved = nlohmann::json::parse(r.out);
  EXPECT_EQ(std::filesystem::file_size(logits), 24u + 6 * 256 * 4 + 6u * 127 * 512 * 4);
  EXPECT_EQ(run("eval " + base + text + " --save-logits " + logits).code, 2) << "an existing file needs --force";
  const auto direct = nlohmann::json::parse(run("eval " + quant + text + " --base " + base).out);
  r = run("eval " + quant + text + " --base-logits " + logits + " --batch 100");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto from_file = nlohmann::json::parse(r.out);
  EXPECT_DOUBLE_EQ(from_file["kld"]["mean"].get<double>(), direct["kld"]["mean"].get<double>());
  EXPECT_DOUBLE_EQ(from_file["same_top_p"].get<double>(), direct["same_top_p"].get<double>());
  EXPECT_DOUBLE_EQ(from_file["base_ppl"].get<double>(), saved["ppl"].get<double>());
  // a different context, or a file that is not one, is refused by name
  r = run("eval " + quant + " --text " + vernier::testdata::shared("text/tinystories-excerpt.txt") + " --ctx 128 --base-logits " + logits);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("--ctx 256"), std::string::npos) << r.err;
  r = run("eval " + quant + text + " --base-logits " + quant);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("not a vernier logits file"), std::string::npos) << r.err;
}

}  // namespace

TEST(CliFiles, EvalAndRunQuantizeTheBlocksInMemoryToAnyWeightType) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  const std::string model = vernier::testdata::shared("models/TinyStories-656K");
  const std::string text = " --text " + vernier::testdata::shared("text/tinystories-excerpt.txt") + " --ctx 256 --chunks 4 --json --quiet";
  CliResult r = run("eval " + model + " --scheme int4-asym-g128 --base " + model + text);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["scheme"]["type"], "int4-asym-g128");
  EXPECT_EQ(j["scheme"]["matrices"].get<int>(), 14);
  EXPECT_NEAR(j["scheme"]["bits_per_weight"].get<double>(), 4.281, 0.001);  // 4 + (32 + 4) / 128
  EXPECT_EQ(j["resident_weight_bytes"], j["weight_bytes"]);                   // nothing widened at load
  EXPECT_GT(j["kld"]["mean"].get<double>(), 0.01);                           // 4-bit RTN costs something …
  EXPECT_LT(j["kld"]["mean"].get<double>(), 0.3);                            // … but is the same model
  EXPECT_GT(j["same_top_p"].get<double>(), 0.6);
  // the base model itself: the same scheme twice gives the same figures (deterministic quantization)
  const auto again = nlohmann::json::parse(run("eval " + model + " --scheme int4-asym-g128 --base " + model + text).out);
  EXPECT_EQ(again["kld"]["mean"], j["kld"]["mean"]);
  r = run("eval " + model + " --scheme int8-sym-channel --base " + model + text);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>(), j["kld"]["mean"].get<double>() / 10);
  r = run("run " + model + " --scheme nf4-b64 --prompt 'Once upon a time' -n 24 --json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["resident_weight_bytes"], j["model_bytes"]);
  EXPECT_FALSE(j["text"].get<std::string>().empty());
  // unknown or unusable types are usage errors that say what is wrong
  r = run("eval " + model + " --scheme int4-bogus" + text);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("int4-asym-g128"), std::string::npos) << r.err;  // the choices are named
  r = run("eval " + model + " --scheme Q4_K" + text);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("blk.0."), std::string::npos) << r.err;  // rows of 128 and 384: not whole 256-value blocks
}

TEST(Cli, FormatsListsEveryWeightTypeOfTheRegistry) {
  const CliResult r = run("formats --json");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["weight_types"].size(), vernier::weight_types().size());
  std::map<std::string, nlohmann::json> by_name;
  for (const auto& w : j["weight_types"]) {
    for (const char* k : {"name", "kind", "bits_per_weight", "layout", "activations", "cpu_kernel", "doc"}) EXPECT_TRUE(w.contains(k)) << k;
    by_name[w["name"].get<std::string>()] = w;
  }
  EXPECT_EQ(by_name["Q4_K"]["activations"], "Q8_K");
  EXPECT_DOUBLE_EQ(by_name["Q4_K"]["bits_per_weight"].get<double>(), 4.5);
  EXPECT_EQ(by_name["int4-asym-g128"]["kind"], "scheme");
  EXPECT_DOUBLE_EQ(by_name["int4-asym-g128"]["bits_per_weight"].get<double>(), 4.0 + 36.0 / 128);  // FP32 scale, 4-bit zero
  EXPECT_EQ(by_name["int3-asym-g128"]["cpu_kernel"], "reference");
  EXPECT_EQ(by_name["nf4-b64-dq"]["doc"], "docs/formats/nf4.md");
  const CliResult t = run("formats");
  EXPECT_NE(t.out.find("int4-asym-g128-f16"), std::string::npos);
}

TEST(CliFiles, WindowsProtocolGivesTheFigureTransformersGives) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  const std::string model = vernier::testdata::shared("models/TinyStories-656K");
  const std::string text = " --text " + vernier::testdata::shared("text/tinystories-excerpt.txt") + " --ctx 256 --json --quiet";
  CliResult r = run("eval " + model + " --protocol windows" + text);
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  // transformers (float32, the model's own tokenizer, windows of 256 tokens, every position scored)
  // gives 39.26 on this text; llama.cpp's protocol scores only the second half of each chunk
  EXPECT_NEAR(j["ppl"].get<double>(), 39.26, 39.26 * 1e-3);
  EXPECT_EQ(j["protocol"], "windows");
  EXPECT_EQ(j["scored"].get<int64_t>(), j["chunks"].get<int64_t>() * 255);
  EXPECT_EQ(j["tokens"].get<int64_t>(), 7921);  // Hugging Face's tokenization, BOS first
  EXPECT_EQ(run("eval " + model + " --protocol paper" + text).code, 2);
  // logits saved under one protocol are refused under the other
  const std::string logits = vernier::testdata::temp_path("windows.logits");
  r = run("eval " + model + " --protocol windows --chunks 2 --save-logits " + logits + " --force" + text);
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("eval " + model + " --chunks 2 --base-logits " + logits + text);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("protocol"), std::string::npos) << r.err;
  r = run("eval " + model + " --protocol windows --chunks 2 --base-logits " + logits + text);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_NEAR(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>(), 0.0, 1e-9);  // the same model
}

// The safetensors writer converted from the read copy, which is empty when a tensor comes through its
// memory map: converting a safetensors model to F16/BF16 (or a mapped GGUF's tensors) crashed and left
// a temporary file. Each converted tensor must be the original's values rounded to the target type.
TEST(CliFiles, ConvertToSafetensorsConvertsMappedTensors) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  namespace fs = std::filesystem;
  const fs::path dir = fs::path(vernier::testdata::temp_path("cli-convert-st"));
  fs::create_directories(dir);
  const std::string src = vernier::testdata::shared("models/TinyStories-656K");
  for (const char* type : {"f16", "bf16"}) {
    const std::string out = (dir / (std::string("tiny-") + type + ".safetensors")).string();
    const CliResult r = run("convert " + src + " -o " + out + " --type " + type + " --quiet --force");
    ASSERT_EQ(r.code, 0) << type << ": " << r.err;
    const auto orig = vernier::SafetensorsFile::open(src + "/model.safetensors");
    const auto conv = vernier::SafetensorsFile::open(out);
    int checked = 0;
    for (const auto& t : orig.tensors()) {
      // this checkpoint stores its tied embedding as lm_head.weight; the converter writes it as the embedding
      const vernier::StTensorInfo* c = conv.find(t.name == "lm_head.weight" ? "model.embed_tokens.weight" : t.name);
      ASSERT_NE(c, nullptr) << t.name;
      if (t.shape.size() != 2) continue;  // 1-D tensors stay F32
      ASSERT_EQ(c->dtype, std::string(type) == "f16" ? vernier::StDtype::F16 : vernier::StDtype::BF16) << t.name;
      ASSERT_EQ(t.dtype, vernier::StDtype::F32);
      const auto a = orig.tensor_data(t);
      const auto b = conv.tensor_data(*c);
      ASSERT_EQ(b.size() * 2, a.size()) << t.name;
      for (int64_t i = 0; i < t.elements(); ++i) {
        float x;
        uint16_t h;
        std::memcpy(&x, a.data() + 4 * i, 4);
        std::memcpy(&h, b.data() + 2 * i, 2);
        const uint16_t want = std::string(type) == "f16" ? vernier::fp16_from_float(x) : vernier::bf16_from_float(x);
        ASSERT_EQ(h, want) << t.name << " element " << i;
      }
      ++checked;
    }
    EXPECT_EQ(checked, 15);  // 14 block matrices and the (tied) embedding
  }
  for (const auto& e : fs::directory_iterator(dir)) EXPECT_EQ(e.path().string().find("vernier-tmp"), std::string::npos);
  // a quantized GGUF (mapped) to float32 safetensors
  const std::string q = (dir / "q8.safetensors").string();
  const CliResult r = run("convert " + vernier::testdata::shared("models/TinyStories-656K/TinyStories-656K-Q8_0.gguf") + " -o " + q +
                          " --type f32 --quiet --force");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_GT(fs::file_size(q), 1000000u);
}

namespace {
TEST(CliFiles, QuantizeToCheckpointLayoutsAndRunThem) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  namespace fs = std::filesystem;
  const std::string src = vernier::testdata::shared("models/TinyStories-656K");
  const std::string text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const std::string out = vernier::testdata::temp_path("cli-gptq");
  fs::remove_all(out);
  CliResult r = run("quantize " + src + " -o " + out + " --layout gptq --scheme int4-sym-g128 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["layout"], "gptq");
  EXPECT_EQ(j["scheme"], "int4-sym-g128-f16");  // GPTQ stores FP16 scales
  EXPECT_EQ(j["shards"], 1);
  EXPECT_NEAR(j["quantized_bits_per_weight"].get<double>(), 4.34, 0.02);
  // inspect names the layout and each layer's scheme
  r = run("inspect " + out + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["layout"], "gptq");
  int quantized = 0;
  for (const auto& t : j["tensors"]) quantized += t["type"] == "int4-sym-g128-f16";
  EXPECT_EQ(quantized, 14);
  // eval runs it on the weight-only kernels: the same figure as the same scheme quantized in memory
  r = run("eval " + out + " --text " + text + " --protocol windows --ctx 128 --chunks 4 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto ck = nlohmann::json::parse(r.out);
  r = run("eval " + src + " --scheme int4-sym-g128-f16 --text " + text + " --protocol windows --ctx 128 --chunks 4 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto mem = nlohmann::json::parse(r.out);
  EXPECT_EQ(ck["ppl"].get<double>(), mem["ppl"].get<double>());
  EXPECT_EQ(ck["resident_weight_bytes"], mem["resident_weight_bytes"]);  // the packed codes, not float32
  // and convert decodes it to a GGML type
  r = run("convert " + out + " -o " + out + ".gguf --type Q8_0 --quiet --force");
  EXPECT_EQ(r.code, 0) << r.err;
  // what a layout cannot hold is a usage error naming its limits; nothing is written
  r = run("quantize " + src + " -o " + out + "-awq --layout awq --scheme int4-sym-g128");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("4-bit asymmetric"), std::string::npos) << r.err;
  EXPECT_TRUE(r.out.empty());
  r = run("quantize " + src + " -o " + out + "-bnb --layout bnb --scheme int4-sym-g64");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("NF4"), std::string::npos) << r.err;
  r = run("quantize " + src + " -o " + out + "-x --layout exl2 --scheme int4-sym-g64");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("compressed-tensors"), std::string::npos) << r.err;
  r = run("quantize " + src + " -o " + out + " --layout gptq --scheme int4-sym-g128 --quiet");
  EXPECT_EQ(r.code, 2) << "an existing directory without --force";
  EXPECT_FALSE(fs::exists(out + "-awq"));
  EXPECT_FALSE(fs::exists(out + "-bnb"));
  fs::remove_all(out);
}
}  // namespace

namespace {
TEST(CliFiles, GptqQuantizesWithCalibrationAndRefusesBadCalibration) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  namespace fs = std::filesystem;
  const std::string src = vernier::testdata::shared("models/TinyStories-656K");
  const std::string calib = vernier::testdata::shared("text/tinyshakespeare.txt");
  const std::string text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const std::string common = " --text " + text + " --protocol windows --ctx 128 --chunks 4 --base " + src + " --json --quiet --threads 2";
  CliResult r = run("eval " + src + " --scheme int4-asym-g32" + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const double rtn_kld = nlohmann::json::parse(r.out)["kld"]["mean"].get<double>();
  r = run("eval " + src + " --scheme int4-asym-g32 --method gptq --calib " + calib + " --calib-ctx 128 --calib-windows 8" + common);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LT(j["kld"]["mean"].get<double>(), rtn_kld);
  EXPECT_EQ(j["scheme"]["method"], "gptq");
  ASSERT_EQ(j["scheme"]["layers"].size(), 14u);
  for (const auto& l : j["scheme"]["layers"]) EXPECT_LT(l["loss"].get<double>(), l["rtn_loss"].get<double>()) << l["name"];
  EXPECT_EQ(j["scheme"]["tokens"], 8 * 128);
  // a calibration text shorter than one window, token ids outside the vocabulary, GPTQ without a text
  const std::string tiny = vernier::testdata::temp_path("calib-tiny.txt");
  { std::ofstream(tiny) << "Once upon a time"; }
  r = run("eval " + src + " --scheme int4-asym-g32 --method gptq --calib " + tiny + common);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("shorter than one calibration window"), std::string::npos) << r.err;
  const std::string ids = vernier::testdata::temp_path("calib-ids.txt");
  { std::ofstream(ids) << "1 2 3 99999 4"; }
  r = run("eval " + src + " --scheme int4-asym-g32 --method gptq --calib-tokens " + ids + common);
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("outside the vocabulary"), std::string::npos) << r.err;
  r = run("eval " + src + " --scheme int4-asym-g32 --method gptq" + common);
  EXPECT_EQ(r.code, 2);
  r = run("eval " + src + " --scheme nf4-b64 --method gptq --calib " + calib + common);
  EXPECT_EQ(r.code, 2) << "GPTQ quantizes integer schemes";
  // into a checkpoint: act order goes to GPTQ's g_idx; elsewhere it needs static groups
  const std::string out = vernier::testdata::temp_path("cli-gptq-real");
  fs::remove_all(out);
  r = run("quantize " + src + " -o " + out + " --layout gptq --scheme int4-asym-g32 --method gptq --calib " + calib +
          " --calib-ctx 128 --calib-windows 8 --act-order --quiet --json");
  ASSERT_EQ(r.code, 0) << r.err;
  r = run("inspect " + out + " --json");
  ASSERT_EQ(r.code, 0) << r.err;
  int act = 0;
  const auto inspected = nlohmann::json::parse(r.out);
  for (const auto& t : inspected["tensors"]) act += t["act_order"].get<bool>();
  EXPECT_EQ(act, 14);
  r = run("quantize " + src + " -o " + out + "-awq --layout awq --scheme int4-asym-g32 --method gptq --calib " + calib + " --act-order");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--static-groups"), std::string::npos) << r.err;
  fs::remove_all(out);
}
}  // namespace

namespace {
TEST(CliFiles, AwqScalesFoldIntoTheModelAndItsCheckpoints) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  namespace fs = std::filesystem;
  const std::string src = vernier::testdata::shared("models/TinyStories-656K");
  const std::string calib = vernier::testdata::shared("text/tinyshakespeare.txt");
  const std::string text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const std::string common = " --text " + text + " --protocol windows --ctx 128 --chunks 4 --base " + src + " --json --quiet --threads 2";
  const std::string awq = " --calib " + calib + " --calib-ctx 128 --calib-windows 8";
  CliResult r = run("eval " + src + " --scheme int3-asym-g32" + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const double rtn_kld = nlohmann::json::parse(r.out)["kld"]["mean"].get<double>();
  r = run("eval " + src + " --scheme int3-asym-g32 --method awq" + awq + common);
  ASSERT_EQ(r.code, 0) << r.err;
  auto j = nlohmann::json::parse(r.out);
  EXPECT_LT(j["kld"]["mean"].get<double>(), rtn_kld);
  EXPECT_EQ(j["scheme"]["method"], "awq");
  const auto& a = j["scheme"]["awq"];
  EXPECT_EQ(a["quantizer"], "awq");
  EXPECT_EQ(a["scales"].size(), 6u);  // Q/K/V, gate/up, down per block; O not (grouped-query attention)
  EXPECT_EQ(a["skipped"].size(), 2u);
  EXPECT_EQ(a["clips"].size(), 10u);  // V, O, gate, up, down per block
  for (const auto& g : a["scales"]) EXPECT_LE(g["loss_after"].get<double>(), g["loss_before"].get<double>()) << g["group"];
  for (const auto& c : a["clips"]) EXPECT_LE(c["loss_after"].get<double>(), c["loss_before"].get<double>()) << c["name"];
  // into AutoAWQ's GEMM layout: the folded norms and scaled rows are ordinary tensors of the checkpoint
  const std::string out = vernier::testdata::temp_path("cli-awq-real");
  fs::remove_all(out);
  r = run("quantize " + src + " -o " + out + " --layout awq --scheme int3-asym-g32 --method awq" + awq + " --quiet --json");
  EXPECT_EQ(r.code, 2) << "the AWQ layout holds 4-bit codes only";
  r = run("quantize " + src + " -o " + out + " --layout awq --scheme int4-asym-g32 --method awq" + awq + " --quiet --json");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["method"]["method"], "awq");
  r = run("eval " + src + " --scheme int4-asym-g32" + common);
  ASSERT_EQ(r.code, 0) << r.err;
  const double rtn4 = nlohmann::json::parse(r.out)["kld"]["mean"].get<double>();
  r = run("eval " + out + common);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>(), rtn4);
  fs::remove_all(out);
  // what AWQ does not serve, and options of another method
  r = run("eval " + src + " --scheme nf4-b64 --method awq" + awq + common);
  EXPECT_EQ(r.code, 2);
  r = run("eval " + src + " --scheme int4-asym-g32 --method gptq --awq-duo" + awq + common);
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("AWQ's"), std::string::npos) << r.err;
  // into a GGUF file: the scaled model quantized by llama.cpp's rule with the scaled inputs' importance
  const std::string gguf = vernier::testdata::temp_path("cli-awq-q4_0.gguf"), plain = vernier::testdata::temp_path("cli-rtn-q4_0-awq.gguf");
  r = run("quantize " + src + " -o " + gguf + " --type Q4_0 --method awq --force --quiet --json" + awq);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["method"]["method"], "awq");
  r = run("quantize " + src + " -o " + plain + " --type Q4_0 --force --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const std::string gguf_eval = " --tokenizer " + src + common;
  r = run("eval " + plain + gguf_eval);
  ASSERT_EQ(r.code, 0) << r.err;
  const double rtn_q4 = nlohmann::json::parse(r.out)["kld"]["mean"].get<double>();
  r = run("eval " + gguf + gguf_eval);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>(), rtn_q4);
  r = run("quantize " + src + " -o " + gguf + " --type Q4_0 --method awq --force --imatrix " + gguf + awq);
  EXPECT_EQ(r.code, 2) << "AWQ makes its own statistics";
  fs::remove(gguf);
  fs::remove(plain);
}
}  // namespace

namespace {
TEST(CliFiles, GptqIntoGgufTypes) {
  VERNIER_REQUIRE_SHARED("models/TinyStories-656K/model.safetensors");
  namespace fs = std::filesystem;
  const std::string src = vernier::testdata::shared("models/TinyStories-656K");
  const std::string calib = vernier::testdata::shared("text/tinyshakespeare.txt");
  const std::string text = vernier::testdata::shared("text/tinystories-excerpt.txt");
  const std::string gptq = " --method gptq --calib " + calib + " --calib-ctx 128 --calib-windows 8 --threads 2";
  const std::string out = vernier::testdata::temp_path("cli-gptq-q4_0.gguf"), rtn = vernier::testdata::temp_path("cli-rtn-q4_0.gguf");
  fs::remove(out);
  CliResult r = run("quantize " + src + " -o " + out + " --type Q4_0" + gptq + " --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_EQ(j["method"]["method"], "gptq");
  EXPECT_EQ(j["method"]["target"], "Q4_0");
  ASSERT_EQ(j["method"]["layers"].size(), 14u);
  for (const auto& l : j["method"]["layers"]) {
    EXPECT_EQ(l["target"], "Q4_0") << l["name"];
    EXPECT_LT(l["loss"].get<double>(), l["rtn_loss"].get<double>()) << l["name"];
  }
  r = run("quantize " + src + " -o " + rtn + " --type Q4_0 --force --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  // the GGUF's own tokenizer is llama.cpp's reading of this BPE vocabulary; --tokenizer gives the model's
  const std::string eval = " --tokenizer " + src + " --text " + text + " --protocol windows --ctx 128 --chunks 8 --base " + src + " --json --quiet";
  r = run("eval " + rtn + eval);
  ASSERT_EQ(r.code, 0) << r.err;
  const double rtn_kld = nlohmann::json::parse(r.out)["kld"]["mean"].get<double>();
  r = run("eval " + out + eval);
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_LT(nlohmann::json::parse(r.out)["kld"]["mean"].get<double>(), rtn_kld);
  // in memory, one GGML type for every block matrix
  r = run("eval " + src + " --scheme Q5_0" + gptq + " --text " + text + " --ctx 128 --chunks 2 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  EXPECT_EQ(nlohmann::json::parse(r.out)["scheme"]["layers"].size(), 14u);
  r = run("eval " + src + " --scheme Q4_K" + gptq + " --text " + text + " --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("not whole Q4_K blocks of 256"), std::string::npos) << r.err;
  // act order: GGUF has no g_idx; refused before anything is written
  const std::string refused = vernier::testdata::temp_path("cli-gptq-act.gguf");
  fs::remove(refused);
  r = run("quantize " + src + " -o " + refused + " --type Q4_0" + gptq + " --act-order --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("--static-groups"), std::string::npos) << r.err;
  EXPECT_FALSE(fs::exists(refused));
  // a tokenizer of another vocabulary
  r = run("eval " + out + " --tokenizer " + vernier::testdata::shared("models/stories260K/tok512.bin") + " --text " + text + " --quiet");
  EXPECT_EQ(r.code, 1);
  EXPECT_NE(r.err.find("tok512.bin"), std::string::npos) << r.err;
  fs::remove(out);
  fs::remove(rtn);
}
}  // namespace
