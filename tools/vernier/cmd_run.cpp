// vernier run — generate text with a model: the prompt is fed in batches, then -n tokens are sampled
// with llama.cpp's sampler chain (greedy by default), or, with --steps, as llama2.c's run.c counts.
#include <fmt/format.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <iostream>
#include <memory>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <random>

#include "cli_common.hpp"
#include "vernier/backend.hpp"
#include "vernier/error.hpp"
#include "vernier/kernels.hpp"
#include "vernier/file.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/sampler.hpp"
#include "vernier/synthetic.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier::cli {

namespace {
struct RunOptions {
  std::string model, prompt, short_prompt, prompt_file, tokenizer, kv = "f32", isa = "auto", scheme, activations = "bf16";
  int64_t n_predict = -1, steps = -1, batch = 512;  // steps < 0: not given
  SamplerOptions sampler = greedy_default();
  int64_t seed = 42;
  int64_t context = 0;
  int threads = 0;
  bool json = false, quiet = false, profile = false;
  static SamplerOptions greedy_default() {
    SamplerOptions o;  // llama.cpp's filters; the temperature is vernier's: greedy unless asked
    o.temp = 0;
    return o;
  }
};

// -p TEXT as llama.cpp's prompt, refused when it reads as the top-p value vernier's -p (and llama2.c's)
// used to take, so that `-p 0.9` never silently becomes the prompt "0.9".
std::string prompt_of(const RunOptions& opt) {
  const int given = !opt.prompt.empty() + !opt.short_prompt.empty() + !opt.prompt_file.empty();
  if (given > 1) throw_usage("give the prompt once: -p/--prompt TEXT or -f/--file FILE");
  if (!opt.short_prompt.empty()) {
    char* end = nullptr;
    const double v = std::strtod(opt.short_prompt.c_str(), &end);
    if (end && *end == '\0' && v > 0 && v <= 1) {
      throw_usage("-p is the prompt, as in llama.cpp; '" + opt.short_prompt + "' looks like a top-p value: write --top-p " +
                  opt.short_prompt + " (or --prompt '" + opt.short_prompt + "' if it is the prompt)");
    }
    return opt.short_prompt;
  }
  if (!opt.prompt_file.empty()) {
    std::ifstream in(opt.prompt_file, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, opt.prompt_file + ": cannot open the prompt file");
    return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
  }
  return opt.prompt;
}

// --profile: the phase's wall time split over the backend's operations; what is left is the
// runtime's own work between them (embedding rows, KV cache writes, the logits) and, for decode,
// sampling (timed apart).
struct PhaseProfile {
  BackendProfile ops;
  double wall = 0, sampling = 0;
  int64_t tokens = 0;
};
BackendProfile minus(const BackendProfile& a, const BackendProfile& b) {
  BackendProfile d;
  for (int i = 0; i < BackendProfile::kOps; ++i) {
    d.seconds[i] = a.seconds[i] - b.seconds[i];
    d.calls[i] = a.calls[i] - b.calls[i];
  }
  d.weight_bytes = a.weight_bytes - b.weight_bytes;
  return d;
}
nlohmann::json profile_json(const PhaseProfile& p) {
  nlohmann::json ops = nlohmann::json::object();
  for (int i = 0; i < BackendProfile::kOps; ++i) ops[BackendProfile::name(i)] = {{"seconds", p.ops.seconds[i]}, {"calls", p.ops.calls[i]}};
  return {{"tokens", p.tokens}, {"wall_seconds", p.wall}, {"sampling_seconds", p.sampling}, {"operations", ops},
          {"other_seconds", std::max(0.0, p.wall - p.ops.total() - p.sampling)}, {"weight_bytes_read", p.ops.weight_bytes}};
}
void print_profile(const PhaseProfile& prompt, const PhaseProfile& decode) {
  std::cerr << fmt::format("\nprofile          prompt ({} tokens)        decode ({} tokens)\n", prompt.tokens, decode.tokens);
  std::cerr << fmt::format("{:<22}{:>10}{:>7}{:>15}{:>7}\n", "", "ms", "%", "ms per token", "%");
  const auto row = [&](const std::string& name, double ps, double ds) {
    const double pt = prompt.wall > 0 ? 100 * ps / prompt.wall : 0, dt = decode.wall > 0 ? 100 * ds / decode.wall : 0;
    const double dpt = decode.tokens > 0 ? 1e3 * ds / static_cast<double>(decode.tokens) : 0;
    std::cerr << fmt::format("{:<22}{:>10.1f}{:>6.1f}%{:>15.3f}{:>6.1f}%\n", name, 1e3 * ps, pt, dpt, dt);
  };
  for (int i = 0; i < BackendProfile::kOps; ++i) row(BackendProfile::name(i), prompt.ops.seconds[i], decode.ops.seconds[i]);
  row("sampling", prompt.sampling, decode.sampling);
  row("other", std::max(0.0, prompt.wall - prompt.ops.total() - prompt.sampling), std::max(0.0, decode.wall - decode.ops.total() - decode.sampling));
  row("total", prompt.wall, decode.wall);
  const auto gbs = [](const PhaseProfile& p) {
    const double s = p.ops.seconds[BackendProfile::matmul];
    return s > 0 ? static_cast<double>(p.ops.weight_bytes) / s / 1e9 : 0.0;
  };
  std::cerr << fmt::format("matrix products read the weights at {:.1f} GB/s in decode ({} per token; {:.1f} GB/s counting the whole step), "
                           "{:.1f} GB/s in the prompt\n",
                           gbs(decode), format_bytes_short(decode.tokens > 0 ? decode.ops.weight_bytes / static_cast<uint64_t>(decode.tokens) : 0),
                           decode.wall > 0 ? static_cast<double>(decode.ops.weight_bytes) / decode.wall / 1e9 : 0.0, gbs(prompt));
}

void run(const RunOptions& opt) {
  require_model(opt.model);
  if (opt.n_predict < -1) throw_usage("-n/--n-predict must be >= -1 (-1: until the context is full or the model ends the text)");
  if (opt.steps == 0 || opt.steps < -1) throw_usage("--steps must be at least 1");
  if (opt.steps > 0 && opt.n_predict != -1) throw_usage("give -n/--n-predict (tokens after the prompt) or --steps (llama2.c's count, prompt included), not both");
  if (opt.batch < 1) throw_usage("-b/--batch-size must be at least 1");
  validate(opt.sampler);
  const std::string prompt_text = prompt_of(opt);
  const std::string isa = resolve_isa(opt.isa);
  const Model m = apply_scheme(open_model(opt.model, opt.tokenizer), opt.scheme, opt.threads, opt.quiet || opt.json, nullptr);
  const Tokenizer tok(m.tokenizer);
  const std::vector<int32_t> prompt = tok.encode(prompt_text, true, false);
  // without -c, the KV cache holds what this run needs (the prompt and -n tokens, or --steps), not the whole trained context
  int64_t context = opt.context;
  if (context == 0 && m.config.context > 0) {
    const auto P = static_cast<int64_t>(prompt.size());
    if (opt.steps > 0) context = std::min(m.config.context, std::max(opt.steps, P));
    else if (opt.n_predict >= 0) context = std::min(m.config.context, std::max<int64_t>(P + opt.n_predict, 1));
  }
  RuntimeOptions ropt{context, opt.threads, parse_kv_type(opt.kv), opt.batch, isa};
  ropt.activations = parse_activations(opt.activations);
  BackendProfile prof;
  const KernelContext kctx = make_kernel_context(isa, opt.threads);
  std::unique_ptr<LlamaRuntime> rt_owner =
      opt.profile ? std::make_unique<LlamaRuntime>(m, ropt, make_profiled_backend(make_cpu_backend(kctx, ropt.activations), prof))
                  : std::make_unique<LlamaRuntime>(m, ropt);
  LlamaRuntime& rt = *rt_owner;
  if (prompt.empty()) throw_usage("the prompt is empty and the model adds no BOS token: give a -p/--prompt");
  if (static_cast<int64_t>(prompt.size()) > rt.context()) {
    throw_usage(fmt::format("the prompt is {} tokens, longer than the context of {}", prompt.size(), rt.context()));
  }
  const auto P = static_cast<int64_t>(prompt.size());
  const int64_t ctx = rt.context();
  // --steps S (llama2.c): S positions, prompt included, so it may end inside the prompt; -n N (llama.cpp):
  // N tokens after the whole prompt, -1 until the context is full. A sampled token needs no position
  // of its own, so a context of C positions holds 1 + C − P of them.
  const int64_t room = 1 + ctx - P;
  const int64_t npre = opt.steps > 0 ? std::min(P, std::min(opt.steps, ctx)) : P;
  const int64_t samples = opt.steps > 0 ? (opt.steps >= P ? 1 + std::min(opt.steps, ctx) - P : 0)
                                        : opt.n_predict < 0 ? room : std::min(opt.n_predict, room);
  // llama2.c's run.c ends the text at BOS; llama.cpp at the end-of-text token as well
  const auto ends = [&](int32_t t) { return t == tok.bos() || (opt.steps < 0 && t == tok.eos() && t >= 0); };
  const uint64_t seed = opt.seed >= 0 ? static_cast<uint64_t>(opt.seed) : std::random_device{}();
  Rng rng(seed);
  std::string text;
  std::vector<int32_t> generated, history(prompt.begin(), prompt.end());
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
  // The prompt goes through the model in batches of -b tokens (one matrix-matrix product per weight
  // matrix); then one token per step.
  const auto t0 = std::chrono::steady_clock::now();
  std::span<const float> logits;
  for (int64_t b0 = 0; b0 < npre; b0 += rt.max_batch()) {
    const int64_t nb = std::min(rt.max_batch(), npre - b0);
    logits = rt.forward(std::span<const int32_t>(prompt.data() + b0, static_cast<size_t>(nb)), b0);
  }
  const auto t_prompt = std::chrono::steady_clock::now();
  const BackendProfile after_prompt = prof;
  double sampling_s = 0;
  for (int64_t i = 0; i + 1 < npre; ++i) emit(prompt[static_cast<size_t>(i)], prompt[static_cast<size_t>(i + 1)]);
  int32_t token = prompt[static_cast<size_t>(npre - 1)];
  int64_t pos = npre, decoded = 0;
  bool ended = false;
  if (npre < P) emit(token, prompt[static_cast<size_t>(npre)]);  // --steps ends inside the prompt
  for (int64_t i = 0; i < samples; ++i) {
    const auto ts = std::chrono::steady_clock::now();
    const int32_t next = sample_token(logits, history, opt.sampler, rng);
    sampling_s += std::chrono::duration<double>(std::chrono::steady_clock::now() - ts).count();
    generated.push_back(next);
    history.push_back(next);
    if (ends(next)) {
      ended = true;
      break;
    }
    emit(token, next);
    token = next;
    if (i + 1 == samples) break;
    logits = rt.forward(token, pos++);
    ++decoded;
  }
  const bool cut_by_context = !ended && opt.steps < 0 && (opt.n_predict < 0 || opt.n_predict > room);
  const auto t1 = std::chrono::steady_clock::now();
  const double prompt_s = std::chrono::duration<double>(t_prompt - t0).count();
  const double gen_s = std::chrono::duration<double>(t1 - t_prompt).count();
  const double prompt_tps = prompt_s > 0 ? static_cast<double>(npre) / prompt_s : 0;
  const double gen_tps = gen_s > 0 && decoded > 0 ? static_cast<double>(decoded) / gen_s : 0;
  const PhaseProfile prompt_prof{after_prompt, prompt_s, 0, npre};
  const PhaseProfile decode_prof{minus(prof, after_prompt), gen_s, sampling_s, decoded};
  const std::string kernels_name = opt.profile ? kctx.isa() : rt.isa();
  if (opt.json) {
    nlohmann::json j{{"text", text}, {"prompt_tokens", prompt}, {"generated_tokens", generated},
                {"prompt_tokens_per_second", prompt_tps}, {"generation_tokens_per_second", gen_tps},
                {"seed", seed}, {"stopped", ended ? "end of text" : cut_by_context ? "context full" : "length"},
                {"kernel_isa", kernels_name}, {"threads", rt.threads()},
                {"peak_rss_bytes", peak_rss_bytes()}, {"model_bytes", rt.weight_bytes()},
                {"resident_weight_bytes", rt.resident_weight_bytes()}};
    if (opt.profile) j["profile"] = {{"prompt", profile_json(prompt_prof)}, {"decode", profile_json(decode_prof)}};
    print_json(j);
    return;
  }
  std::cout << '\n';
  if (cut_by_context && opt.n_predict > 0) {
    std::cerr << fmt::format("note: the context of {} positions ended the text after {} of the {} tokens -n asked for (raise -c/--ctx-size)\n",
                             ctx, generated.size(), opt.n_predict);
  }
  std::cerr << fmt::format("prompt {} tokens at {:.1f} tok/s, generated {} tokens at {:.1f} tok/s ({} threads, {} kernels); "
                           "peak RSS {}, weights {} stored, {} resident\n",
                           npre, prompt_tps, generated.size(), gen_tps, rt.threads(), kernels_name, format_bytes_short(peak_rss_bytes()),
                           format_bytes_short(rt.weight_bytes()), format_bytes_short(rt.resident_weight_bytes()));
  if (opt.profile) print_profile(prompt_prof, decode_prof);
}
}  // namespace

void add_run_command(CLI::App& app) {
  auto opt = std::make_shared<RunOptions>();
  CLI::App* cmd = app.add_subcommand("run", "Generate text with a model (greedy or sampled), with tokens/s and peak memory. "
                                            "Flags as llama.cpp's llama-cli: -m, -p, -f, -n, -c, -b, -t, -s and the sampling flags");
  add_model_option(cmd, opt->model);
  cmd->add_option("-p", opt->short_prompt, "Prompt text (llama.cpp's -p; a value like 0.9 is refused as the top-p it used to be here)");
  cmd->add_option("--prompt", opt->prompt, "Prompt text");
  cmd->add_option("-f,--file", opt->prompt_file, "Read the prompt from this file");
  cmd->add_option("-n,--n-predict,--predict", opt->n_predict,
                  "Tokens to generate after the prompt, as llama.cpp's -n (-1: until the context is full or the model ends the text)")
      ->capture_default_str();
  cmd->add_option("--steps", opt->steps, "Instead of -n: llama2.c's -n, positions counting the prompt's tokens (run.c's output, byte for byte)");
  cmd->add_option("--temp", opt->sampler.temp, "Temperature; 0 is greedy (vernier's default; llama.cpp's is 0.8)")->capture_default_str();
  cmd->add_option("--top-k", opt->sampler.top_k, "Keep the k most likely tokens (0: all), as llama.cpp")->capture_default_str();
  cmd->add_option("--top-p", opt->sampler.top_p, "Keep the fewest tokens whose probability reaches p (1: off), as llama.cpp")->capture_default_str();
  cmd->add_option("--min-p", opt->sampler.min_p, "Drop tokens less likely than p × the most likely one's (0: off), as llama.cpp")->capture_default_str();
  cmd->add_option("--repeat-penalty", opt->sampler.repeat_penalty, "Penalty on the last --repeat-last-n tokens (1: off), as llama.cpp")
      ->capture_default_str();
  cmd->add_option("--repeat-last-n", opt->sampler.repeat_last_n, "Tokens the repeat penalty looks back at (0: off, -1: all)")->capture_default_str();
  cmd->add_option("-s,--seed", opt->seed, "Sampling seed (-1: a random one, llama.cpp's default; vernier's default is fixed)")->capture_default_str();
  add_ctx_option(cmd, opt->context, "Context length (0: the model's)")->capture_default_str();
  add_batch_option(cmd, opt->batch, "Prompt tokens per forward pass", false)->capture_default_str();
  cmd->add_option("--scheme", opt->scheme,
                  "Quantize the block matrices in memory (round to nearest) to this weight type first, e.g. int4-asym-g128, "
                  "nf4-b64, Q4_K (any type `vernier formats` lists)");
  add_threads_option(cmd, opt->threads);
  add_isa_option(cmd, opt->isa);
  add_activations_option(cmd, opt->activations);
  cmd->add_option("--kv", opt->kv, "KV cache format: " + kv_type_names())->capture_default_str();
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  cmd->add_flag("--profile", opt->profile,
                "Time each operation of the forward pass (matrix products, RMSNorm, RoPE, attention, SwiGLU, residual adds), "
                "sampling and the rest, for the prompt and per decoded token, and the products' weight bandwidth");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the text and figures");
  add_refused_option(cmd, "-i", "-i was vernier's prompt flag; the prompt is -p/--prompt (llama.cpp's -i is interactive mode, "
                                "which vernier run does not have)");
  cmd->callback([opt] { run(*opt); });
}

}  // namespace vernier::cli
