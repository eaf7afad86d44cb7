#include "vernier/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <cmath>

#include "vernier/error.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

namespace {
// log-softmax as llama.cpp computes it: float max, double sum of expf
void log_softmax(std::span<const float> logits, std::vector<double>& out) {
  float maxv = logits[0];
  for (float v : logits) maxv = std::max(maxv, v);
  double sum_exp = 0.0;
  for (float v : logits) sum_exp += std::exp(v - maxv);
  const double lse = std::log(sum_exp);
  out.resize(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) out[i] = static_cast<double>(logits[i] - maxv) - lse;
}

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const double pos = q * static_cast<double>(v.size() - 1);
  const size_t lo = static_cast<size_t>(pos);
  const size_t hi = std::min(lo + 1, v.size() - 1);
  return v[lo] + (v[hi] - v[lo]) * (pos - static_cast<double>(lo));
}
}  // namespace

PerplexityResult perplexity(const Model& m, const std::string& text, const PerplexityOptions& opt, const Model* base) {
  if (opt.ctx < 4) throw_usage("--ctx must be at least 4");
  const Tokenizer tok(m.tokenizer);
  const std::vector<int32_t> tokens = tok.encode(text, true, false);
  PerplexityResult r;
  r.text_tokens = static_cast<int64_t>(tokens.size());
  if (r.text_tokens < 2 * opt.ctx) {
    throw_usage("the text has " + std::to_string(r.text_tokens) + " tokens; perplexity at context " + std::to_string(opt.ctx) +
                " needs at least " + std::to_string(2 * opt.ctx));
  }
  r.chunks = r.text_tokens / opt.ctx;
  if (opt.max_chunks > 0) r.chunks = std::min(r.chunks, opt.max_chunks);
  LlamaRuntime rt(m, opt.ctx, opt.threads, opt.kv);
  r.kv_bytes_per_token = rt.kv_bytes_per_token();
  std::unique_ptr<LlamaRuntime> base_rt;
  if (base) {
    base_rt = std::make_unique<LlamaRuntime>(*base, opt.ctx, opt.threads);
    if (base_rt->config().vocab != rt.config().vocab) {
      throw_usage("the base model's vocabulary (" + std::to_string(base_rt->config().vocab) + ") differs from the model's (" +
                  std::to_string(rt.config().vocab) + ")");
    }
  }
  std::vector<double> lp, blp, klds, dps;
  double base_nll = 0;
  int64_t same_top = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = opt.ctx / 2;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  for (int64_t c = 0; c < r.chunks; ++c) {
    const int64_t start = c * opt.ctx;
    for (int64_t i = 0; i < opt.ctx - 1; ++i) {
      const int32_t t = i == 0 ? tok.bos() : tokens[static_cast<size_t>(start + i)];
      const auto logits = rt.forward(t, i);
      std::span<const float> base_logits;
      if (base_rt) base_logits = base_rt->forward(t, i);
      if (i < first) continue;
      const size_t target = static_cast<size_t>(tokens[static_cast<size_t>(start + i + 1)]);
      log_softmax(logits, lp);
      nll += -lp[target];
      nll2 += lp[target] * lp[target];
      ++count;
      if (base_rt) {
        log_softmax(base_logits, blp);
        double kld = 0;
        size_t top = 0, base_top = 0;
        for (size_t v = 0; v < lp.size(); ++v) {
          kld += std::exp(blp[v]) * (blp[v] - lp[v]);
          if (lp[v] > lp[top]) top = v;
          if (blp[v] > blp[base_top]) base_top = v;
        }
        klds.push_back(kld);
        dps.push_back(std::exp(lp[target]) - std::exp(blp[target]));
        base_nll += -blp[target];
        same_top += top == base_top;
      }
    }
    if (opt.progress) opt.progress(c, r.chunks, std::exp(nll / static_cast<double>(count)));
  }
  r.scored = count;
  const double mean = nll / static_cast<double>(count);
  r.ppl = std::exp(mean);
  const double var = nll2 / static_cast<double>(count) - mean * mean;
  r.ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0;
  if (base_rt) {
    r.has_kld = true;
    KldStats& k = r.kld;
    double sum = 0, sum2 = 0, dp2 = 0;
    for (double v : klds) { sum += v; sum2 += v * v; }
    for (double v : dps) dp2 += v * v;
    const double n = static_cast<double>(klds.size());
    k.mean = sum / n;
    k.mean_stderr = n > 1 ? std::sqrt(std::max(0.0, sum2 / n - k.mean * k.mean) / (n - 1)) : 0;
    k.median = percentile(klds, 0.5);
    k.p90 = percentile(klds, 0.90);
    k.p99 = percentile(klds, 0.99);
    k.p999 = percentile(klds, 0.999);
    k.max = *std::max_element(klds.begin(), klds.end());
    k.same_top1 = static_cast<double>(same_top) / n;
    k.rms_delta_p = std::sqrt(dp2 / n);
    k.base_ppl = std::exp(base_nll / n);
    k.ppl_ratio = r.ppl / k.base_ppl;
    k.ppl_difference = r.ppl - k.base_ppl;
  }
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokens_per_second = r.seconds > 0 ? static_cast<double>(r.chunks * (opt.ctx - 1)) / r.seconds : 0;
  return r;
}

}  // namespace vernier
