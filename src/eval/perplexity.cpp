#include "vernier/perplexity.hpp"

#include <algorithm>
#include <chrono>
#include <memory>
#include <cmath>

#include <cstring>

#include "vernier/error.hpp"
#include "vernier/file.hpp"
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

namespace {
constexpr char kLogitsMagic[8] = {'V', 'R', 'N', 'L', 'G', 'T', '0', '1'};
constexpr size_t kLogitsHeader = 8 + 16;

// A --save-logits file opened for reading, validated against this evaluation.
struct BaseLogitsFile {
  MappedFile file;
  int64_t vocab = 0, ctx = 0, chunks = 0, scored = 0;
  const float* logits = nullptr;

  BaseLogitsFile(const std::string& path, int64_t want_vocab, int64_t want_ctx, int64_t want_chunks,
                 const std::vector<int32_t>& tokens, PplProtocol protocol)
      : file(path) {
    const uint8_t* p = file.data();
    if (file.size() < kLogitsHeader || std::memcmp(p, kLogitsMagic, 8) != 0) {
      throw_bad_input(path + ": not a vernier logits file (expected the magic VRNLGT01 that --save-logits writes)");
    }
    uint32_t h[4];
    std::memcpy(h, p + 8, 16);
    vocab = h[0], ctx = h[1], chunks = h[2];
    if (vocab != want_vocab) {
      throw_bad_input(path + ": logits over " + std::to_string(vocab) + " tokens, the model's vocabulary has " + std::to_string(want_vocab));
    }
    if (ctx != want_ctx) throw_bad_input(path + ": saved at --ctx " + std::to_string(ctx) + ", this run uses " + std::to_string(want_ctx));
    if (chunks < want_chunks) {
      throw_bad_input(path + ": holds " + std::to_string(chunks) + " chunks, this run scores " + std::to_string(want_chunks));
    }
    if (h[3] != static_cast<uint32_t>(protocol)) {
      throw_bad_input(path + ": saved with --protocol " + std::string(h[3] == 0 ? "llama.cpp" : h[3] == 1 ? "windows" : "?") +
                      ", this run uses " + std::string(ppl_protocol_name(protocol)));
    }
    scored = protocol == PplProtocol::windows ? ctx - 1 : ctx - 1 - ctx / 2;
    const uint64_t need = kLogitsHeader + static_cast<uint64_t>(chunks * ctx) * 4 + static_cast<uint64_t>(chunks * scored * vocab) * 4;
    if (file.size() != need) {
      throw_bad_input(path + ": " + std::to_string(file.size()) + " bytes, expected " + std::to_string(need) + " (truncated?)");
    }
    const uint8_t* tok = p + kLogitsHeader;
    for (int64_t i = 0; i < want_chunks * ctx; ++i) {
      int32_t t;
      std::memcpy(&t, tok + 4 * i, 4);
      if (t != tokens[static_cast<size_t>(i)]) {
        throw_bad_input(path + ": token " + std::to_string(i) + " is " + std::to_string(t) + " in the file and " +
                        std::to_string(tokens[static_cast<size_t>(i)]) + " here: not the same text or tokenizer");
      }
    }
    logits = reinterpret_cast<const float*>(tok + static_cast<uint64_t>(chunks * ctx) * 4);
  }
  std::span<const float> row(int64_t chunk, int64_t scored_index) const {
    return {logits + (chunk * scored + scored_index) * vocab, static_cast<size_t>(vocab)};
  }
};
}  // namespace

namespace {
// KL(base ‖ model) from the two log-probability vectors; same_top: both maxima on the same token.
double kld_of_log_probs(const std::vector<double>& blp, const std::vector<double>& lp, bool* same_top) {
  double kld = 0;
  size_t top = 0, base_top = 0;
  for (size_t v = 0; v < lp.size(); ++v) {
    kld += std::exp(blp[v]) * (blp[v] - lp[v]);
    if (lp[v] > lp[top]) top = v;
    if (blp[v] > blp[base_top]) base_top = v;
  }
  *same_top = top == base_top;
  return kld;
}
}  // namespace

PplProtocol parse_ppl_protocol(std::string_view name) {
  if (name == "llama.cpp") return PplProtocol::llama_cpp;
  if (name == "windows") return PplProtocol::windows;
  throw_usage("unknown perplexity protocol '" + std::string(name) + "' (choices: llama.cpp, windows)");
}

std::string_view ppl_protocol_name(PplProtocol p) { return p == PplProtocol::windows ? "windows" : "llama.cpp"; }

double kl_divergence(std::span<const float> base_logits, std::span<const float> logits, bool* same_top) {
  if (base_logits.size() != logits.size() || logits.empty()) throw_usage("kl_divergence: logits of different sizes");
  std::vector<double> lp, blp;
  log_softmax(logits, lp);
  log_softmax(base_logits, blp);
  bool same = false;
  const double kld = kld_of_log_probs(blp, lp, &same);
  if (same_top) *same_top = same;
  return kld;
}

PerplexityResult perplexity(const Model& m, const std::string& text, const PerplexityOptions& opt, const Model* base) {
  if (opt.ctx < 4) throw_usage("--ctx must be at least 4");
  if (opt.batch < 1) throw_usage("--batch must be at least 1");
  if (base && !opt.base_logits.empty()) throw_usage("give a base model or base logits, not both");
  const Tokenizer tok(m.tokenizer);
  const std::vector<int32_t> tokens = tok.encode(text, true, false);
  PerplexityResult r;
  r.text_tokens = static_cast<int64_t>(tokens.size());
  const bool windows = opt.protocol == PplProtocol::windows;
  const int64_t min_tokens = windows ? opt.ctx : 2 * opt.ctx;
  if (r.text_tokens < min_tokens) {
    throw_usage("the text has " + std::to_string(r.text_tokens) + " tokens; perplexity at context " + std::to_string(opt.ctx) +
                " needs at least " + std::to_string(min_tokens));
  }
  r.chunks = r.text_tokens / opt.ctx;
  if (opt.max_chunks > 0) r.chunks = std::min(r.chunks, opt.max_chunks);
  const int64_t batch = std::min(opt.batch, opt.ctx - 1);
  RuntimeOptions ropt{opt.ctx, opt.threads, opt.kv, batch, opt.isa};
  ropt.activations = opt.activations;
  LlamaRuntime rt(m, ropt);
  r.kernel_isa = rt.isa();
  const int64_t V = rt.config().vocab;
  r.kv_bytes_per_token = rt.kv_bytes_per_token();
  r.weight_bytes = rt.weight_bytes();
  r.resident_weight_bytes = rt.resident_weight_bytes();
  std::unique_ptr<LlamaRuntime> base_rt;
  if (base) {
    base_rt = std::make_unique<LlamaRuntime>(*base, RuntimeOptions{opt.ctx, opt.threads, KvType::f32, batch, opt.isa});
    if (base_rt->config().vocab != V) {
      throw_usage("the base model's vocabulary (" + std::to_string(base_rt->config().vocab) + ") differs from the model's (" +
                  std::to_string(V) + ")");
    }
  }
  std::unique_ptr<BaseLogitsFile> base_file;
  if (!opt.base_logits.empty()) base_file = std::make_unique<BaseLogitsFile>(opt.base_logits, V, opt.ctx, r.chunks, tokens, opt.protocol);
  const bool has_base = base_rt || base_file;
  std::unique_ptr<AtomicFile> save;
  if (!opt.save_logits.empty()) {
    save = std::make_unique<AtomicFile>(opt.save_logits, opt.overwrite);
    save->write(kLogitsMagic, 8);
    const uint32_t h[4] = {static_cast<uint32_t>(V), static_cast<uint32_t>(opt.ctx), static_cast<uint32_t>(r.chunks),
                           static_cast<uint32_t>(opt.protocol)};
    save->write(h, 16);
    save->write(tokens.data(), static_cast<size_t>(r.chunks * opt.ctx) * 4);
  }
  std::vector<double> lp, blp, klds, dps;
  double base_nll = 0;
  int64_t same_top = 0;
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t first = windows ? 0 : opt.ctx / 2;  // the first position scored in a chunk
  double nll = 0, nll2 = 0;
  int64_t count = 0;
  std::vector<int32_t> input(static_cast<size_t>(opt.ctx - 1));
  for (int64_t c = 0; c < r.chunks; ++c) {
    const int64_t start = c * opt.ctx;
    for (int64_t i = 0; i < opt.ctx - 1; ++i) {
      const bool bos = !windows && i == 0 && tok.adds_bos();  // llama.cpp: each chunk starts with BOS
      input[static_cast<size_t>(i)] = bos ? tok.bos() : tokens[static_cast<size_t>(start + i)];
    }
    for (int64_t b0 = 0; b0 < opt.ctx - 1; b0 += batch) {
      const int64_t nb = std::min(batch, opt.ctx - 1 - b0);
      const std::span<const int32_t> in(input.data() + b0, static_cast<size_t>(nb));
      if (b0 + nb <= first) {  // nothing scored in this batch: only the KV cache is needed
        rt.forward(in, b0, false);
        if (base_rt) base_rt->forward(in, b0, false);
        continue;
      }
      const auto all = rt.forward(in, b0, true);
      std::span<const float> base_all;
      if (base_rt) base_all = base_rt->forward(in, b0, true);
      for (int64_t i = std::max(b0, first); i < b0 + nb; ++i) {
        const auto logits = all.subspan(static_cast<size_t>((i - b0) * V), static_cast<size_t>(V));
        if (save) save->write(logits.data(), static_cast<size_t>(V) * 4);
        const size_t target = static_cast<size_t>(tokens[static_cast<size_t>(start + i + 1)]);
        log_softmax(logits, lp);
        nll += -lp[target];
        nll2 += lp[target] * lp[target];
        ++count;
        if (!has_base) continue;
        log_softmax(base_rt ? base_all.subspan(static_cast<size_t>((i - b0) * V), static_cast<size_t>(V)) : base_file->row(c, i - first), blp);
        bool same = false;
        klds.push_back(kld_of_log_probs(blp, lp, &same));
        dps.push_back(std::exp(lp[target]) - std::exp(blp[target]));
        base_nll += -blp[target];
        same_top += same;
      }
    }
    if (opt.progress) opt.progress(c, r.chunks, std::exp(nll / static_cast<double>(count)));
  }
  if (save) save->commit();
  r.scored = count;
  const double mean = nll / static_cast<double>(count);
  r.ppl = std::exp(mean);
  const double var = nll2 / static_cast<double>(count) - mean * mean;
  r.ppl_stderr = var > 0 && count > 1 ? std::sqrt(var / static_cast<double>(count - 1)) * r.ppl : 0;
  if (has_base) {
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
