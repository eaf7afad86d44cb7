// vernier run — generate text with a model, as llama2.c's run.c does: the prompt is fed (as one
// batch), then tokens are sampled (greedy at --temp 0) until -n steps, counting the prompt.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <cstdlib>
#include <numeric>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/synthetic.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier::cli {

namespace {
struct RunOptions {
  std::string model, prompt, tokenizer, kv = "f32", isa = "auto", scheme;
  int64_t steps = 256;
  double temp = 0.0, top_p = 0.9;
  uint64_t seed = 42;
  int64_t context = 0;
  int threads = 0;
  bool json = false, quiet = false;
};

int32_t sample(std::span<const float> logits, double temp, double top_p, Rng& rng) {
  if (temp <= 0.0) return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  std::vector<double> p(logits.size());
  const double maxv = *std::max_element(logits.begin(), logits.end());
  double sum = 0;
  for (size_t i = 0; i < p.size(); ++i) sum += (p[i] = std::exp((logits[i] - maxv) / temp));
  for (auto& v : p) v /= sum;
  std::vector<int32_t> idx(p.size());
  std::iota(idx.begin(), idx.end(), 0);
  std::sort(idx.begin(), idx.end(), [&](int32_t a, int32_t b) { return p[static_cast<size_t>(a)] > p[static_cast<size_t>(b)]; });
  double cum = 0;
  size_t last = idx.size();
  for (size_t i = 0; i < idx.size(); ++i) {
    cum += p[static_cast<size_t>(idx[i])];
    if (cum > top_p) { last = i + 1; break; }
  }
  const double r = rng.uniform() * std::min(cum, 1.0);
  double acc = 0;
  for (size_t i = 0; i < last; ++i) {
    acc += p[static_cast<size_t>(idx[i])];
    if (r < acc) return idx[i];
  }
  return idx[last - 1];
}

void run(const RunOptions& opt) {
  if (opt.steps < 1) throw_usage("-n must be at least 1");
  if (opt.temp < 0 || opt.top_p <= 0 || opt.top_p > 1) throw_usage("--temp must be >= 0 and --top-p in (0, 1]");
  const std::string isa = resolve_isa(opt.isa);
  const Model m = apply_scheme(open_model(opt.model, opt.tokenizer), opt.scheme, opt.threads, opt.quiet || opt.json, nullptr);
  const Tokenizer tok(m.tokenizer);
  LlamaRuntime rt(m, RuntimeOptions{opt.context, opt.threads, parse_kv_type(opt.kv), 512, isa});
  const std::vector<int32_t> prompt = tok.encode(opt.prompt, true, false);
  if (prompt.empty()) throw_usage("the prompt is empty and the model adds no BOS token: give a --prompt");
  if (static_cast<int64_t>(prompt.size()) > rt.context()) {
    throw_usage(fmt::format("the prompt is {} tokens, longer than the context of {}", prompt.size(), rt.context()));
  }
  const int64_t steps = std::min(opt.steps, rt.context());
  Rng rng(opt.seed);
  std::string text;
  std::vector<int32_t> generated;
  const auto emit = [&](int32_t prev, int32_t next) {
    std::string piece = tok.decode(prev, next);
    // like run.c's safe_printf: a lone byte that is neither printable nor space is not printed (for
    // SentencePiece byte tokens; a byte-level BPE token may be part of a UTF-8 character and is kept)
    if (!tok.byte_level() && piece.size() == 1 &&
        !(std::isprint(static_cast<unsigned char>(piece[0])) || std::isspace(static_cast<unsigned char>(piece[0])))) {
      piece.clear();
    }
    text += piece;
    if (!opt.json) std::cout << piece << std::flush;
  };
  // The prompt goes through the model in batches (one matrix-matrix product per weight matrix);
  // then one token per step. -n counts positions, prompt included, as llama2.c's run.c does.
  const auto t0 = std::chrono::steady_clock::now();
  const auto P = static_cast<int64_t>(prompt.size());
  const int64_t npre = std::min(P, steps);
  std::span<const float> logits;
  for (int64_t b0 = 0; b0 < npre; b0 += rt.max_batch()) {
    const int64_t nb = std::min(rt.max_batch(), npre - b0);
    logits = rt.forward(std::span<const int32_t>(prompt.data() + b0, static_cast<size_t>(nb)), b0);
  }
  const auto t_prompt = std::chrono::steady_clock::now();
  for (int64_t i = 0; i + 1 < npre; ++i) emit(prompt[static_cast<size_t>(i)], prompt[static_cast<size_t>(i + 1)]);
  int32_t token = prompt[static_cast<size_t>(npre - 1)];
  int64_t pos = npre, decoded = 0;
  if (npre < P) {
    emit(token, prompt[static_cast<size_t>(npre)]);  // -n ends inside the prompt
  } else {
    for (;;) {
      const int32_t next = sample(logits, opt.temp, opt.top_p, rng);
      generated.push_back(next);
      if (next == tok.bos()) break;
      emit(token, next);
      token = next;
      if (pos >= steps) break;
      logits = rt.forward(token, pos++);
      ++decoded;
    }
  }
  const auto t1 = std::chrono::steady_clock::now();
  const double prompt_s = std::chrono::duration<double>(t_prompt - t0).count();
  const double gen_s = std::chrono::duration<double>(t1 - t_prompt).count();
  const double prompt_tps = prompt_s > 0 ? static_cast<double>(npre) / prompt_s : 0;
  const double gen_tps = gen_s > 0 && decoded > 0 ? static_cast<double>(decoded) / gen_s : 0;
  if (opt.json) {
    print_json({{"text", text}, {"prompt_tokens", prompt}, {"generated_tokens", generated},
                {"prompt_tokens_per_second", prompt_tps}, {"generation_tokens_per_second", gen_tps},
                {"kernel_isa", rt.isa()}, {"threads", rt.threads()},
                {"peak_rss_bytes", peak_rss_bytes()}, {"model_bytes", rt.weight_bytes()},
                {"resident_weight_bytes", rt.resident_weight_bytes()}});
    return;
  }
  std::cout << '\n';
  std::cerr << fmt::format("prompt {} tokens at {:.1f} tok/s, generated {} tokens at {:.1f} tok/s ({} threads, {} kernels); "
                           "peak RSS {}, weights {} stored, {} resident\n",
                           npre, prompt_tps, generated.size(), gen_tps, rt.threads(), rt.isa(), format_bytes_short(peak_rss_bytes()),
                           format_bytes_short(rt.weight_bytes()), format_bytes_short(rt.resident_weight_bytes()));
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text with a model (greedy or sampled), with tokens/s and peak memory");
  cmd->add_option("model", opt->model, "Model: .gguf, Hugging Face directory or llama2.c .bin")->required();
  cmd->add_option("--prompt,-i", opt->prompt, "Prompt text");
  cmd->add_option("-n,--steps", opt->steps, "Steps, counting the prompt's tokens (as llama2.c's -n)")->capture_default_str();
  cmd->add_option("--temp,-t", opt->temp, "Temperature; 0 is greedy")->capture_default_str();
  cmd->add_option("--top-p,-p", opt->top_p, "Nucleus sampling threshold")->capture_default_str();
  cmd->add_option("--seed,-s", opt->seed, "Sampling seed")->capture_default_str();
  cmd->add_option("--ctx", opt->context, "Context length (default: the model's)");
  cmd->add_option("--scheme", opt->scheme,
                  "Quantize the block matrices in memory (round to nearest) to this weight type first, e.g. int4-asym-g128, "
                  "nf4-b64, Q4_K (any type `vernier formats` lists)");
  add_threads_option(cmd, opt->threads);
  add_isa_option(cmd, opt->isa);
  cmd->add_option("--kv", opt->kv, "KV cache format: " + kv_type_names())->capture_default_str();
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the text and figures");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace vernier::cli
