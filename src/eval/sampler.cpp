// llama.cpp's default sampler chain (penalties → top-k → top-p → min-p → temperature → draw), over a
// copy of the logits. The filters work on the untempered logits, as in llama.cpp, where temperature is
// the last stage before the draw: --top-p 0.95 keeps the same tokens at --temp 0.5 and at --temp 1.5.
#include "vernier/sampler.hpp"

#include <algorithm>
#include <cmath>
#include <string>
#include <unordered_set>

#include "vernier/error.hpp"

namespace vernier {

void validate(const SamplerOptions& o) {
  if (!(o.temp >= 0) || !std::isfinite(o.temp)) throw_usage("--temp must be a number >= 0 (0 is greedy)");
  if (!(o.top_p > 0) || o.top_p > 1) throw_usage("--top-p must be in (0, 1] (1 turns it off)");
  if (!(o.min_p >= 0) || o.min_p > 1) throw_usage("--min-p must be in [0, 1] (0 turns it off)");
  if (!(o.repeat_penalty > 0) || !std::isfinite(o.repeat_penalty)) throw_usage("--repeat-penalty must be > 0 (1 turns it off)");
  if (o.repeat_last_n < -1) throw_usage("--repeat-last-n must be >= -1 (-1: every token so far, 0: off)");
}

namespace {
struct Logit {
  float v;
  int32_t id;
};

bool penalty_off(const SamplerOptions& o, std::span<const int32_t> history) {
  return o.repeat_penalty == 1.0 || o.repeat_last_n == 0 || history.empty();
}

std::vector<Logit> penalized(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o) {
  std::vector<Logit> c(logits.size());
  for (size_t i = 0; i < logits.size(); ++i) c[i] = {logits[i], static_cast<int32_t>(i)};
  if (penalty_off(o, history)) return c;
  const size_t n = o.repeat_last_n < 0 ? history.size() : std::min(history.size(), static_cast<size_t>(o.repeat_last_n));
  std::unordered_set<int32_t> seen(history.end() - static_cast<std::ptrdiff_t>(n), history.end());
  const auto pen = static_cast<float>(o.repeat_penalty);
  for (int32_t t : seen) {
    if (t < 0 || static_cast<size_t>(t) >= c.size()) continue;
    float& v = c[static_cast<size_t>(t)].v;
    v = v <= 0 ? v * pen : v / pen;  // llama.cpp's rule: a penalty > 1 always makes the token less likely
  }
  return c;
}

// Softmax of v / temp over c (c sorted, c[0] the largest), in double.
std::vector<double> softmax(const std::vector<Logit>& c, double temp) {
  std::vector<double> p(c.size());
  double sum = 0;
  for (size_t i = 0; i < c.size(); ++i) sum += p[i] = std::exp((static_cast<double>(c[i].v) - c[0].v) / temp);
  for (double& x : p) x /= sum;
  return p;
}

// The chain up to and including temperature: what is left, most likely first, with its probabilities.
std::vector<Candidate> chain(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o) {
  if (logits.empty()) throw_usage("sampler: no logits");
  std::vector<Logit> c = penalized(logits, history, o);
  // most likely first; equal logits by token id, so the order (and the draw) never depends on the sort
  const auto before = [](const Logit& a, const Logit& b) { return a.v > b.v || (a.v == b.v && a.id < b.id); };
  if (o.temp <= 0) {
    const Logit best = *std::min_element(c.begin(), c.end(), before);
    return {{best.id, 1.0}};
  }
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < c.size()) {
    std::partial_sort(c.begin(), c.begin() + o.top_k, c.end(), before);
    c.resize(static_cast<size_t>(o.top_k));
  } else {
    std::sort(c.begin(), c.end(), before);
  }
  if (o.top_p < 1) {  // the fewest tokens whose probability reaches top_p (at least one)
    const std::vector<double> p = softmax(c, 1.0);
    double cum = 0;
    size_t keep = c.size();
    for (size_t i = 0; i < p.size(); ++i) {
      cum += p[i];
      if (cum >= o.top_p) {
        keep = i + 1;
        break;
      }
    }
    c.resize(keep);
  }
  if (o.min_p > 0) {  // p_i >= min_p · p_0  ⇔  logit_i >= logit_0 + log(min_p)
    const double floor = static_cast<double>(c[0].v) + std::log(o.min_p);
    size_t keep = 1;
    while (keep < c.size() && static_cast<double>(c[keep].v) >= floor) ++keep;
    c.resize(keep);
  }
  const std::vector<double> p = softmax(c, o.temp);
  std::vector<Candidate> out(c.size());
  for (size_t i = 0; i < c.size(); ++i) out[i] = {c[i].id, p[i]};
  return out;
}
}  // namespace

std::vector<Candidate> sampler_candidates(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o) {
  return chain(logits, history, o);
}

int32_t sample_token(std::span<const float> logits, std::span<const int32_t> history, const SamplerOptions& o, Rng& rng) {
  // greedy without a penalty: the first largest logit, with no copy of the vocabulary per token
  if (o.temp <= 0 && penalty_off(o, history)) {
    if (logits.empty()) throw_usage("sampler: no logits");
    return static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const std::vector<Candidate> c = chain(logits, history, o);
  if (o.temp <= 0) return c[0].token;
  const double r = rng.uniform();
  double acc = 0;
  for (const Candidate& x : c) {
    acc += x.p;
    if (r < acc) return x.token;
  }
  return c.back().token;  // r within rounding of 1
}

}  // namespace vernier
