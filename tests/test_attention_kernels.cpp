// Attention's two products (kernels.hpp: attention_scores, attention_values) on every kernel path:
// close to the plain double-precision sums, and each element the same bits whatever the call it is
// computed in — the row alone, a block of rows at another offset, fewer or more keys — which is what
// makes a prompt split into batches give the whole prompt's logits (Forward.BatchedEquals…).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <vector>

#include "quant_test_util.hpp"
#include "vernier/kernels.hpp"

namespace vernier {
namespace {

// n standard normal values (one row of the shared generator)
std::vector<float> random_values(size_t n, uint64_t seed) { return testutil::rows_with_different_ranges(1, static_cast<int64_t>(n), seed, 1.0); }

bool same_bits(float a, float b) { return std::memcmp(&a, &b, sizeof a) == 0; }

// Head widths around the vector widths (8 and 16 floats) and the four-vector blocks of the value sums;
// strides wider than the head, as in the runtime's interleaved heads.
const int64_t kHeads[] = {1, 5, 8, 15, 16, 17, 31, 48, 64, 65, 80, 128, 130};

TEST(AttentionKernels, ScoresAreTheDotsOfEachRowsKeysAndTheSameBitsInEveryCall) {
  for (const std::string& isa : available_kernel_isas()) {
    const KernelContext ctx = make_kernel_context(isa, 1);
    for (const int64_t hd : kHeads) {
      const int64_t m = 9, n = 37, qs = hd + 3, ks = 2 * hd + 1;
      const auto q = random_values(static_cast<size_t>(m * qs), 1), k = random_values(static_cast<size_t>(n * ks), 2);
      std::vector<int64_t> counts(static_cast<size_t>(m));
      for (int64_t r = 0; r < m; ++r) counts[static_cast<size_t>(r)] = (r * 11 + 7) % n + 1;  // uneven, not sorted
      const float scale = 1.0f / std::sqrt(static_cast<float>(hd));
      std::vector<float> all(static_cast<size_t>(m * n), -7.0f);
      attention_scores(ctx, q.data(), qs, counts.data(), m, k.data(), ks, hd, scale, all.data(), n);
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t t = 0; t < n; ++t) {
          const float got = all[static_cast<size_t>(r * n + t)];
          if (t >= counts[static_cast<size_t>(r)]) {
            ASSERT_EQ(got, -7.0f) << isa << " wrote past the row's keys, hd=" << hd;
            continue;
          }
          double want = 0, mag = 0;
          for (int64_t e = 0; e < hd; ++e) {
            want += static_cast<double>(q[static_cast<size_t>(r * qs + e)]) * k[static_cast<size_t>(t * ks + e)];
            mag += std::fabs(static_cast<double>(q[static_cast<size_t>(r * qs + e)]) * k[static_cast<size_t>(t * ks + e)]);
          }
          // float sums of hd products in any order: within (hd + 1)·2⁻²⁴ of their magnitudes' sum, and the scale's rounding
          ASSERT_NEAR(got, want * scale, (static_cast<double>(hd) + 2) * 0x1p-24 * mag * scale) << isa << " hd=" << hd << " r=" << r;
        }
      }
      // each row alone over each prefix of its keys, the rows from another first row, and keys from an
      // offset: the same bits
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t len = 1; len <= counts[static_cast<size_t>(r)]; len += 2) {
          std::vector<float> one(static_cast<size_t>(len));
          attention_scores(ctx, q.data() + r * qs, qs, &len, 1, k.data(), ks, hd, scale, one.data(), len);
          for (int64_t t = 0; t < len; ++t)
            ASSERT_TRUE(same_bits(one[static_cast<size_t>(t)], all[static_cast<size_t>(r * n + t)])) << isa << " hd=" << hd << " len=" << len;
          const int64_t off = counts[static_cast<size_t>(r)] - len;
          attention_scores(ctx, q.data() + r * qs, qs, &len, 1, k.data() + off * ks, ks, hd, scale, one.data(), len);
          for (int64_t t = 0; t < len; ++t)
            ASSERT_TRUE(same_bits(one[static_cast<size_t>(t)], all[static_cast<size_t>(r * n + off + t)])) << isa << " hd=" << hd;
        }
      }
      for (int64_t r0 : {int64_t{1}, int64_t{3}}) {
        std::vector<float> part(static_cast<size_t>((m - r0) * n));
        attention_scores(ctx, q.data() + r0 * qs, qs, counts.data() + r0, m - r0, k.data(), ks, hd, scale, part.data(), n);
        for (int64_t r = r0; r < m; ++r)
          for (int64_t t = 0; t < counts[static_cast<size_t>(r)]; ++t)
            ASSERT_TRUE(same_bits(part[static_cast<size_t>((r - r0) * n + t)], all[static_cast<size_t>(r * n + t)])) << isa << " hd=" << hd;
      }
    }
  }
}

TEST(AttentionKernels, WeightedSumsReadOnlyEachRowsKeysAndAreTheSameBitsInEveryCall) {
  for (const std::string& isa : available_kernel_isas()) {
    const KernelContext ctx = make_kernel_context(isa, 1);
    for (const int64_t hd : kHeads) {
      const int64_t m = 9, n = 35, ps = n + 2, vs = hd + 7, os = 3 * hd;
      auto p = random_values(static_cast<size_t>(m * ps), 3);
      for (float& x : p) x = std::fabs(x);
      auto v = random_values(static_cast<size_t>(n * vs), 4);
      std::vector<int64_t> counts(static_cast<size_t>(m));
      for (int64_t r = 0; r < m; ++r) counts[static_cast<size_t>(r)] = (r * 13 + 5) % n + 1;  // uneven, not sorted
      // keys after a row's count are never read: a NaN there would show
      std::vector<float> p_nan = p;
      for (int64_t r = 0; r < m; ++r)
        for (int64_t t = counts[static_cast<size_t>(r)]; t < ps; ++t) p_nan[static_cast<size_t>(r * ps + t)] = NAN;
      std::vector<float> out(static_cast<size_t>(m * os), -7.0f);
      attention_values(ctx, p_nan.data(), ps, counts.data(), m, v.data(), vs, hd, out.data(), os);
      for (int64_t r = 0; r < m; ++r) {
        for (int64_t e = 0; e < os; ++e) {
          const float got = out[static_cast<size_t>(r * os + e)];
          if (e >= hd) {
            ASSERT_EQ(got, -7.0f) << isa << " wrote past the head, hd=" << hd;
            continue;
          }
          double want = 0, mag = 0;
          for (int64_t t = 0; t < counts[static_cast<size_t>(r)]; ++t) {
            const double term = static_cast<double>(p[static_cast<size_t>(r * ps + t)]) * v[static_cast<size_t>(t * vs + e)];
            want += term;
            mag += std::fabs(term);
          }
          ASSERT_NEAR(got, want, (static_cast<double>(counts[static_cast<size_t>(r)]) + 1) * 0x1p-24 * mag) << isa << " hd=" << hd;
        }
      }
      // each row alone, and rows 1… (paired differently): the same bits
      for (int64_t r0 : {int64_t{1}, int64_t{4}}) {
        std::vector<float> part(static_cast<size_t>((m - r0) * os));
        attention_values(ctx, p.data() + r0 * ps, ps, counts.data() + r0, m - r0, v.data(), vs, hd, part.data(), os);
        for (int64_t r = r0; r < m; ++r)
          for (int64_t e = 0; e < hd; ++e)
            ASSERT_TRUE(same_bits(part[static_cast<size_t>((r - r0) * os + e)], out[static_cast<size_t>(r * os + e)])) << isa << " hd=" << hd;
      }
      for (int64_t r = 0; r < m; ++r) {
        std::vector<float> one(static_cast<size_t>(hd));
        attention_values(ctx, p.data() + r * ps, ps, counts.data() + r, 1, v.data(), vs, hd, one.data(), hd);
        for (int64_t e = 0; e < hd; ++e)
          ASSERT_TRUE(same_bits(one[static_cast<size_t>(e)], out[static_cast<size_t>(r * os + e)])) << isa << " hd=" << hd << " r=" << r;
      }
    }
  }
}

}  // namespace
}  // namespace vernier
