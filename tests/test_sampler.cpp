// The sampler chain against its definition written out longhand (llama.cpp's order and rules), and
// the draw's frequencies against the candidates' probabilities.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>
#include <numeric>
#include <vector>

#include "vernier/error.hpp"
#include "vernier/sampler.hpp"

namespace {
using vernier::Candidate;
using vernier::SamplerOptions;

// Longhand: probabilities at temperature 1, sorted; the rules applied one after the other.
std::vector<int32_t> kept_longhand(std::vector<float> logits, const std::vector<int32_t>& history, const SamplerOptions& o) {
  if (o.repeat_penalty != 1.0 && o.repeat_last_n != 0) {
    const size_t n = o.repeat_last_n < 0 ? history.size() : std::min<size_t>(history.size(), static_cast<size_t>(o.repeat_last_n));
    std::vector<bool> seen(logits.size(), false);
    for (size_t i = history.size() - n; i < history.size(); ++i) seen[static_cast<size_t>(history[i])] = true;
    for (size_t t = 0; t < logits.size(); ++t) {
      if (seen[t]) logits[t] = logits[t] > 0 ? logits[t] / static_cast<float>(o.repeat_penalty) : logits[t] * static_cast<float>(o.repeat_penalty);
    }
  }
  std::vector<int32_t> ids(logits.size());
  std::iota(ids.begin(), ids.end(), 0);
  std::stable_sort(ids.begin(), ids.end(), [&](int32_t a, int32_t b) { return logits[static_cast<size_t>(a)] > logits[static_cast<size_t>(b)]; });
  if (o.top_k > 0 && static_cast<size_t>(o.top_k) < ids.size()) ids.resize(static_cast<size_t>(o.top_k));
  if (o.top_p < 1) {
    double z = 0;
    for (int32_t t : ids) z += std::exp(logits[static_cast<size_t>(t)] - logits[static_cast<size_t>(ids[0])]);
    double cum = 0;
    for (size_t i = 0; i < ids.size(); ++i) {
      cum += std::exp(logits[static_cast<size_t>(ids[i])] - logits[static_cast<size_t>(ids[0])]) / z;
      if (cum >= o.top_p) {
        ids.resize(i + 1);
        break;
      }
    }
  }
  if (o.min_p > 0) {
    const double p0 = 1.0;  // relative to the most likely token
    std::vector<int32_t> keep;
    for (int32_t t : ids) {
      const double rel = std::exp(static_cast<double>(logits[static_cast<size_t>(t)]) - logits[static_cast<size_t>(ids[0])]);
      if (rel >= o.min_p * p0 - 1e-12 || keep.empty()) keep.push_back(t);
    }
    ids = keep;
  }
  return ids;
}

std::vector<float> random_logits(vernier::Rng& rng, size_t n) {
  std::vector<float> v(n);
  for (float& x : v) x = static_cast<float>(rng.normal() * 2.0);
  return v;
}

TEST(Sampler, EveryCombinationOfTheFiltersKeepsWhatTheLonghandKeeps) {
  vernier::Rng rng(11);
  int cases = 0;
  for (size_t vocab : {1u, 2u, 7u, 40u, 41u, 300u}) {
    for (int trial = 0; trial < 6; ++trial) {
      const std::vector<float> logits = random_logits(rng, vocab);
      std::vector<int32_t> history;
      for (int i = 0; i < 20; ++i) history.push_back(static_cast<int32_t>(rng.next() % vocab));
      for (int64_t k : {0, 1, 5, 40}) {
        for (double p : {0.3, 0.95, 1.0}) {
          for (double mp : {0.0, 0.05, 0.5}) {
            for (double pen : {1.0, 1.3}) {
              for (int64_t last : {-1, 0, 8}) {
                SamplerOptions o;
                o.temp = 0.7;
                o.top_k = k;
                o.top_p = p;
                o.min_p = mp;
                o.repeat_penalty = pen;
                o.repeat_last_n = last;
                const std::vector<Candidate> c = vernier::sampler_candidates(logits, history, o);
                const std::vector<int32_t> want = kept_longhand(logits, history, o);
                ASSERT_EQ(c.size(), want.size()) << "vocab " << vocab << " k " << k << " p " << p << " min_p " << mp;
                double sum = 0;
                for (size_t i = 0; i < c.size(); ++i) {
                  EXPECT_EQ(c[i].token, want[i]);
                  if (i > 0) EXPECT_LE(c[i].p, c[i - 1].p);
                  sum += c[i].p;
                }
                EXPECT_NEAR(sum, 1.0, 1e-12);
                ++cases;
              }
            }
          }
        }
      }
    }
  }
  EXPECT_EQ(cases, 6 * 6 * 4 * 3 * 3 * 2 * 3);
}

TEST(Sampler, TemperatureScalesOnlyTheDrawAndZeroIsTheArgmaxAfterThePenalty) {
  const std::vector<float> logits = {1.0f, 3.0f, 2.0f, 3.0f};
  vernier::Rng rng(1);
  SamplerOptions o;
  o.temp = 0;
  EXPECT_EQ(vernier::sample_token(logits, {}, o, rng), 1);  // a tie goes to the lower id
  const std::vector<int32_t> history = {1};
  o.repeat_penalty = 2.0;
  EXPECT_EQ(vernier::sample_token(logits, history, o, rng), 3);  // 3/2 < 2 < 3
  const std::vector<float> neg = {-1.0f, -0.5f};
  const std::vector<int32_t> h1 = {1};
  EXPECT_EQ(vernier::sample_token(neg, h1, o, rng), 0);  // a negative logit is multiplied: -0.5·2 ties -1, the lower id wins
  // the filters see untempered logits: the same tokens survive at every temperature
  SamplerOptions a;
  a.top_k = 0;
  a.min_p = 0;
  a.top_p = 0.9;
  for (double t : {0.25, 1.0, 4.0}) {
    a.temp = t;
    const auto c = vernier::sampler_candidates(logits, {}, a);
    EXPECT_EQ(c.size(), 3u) << t;
    // p_i ∝ exp(l_i / t)
    EXPECT_NEAR(c[0].p / c[2].p, std::exp((3.0 - 2.0) / t), 1e-9) << t;
  }
}

TEST(Sampler, DrawsFollowTheCandidatesProbabilities) {
  const std::vector<float> logits = {0.0f, 1.0f, 2.0f, -1.0f, 0.5f};
  SamplerOptions o;
  o.temp = 1.0;
  o.top_k = 0;
  o.top_p = 1.0;
  o.min_p = 0.0;
  const auto c = vernier::sampler_candidates(logits, {}, o);
  ASSERT_EQ(c.size(), logits.size());
  vernier::Rng rng(5);
  std::map<int32_t, int> count;
  const int n = 200000;
  for (int i = 0; i < n; ++i) ++count[vernier::sample_token(logits, {}, o, rng)];
  for (const Candidate& x : c) {
    const double sd = std::sqrt(x.p * (1 - x.p) / n);
    EXPECT_NEAR(count[x.token] / double(n), x.p, 5 * sd) << x.token;  // 5σ: a seeded test, flake-free
  }
  // the same seed gives the same tokens
  vernier::Rng r1(9), r2(9);
  for (int i = 0; i < 100; ++i) EXPECT_EQ(vernier::sample_token(logits, {}, o, r1), vernier::sample_token(logits, {}, o, r2));
}

TEST(Sampler, OutOfRangeOptionsAreRefusedByFlagName) {
  const auto refused = [](SamplerOptions o, const char* flag) {
    try {
      vernier::validate(o);
    } catch (const vernier::Error& e) {
      EXPECT_EQ(e.kind(), vernier::ErrorKind::usage);
      EXPECT_NE(std::string(e.what()).find(flag), std::string::npos) << e.what();
      return;
    }
    ADD_FAILURE() << flag << " accepted";
  };
  SamplerOptions o;
  vernier::validate(o);
  o.temp = -1;
  refused(o, "--temp");
  o = {};
  o.top_p = 0;
  refused(o, "--top-p");
  o = {};
  o.min_p = 1.5;
  refused(o, "--min-p");
  o = {};
  o.repeat_penalty = 0;
  refused(o, "--repeat-penalty");
  o = {};
  o.repeat_last_n = -2;
  refused(o, "--repeat-last-n");
}

}  // namespace
