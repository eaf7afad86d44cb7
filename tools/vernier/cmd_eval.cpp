// vernier eval — perplexity of a model on a text with llama.cpp's protocol.
#include <fmt/format.h>

#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "vernier/model.hpp"

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/kernels.hpp"
#include "vernier/perplexity.hpp"
#include "vernier/quantize_in_memory.hpp"

namespace vernier::cli {

namespace {
struct EvalOptions {
  std::string model, text_file, tokenizer, base, kv = "f32", isa = "auto", activations = "bf16", save_logits, base_logits, scheme, protocol = "llama.cpp";
  MethodCli method;
  int64_t ctx = 512, chunks = 0, batch = 512;
  int threads = 0;
  bool json = false, quiet = false, force = false;
};

void run_eval(const EvalOptions& opt) {
  require_model(opt.model);
  refuse_overwriting_inputs(opt.save_logits, "--save-logits",
                            {{"model", opt.model}, {"-f", opt.text_file}, {"--base", opt.base}, {"--base-logits", opt.base_logits},
                             {"--tokenizer", opt.tokenizer}, {"--calib", opt.method.calib.text_path}, {"--calib-tokens", opt.method.calib.tokens_path}});
  std::ifstream in(opt.text_file, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, opt.text_file + ": cannot open");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (text.empty()) throw_bad_input(opt.text_file + ": the text is empty");
  const std::string isa = resolve_isa(opt.isa);
  const Model source = open_model(opt.model, opt.tokenizer);
  if (source.config.context > 0 && opt.ctx > source.config.context && !opt.quiet) {
    std::cerr << fmt::format("warning: -c {} is beyond the {} positions {} was trained on; perplexity there measures extrapolation\n", opt.ctx,
                             source.config.context, opt.model);
  }
  InMemoryReport q;
  nlohmann::json gptq_report, awq_report;
  const MethodPlan plan = method_plan(opt.method);
  const bool gptq = plan.calibrated();
  if (gptq && opt.scheme.empty()) throw_usage("--method " + plan.name() + " needs --scheme (the scheme it quantizes to)");
  // AWQ into a GGML type: the scales searched with llama.cpp's quantizer, then the scaled model quantized
  // by it with the scaled inputs' importance
  const WeightType wt = opt.scheme.empty() ? WeightType{} : parse_weight_type(opt.scheme);
  const bool awq_ggml = plan.awq && !wt.is_scheme();
  const bool awq_alone = plan.awq && !plan.gptq;  // awq+gptq runs inside GPTQ's pipeline (apply_gptq)
  const std::map<std::string, GgmlType> ggml_types = awq_ggml && awq_alone ? ggml_targets(source, wt.ggml(), opt.scheme) : std::map<std::string, GgmlType>{};
  ImportanceMatrix awq_importance;
  const Model scaled = !awq_alone ? Model{}
                       : awq_ggml ? apply_awq(source, Scheme{}, opt.method, opt.threads, opt.quiet || opt.json, &awq_report, "", &ggml_types,
                                              &awq_importance)
                                  : apply_awq(source, awq_target(opt.scheme, opt.method), opt.method, opt.threads, opt.quiet || opt.json, &awq_report);
  const Model& input = awq_alone ? scaled : source;
  const Model m = plan.gptq  ? apply_gptq(input, opt.scheme, opt.method, opt.threads, opt.quiet || opt.json, &gptq_report)
                  : awq_ggml ? apply_scheme(input, wt, opt.threads, opt.quiet, &q, &awq_importance)
                  : plan.awq ? apply_scheme(input, WeightType::scheme(awq_target(opt.scheme, opt.method)), opt.threads, opt.quiet, &q)
                  : opt.scheme.empty() ? source
                                       : apply_scheme(source, rtn_type(opt.scheme, opt.method), opt.threads, opt.quiet, &q);
  PerplexityOptions p;
  p.batch = opt.batch;
  p.save_logits = opt.save_logits;
  p.base_logits = opt.base_logits;
  p.overwrite = opt.force;
  p.ctx = opt.ctx;
  p.protocol = parse_ppl_protocol(opt.protocol);
  p.max_chunks = opt.chunks;
  p.threads = opt.threads;
  p.isa = isa;
  p.activations = parse_activations(opt.activations);
  p.kv = parse_kv_type(opt.kv);
  Progress progress(opt.quiet);
  p.progress = [&progress](int64_t c, int64_t n, double ppl) { progress.update(c, n, fmt::format("[{}/{}] PPL so far {:.4f}", c + 1, n, ppl), double(c + 1) / double(n)); };
  std::unique_ptr<Model> base;
  if (!opt.base.empty()) base = std::make_unique<Model>(open_model(opt.base, opt.tokenizer));
  const PerplexityResult r = perplexity(m, text, p, base.get());
  progress.clear();
  if (opt.json) {
    nlohmann::json j = {{"ppl", r.ppl}, {"ppl_stderr", r.ppl_stderr}, {"tokens", r.text_tokens}, {"chunks", r.chunks},
                        {"scored", r.scored}, {"ctx", opt.ctx}, {"protocol", opt.protocol}, {"seconds", r.seconds}, {"tokens_per_second", r.tokens_per_second},
                        {"peak_rss_bytes", peak_rss_bytes()}, {"kernel_isa", r.kernel_isa}, {"batch", opt.batch}, {"kv", opt.kv}, {"kv_bytes_per_token", r.kv_bytes_per_token},
                        {"weight_bytes", r.weight_bytes}, {"resident_weight_bytes", r.resident_weight_bytes}};
    if (!opt.scheme.empty() && !gptq) {
      j["scheme"] = {{"type", parse_weight_type(opt.scheme).name()}, {"method", "rtn"}, {"matrices", q.tensors.size()},
                     {"bytes", q.bytes}, {"bits_per_weight", q.bits_per_weight()}};
    }
    if (gptq) {
      nlohmann::json sj = plan.gptq ? gptq_report : nlohmann::json{{"bits_per_weight", q.bits_per_weight()}, {"bytes", q.bytes}};
      sj["type"] = parse_weight_type(opt.scheme).name();
      sj["method"] = plan.name();
      if (awq_alone) sj["awq"] = awq_report;
      j["scheme"] = sj;
    }
    if (r.has_kld) {
      const KldStats& k = r.kld;
      j["kld"] = {{"mean", k.mean}, {"mean_stderr", k.mean_stderr}, {"median", k.median}, {"p90", k.p90}, {"p99", k.p99},
                  {"p99.9", k.p999}, {"max", k.max}};
      j["same_top_p"] = k.same_top1;
      j["base_ppl"] = k.base_ppl;
      j["ppl_ratio"] = k.ppl_ratio;
      j["ppl_difference"] = k.ppl_difference;
      j["rms_delta_p"] = k.rms_delta_p;
    }
    print_json(j);
    return;
  }
  std::cout << fmt::format("PPL = {:.4f} +/- {:.5f}  ({} chunks of {} tokens, {} scored; text {} tokens)\n", r.ppl, r.ppl_stderr,
                           r.chunks, opt.ctx, r.scored, r.text_tokens);
  if (r.has_kld) {
    const KldStats& k = r.kld;
    std::cout << fmt::format("base PPL {:.4f}; PPL ratio {:.6f}, difference {:+.6f}\n", k.base_ppl, k.ppl_ratio, k.ppl_difference);
    std::cout << fmt::format("KLD mean {:.6f} +/- {:.6f}, median {:.6f}, p90 {:.6f}, p99 {:.6f}, p99.9 {:.6f}, max {:.6f}\n", k.mean,
                             k.mean_stderr, k.median, k.p90, k.p99, k.p999, k.max);
    std::cout << fmt::format("same top-1 {:.3f}%, RMS delta-p {:.3f}%\n", 100 * k.same_top1, 100 * k.rms_delta_p);
  }
  std::cout << fmt::format("KV cache {}: {} bytes per token\n", opt.kv, r.kv_bytes_per_token);
  std::cout << fmt::format("weights: {} bytes stored, {} bytes resident{}\n", grouped(r.weight_bytes), grouped(r.resident_weight_bytes),
                           opt.scheme.empty() ? "" : fmt::format(" ({} block matrices in {}: {} bytes, {:.3f} bits/weight)", q.tensors.size(),
                                                                 parse_weight_type(opt.scheme).name(), grouped(q.bytes), q.bits_per_weight()));
  std::cout << fmt::format("{:.1f} tokens/s, {:.2f} s, peak RSS {}\n", r.tokens_per_second, r.seconds,
                           format_bytes_short(peak_rss_bytes()));
}
}  // namespace

void add_eval_command(CLI::App& app) {
  auto opt = std::make_shared<EvalOptions>();
  CLI::App* cmd = app.add_subcommand("eval", "Perplexity on a text with llama.cpp's protocol (second half of each chunk scored)");
  add_model_option(cmd, opt->model);
  cmd->add_option("-f,--file,--text", opt->text_file, "Text file (llama-perplexity's -f)")->required();
  add_ctx_option(cmd, opt->ctx, "Tokens per chunk (llama-perplexity's -c)")->capture_default_str();
  cmd->add_option("--protocol", opt->protocol,
                  "llama.cpp: llama-perplexity's chunks (BOS first, second half scored); windows: the GPTQ/AWQ papers' "
                  "consecutive windows of --ctx tokens, every position scored (transformers' figure)")
      ->capture_default_str();
  cmd->add_option("--chunks", opt->chunks, "Evaluate at most this many chunks (default: all)")->check(non_negative_count());
  cmd->add_option("--kv", opt->kv, "KV cache format: " + kv_type_names())->capture_default_str();
  cmd->add_option("--base", opt->base, "Base model: also report the KL divergence from its next-token distribution");
  cmd->add_option("--base-logits", opt->base_logits, "Base logits saved by --save-logits: KL divergence without running the base model");
  cmd->add_option("--save-logits", opt->save_logits, "Write this model's logits at every scored position (float32; for --base-logits)");
  cmd->add_flag("--force", opt->force, "Overwrite the --save-logits file");
  cmd->add_option("--scheme", opt->scheme,
                  "Quantize the block matrices in memory (round to nearest) to this weight type first, e.g. int4-asym-g128, "
                  "nf4-b64, Q4_K (any type `vernier formats` lists); the kernels multiply the packed weights");
  add_method_options(cmd, opt->method);
  add_batch_option(cmd, opt->batch, "Tokens per forward pass", true)->capture_default_str();
  add_threads_option(cmd, opt->threads);
  add_isa_option(cmd, opt->isa);
  add_activations_option(cmd, opt->activations);
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json);
  cmd->callback([opt] { run_eval(*opt); });
}

}  // namespace vernier::cli
