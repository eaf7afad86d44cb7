// vernier compare — every (weight type, method) combination on one model, one metric, one table.
#include <fmt/format.h>

#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli_common.hpp"
#include "cli_report.hpp"
#include "vernier/compare.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/report.hpp"

namespace vernier::cli {

namespace {
struct CompareCli {
  std::string model, tokenizer, text_file, calib, html, protocol = "windows", isa = "auto", activations = "bf16";
  std::vector<std::string> types, methods = {"rtn"};
  int64_t ctx = 256, chunks = 0, batch = 512, calib_ctx = 256, calib_windows = 128, decode_tokens = 64;
  int threads = 0;
  bool json = false, quiet = false;
};

void print_rows(const CompareResult& r, std::ostream& out) {
  Table t;
  t.left_tail = 1;
  t.header = {"type", "method", "files", "bits/w", "resident", "mean KLD", "p99 KLD", "same top-1", "PPL", "quantize s", "tok/s", "peak RSS", "note"};
  const CompareRow& b = r.base;
  t.rows.push_back({b.type, "as stored", "-", fixed(b.bits_per_weight, 2), format_bytes_short(b.resident_bytes), "0", "0", "100%", fixed(b.ppl, 4), "-",
                    fixed(b.decode_tokens_per_second, 0), format_bytes_short(b.peak_rss_bytes), "the reference"});
  for (const CompareRow& x : r.rows) {
    if (x.status != "ok") {
      t.rows.push_back({x.type, x.method, x.layouts, "-", "-", "-", "-", "-", "-", "-", "-", "-", x.status + ": " + x.note});
      continue;
    }
    t.rows.push_back({x.type, x.method, x.layouts, fixed(x.bits_per_weight, 3), format_bytes_short(x.resident_bytes),
                      num(x.kld.mean, 4), num(x.kld.p99, 4), fixed(100 * x.kld.same_top1, 2) + "%", fixed(x.ppl, 4), num(x.quant_seconds, 3),
                      fixed(x.decode_tokens_per_second, 0), format_bytes_short(x.peak_rss_bytes), x.pareto ? "* Pareto front" : ""});
  }
  t.print(out);
  out << fmt::format("{} tokens of text, {} scored per row; {} threads, {} kernels; {:.1f} s in all. The Pareto front: no other row is both "
                     "smaller and closer (mean KLD) to the float model.\n",
                     r.text_tokens, r.scored, r.threads > 0 ? std::to_string(r.threads) : "all", r.isa, r.seconds);
}

void run_compare(const CompareCli& c) {
  require_model(c.model);
  if (c.types.empty()) throw_usage("compare needs --schemes (weight types, e.g. int4-asym-g128,Q4_K,nf4-b64)");
  CompareOptions o;
  o.types = c.types;
  for (const std::string& m : c.methods) o.methods.push_back(parse_compare_method(m));
  for (const std::string& t : c.types) (void)parse_weight_type(t);  // a bad name is refused before the model loads
  o.text = read_text_file(c.text_file);
  if (o.text.empty()) throw_bad_input(c.text_file + ": the text is empty");
  if (!c.calib.empty()) {
    if (read_text_file(c.calib).empty()) throw_bad_input(c.calib + ": the calibration text is empty");
    o.calib.text_path = c.calib;
  }
  o.calib.ctx = c.calib_ctx;
  o.calib.windows = c.calib_windows;
  o.protocol = parse_ppl_protocol(c.protocol);
  o.ctx = c.ctx;
  o.chunks = c.chunks;
  o.batch = c.batch;
  o.threads = c.threads;
  o.isa = resolve_isa(c.isa);
  o.activations = parse_activations(c.activations);
  if (c.decode_tokens < 0) throw_usage("--decode-tokens must be 0 or more");
  o.decode_tokens = c.decode_tokens;
  std::unique_ptr<HtmlOutput> html;
  if (!c.html.empty()) html = std::make_unique<HtmlOutput>(c.html, std::vector<NamedInput>{{"model", c.model}, {"--text", c.text_file}, {"--calib", c.calib}, {"--tokenizer", c.tokenizer}});
  const Model m = open_model(c.model, c.tokenizer);
  Progress progress(c.quiet);
  o.progress = compare_progress(progress);
  const CompareResult r = compare_models(m, o);
  progress.clear();
  const nlohmann::json j = compare_json(r);
  if (html) html->write(render_html_report(j, c.model));
  if (c.json) {
    print_json(j);
  } else {
    print_rows(r, std::cout);
    if (html) std::cout << "wrote " << c.html << "\n";
  }
}
}  // namespace

void add_compare_command(CLI::App& app) {
  auto c = std::make_shared<CompareCli>();
  CLI::App* cmd = app.add_subcommand(
      "compare", "Quantize one model every requested way and measure each against the float model on the same tokens (KLD, PPL, size, speed)");
  add_model_option(cmd, c->model);
  cmd->add_option("--schemes,--types", c->types, "Weight types to compare, comma-separated (any `vernier formats` lists: int4-asym-g128, nf4-b64, Q4_K, …)")
      ->delimiter(',')
      ->required();
  cmd->add_option("--methods", c->methods,
                  "Methods, comma-separated: rtn, imatrix (GGML types), gptq, awq, awq+gptq; a method that does not serve a type, or needs "
                  "--calib when none is given, is a skipped row")
      ->delimiter(',')
      ->capture_default_str();
  cmd->add_option("-f,--file,--text", c->text_file, "Evaluation text (every row is measured on its tokens)")->required();
  cmd->add_option("--calib", c->calib, "Calibration text for imatrix, gptq, awq and awq+gptq");
  cmd->add_option("--calib-ctx", c->calib_ctx, "Tokens per calibration window")->capture_default_str();
  cmd->add_option("--calib-windows", c->calib_windows, "Calibration windows (the first N)")->capture_default_str();
  add_ctx_option(cmd, c->ctx, "Tokens per evaluation window or chunk")->capture_default_str();
  cmd->add_option("--protocol", c->protocol,
                  "windows: consecutive windows of --ctx tokens, every position scored (the GPTQ/AWQ papers'); llama.cpp: llama-perplexity's chunks")
      ->capture_default_str();
  cmd->add_option("--chunks", c->chunks, "Evaluate at most this many windows (default: all)")->check(non_negative_count());
  cmd->add_option("--decode-tokens", c->decode_tokens, "Greedy tokens timed per row for tokens/s (0: none)")->capture_default_str();
  add_batch_option(cmd, c->batch, "Tokens per forward pass of the evaluation", false)->capture_default_str();
  add_threads_option(cmd, c->threads);
  add_isa_option(cmd, c->isa);
  add_activations_option(cmd, c->activations);
  cmd->add_option("--tokenizer", c->tokenizer, kTokenizerHelp);
  cmd->add_option("--html", c->html, "Also write the HTML report (one self-contained file with plots) here");
  add_quiet_flag(cmd, c->quiet);
  add_json_flag(cmd, c->json, "the rows (the input of `vernier report`)");
  cmd->callback([c] { run_compare(*c); });
}

}  // namespace vernier::cli
