// compare, advise and report as a user runs them: on a seeded synthetic model (no download), and the
// advisor's memory figures against `vernier plan`'s.
#include <gtest/gtest.h>

#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.hpp"
#include "shared_data.hpp"

namespace {

// A 2-layer synthetic GGUF (byte-fallback vocabulary: any text tokenizes), made once per process.
const std::string& synth_model() {
  static const std::string path = [] {
    const std::string p = vernier::testdata::temp_path("decide_synth.gguf");
    const CliResult r = run("synth -o " + p + " --dim 128 --ffn 256 --layers 2 --vocab 300 --ctx 256");
    EXPECT_EQ(r.code, 0) << r.err;
    return p;
  }();
  return path;
}

// Some real English for the evaluation and calibration texts: the project's own README.
std::string text_file() { return std::string(VERNIER_SOURCE_DIR) + "/README.md"; }

nlohmann::json json_of(const CliResult& r) {
  EXPECT_EQ(r.code, 0) << r.err;
  return nlohmann::json::parse(r.out);
}

TEST(CliCompare, RowsForEveryCombinationSkippedOnesSayWhy) {
  const std::string html = vernier::testdata::temp_path("compare.html");
  const nlohmann::json j = json_of(run("compare " + synth_model() + " --schemes int8-channel,Q4_0,nf4-b64 --methods rtn,gptq,imatrix -f " + text_file() +
                                       " --calib " + text_file() + " --calib-windows 4 -c 64 --chunks 4 --decode-tokens 8 -t 2 --json --quiet --html " + html));
  EXPECT_EQ(j.at("kind"), "vernier.compare");
  ASSERT_EQ(j.at("rows").size(), 9u);
  int ok = 0;
  for (const auto& r : j.at("rows")) {
    const std::string type = r.at("type"), method = r.at("method"), status = r.at("status");
    if (status == "ok") {
      ++ok;
      EXPECT_GE(r.at("kld").at("mean").get<double>(), 0.0) << type << " " << method;
      EXPECT_GT(r.at("bits_per_weight").get<double>(), 4.0);
      EXPECT_GT(r.at("decode_tokens_per_second").get<double>(), 0.0);
      EXPECT_EQ(r.at("tensors").size(), 14u);  // 2 layers × 7 matrices
    } else {
      EXPECT_EQ(status, "skipped") << r.dump();
      EXPECT_FALSE(r.at("note").get<std::string>().empty());
    }
  }
  // made: int8 rtn, gptq; Q4_0 rtn, gptq, imatrix; nf4 rtn. Skipped: imatrix on int8 and nf4, gptq on nf4
  EXPECT_EQ(ok, 6);
  std::ifstream in(html);
  const std::string page{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  EXPECT_NE(page.find("data-plot=\"kld-bits\""), std::string::npos);
}

TEST(CliCompare, CalibratedMethodsWithoutCalibrationAreSkippedAndTheRestGoesOn) {
  const nlohmann::json j = json_of(run("compare " + synth_model() + " --schemes int4-asym-g32 --methods rtn,awq -f " + text_file() +
                                       " -c 64 --chunks 2 --decode-tokens 0 --json --quiet"));
  ASSERT_EQ(j.at("rows").size(), 2u);
  EXPECT_EQ(j.at("rows")[0].at("status"), "ok");
  EXPECT_EQ(j.at("rows")[1].at("status"), "skipped");
  EXPECT_NE(j.at("rows")[1].at("note").get<std::string>().find("--calib"), std::string::npos);
}

TEST(CliCompare, BadInputIsRefusedBeforeAnyWork) {
  CliResult r = run("compare " + synth_model() + " --schemes int4-nonsense -f " + text_file());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("int4-nonsense"), std::string::npos) << r.err;
  r = run("compare " + synth_model() + " --schemes Q4_0 --methods hqq -f " + text_file());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("hqq"), std::string::npos) << r.err;
  // the report may not overwrite an input
  r = run("compare " + synth_model() + " --schemes Q4_0 -f " + text_file() + " --html " + text_file());
  EXPECT_NE(r.code, 0);
  EXPECT_NE(r.err.find("input"), std::string::npos) << r.err;
}

// advise's weights and KV cache are plan's figures for the same parameter count and shape.
void expect_plan_figures(const nlohmann::json& advice, const std::string& plan_args) {
  const nlohmann::json plan = json_of(run("plan " + plan_args + " --json"));
  for (const auto& c : advice.at("candidates")) {
    const std::string f = c.at("format");
    EXPECT_EQ(c.at("weight_bytes").get<uint64_t>(), plan.at("weights").at(f).get<uint64_t>()) << f;
    if (plan.contains("kv_cache")) EXPECT_EQ(c.at("kv_bytes").get<uint64_t>(), plan.at("kv_cache").at("fp16").get<uint64_t>()) << f;
  }
}

TEST(CliAdvise, ThreeMachinesThreeReasonedAnswersWithPlansFigures) {
  const nlohmann::json h200 = json_of(run("advise --hardware h200 --params 70e9 --ctx 8192 --batch 16 --json"));
  EXPECT_EQ(h200.at("chosen"), "fp8_e4m3-channel");
  expect_plan_figures(h200, "--params 70e9");
  expect_plan_figures(h200, "--model " + h200.at("model").at("shape").get<std::string>() + " --params 70e9 --ctx 8192 --batch 16");

  const nlohmann::json cpu = json_of(run("advise --hardware cpu --params 8e9 --runtime llama.cpp --json"));
  ASSERT_TRUE(cpu.at("chosen").is_string()) << cpu.dump(2);
  for (const auto& c : cpu.at("candidates")) EXPECT_EQ(c.at("runtime"), "llama.cpp");
  EXPECT_GT(cpu.at("hardware").at("bandwidth_gbs").get<double>(), 0.0) << "measured on this machine";
  expect_plan_figures(cpu, "--model llama3-8b --params 8e9");

  const nlohmann::json rtx = json_of(run("advise --hardware rtx4090 --params 13e9 --json"));
  EXPECT_TRUE(rtx.at("chosen").is_string());
  EXPECT_EQ(rtx.at("model").at("shape"), "llama2-13b");
  expect_plan_figures(rtx, "--model llama2-13b --params 13e9");
  for (const auto& c : rtx.at("candidates")) EXPECT_FALSE(c.at("verdict").get<std::string>().empty());

  const CliResult text = run("advise --hardware h200 --params 70e9 --ctx 8192 --batch 16");
  EXPECT_EQ(text.code, 0) << text.err;
  EXPECT_NE(text.out.find("choice: fp8_e4m3-channel"), std::string::npos) << text.out;
  EXPECT_NE(text.out.find("does not fit"), std::string::npos) << "the rejected BF16 rung says why";
}

TEST(CliAdvise, AKldBudgetIsMeasuredOnTheModel) {
  const CliResult bad = run("advise --hardware rtx4090 --params 7e9 --quality 0.01");
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("measurements"), std::string::npos) << bad.err;
  const nlohmann::json j = json_of(run("advise --hardware m4-max --model " + synth_model() + " --text " + text_file() +
                                       " --quality 1e9 --json --quiet -t 2"));
  ASSERT_TRUE(j.contains("compare"));
  // every candidate is within a budget of 1e9 nats: the smallest one measured is chosen
  ASSERT_TRUE(j.at("chosen").is_string()) << j.dump(2);
  double chosen_bits = 0, least_bits = 1e9;
  for (const auto& c : j.at("candidates")) {
    if (c.at("chosen").get<bool>()) chosen_bits = c.at("bits_per_weight");
    if (c.at("verdict").get<std::string>().rfind("measured:", 0) == 0) least_bits = std::min(least_bits, c.at("bits_per_weight").get<double>());
  }
  EXPECT_EQ(chosen_bits, least_bits);
}

TEST(CliReport, RendersSavedJsonAndRefusesOtherFiles) {
  const std::string json = vernier::testdata::temp_path("advice.json"), html = vernier::testdata::temp_path("advice.html");
  const CliResult a = run("advise --hardware l40s --params 8e9 --json");
  ASSERT_EQ(a.code, 0) << a.err;
  std::ofstream(json) << a.out;
  const CliResult r = run("report " + json + " -o " + html);
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_TRUE(std::filesystem::file_size(html) > 1000);
  const CliResult bad = run("report " + text_file() + " -o " + vernier::testdata::temp_path("bad.html"));
  EXPECT_NE(bad.code, 0);
  EXPECT_NE(bad.err.find("README.md"), std::string::npos) << bad.err;
  EXPECT_FALSE(std::filesystem::exists(vernier::testdata::temp_path("bad.html"))) << "no half-written output";
}

}  // namespace
