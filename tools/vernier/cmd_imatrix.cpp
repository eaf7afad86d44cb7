// vernier imatrix — collect an importance matrix from calibration text, as llama-imatrix does.
#include <fmt/format.h>

#include <filesystem>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/imatrix_collect.hpp"

namespace vernier::cli {

namespace {
struct ImatrixOptions {
  std::string model, text_file, output, format = "gguf", tokenizer, kv = "f32", isa = "auto";
  int64_t ctx = 512, chunks = 0;
  int threads = 0;
  bool force = false, quiet = false;
};

void run_imatrix(const ImatrixOptions& opt) {
  require_model(opt.model);
  if (opt.format != "gguf" && opt.format != "dat") throw_usage("--format must be gguf or dat");
  refuse_overwriting_inputs(opt.output, "-o", {{"model", opt.model}, {"-f", opt.text_file}, {"--tokenizer", opt.tokenizer}});
  if (std::filesystem::exists(opt.output) && !opt.force) throw_usage(opt.output + ": exists (pass --force to overwrite it)");
  std::ifstream in(opt.text_file, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, opt.text_file + ": cannot open");
  const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  if (text.empty()) throw_bad_input(opt.text_file + ": the text is empty");
  const Model m = open_model(opt.model, opt.tokenizer);
  Progress progress(opt.quiet);
  ImatrixStats s = collect_imatrix(m, text, opt.ctx, opt.chunks, opt.threads, [&](int64_t c, int64_t n) {
    progress.update(c, n, fmt::format("[{}/{}] chunks", c + 1, n), double(c + 1) / double(n));
  }, parse_kv_type(opt.kv), resolve_isa(opt.isa));
  progress.clear();
  s.dataset = opt.text_file;
  if (opt.format == "gguf") write_imatrix_gguf(s, opt.output, opt.force);
  else write_imatrix_dat(s, opt.output, opt.force);
  std::cout << fmt::format("wrote {}: {} tensors, {} chunks of {} tokens\n", opt.output, s.sum2.size(), s.chunks, s.ctx);
}
}  // namespace

void add_imatrix_command(CLI::App& app) {
  auto opt = std::make_shared<ImatrixOptions>();
  CLI::App* cmd = app.add_subcommand("imatrix", "Collect an importance matrix from calibration text (llama-imatrix's format)");
  add_model_option(cmd, opt->model);
  cmd->add_option("-f,--file,--text", opt->text_file, "Calibration text (llama-imatrix's -f)")->required();
  cmd->add_option("-o,--output", opt->output, "Output file")->required();
  cmd->add_option("--format", opt->format, "gguf or dat (legacy)")->capture_default_str();
  add_ctx_option(cmd, opt->ctx, "Tokens per chunk (llama-imatrix's -c)")->capture_default_str();
  cmd->add_option("--chunks", opt->chunks, "At most this many chunks (default: all)")->check(non_negative_count());
  add_threads_option(cmd, opt->threads, "Threads (default: all)");
  add_isa_option(cmd, opt->isa);
  cmd->add_option("--kv", opt->kv, "KV cache format the activations are computed with: " + kv_type_names())->capture_default_str();
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  cmd->add_flag("--force", opt->force, "Overwrite an existing output");
  add_quiet_flag(cmd, opt->quiet);
  cmd->callback([opt] { run_imatrix(*opt); });
}

}  // namespace vernier::cli
