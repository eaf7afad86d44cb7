// Error metrics on hand-computed cases; plan arithmetic against published parameter counts.
#include <gtest/gtest.h>

#include <random>

#include <cmath>

#include "vernier/error.hpp"
#include "vernier/hf_checkpoint.hpp"
#include "vernier/metrics.hpp"
#include "vernier/plan.hpp"
#include "vernier/units.hpp"

namespace vernier {
namespace {

TEST(Metrics, HandComputedCase) {
  const std::vector<float> ref = {1, 2, 3, 0};
  const std::vector<float> app = {1, 2, 4, -1};
  const ErrorStats s = error_stats(ref, app);
  EXPECT_EQ(s.count, 4);
  EXPECT_DOUBLE_EQ(s.mse, 2.0 / 4);
  EXPECT_DOUBLE_EQ(s.rmse, std::sqrt(0.5));
  EXPECT_DOUBLE_EQ(s.max_abs, 1.0);
  EXPECT_DOUBLE_EQ(s.mean_signed, 0.0);  // +1 and -1 cancel: bias, not error
  EXPECT_DOUBLE_EQ(s.sqnr_db, 10 * std::log10(14.0 / 2.0));
  EXPECT_DOUBLE_EQ(s.cosine, (1 + 4 + 12) / (std::sqrt(14.0) * std::sqrt(22.0)));
}

TEST(Metrics, ExactZeroAndNonFiniteCases) {
  const std::vector<float> a = {0.5f, -0.25f};
  EXPECT_TRUE(std::isinf(error_stats(a, a).sqnr_db));
  EXPECT_NEAR(error_stats(a, a).cosine, 1.0, 1e-15);
  const std::vector<float> z = {0.0f, 0.0f};
  EXPECT_EQ(error_stats(z, z).cosine, 1.0);
  EXPECT_EQ(error_stats(z, a).cosine, 0.0);
  EXPECT_EQ(error_stats(z, a).sqnr_db, -INFINITY);
  const std::vector<float> n = {NAN, 0.0f};
  EXPECT_TRUE(std::isnan(error_stats(a, n).max_abs));
  EXPECT_TRUE(std::isnan(error_stats(a, n).mse));
  EXPECT_THROW(error_stats(a, std::vector<float>{1.0f}), Error);
}

TEST(Metrics, VectorSumsAgreeWithAScalarOracleAndKeepNonFiniteValues) {
  // the sums run in double vector lanes (metrics_simd.cpp): the same terms in another order
  std::mt19937 rng(3);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const size_t n : {size_t{1}, size_t{7}, size_t{8}, size_t{9}, size_t{1000}, size_t{1027}}) {
    std::vector<float> r(n), a(n);
    for (size_t i = 0; i < n; ++i) {
      r[i] = nd(rng);
      a[i] = r[i] + 0.01f * nd(rng);
    }
    double e2 = 0, r2 = 0, mx = 0, dot = 0, a2 = 0;
    for (size_t i = 0; i < n; ++i) {
      const double e = static_cast<double>(a[i]) - r[i];
      e2 += e * e;
      r2 += static_cast<double>(r[i]) * r[i];
      a2 += static_cast<double>(a[i]) * a[i];
      dot += static_cast<double>(r[i]) * a[i];
      mx = std::max(mx, std::fabs(e));
    }
    const ErrorStats s = error_stats(r, a);
    EXPECT_NEAR(s.mse, e2 / static_cast<double>(n), 1e-12 * e2 / static_cast<double>(n)) << n;
    EXPECT_EQ(s.max_abs, mx) << n;
    EXPECT_NEAR(s.sqnr_db, 10 * std::log10(r2 / e2), 1e-9) << n;
    EXPECT_NEAR(s.cosine, dot / std::sqrt(r2 * a2), 1e-12) << n;
    for (const float bad : {NAN, INFINITY}) {
      std::vector<float> b = a;
      b[n / 2] = bad;
      const ErrorStats t = error_stats(r, b);
      EXPECT_FALSE(std::isfinite(t.max_abs)) << n << " " << bad;
      EXPECT_FALSE(std::isfinite(t.mse)) << n << " " << bad;
    }
  }
}

TEST(Metrics, PerRowAndAccumulatedEqualTheWhole) {
  const std::vector<float> ref = {1, 2, 3, 4, 5, 6};
  const std::vector<float> app = {1.5f, 2, 3, 4, 4, 6.25f};
  const auto rows = error_stats_per_row(ref, app, 2, 3);
  ASSERT_EQ(rows.size(), 2u);
  EXPECT_DOUBLE_EQ(rows[0].mse, 0.25 / 3);
  EXPECT_DOUBLE_EQ(rows[1].max_abs, 1.0);
  ErrorAccumulator acc;
  acc.add(std::span(ref).first(3), std::span(app).first(3));
  acc.add(std::span(ref).last(3), std::span(app).last(3));
  const ErrorStats whole = error_stats(ref, app);
  EXPECT_DOUBLE_EQ(acc.result().mse, whole.mse);
  EXPECT_DOUBLE_EQ(acc.result().cosine, whole.cosine);
  EXPECT_DOUBLE_EQ(acc.result().sqnr_db, whole.sqnr_db);
}

TEST(Plan, PresetParameterCountsMatchThePublishedModels) {
  // Totals of the Hugging Face checkpoints (embeddings, attention, MLP, norms, lm_head).
  const std::pair<const char*, int64_t> expected[] = {
      {"llama2-7b", 6738415616}, {"llama2-13b", 13015864320}, {"llama2-70b", 68976648192},
      {"llama3-8b", 8030261248}, {"llama3-70b", 70553706496}, {"mistral-7b", 7241732096},
  };
  for (const auto& [name, n] : expected) {
    const ModelShape* m = find_preset(name);
    ASSERT_NE(m, nullptr) << name;
    EXPECT_EQ(parameter_count(*m).total(), n) << name;
  }
  EXPECT_EQ(find_preset("gpt-5"), nullptr);
}

TEST(Plan, KvCacheOfLlama2_7bAt4096TokensInFp16IsExactlyTwoGiB) {
  const ModelShape& m = *find_preset("llama2-7b");
  EXPECT_EQ(kv_cache_bytes(m, 4096, 1, 2.0), 2ull * 1024 * 1024 * 1024);
  EXPECT_EQ(kv_cache_bytes(m, 4096, 8, 0.5), 4ull * 1024 * 1024 * 1024);
  // GQA: LLaMA-3-8B has 8 KV heads, a quarter of the cache per token
  EXPECT_EQ(kv_cache_bytes(*find_preset("llama3-8b"), 4096, 1, 2.0), 512ull * 1024 * 1024);
}

TEST(Plan, WeightBytesAreParamsTimesBits) {
  EXPECT_EQ(weight_bytes(6738415616, 16.0), 13476831232ull);
  EXPECT_EQ(weight_bytes(6738415616, 4.125), 3474495552ull);
  EXPECT_EQ(weight_bytes(3, 4.0), 2ull);  // rounded up to a whole byte
}

TEST(Units, ParseBytes) {
  EXPECT_EQ(parse_bytes("24GiB"), 24ull << 30);
  EXPECT_EQ(parse_bytes("80 GB"), 80000000000ull);
  EXPECT_EQ(parse_bytes("1.5KiB"), 1536ull);
  EXPECT_EQ(parse_bytes("512"), 512ull);
  for (const char* bad : {"", "GiB", "12 parsecs", "-3GB", "nan"}) {
    EXPECT_THROW(parse_bytes(bad), Error) << bad;
  }
  // above 2^63 (llround overflowed a signed value there) and at or past 2^64 (refused)
  EXPECT_EQ(parse_bytes("18000000000000000000"), 18000000000000000000ull);
  for (const char* big : {"18446744073709551616", "2e19", "1e300"}) {
    EXPECT_THROW(parse_bytes(big), Error) << big;
  }
}

// Found by fuzz_values: a shard size past 2^64 converted to uint64_t (undefined behaviour).
TEST(Units, ShardSizesPastTheRangeAreRefused) {
  EXPECT_EQ(parse_shard_size("5GB"), 5000000000ull);
  EXPECT_EQ(parse_shard_size("2GiB"), 2ull << 30);
  for (const char* bad : {"300000000000000004000000000000000000000000000000000000000000000000000000000000003", "1e30GB", "0", "-1MB",
                          "1e999"}) {
    EXPECT_THROW(parse_shard_size(bad), Error) << bad;
  }
}

}  // namespace
}  // namespace vernier
