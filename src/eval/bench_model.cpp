// A model's prompt and decode speed end to end (bench_model.hpp).
#include "vernier/bench_model.hpp"

#include <algorithm>
#include <chrono>
#include <cmath>
#include <random>

#include "vernier/error.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier {

std::string ModelBenchResult::name() const {
  std::string s = n_prompt > 0 ? "pp" + std::to_string(n_prompt) : "tg" + std::to_string(n_gen);
  if (n_depth > 0) s += " @ d" + std::to_string(n_depth);
  return s;
}

namespace {
using Clock = std::chrono::steady_clock;

void summarise(ModelBenchResult& r) {
  std::vector<double> s = r.samples_ts;
  std::sort(s.begin(), s.end());
  const size_t n = s.size();
  r.median_ts = n % 2 ? s[n / 2] : 0.5 * (s[n / 2 - 1] + s[n / 2]);
  double sum = 0;
  for (double v : s) sum += v;
  r.avg_ts = sum / static_cast<double>(n);
  double ss = 0;
  for (double v : s) ss += (v - r.avg_ts) * (v - r.avg_ts);
  r.stddev_ts = n > 1 ? std::sqrt(ss / static_cast<double>(n - 1)) : 0.0;  // Bessel's correction, as llama-bench
}

// Runs tokens[0, n) from position pos0 in batches of the runtime's largest batch.
void prefill(LlamaRuntime& rt, const std::vector<int32_t>& tokens, int64_t pos0, int64_t n) {
  for (int64_t b0 = 0; b0 < n; b0 += rt.max_batch()) {
    const int64_t nb = std::min(rt.max_batch(), n - b0);
    rt.forward(std::span<const int32_t>(tokens.data() + pos0 + b0, static_cast<size_t>(nb)), pos0 + b0);
  }
}
}  // namespace

std::vector<ModelBenchResult> bench_model(const Model& m, const ModelBenchOptions& opt) {
  const auto check = [](const std::vector<int64_t>& v, const char* what, bool positive) {
    if (v.empty()) throw_usage(std::string(what) + ": give at least one value");
    for (int64_t x : v)
      if (x < 0 || (positive && x == 0)) throw_usage(std::string(what) + (positive ? " must be at least 1" : " must be at least 0"));
  };
  check(opt.prompts, "-p/--n-prompt", false);
  check(opt.gens, "-n/--n-gen", false);
  check(opt.depths, "-d/--n-depth", false);
  check(opt.batches, "-b/--batch-size", true);
  if (opt.repetitions < 1) throw_usage("-r/--repetitions must be at least 1");
  if (opt.threads.empty()) throw_usage("-t/--threads: give at least one value");
  for (int t : opt.threads)
    if (t < 0) throw_usage("-t/--threads must be at least 0 (0: every core)");
  const int64_t most_p = *std::max_element(opt.prompts.begin(), opt.prompts.end());
  const int64_t most_g = *std::max_element(opt.gens.begin(), opt.gens.end());
  const int64_t most_d = *std::max_element(opt.depths.begin(), opt.depths.end());
  if (most_p == 0 && most_g == 0) throw_usage("nothing to measure: -p and -n are both 0");
  const int64_t context = most_d + std::max(most_p, most_g);
  if (m.config.context > 0 && context > m.config.context) {
    throw_usage(m.path + ": the tests need " + std::to_string(context) + " positions (depth + prompt or generation), more than the model's context of " +
                std::to_string(m.config.context));
  }
  const int64_t vocab = m.config.vocab;
  if (vocab < 1) throw_usage(m.path + ": the model has no vocabulary");
  std::mt19937_64 rng(opt.seed);
  std::uniform_int_distribution<int32_t> pick(0, static_cast<int32_t>(vocab - 1));
  std::vector<int32_t> tokens(static_cast<size_t>(context));
  for (int32_t& t : tokens) t = pick(rng);

  std::vector<ModelBenchResult> out;
  const auto say = [&](const std::string& s) {
    if (opt.progress) opt.progress(s);
  };
  for (int threads : opt.threads) {
    for (size_t bi = 0; bi < opt.batches.size(); ++bi) {
      const int64_t batch = opt.batches[bi];
      RuntimeOptions ro{context, threads, opt.kv, batch, opt.isa};
      ro.activations = opt.activations;
      LlamaRuntime rt(m, ro);
      for (int64_t depth : opt.depths) {
        const auto run_test = [&](int64_t n_prompt, int64_t n_gen) {
          ModelBenchResult r{n_prompt, n_gen, depth, batch, rt.threads(), rt.isa(), {}};
          for (int rep = -1; rep < opt.repetitions; ++rep) {  // rep −1: the warm-up, untimed
            say(r.name() + " (" + std::to_string(rt.threads()) + " threads, batch " + std::to_string(batch) + "): " +
                (rep < 0 ? std::string("warm-up") : "repetition " + std::to_string(rep + 1) + "/" + std::to_string(opt.repetitions)));
            prefill(rt, tokens, 0, depth);
            const auto t0 = Clock::now();
            if (n_prompt > 0) {
              prefill(rt, tokens, depth, n_prompt);
            } else {
              for (int64_t i = 0; i < (rep < 0 ? 1 : n_gen); ++i) rt.forward(tokens[static_cast<size_t>(depth + i)], depth + i);
            }
            const double s = std::chrono::duration<double>(Clock::now() - t0).count();
            if (rep >= 0) r.samples_ts.push_back(static_cast<double>(n_prompt > 0 ? n_prompt : n_gen) / std::max(s, 1e-12));
          }
          summarise(r);
          out.push_back(std::move(r));
        };
        for (int64_t p : opt.prompts)
          if (p > 0) run_test(p, 0);
        if (bi == 0)
          for (int64_t g : opt.gens)
            if (g > 0) run_test(0, g);
      }
    }
  }
  return out;
}

}  // namespace vernier
