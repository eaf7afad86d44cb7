// The W4A16 GPU kernel's tiles (vernier/cuda_w4.hpp), on the CPU: every entry read back through the
// layout's index arithmetic, the kernel's data path emulated from the PTX fragment layouts of
// mma.m16n8k16 (what each lane's registers mean) against the host reference, vernier's int4/uint4
// matrices converted, and bad sources rejected with the tensor's name.
#include <gtest/gtest.h>

#include <cmath>
#include <numeric>
#include <random>

#include "vernier/cuda_w4.hpp"
#include "vernier/cuda_w4_source.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/quantize.hpp"

namespace {
using vernier::cuda::W4Source;

W4Source random_source(int64_t n, int64_t k, int64_t group, bool asym, bool perm, std::mt19937& rng) {
  W4Source w;
  w.rows = n;
  w.cols = k;
  w.group = group;
  const int64_t g = group ? group : k, groups = (k + g - 1) / g;
  std::uniform_int_distribution<int> code(0, 15);
  std::uniform_real_distribution<float> sd(0.001f, 0.1f);
  w.codes.resize(static_cast<size_t>(n * k));
  for (auto& c : w.codes) c = static_cast<uint8_t>(code(rng));
  w.scales.resize(static_cast<size_t>(n * groups));
  for (auto& s : w.scales) s = vernier::fp16_to_float(vernier::fp16_from_float(sd(rng)));
  if (asym) {
    w.zeros.resize(w.scales.size());
    for (auto& z : w.zeros) z = static_cast<uint8_t>(code(rng));
  }
  if (perm) {
    w.perm.resize(static_cast<size_t>(k));
    std::iota(w.perm.begin(), w.perm.end(), 0);
    std::shuffle(w.perm.begin(), w.perm.end(), rng);
  }
  return w;
}

// The kernel's arithmetic on the host, lane by lane: each lane's words decoded into the A fragment of
// mma.m16n8k16 as the PTX manual lays it out (a0,a1: row g, k 2i, 2i+1; a2,a3: row g+8; a4..a7: k + 8),
// its activations into B (b0,b1: k 2i, 2i+1, column g; b2,b3: k + 8), the 16 × 16 · 16 × 8 product summed
// per 32 columns and scaled by the group's scale. m ≤ 8 (one n-tile).
std::vector<double> emulate(const vernier::cuda::W4Tiles& t, const std::vector<float>& x_in, int64_t m) {
  std::vector<float> x = x_in;
  if (!t.perm.empty()) {
    for (int64_t b = 0; b < m; ++b)
      for (int64_t k = 0; k < t.cols; ++k) x[static_cast<size_t>(b * t.cols + k)] = x_in[static_cast<size_t>(b * t.cols + t.perm[static_cast<size_t>(k)])];
  }
  const auto xval = [&](int64_t b, int64_t k) { return b < m && k < t.cols ? x[static_cast<size_t>(b * t.cols + k)] : 0.0f; };
  std::vector<double> y(static_cast<size_t>(m * t.rows), 0.0);
  for (int64_t rt = 0; rt < t.row_tiles; ++rt) {
    double acc[16][8] = {};
    for (int64_t c = 0; c < t.chunks; ++c) {
      for (int h = 0; h < 2; ++h) {
        const int64_t col0 = c * 64 + 32 * h, gi = std::min(col0 / t.group, t.groups - 1);
        double part[16][8] = {};
        for (int st = 0; st < 2; ++st) {
          const int s = 2 * h + st;
          double a[16][16] = {}, bm[16][8] = {};
          for (int lane = 0; lane < 32; ++lane) {
            const int g = lane >> 2, i = lane & 3;
            const uint32_t word = t.codes[static_cast<size_t>(((rt * t.chunks + c) * 32 + lane) * 4 + s)];
            for (int r = 0; r < 4; ++r) {
              const uint32_t pair = (word >> (4 * r)) & 0x000F000Fu;
              const int row = g + (r & 1) * 8, kk = 2 * i + (r >> 1) * 8;
              const int zero = t.asym ? static_cast<int>((t.zeros[static_cast<size_t>(rt * t.groups + gi)] >> (4 * row)) & 15u) : 8;
              a[row][kk] = static_cast<double>(pair & 15u) - zero;
              a[row][kk + 1] = static_cast<double>(pair >> 16) - zero;
            }
            // the lane's 8 activations from column col0 + 8i: words 2·st and 2·st + 1 are its B registers
            const int64_t k0 = col0 + 8 * i;
            bm[2 * i][g] = xval(g, k0 + 4 * st);
            bm[2 * i + 1][g] = xval(g, k0 + 4 * st + 1);
            bm[2 * i + 8][g] = xval(g, k0 + 4 * st + 2);
            bm[2 * i + 9][g] = xval(g, k0 + 4 * st + 3);
          }
          for (int row = 0; row < 16; ++row)
            for (int n = 0; n < 8; ++n)
              for (int kk = 0; kk < 16; ++kk) part[row][n] += a[row][kk] * bm[kk][n];
        }
        for (int row = 0; row < 16; ++row) {
          const uint32_t sw = t.scales[static_cast<size_t>((rt * t.groups + gi) * 8 + row % 8)];
          const double sc = vernier::fp16_to_float(static_cast<uint16_t>(row < 8 ? sw & 0xFFFFu : sw >> 16));
          for (int n = 0; n < 8; ++n) acc[row][n] += sc * part[row][n];
        }
      }
    }
    for (int row = 0; row < 16; ++row)
      for (int64_t n = 0; n < m; ++n)
        if (rt * 16 + row < t.rows) y[static_cast<size_t>(n * t.rows + rt * 16 + row)] = acc[row][n];
  }
  return y;
}

TEST(CudaW4Tiles, EveryEntryReadsBackThroughTheLayout) {
  std::mt19937 rng(3);
  for (const int64_t group : {32, 64, 96, 128, 0})
    for (const bool asym : {false, true})
      for (const int64_t n : {1, 15, 16, 17, 40})
        for (const int64_t k : {32, 63, 64, 65, 200, 256}) {
          if (group == 96 && k < 96) continue;
          const W4Source w = random_source(n, k, group, asym, false, rng);
          const vernier::cuda::W4Tiles t = vernier::cuda::pack_w4_tiles(w);
          const int64_t g = group ? group : k, groups = (k + g - 1) / g;
          EXPECT_EQ(t.row_tiles, (n + 15) / 16);
          EXPECT_EQ(t.chunks, (k + 63) / 64);
          EXPECT_EQ(t.bytes(), static_cast<size_t>(t.row_tiles * t.chunks * 512 + t.row_tiles * groups * (32 + (asym ? 8 : 0))));
          for (int64_t r = 0; r < n; ++r)
            for (int64_t c = 0; c < k; ++c) {
              const vernier::cuda::W4Entry e = vernier::cuda::w4_tiles_entry(t, r, c);
              const auto gi = static_cast<size_t>(r * groups + c / g);
              ASSERT_EQ(e.code, w.codes[static_cast<size_t>(r * k + c)]) << n << "x" << k << " g" << group << " at " << r << "," << c;
              ASSERT_EQ(e.scale, w.scales[gi]);
              ASSERT_EQ(e.zero, asym ? w.zeros[gi] : 8);
            }
        }
}

TEST(CudaW4Tiles, TheKernelsFragmentsComputeTheReferenceProduct) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  for (const int64_t group : {32, 64, 128, 0})
    for (const bool asym : {false, true})
      for (const bool perm : {false, true})
        for (const auto& [n, k] : {std::pair<int64_t, int64_t>{17, 200}, {16, 64}, {3, 331}, {33, 128}}) {
          if (group > k) continue;
          const W4Source w = random_source(n, k, group, asym, perm, rng);
          const int64_t m = 5;
          std::vector<float> x(static_cast<size_t>(m * k));
          for (auto& v : x) v = nd(rng);
          std::vector<double> ref(static_cast<size_t>(m * n));
          vernier::cuda::w4_reference(w, x.data(), m, ref.data());
          const std::vector<double> got = emulate(vernier::cuda::pack_w4_tiles(w), x, m);
          for (size_t i = 0; i < ref.size(); ++i) {
            // both sums in double over the same exact terms, in different orders
            ASSERT_NEAR(got[i], ref[i], 1e-9 * (1 + std::fabs(ref[i]))) << n << "x" << k << " g" << group << (asym ? " asym" : " sym") << (perm ? " perm" : "");
          }
        }
}

TEST(CudaW4Tiles, VerniersFourBitMatricesConvertToTheSameWeights) {
  std::mt19937 rng(9);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  const int64_t n = 24, k = 256;
  std::vector<float> w(static_cast<size_t>(n * k));
  for (auto& v : w) v = nd(rng);
  for (const char* name : {"int4-sym-g32-f16", "int4-asym-g128-f16", "int4-sym-channel-f16", "uint4-sym-g64-f16", "int4-asym-channel-f16"}) {
    vernier::QuantizedLinear ql;
    ql.q = vernier::quantize({w.data(), n, k, "blk.0.ffn_up.weight"}, vernier::parse_scheme(name));
    const std::vector<float> deq = vernier::dequantize_linear(ql);
    const vernier::cuda::W4Tiles t = vernier::cuda::pack_w4_tiles(vernier::cuda::w4_source(ql, "blk.0.ffn_up.weight"));
    for (int64_t r = 0; r < n; ++r)
      for (int64_t c = 0; c < k; ++c) {
        const vernier::cuda::W4Entry e = vernier::cuda::w4_tiles_entry(t, r, c);
        ASSERT_EQ(e.scale * (static_cast<float>(e.code) - static_cast<float>(e.zero)), deq[static_cast<size_t>(r * k + c)]) << name << " at " << r << "," << c;
      }
  }
  // act order: the permutation carried, the product the dequantized layer's
  vernier::QuantizedLinear ql;
  ql.q = vernier::quantize({w.data(), n, k, "w"}, vernier::parse_scheme("int4-asym-g32-f16"));
  ql.perm.resize(static_cast<size_t>(k));
  std::iota(ql.perm.begin(), ql.perm.end(), 0);
  std::shuffle(ql.perm.begin(), ql.perm.end(), rng);
  const std::vector<float> deq = vernier::dequantize_linear(ql);
  std::vector<float> x(static_cast<size_t>(k));
  for (auto& v : x) v = nd(rng);
  std::vector<double> y(static_cast<size_t>(n));
  vernier::cuda::w4_reference(vernier::cuda::w4_source(ql), x.data(), 1, y.data());
  for (int64_t r = 0; r < n; ++r) {
    double ref = 0;
    for (int64_t c = 0; c < k; ++c) ref += static_cast<double>(deq[static_cast<size_t>(r * k + c)]) * x[static_cast<size_t>(c)];
    EXPECT_NEAR(y[static_cast<size_t>(r)], ref, 1e-9 * (1 + std::fabs(ref)));
  }
  // what the kernel does not take is refused with the tensor's name
  for (const char* name : {"int8-sym-channel", "int4-sym-g16-f16", "nf4-b64", "int4-sym-tensor"}) {
    vernier::QuantizedLinear bad;
    bad.q = vernier::quantize({w.data(), n, k, "w"}, vernier::parse_scheme(name));
    try {
      (void)vernier::cuda::w4_source(bad, "blk.3.attn_q.weight");
      ADD_FAILURE() << name << " was accepted";
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("blk.3.attn_q.weight"), std::string::npos) << e.what();
    }
  }
}

TEST(CudaW4Tiles, BadSourcesAreRefusedWithTheirName) {
  std::mt19937 rng(1);
  const W4Source good = random_source(8, 128, 64, true, true, rng);
  const auto refused = [](W4Source w, const char* expect) {
    try {
      (void)vernier::cuda::pack_w4_tiles(w, "blk.1.ffn_down.weight");
      ADD_FAILURE() << "accepted; expected: " << expect;
    } catch (const std::invalid_argument& e) {
      const std::string m = e.what();
      EXPECT_NE(m.find("blk.1.ffn_down.weight"), std::string::npos) << m;
      EXPECT_NE(m.find(expect), std::string::npos) << m;
    }
  };
  W4Source w = good;
  w.group = 48;
  refused(w, "multiple of 32");
  w = good;
  w.codes[5] = 16;
  refused(w, "not 4-bit");
  w = good;
  w.scales[3] = 0.1f;  // not an FP16 value
  refused(w, "FP16");
  w = good;
  w.scales[0] = std::nanf("");
  refused(w, "FP16");
  w = good;
  w.zeros[2] = 20;
  refused(w, "zero point");
  w = good;
  w.perm[1] = w.perm[0];
  refused(w, "permutation");
  w = good;
  w.perm.pop_back();
  refused(w, "permutation");
  w = good;
  w.scales.pop_back();
  refused(w, "scales");
  w = good;
  w.codes.pop_back();
  refused(w, "codes");
  w = good;
  w.rows = 0;
  refused(w, "at least one row");
}

}  // namespace
