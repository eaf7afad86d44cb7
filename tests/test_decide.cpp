// Decide and show: the Pareto front, the advisor's rule and memory figures, the report's documents.
#include <gtest/gtest.h>

#include <cmath>
#include <regex>
#include <string>

#include "vernier/advise.hpp"
#include "vernier/compare.hpp"
#include "vernier/error.hpp"
#include "vernier/report.hpp"

namespace vernier {
namespace {

CompareRow row(const std::string& type, double bits, double kld, const std::string& status = "ok") {
  CompareRow r;
  r.type = type;
  r.method = "rtn";
  r.status = status;
  r.bits_per_weight = bits;
  r.kld.mean = kld;
  return r;
}

TEST(ComparePareto, MarksExactlyTheRowsNoOtherBeats) {
  std::vector<CompareRow> rows = {row("a", 8.5, 0.001), row("b", 8.5, 0.002),  // b: same bits, worse
                                  row("c", 4.5, 0.05),  row("d", 4.25, 0.08),  // both on the front
                                  row("e", 5.0, 0.06),                         // beaten by c (smaller and closer)
                                  row("f", 2.0, 9.0, "skipped"), row("g", 4.5, 0.05)};  // g ties c exactly: neither beats the other
  mark_pareto(rows);
  std::vector<bool> want = {true, false, true, true, false, false, true};
  for (size_t i = 0; i < rows.size(); ++i) EXPECT_EQ(rows[i].pareto, want[i]) << rows[i].type;
}

TEST(CompareMethods, NamesRoundTripAndUnknownIsRefused) {
  for (CompareMethod m : {CompareMethod::rtn, CompareMethod::imatrix, CompareMethod::gptq, CompareMethod::awq, CompareMethod::awq_gptq}) {
    EXPECT_EQ(parse_compare_method(compare_method_name(m)), m);
  }
  EXPECT_THROW(parse_compare_method("hqq"), Error);
  EXPECT_FALSE(compare_method_calibrated(CompareMethod::rtn));
  EXPECT_TRUE(compare_method_calibrated(CompareMethod::imatrix));
}

TEST(CompareLayouts, NameTheFilesThatHoldEachType) {
  EXPECT_EQ(layouts_of(parse_weight_type("Q4_K")), "GGUF");
  const std::string int4 = layouts_of(parse_weight_type("int4-asym-g128"));
  EXPECT_NE(int4.find("gptq"), std::string::npos);
  EXPECT_NE(int4.find("awq"), std::string::npos);
  EXPECT_NE(layouts_of(parse_weight_type("nf4-b64")).find("bnb"), std::string::npos);
}

AdviseRequest request(const std::string& hw, int64_t params, int64_t ctx, int64_t batch, const std::string& runtime = "any") {
  AdviseRequest r;
  r.hardware = *find_hardware(hw);
  r.params = params;
  r.shape = nearest_preset(params);
  r.context = ctx;
  r.batch = batch;
  r.runtime = runtime;
  return r;
}

const AdviseCandidate& chosen(const Advice& a) {
  EXPECT_GE(a.chosen, 0);
  return a.candidates.at(static_cast<size_t>(std::max(a.chosen, 0)));
}

TEST(Advise, MemoryFiguresAreThePlannersOwn) {
  const Advice a = advise(request("h200", 70'000'000'000, 8192, 16));
  ASSERT_FALSE(a.candidates.empty());
  const ModelShape& shape = nearest_preset(70'000'000'000);
  for (const AdviseCandidate& c : a.candidates) {
    double bits = 0;
    for (const WeightFormat& f : plan_weight_formats())
      if (f.name == c.format) bits = f.bits_per_weight;
    ASSERT_GT(bits, 0) << c.format;
    EXPECT_EQ(c.weight_bytes, weight_bytes(70'000'000'000, bits)) << c.format;
    EXPECT_EQ(c.kv_bytes, kv_cache_bytes(shape, 8192, 16, 2.0)) << c.format;
  }
}

TEST(Advise, H200With70BAtBatch16TakesFp8BecauseBf16DoesNotFit) {
  const Advice a = advise(request("h200", 70'000'000'000, 8192, 16));
  EXPECT_EQ(a.candidates.front().format, "bf16");
  EXPECT_FALSE(a.candidates.front().fits);
  EXPECT_EQ(chosen(a).format, "fp8");
  // without FP8 tensor cores the same 8-bit rung is INT8 weight-only
  const Advice b = advise(request("a100", 70'000'000'000, 2048, 1));
  EXPECT_EQ(chosen(b).format, "int8");
}

TEST(Advise, LlamaCppAndAppleUseTheGgufLadder) {
  AdviseRequest r = request("m4-max", 8'000'000'000, 8192, 1);
  const Advice a = advise(r);
  for (const AdviseCandidate& c : a.candidates) EXPECT_EQ(c.runtime, "llama.cpp") << c.format;
  // 16 GB of F16 fits 96 GiB, and reads at 546 GB/s give over 10 tokens/s: the top rung
  EXPECT_EQ(chosen(a).format, "fp16");
  r.min_tps = 70;  // a faster ceiling wanted: down the ladder within the tier (high: Q8_0 reaches 64, Q6_K 83)
  const Advice b = advise(r);
  EXPECT_EQ(chosen(b).format, "q6_k");
  r.tier = QualityTier::baseline;  // baseline admits 16-bit only: slower than wanted, but still the choice
  const Advice c = advise(r);
  EXPECT_EQ(chosen(c).format, "fp16");
}

TEST(Advise, NothingFitsIsSaidNotHidden) {
  AdviseRequest r = request("rtx4090", 70'000'000'000, 4096, 1);
  r.tier = QualityTier::high;
  const Advice a = advise(r);
  EXPECT_EQ(a.chosen, -1);
  EXPECT_NE(a.reasons.back().find("nothing"), std::string::npos);
  r.tier = QualityTier::balanced;
  r.calibration = true;
  const Advice b = advise(r);
  EXPECT_EQ(b.chosen, -1) << "70B at 4.125 bits is 36 GB, more than 24 GiB";
}

TEST(Advise, Int4NeedsCalibrationElseNf4) {
  // 13B with 4 sequences of 4096: FP8's 12.1 GiB + 12.5 GiB of KV cache is over the 21.6 GiB budget
  AdviseRequest r = request("rtx4090", 13'000'000'000, 4096, 4);
  r.tier = QualityTier::balanced;
  const Advice a = advise(r);
  EXPECT_EQ(chosen(a).format, "nf4");
  r.calibration = true;
  const Advice b = advise(r);
  EXPECT_EQ(chosen(b).format, "int4_g128");
}

TEST(Advise, PresetsAreComplete) {
  for (const char* n : {"h100", "h200", "b200", "a100", "l40s", "rtx4090", "m2-ultra", "m4-max"}) {
    const HardwarePreset* h = find_hardware(n);
    ASSERT_NE(h, nullptr) << n;
    EXPECT_GT(h->memory_bytes, 0u);
    EXPECT_GT(h->bandwidth_gbs, 0);
    EXPECT_FALSE(h->source.empty());
  }
  EXPECT_EQ(find_hardware("cpu"), nullptr) << "cpu is measured, not a preset";
  EXPECT_EQ(nearest_preset(13'000'000'000).name, "llama2-13b");
  EXPECT_EQ(nearest_preset(8'000'000'000).name, "llama3-8b");
}

TEST(Report, RefusesDocumentsItDidNotWrite) {
  EXPECT_THROW(render_html_report(nlohmann::json::object(), "x.json"), Error);
  EXPECT_THROW(render_html_report({{"kind", "vernier.compare"}}, "x.json"), Error);
  try {
    render_html_report({{"kind", "something"}}, "x.json");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("x.json"), std::string::npos);
  }
}

// Every plot section of a page holds an SVG with at least one mark.
void expect_plots(const std::string& html, const std::vector<std::string>& ids) {
  for (const std::string& id : ids) {
    const size_t at = html.find("data-plot=\"" + id + "\"");
    ASSERT_NE(at, std::string::npos) << id;
    const size_t end = html.find("</section>", at);
    const std::string sec = html.substr(at, end - at);
    EXPECT_NE(sec.find("<svg"), std::string::npos) << id;
    EXPECT_NE(sec.find("class=\"mark\""), std::string::npos) << id << " is empty";
  }
  EXPECT_EQ(html.find("<script"), std::string::npos);
  EXPECT_EQ(html.find("http://"), html.find("http://www.w3.org/2000/svg"));  // only the SVG namespace, nothing fetched
}

TEST(Report, AdvicePageHasItsPlotsAndEscapesText) {
  AdviseRequest r = request("h200", 70'000'000'000, 8192, 16);
  r.shape_note = "<b>nearest</b>";
  const Advice a = advise(r);
  const std::string html = render_html_report(advice_json(a, r.shape));
  expect_plots(html, {"memory", "ceiling", "kv-context"});
  EXPECT_EQ(html.find("<b>nearest"), std::string::npos);
  EXPECT_NE(html.find("&lt;b&gt;nearest"), std::string::npos);
}

TEST(Report, ComparePageDrawsEveryMeasuredRow) {
  CompareResult c;
  c.model = "m.gguf";
  c.config.layers = 2;
  c.base = row("F32", 32, 0);
  c.base.decode_tokens_per_second = 100;
  c.rows = {row("Q8_0", 8.5, 0.001), row("Q4_0", 4.5, 0.05), row("nf4-b64", 4.5, NAN, "skipped")};
  for (CompareRow& x : c.rows) {
    x.decode_tokens_per_second = 200;
    for (int l = 0; l < 2; ++l) x.tensors.push_back({"blk." + std::to_string(l) + ".attn_q.weight", 30.0 + l});
  }
  mark_pareto(c.rows);
  c.histogram.tensor = "blk.0.ffn_down.weight";
  c.histogram.counts = {1, 5, 9, 5, 1};
  c.histogram.int4 = {-1, 0, 1};
  c.histogram.nf4 = {-1, 0, 1};
  c.histogram.fp8_e4m3 = {-1, 0, 1};
  c.kv = {{"f32", 1024}, {"q8_0", 272}};
  const std::string html = render_html_report(compare_json(c));
  expect_plots(html, {"kld-bits", "heatmap", "histogram", "kv-context", "speed-bits"});
  // two measured rows: two points in the quality plot (skipped rows are listed, not drawn)
  const size_t a = html.find("data-plot=\"kld-bits\""), b = html.find("</section>", a);
  const std::string sec = html.substr(a, b - a);
  const std::regex circle("<circle class=\"mark\"");
  EXPECT_EQ(std::distance(std::sregex_iterator(sec.begin(), sec.end(), circle), std::sregex_iterator()), 2);
  EXPECT_NE(html.find("skipped"), std::string::npos);
}

}  // namespace
}  // namespace vernier
