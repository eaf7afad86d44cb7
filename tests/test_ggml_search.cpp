// The SIMD scale searches (several trial scales per instruction) against the scalar reference
// searches they replace: identical codes and identical scale and min bits on random blocks of every
// shape the quantizers use, with and without weights, squared and absolute error.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <random>

#include "quant/ggml/search.hpp"
#include "quant/ggml/search_simd.hpp"
#include "vernier/ggml_blocks.hpp"

namespace vernier::ggml {
namespace {

struct Params { int n, nmax; float rmin, rdelta; int nstep; bool mad; };
// as called by Q2_K (ref), Q4_K (ref), Q5_K (ref), and the importance paths (qkx3)
const Params kParams[] = {{16, 3, -0.5f, 0.1f, 15, true}, {32, 15, -1.f, 0.1f, 20, false},
                          {32, 31, -0.5f, 0.1f, 15, false}, {16, 3, -0.9f, 0.05f, 36, false},
                          {32, 15, -0.9f, 0.05f, 36, false}, {32, 31, -0.9f, 0.05f, 36, false}};

std::vector<float> block(std::mt19937& rng, int n, int kind) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::uniform_real_distribution<float> ud(-1.0f, 1.0f);
  std::vector<float> x(static_cast<size_t>(n));
  for (auto& v : x) {
    switch (kind % 5) {
      case 0: v = nd(rng) * 0.02f; break;
      case 1: v = ud(rng); break;
      case 2: v = std::fabs(nd(rng)) + 0.5f; break;          // all positive: min clamps to 0
      case 3: v = nd(rng) * 1e-6f; break;                    // tiny
      default: v = static_cast<float>(static_cast<int>(ud(rng) * 4)) * 0.25f; break;  // on a grid: ties
    }
  }
  if (kind % 7 == 0) x[static_cast<size_t>(rng() % static_cast<unsigned>(n))] *= 40.0f;  // one outlier
  return x;
}

TEST(GgmlSearch, SimdTrialSearchIsBitIdenticalToTheScalarReference) {
  std::mt19937 rng(2024);
  std::uniform_real_distribution<float> wd(0.01f, 3.0f);
  int checked = 0;
  for (const Params& p : kParams) {
    for (int iter = 0; iter < 3000; ++iter) {
      const std::vector<float> x = block(rng, p.n, iter);
      std::vector<float> w(static_cast<size_t>(p.n));
      for (auto& v : w) v = wd(rng);
      for (int variant = 0; variant < 3; ++variant) {
        uint8_t L1[32], L2[32], aux[32];
        float m1 = -1, m2 = -2, s1, s2;
        if (variant == 0) {
          s1 = make_qkx2_quants(p.n, p.nmax, x.data(), w.data(), L1, &m1, aux, p.rmin, p.rdelta, p.nstep, p.mad);
          s2 = make_qkx2_quants_reference(p.n, p.nmax, x.data(), w.data(), L2, &m2, aux, p.rmin, p.rdelta, p.nstep, p.mad);
        } else {
          const float* wp = variant == 1 ? w.data() : nullptr;
          s1 = make_qkx3_quants(p.n, p.nmax, x.data(), wp, L1, &m1, aux, p.rmin, p.rdelta, p.nstep, p.mad);
          s2 = make_qkx3_quants_reference(p.n, p.nmax, x.data(), wp, L2, &m2, aux, p.rmin, p.rdelta, p.nstep, p.mad);
        }
        ASSERT_EQ(std::bit_cast<uint32_t>(s1), std::bit_cast<uint32_t>(s2)) << "n " << p.n << " nmax " << p.nmax << " iter " << iter;
        ASSERT_EQ(std::bit_cast<uint32_t>(m1), std::bit_cast<uint32_t>(m2)) << iter;
        for (int i = 0; i < p.n; ++i) ASSERT_EQ(L1[i], L2[i]) << iter << " " << i;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 6 * 3000 * 3);
}

TEST(GgmlSearch, SimdSymmetricSearchIsBitIdenticalToTheScalarReference) {
  // make_qx_quants as Q6_K (16, 32), Q3_K (16, 4; and 16 scales on 32 levels), Q4_0 and Q5_0 (32, 8 / 16) call it
  const std::pair<int, int> shapes[] = {{16, 32}, {16, 4}, {32, 8}, {32, 16}};
  std::mt19937 rng(77);
  std::uniform_real_distribution<float> wd(0.01f, 3.0f);
  int checked = 0;
  for (const auto& [n, nmax] : shapes) {
    for (int iter = 0; iter < 4000; ++iter) {
      const std::vector<float> x = block(rng, n, iter);
      std::vector<float> w(static_cast<size_t>(n));
      for (auto& v : w) v = wd(rng);
      for (const float* qw : {static_cast<const float*>(nullptr), static_cast<const float*>(w.data())}) {
        int8_t L1[32], L2[32];
        const float s1 = make_qx_quants(n, nmax, x.data(), L1, 1, qw);
        const float s2 = make_qx_quants_reference(n, nmax, x.data(), L2, 1, qw);
        ASSERT_EQ(std::bit_cast<uint32_t>(s1), std::bit_cast<uint32_t>(s2)) << n << " " << nmax << " " << iter;
        for (int i = 0; i < n; ++i) ASSERT_EQ(L1[i], L2[i]) << iter << " " << i;
        ++checked;
      }
    }
  }
  EXPECT_EQ(checked, 4 * 4000 * 2);
}

TEST(GgmlSearch, SimdNonlinearTrialSumsEqualTheScalarLoopOfIq4) {
  std::mt19937 rng(9);
  std::uniform_real_distribution<float> wd(0.01f, 3.0f);
  for (int iter = 0; iter < 3000; ++iter) {
    const std::vector<float> x = block(rng, 32, iter);
    std::vector<float> w(32);
    for (auto& v : w) v = wd(rng);
    float amax = 0, max = 0;
    for (float v : x) if (std::fabs(v) > amax) { amax = std::fabs(v); max = v; }
    if (amax < kGroupMaxEps) continue;
    float ids[15], qx[15], q2[15];
    for (int itry = -7; itry <= 7; ++itry) ids[itry + 7] = (itry + kValuesIQ4NL[0]) / max;
    eval_nonlinear_trials(32, x.data(), w.data(), kValuesIQ4NL, ids, 15, qx, q2);
    for (int k = 0; k < 15; ++k) {
      float sumqx = 0, sumq2 = 0;  // quantize_row_iq4_nl_impl's trial loop
      for (int j = 0; j < 32; ++j) {
        const float al = ids[k] * x[static_cast<size_t>(j)];
        const float q = kValuesIQ4NL[best_index_int8(16, kValuesIQ4NL, al)];
        sumqx += w[static_cast<size_t>(j)] * q * x[static_cast<size_t>(j)];
        sumq2 += w[static_cast<size_t>(j)] * q * q;
      }
      ASSERT_EQ(std::bit_cast<uint32_t>(qx[k]), std::bit_cast<uint32_t>(sumqx)) << iter << " " << k;
      ASSERT_EQ(std::bit_cast<uint32_t>(q2[k]), std::bit_cast<uint32_t>(sumq2)) << iter << " " << k;
    }
  }
}

}  // namespace
}  // namespace vernier::ggml
