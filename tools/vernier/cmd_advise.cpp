// vernier advise — the decision rule for one model on one piece of hardware (advise.hpp).
#include <fmt/format.h>

#include <charconv>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli_common.hpp"
#include "cli_report.hpp"
#include "vernier/units.hpp"
#include "vernier/advise.hpp"
#include "vernier/compare.hpp"
#include "vernier/error.hpp"
#include "vernier/report.hpp"

namespace vernier::cli {

namespace {
struct AdviseCli {
  std::string hardware, model, params, kv = "fp16", runtime = "any", quality = "high", calib, text, html, tokenizer;
  int64_t ctx = 0, batch = 1;
  double min_tps = 10;
  int threads = 0;
  bool json = false, quiet = false;
};

// --quality: a tier name, or a KLD budget (a non-negative number)
bool parse_budget(const std::string& q, double& budget) {
  const char* end = q.data() + q.size();
  const auto [p, ec] = std::from_chars(q.data(), end, budget);
  return ec == std::errc() && p == end && budget >= 0;
}

std::string gib(double b) { return fmt::format("{:.2f} GiB", b / double(1ull << 30)); }

void print_advice(const Advice& a, std::ostream& out) {
  const AdviseRequest& q = a.request;
  out << fmt::format("hardware: {} — {:.0f} GB/s, {} usable{}\n", q.hardware.label, q.hardware.bandwidth_gbs, gib(double(a.usable_bytes)),
                     q.hardware.fp8 ? ", FP8 tensor cores" : "");
  out << fmt::format("model: {} parameters, the shape of {}{}\n", grouped(static_cast<uint64_t>(q.params)), q.shape.name,
                     q.shape_note.empty() ? "" : " (" + q.shape_note + ")");
  if (a.chosen >= 0) {
    const AdviseCandidate& c = a.candidates[a.chosen];
    out << fmt::format("\nchoice: {} — {}\n  method {}, runtime {}\n", c.weight_type, c.file, c.method, c.runtime);
  } else {
    out << "\nchoice: none fits within the quality tier\n";
  }
  out << "\nwhy:\n";
  for (size_t i = 0; i < a.reasons.size(); ++i) out << fmt::format("  {}. {}\n", i + 1, a.reasons[i]);
  out << "\nthe ladder (memory figures as `vernier plan` gives them):\n";
  Table t;
  t.left_tail = 1;
  t.header = {"rung", "weight type", "bits/w", "weights", "KV", "free", "decode tok/s", "verdict"};
  for (const AdviseCandidate& c : a.candidates) {
    t.rows.push_back({(c.chosen ? "> " : "  ") + c.rung, c.weight_type, num(c.bits_per_weight, 5), gib(double(c.weight_bytes)), gib(double(c.kv_bytes)),
                      gib(c.headroom_bytes), c.decode_tps >= 100 ? fixed(c.decode_tps, 0) : fixed(c.decode_tps, 1), c.verdict});
  }
  t.print(out, "  ");
  out << "  (decode tok/s: the ceiling per sequence, bandwidth ÷ (weights + that sequence's KV cache); kernels reach a fraction of it)\n";
  out << fmt::format("  source of the hardware figures: {}\n", q.hardware.source);
}

void run_advise(const AdviseCli& c) {
  AdviseRequest req;
  if (c.hardware == "cpu") {
    req.hardware = measure_cpu_hardware(c.threads);
  } else if (const HardwarePreset* h = find_hardware(c.hardware)) {
    req.hardware = *h;
  } else {
    throw_usage("unknown --hardware '" + c.hardware + "' (expected one of: " + hardware_names() + ")");
  }
  double budget = -1;
  const bool numeric = parse_budget(c.quality, budget);
  req.tier = numeric ? QualityTier::low : parse_quality_tier(c.quality);
  std::unique_ptr<Model> model;
  if (!c.model.empty() && find_preset(c.model)) {
    req.shape = *find_preset(c.model);
    req.params = parameter_count(req.shape).total();
  } else if (!c.model.empty()) {
    if (!std::filesystem::exists(c.model)) {
      throw_usage("--model '" + c.model + "' is neither a preset (" + preset_names() + ") nor a file or folder");
    }
    model = std::make_unique<Model>(open_model(c.model, c.tokenizer));
    const LlamaConfig& k = model->config;
    req.shape = ModelShape{std::filesystem::path(c.model).filename().string(), 0, k.dim, k.layers, k.heads, k.kv_heads, k.ffn, k.vocab, k.context,
                           k.tied_embeddings};
    req.params = parameter_count(req.shape).total();
    req.shape_note = "its own config";
  } else if (c.params.empty()) {
    throw_usage("advise needs --model (a preset or a model) or --params N");
  }
  if (!c.params.empty()) {
    req.params = parse_param_count(c.params);
    if (c.model.empty()) {
      req.shape = nearest_preset(req.params);
      req.shape_note = "the preset nearest in size, for the KV cache; pass --model PRESET for another";
    }
  }
  req.context = c.ctx;
  req.batch = c.batch;
  req.kv = c.kv;
  req.runtime = c.runtime;
  req.calibration = !c.calib.empty();
  req.min_tps = c.min_tps;
  if (!c.text.empty() && !model) throw_usage("--text measures candidates on a model: give --model as a model file or folder");
  if (numeric && c.text.empty()) {
    throw_usage("--quality " + c.quality + " is a KLD budget, which needs measurements: give --model (a model), --text and --calib, or a tier "
                "(baseline, high, balanced, low)");
  }
  std::unique_ptr<HtmlOutput> html;
  if (!c.html.empty()) html = std::make_unique<HtmlOutput>(c.html, std::vector<NamedInput>{{"--model", c.model}, {"--text", c.text}, {"--calib", c.calib}, {"--tokenizer", c.tokenizer}});
  Advice a = advise(req);
  nlohmann::json j = advice_json(a, req.shape);
  if (!c.text.empty()) {
    CompareOptions o;
    o.types = measured_types(a);
    if (o.types.empty()) throw_usage("advise: no candidate fits, so there is nothing to measure");
    o.methods = {CompareMethod::rtn};
    if (req.calibration) o.methods.insert(o.methods.end(), {CompareMethod::imatrix, CompareMethod::gptq, CompareMethod::awq});
    o.text = read_text_file(c.text);
    if (req.calibration) o.calib.text_path = c.calib;
    o.threads = c.threads;
    o.isa = resolve_isa("auto");
    Progress progress(c.quiet);
    o.progress = compare_progress(progress);
    const CompareResult r = compare_models(*model, o);
    progress.clear();
    if (numeric) choose_by_measurement(a, r, budget);
    j = advice_json(a, req.shape);
    j["compare"] = compare_json(r);
  }
  if (html) html->write(render_html_report(j, "advise"));
  if (c.json) {
    print_json(j);
    return;
  }
  print_advice(a, std::cout);
  if (html) std::cout << "wrote " << c.html << "\n";
}
}  // namespace

void add_advise_command(CLI::App& app) {
  auto c = std::make_shared<AdviseCli>();
  CLI::App* cmd = app.add_subcommand("advise", "Which format and method for a model on given hardware: the decision rule, the memory plan and the "
                                               "decode ceiling, with the alternatives it rejected");
  cmd->add_option("--hardware", c->hardware, "One of: " + hardware_names() + " (cpu: this machine, measured now)")->required();
  cmd->add_option("--model,-m", c->model, "A preset (" + preset_names() + ") or a model (.gguf, Hugging Face folder, llama2.c .bin)");
  cmd->add_option("--params", c->params, "Parameter count, e.g. 70e9 or 8B (the KV cache then takes the nearest preset's shape)");
  add_ctx_option(cmd, c->ctx, "Context length of the KV cache (default: the model's)");
  add_batch_option(cmd, c->batch, "Sequences decoded together", true)->capture_default_str();
  cmd->add_option("--kv", c->kv, "KV-cache format: fp16, bf16, fp8, int8, int4, fp32")->capture_default_str();
  cmd->add_option("--runtime", c->runtime, "llama.cpp, vllm, transformers or any")->capture_default_str();
  cmd->add_option("--quality", c->quality,
                  "baseline (16-bit only), high (8-bit class), balanced (4-bit class), low (3/2-bit GGUF), or a mean-KLD budget such as 0.01 "
                  "(measured: needs --model as a model, --text and --calib)")
      ->capture_default_str();
  cmd->add_option("--min-tps", c->min_tps, "Decode ceiling per sequence below which a smaller rung of the same tier is preferred")->capture_default_str();
  cmd->add_option("--calib", c->calib, "Calibration text exists (GPTQ/AWQ possible); with --text, the calibrated methods are measured too");
  cmd->add_option("--text,-f", c->text, "Evaluation text: measure the candidates that fit on the model with `compare`");
  add_threads_option(cmd, c->threads);
  cmd->add_option("--tokenizer", c->tokenizer, kTokenizerHelp);
  cmd->add_option("--html", c->html, "Also write the HTML report here");
  add_quiet_flag(cmd, c->quiet);
  add_json_flag(cmd, c->json, "the advice");
  cmd->callback([c] { run_advise(*c); });
}

}  // namespace vernier::cli
