#include "vernier/perplexity.hpp"

#include <chrono>
#include <cmath>

#include "vernier/error.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

PerplexityResult perplexity(const Model& m, const std::string& text, const PerplexityOptions& opt) {
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
  LlamaRuntime rt(m, opt.ctx, opt.threads);
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = opt.ctx / 2;
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  for (int64_t c = 0; c < r.chunks; ++c) {
    const int64_t start = c * opt.ctx;
    for (int64_t i = 0; i < opt.ctx - 1; ++i) {
      const int32_t t = i == 0 ? tok.bos() : tokens[static_cast<size_t>(start + i)];
      const auto logits = rt.forward(t, i);
      if (i < first) continue;
      // log-softmax of the next token, as llama.cpp: float max, double sum of expf
      const int32_t target = tokens[static_cast<size_t>(start + i + 1)];
      float maxv = logits[0];
      for (float v : logits) maxv = std::max(maxv, v);
      double sum_exp = 0.0;
      for (float v : logits) sum_exp += std::exp(v - maxv);
      const double lp = static_cast<double>(logits[static_cast<size_t>(target)] - maxv) - std::log(sum_exp);
      nll += -lp;
      nll2 += lp * lp;
      ++count;
    }
    if (opt.progress) opt.progress(c, r.chunks, std::exp(nll / static_cast<double>(count)));
  }
  r.scored = count;
  const double mean = nll / static_cast<double>(count);
  r.ppl = std::exp(mean);
  const double var = nll2 / static_cast<double>(count) - mean * mean;
  r.ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  r.tokens_per_second = r.seconds > 0 ? static_cast<double>(r.chunks * (opt.ctx - 1)) / r.seconds : 0;
  return r;
}

}  // namespace vernier
