// Matrix kernels: every compiled path (scalar reference, each SIMD target) against the scalar
// reference, and the reference against the dequantized product, on sizes around the vector widths
// and on degenerate blocks.
//
// Error budget. A kernel's integer block sums are exact; what differs between paths is the order in
// which m float terms t_j (block sums times scales: m = blocks, plus the 8 lane partials a SIMD path
// keeps, plus the min terms) are added, and the rounding of each product of scales. Reassociating a
// sum of m terms changes it by at most γ_m Σ|t_j| ≈ m·u·Σ|t_j| (u = 2^-24), and each scaled term
// carries two more roundings. Σ|t_j| ≤ S = Σ|w'_i x'_i| + max|w'|·Σ|x'_i| (the second part bounds
// the K-quant min terms d_min·m·Σq8). The budget is 4·(m + 8)·u·S. Against the float product of the
// dequantized matrix (the reference's own check) Q4_1/Q5_1 also carry the FP16 rounding of the Q8_1
// block sum s: 2^-11·|m·s| per block, ≤ 2^-11·max|w'|·Σ|x'|.
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <random>

#include "kernels/cpu/dot.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"

namespace vernier {
namespace {

// Every GGML type with a product, from the registry.
const std::vector<GgmlType> kTypes = [] {
  std::vector<GgmlType> out;
  for (const GgmlTypeInfo& t : ggml_types())
    if (t.reference_dot) out.push_back(t.type);
  return out;
}();

struct RestoreIsa {
  ~RestoreIsa() { set_kernel_isa("auto"); }
};

std::string type_name(GgmlType t) { return std::string(ggml_type_info(t)->name); }

// Dequantized activation row, as the kernels see it.
std::vector<float> activation_values(GgmlType wtype, const std::vector<uint8_t>& q, int64_t n) {
  std::vector<float> out(static_cast<size_t>(n));
  const GgmlType act = kernel_activation_type(wtype);
  if (wtype == ggml_type::Q4_0) {
    const auto* b = reinterpret_cast<const kernels::BlockQ8_0S*>(q.data());
    for (int64_t i = 0; i < n; ++i) {
      out[static_cast<size_t>(i)] = fp16_to_float(b[i / 32].d) * b[i / 32].qs[i % 32];
      if (i % 32 == 0) {
        int s = 0;
        for (int j = 0; j < 32; ++j) s += b[i / 32].qs[j];
        EXPECT_EQ(s, b[i / 32].sum);
      }
    }
  } else if (act == ggml_type::Q8_1) {
    const auto* b = reinterpret_cast<const kernels::BlockQ8_1*>(q.data());
    for (int64_t i = 0; i < n; ++i) out[static_cast<size_t>(i)] = fp16_to_float(b[i / 32].d) * b[i / 32].qs[i % 32];
  } else if (act == ggml_type::F32) {
    std::memcpy(out.data(), q.data(), static_cast<size_t>(n) * 4);
  } else {
    ggml_dequantize(act, q.data(), out.data(), n);
  }
  return out;
}

struct Row {
  std::vector<uint8_t> w, xq;
  std::vector<float> wd, xd;
};

Row make_row(GgmlType type, const std::vector<float>& w, const std::vector<float>& x) {
  const auto n = static_cast<int64_t>(w.size());
  Row r;
  r.w.resize(static_cast<size_t>(*ggml_row_bytes(*ggml_type_info(type), n)));
  ggml_quantize(type, w.data(), r.w.data(), 1, n, nullptr);
  r.wd.resize(w.size());
  ggml_dequantize(type, r.w.data(), r.wd.data(), n);
  r.xq.resize(static_cast<size_t>(n) * 4 + 64);
  quantize_activation_row(type, x.data(), r.xq.data(), n);
  r.xd = activation_values(type, r.xq, n);
  return r;
}

double budget(GgmlType type, const Row& r, bool vs_float) {
  const auto n = static_cast<int64_t>(r.wd.size());
  double s = 0, sx = 0, mw = 0;
  for (size_t i = 0; i < r.wd.size(); ++i) {
    s += std::fabs(static_cast<double>(r.wd[i]) * r.xd[i]);
    sx += std::fabs(r.xd[i]);
    mw = std::max(mw, std::fabs(static_cast<double>(r.wd[i])));
  }
  const double S = s + mw * sx;
  const double m = static_cast<double>(n / ggml_type_info(type)->block_size) + 8;
  double b = 4 * (m + 8) * std::ldexp(1.0, -24) * S;
  if (vs_float && (type == ggml_type::Q4_1 || type == ggml_type::Q5_1)) {
    // m·s against m·Σ(d_fp16·q): s is d·Σq rounded to FP16 from the unrounded d, so per block the
    // two differ by |s|·2^-11 plus |Σq|·|d − d_fp16| (≤ |Σq|·max(|d|·2^-11, 2^-25), FP16 subnormals).
    const auto* xb = reinterpret_cast<const kernels::BlockQ8_1*>(r.xq.data());
    for (int64_t i = 0; i < n / 32; ++i) {
      uint16_t mbits;
      std::memcpy(&mbits, r.w.data() + i * (type == ggml_type::Q4_1 ? 20 : 24) + 2, 2);
      int sq = 0;
      for (int j = 0; j < 32; ++j) sq += xb[i].qs[j];
      const double d = fp16_to_float(xb[i].d);
      b += std::fabs(fp16_to_float(mbits)) *
           (std::fabs(fp16_to_float(xb[i].s)) * std::ldexp(1.0, -11) + std::abs(sq) * std::max(d * std::ldexp(1.0, -10), std::ldexp(1.0, -25)));
    }
  }
  if (vs_float && type == ggml_type::F32) b += 4 * static_cast<double>(n) * std::ldexp(1.0, -24) * S;
  return b + 1e-30;
}

std::vector<float> values(std::mt19937& rng, int64_t n, int kind) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& e : v) e = nd(rng);
  switch (kind) {
    case 1: std::fill(v.begin(), v.end(), 0.0f); break;                       // all zero
    case 2: std::fill(v.begin(), v.end(), 0.75f); break;                      // constant
    case 3: for (auto& e : v) e *= 1e-3f; v[static_cast<size_t>(n / 2)] = 50.0f; break;  // one outlier
    case 4: for (auto& e : v) e *= 2e-7f; break;                              // FP16 scales go subnormal
    default: break;
  }
  return v;
}

const int64_t kSizes[] = {1, 7, 8, 9, 31, 32, 33, 255, 256, 257};

TEST(Kernels, ReferenceEqualsTheProductOfDequantizedValues) {
  std::mt19937 rng(7);
  for (GgmlType type : kTypes) {
    const int64_t bs = ggml_type_info(type)->block_size;
    for (int64_t blocks : {int64_t{1}, int64_t{3}, int64_t{9}}) {
      const int64_t n = bs == 1 ? blocks * 33 : blocks * bs;
      for (int kind = 0; kind < 5; ++kind) {
        const Row r = make_row(type, values(rng, n, kind), values(rng, n, kind == 3 ? 0 : kind));
        double f = 0;
        for (size_t i = 0; i < r.wd.size(); ++i) f += static_cast<double>(r.wd[i]) * r.xd[i];
        EXPECT_NEAR(reference_dot(type, r.w.data(), r.xq.data(), n), f, budget(type, r, true))
            << type_name(type) << " n=" << n << " kind " << kind;
      }
    }
  }
}

TEST(Kernels, EveryPathMatchesTheReference) {
  RestoreIsa restore;
  std::mt19937 rng(11);
  for (const std::string& isa : available_kernel_isas()) {
    set_kernel_isa(isa);
    for (GgmlType type : kTypes) {
      const int64_t bs = ggml_type_info(type)->block_size;
      for (int64_t k : kSizes) {
        const int64_t n = bs == 1 ? k : bs * std::min<int64_t>(k, 33);
        for (int kind = 0; kind < 5; ++kind) {
          const Row r = make_row(type, values(rng, n, kind), values(rng, n, kind == 1 ? 0 : kind));
          const float ref = reference_dot(type, r.w.data(), r.xq.data(), n);
          const float got = kernel_dot(type, r.w.data(), r.xq.data(), n);
          ASSERT_NEAR(got, ref, budget(type, r, false)) << isa << " " << type_name(type) << " n=" << n << " kind " << kind;
          if (kind == 1) EXPECT_EQ(got, 0.0f) << isa << " " << type_name(type);
        }
      }
    }
  }
}

TEST(Kernels, MatmulMatchesRowByRowReferenceForEveryShapeBatchAndThreadCount) {
  RestoreIsa restore;
  std::mt19937 rng(3);
  MatmulWorkspace ws;
  for (const std::string& isa : available_kernel_isas()) {
    set_kernel_isa(isa);
    for (GgmlType type : {ggml_type::F32, ggml_type::F16, ggml_type::Q4_0, ggml_type::Q8_0, ggml_type::Q4_K, ggml_type::Q6_K,
                          ggml_type::Q3_K}) {
      const int64_t bs = ggml_type_info(type)->block_size;
      const int64_t cols = bs == 1 ? 257 : bs * 3;
      for (int64_t rows : kSizes) {
        const std::vector<float> w = values(rng, rows * cols, 0);
        std::vector<uint8_t> wq(static_cast<size_t>(rows * *ggml_row_bytes(*ggml_type_info(type), cols)));
        ggml_quantize(type, w.data(), wq.data(), rows, cols, nullptr);
        const int64_t row_bytes = static_cast<int64_t>(wq.size()) / rows;
        for (int64_t batch : {int64_t{1}, int64_t{3}}) {
          const std::vector<float> x = values(rng, batch * cols, 0);
          for (int threads : {1, 2}) {
            std::vector<float> y(static_cast<size_t>(batch * rows), NAN);
            matmul(type, wq.data(), rows, cols, x.data(), batch, y.data(), threads, ws);
            for (int64_t b = 0; b < batch; ++b) {
              std::vector<uint8_t> xq(static_cast<size_t>(cols) * 4 + 64);
              quantize_activation_row(type, x.data() + b * cols, xq.data(), cols);
              for (int64_t r = 0; r < rows; ++r) {
                // the same kernel path: identical, whatever the thread count and tiling
                EXPECT_EQ(y[static_cast<size_t>(b * rows + r)], kernel_dot(type, wq.data() + r * row_bytes, xq.data(), cols))
                    << isa << " " << type_name(type) << " rows=" << rows << " batch=" << batch << " threads=" << threads;
              }
            }
          }
        }
      }
    }
  }
}

TEST(Kernels, PathNamesAndErrors) {
  RestoreIsa restore;
  const auto isas = available_kernel_isas();
  ASSERT_GE(isas.size(), 2u);
  EXPECT_EQ(isas[0], "auto");
  EXPECT_EQ(isas[1], "scalar");
  set_kernel_isa("scalar");
  EXPECT_EQ(kernel_isa(), "scalar");
  EXPECT_THROW(set_kernel_isa("neon9"), Error);
  EXPECT_FALSE(kernel_supports(ggml_type::Q8_K));
  MatmulWorkspace ws;
  float x[40] = {}, y[1];
  uint8_t w[64] = {};
  EXPECT_THROW(matmul(ggml_type::Q4_0, w, 1, 40, x, 1, y, 1, ws), Error);  // 40 is not whole blocks
}

}  // namespace
}  // namespace vernier

namespace vernier {
namespace {

// Integer sums identical: blocks of random codes and scales whose float scales are 1 or 1/2, against
// activation blocks with scale 1, make every float operation of every path exact as long as every
// partial sum stays below 2^24 — then any difference in a block's integer sum shows as a different
// result, and each path must equal the reference bit for bit. Bounds: a 32-value block contributes at
// most 32·128·127 = 520,192, so 9 blocks with activation codes in ±127 stay below 4.7 M; a K-quant
// superblock with activation codes in ±15 contributes at most 256·128·32·15 = 15.7 M (Q6_K, the
// largest), so one superblock. Full-range codes are where vpmaddubsw could saturate; only the
// 32-value types come near (2·128·127 = 32,512 < 32,767), and they get the full range.
template <class B>
void random_blocks(std::mt19937& rng, std::vector<uint8_t>& bytes, int64_t nb) {
  bytes.resize(static_cast<size_t>(nb) * sizeof(B));
  for (auto& b : bytes) b = static_cast<uint8_t>(rng());
}
constexpr uint16_t kOne = 0x3C00, kHalf = 0x3800;  // FP16 1.0 and 0.5

std::vector<uint8_t> exact_weights(GgmlType type, std::mt19937& rng, int64_t n) {
  using namespace ggml;
  std::vector<uint8_t> w;
  const int64_t bs = ggml_type_info(type)->block_size, nb = n / bs;
  const auto each = [&](auto* blocks, auto fix) {
    for (int64_t i = 0; i < nb; ++i) fix(blocks[i]);
  };
  switch (type) {
    case ggml_type::Q4_0: random_blocks<BlockQ4_0>(rng, w, nb); each(reinterpret_cast<BlockQ4_0*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::Q4_1: random_blocks<BlockQ4_1>(rng, w, nb); each(reinterpret_cast<BlockQ4_1*>(w.data()), [](auto& b) { b.d = kOne; b.m = kHalf; }); break;
    case ggml_type::Q5_0: random_blocks<BlockQ5_0>(rng, w, nb); each(reinterpret_cast<BlockQ5_0*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::Q5_1: random_blocks<BlockQ5_1>(rng, w, nb); each(reinterpret_cast<BlockQ5_1*>(w.data()), [](auto& b) { b.d = kOne; b.m = kHalf; }); break;
    case ggml_type::Q8_0: random_blocks<BlockQ8_0>(rng, w, nb); each(reinterpret_cast<BlockQ8_0*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::IQ4_NL: random_blocks<BlockIQ4_NL>(rng, w, nb); each(reinterpret_cast<BlockIQ4_NL*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::Q2_K: random_blocks<BlockQ2_K>(rng, w, nb); each(reinterpret_cast<BlockQ2_K*>(w.data()), [](auto& b) { b.d = kOne; b.dmin = kHalf; }); break;
    case ggml_type::Q3_K: random_blocks<BlockQ3_K>(rng, w, nb); each(reinterpret_cast<BlockQ3_K*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::Q4_K: random_blocks<BlockQ4_K>(rng, w, nb); each(reinterpret_cast<BlockQ4_K*>(w.data()), [](auto& b) { b.d = kOne; b.dmin = kHalf; }); break;
    case ggml_type::Q5_K: random_blocks<BlockQ5_K>(rng, w, nb); each(reinterpret_cast<BlockQ5_K*>(w.data()), [](auto& b) { b.d = kOne; b.dmin = kHalf; }); break;
    case ggml_type::Q6_K: random_blocks<BlockQ6_K>(rng, w, nb); each(reinterpret_cast<BlockQ6_K*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    case ggml_type::IQ4_XS: random_blocks<BlockIQ4_XS>(rng, w, nb); each(reinterpret_cast<BlockIQ4_XS*>(w.data()), [](auto& b) { b.d = kOne; }); break;
    default: break;
  }
  return w;
}

// Activation blocks with scale 1 and codes in −127..127, with their sums, in the layout the type's
// kernels read.
std::vector<uint8_t> exact_activations(GgmlType type, std::mt19937& rng, int64_t n, int range) {
  std::uniform_int_distribution<int> code(-range, range);
  std::vector<uint8_t> x(static_cast<size_t>(n) * 4 + 64);
  const GgmlType act = kernel_activation_type(type);
  if (act == ggml_type::Q8_K) {
    auto* b = reinterpret_cast<ggml::BlockQ8_K*>(x.data());
    for (int64_t i = 0; i < n / 256; ++i) {
      b[i].d = 1.0f;
      for (int j = 0; j < 256; ++j) b[i].qs[j] = static_cast<int8_t>(code(rng));
      for (int j = 0; j < 16; ++j) {
        int s = 0;
        for (int k = 0; k < 16; ++k) s += b[i].qs[16 * j + k];
        b[i].bsums[j] = static_cast<int16_t>(s);
      }
    }
  } else if (type == ggml_type::Q4_0) {
    auto* b = reinterpret_cast<kernels::BlockQ8_0S*>(x.data());
    for (int64_t i = 0; i < n / 32; ++i) {
      b[i].d = kOne;
      int s = 0;
      for (int j = 0; j < 32; ++j) s += (b[i].qs[j] = static_cast<int8_t>(code(rng)));
      b[i].sum = static_cast<int16_t>(s);
    }
  } else if (act == ggml_type::Q8_1) {
    auto* b = reinterpret_cast<kernels::BlockQ8_1*>(x.data());
    for (int64_t i = 0; i < n / 32; ++i) {
      b[i].d = kOne;
      int s = 0;
      for (int j = 0; j < 32; ++j) s += (b[i].qs[j] = static_cast<int8_t>(code(rng)));
      b[i].s = fp16_from_float(static_cast<float>(s));
    }
  } else {
    auto* b = reinterpret_cast<ggml::BlockQ8_0*>(x.data());
    for (int64_t i = 0; i < n / 32; ++i) {
      b[i].d = kOne;
      for (int j = 0; j < 32; ++j) b[i].qs[j] = static_cast<int8_t>(code(rng));
    }
  }
  return x;
}

TEST(Kernels, IntegerBlockSumsAreIdenticalOnEveryPath) {
  RestoreIsa restore;
  std::mt19937 rng(99);
  for (GgmlType type : kTypes) {
    const int64_t bs = ggml_type_info(type)->block_size;
    if (bs == 1) continue;  // float rows: covered by the budget test
    const bool k_quant = bs == 256;
    for (int64_t blocks : {int64_t{1}, int64_t{2}, int64_t{7}, int64_t{8}, int64_t{9}}) {
      if (k_quant && blocks > 1) break;
      const int64_t n = blocks * bs;
      for (int rep = 0; rep < 8; ++rep) {
        const std::vector<uint8_t> w = exact_weights(type, rng, n), x = exact_activations(type, rng, n, k_quant ? 15 : 127);
        const float ref = reference_dot(type, w.data(), x.data(), n);
        ASSERT_EQ(ref, std::nearbyint(2 * ref) / 2) << type_name(type) << ": an exact construction gives a multiple of 1/2";
        for (const std::string& isa : available_kernel_isas()) {
          set_kernel_isa(isa);
          EXPECT_EQ(kernel_dot(type, w.data(), x.data(), n), ref) << isa << " " << type_name(type) << " blocks " << blocks;
        }
      }
    }
  }
}

}  // namespace
}  // namespace vernier

namespace vernier {
namespace {

TEST(Kernels, PreparedMatricesMatchTheReferenceOnEveryShapeBatchAndThreadCount) {
  // Q4_0, Q8_0, Q4_K and Q6_K on a SIMD path are repacked eight rows at a time (sixteen, for the
  // VNNI tiles of 16 rows × up to 8 tokens); their results stay within the reference budget (same
  // integer sums, per-row float accumulation with fused multiply-adds), do not depend on threads,
  // and a token's products in a batch are its products alone, bit for bit (whatever its place in
  // the tiles of 8 tokens)
  RestoreIsa restore;
  std::mt19937 rng(21);
  MatmulWorkspace ws;
  const int64_t sizes[] = {1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 47, 255, 256, 257};
  for (const std::string& isa : available_kernel_isas()) {
    set_kernel_isa(isa);
    for (const GgmlType type : {ggml_type::Q4_0, ggml_type::Q8_0, ggml_type::Q4_K, ggml_type::Q6_K}) {
      for (int64_t rows : sizes) {
        const int64_t cols = type == ggml_type::Q4_K || type == ggml_type::Q6_K ? 256 * 2 : 32 * 9;
        const std::vector<float> w = values(rng, rows * cols, 0);
        std::vector<uint8_t> wq(static_cast<size_t>(rows * *ggml_row_bytes(*ggml_type_info(type), cols)));
        ggml_quantize(type, w.data(), wq.data(), rows, cols, nullptr);
        const int64_t row_bytes = static_cast<int64_t>(wq.size()) / rows;
        const PreparedMatrix pm = prepare_matrix(type, wq.data(), rows, cols);
        EXPECT_EQ(!pm.packed.empty(), isa != "scalar" && rows >= 8) << isa << " rows " << rows;
        if (isa == "avx3_vnni") EXPECT_EQ(pm.packed_rows, rows >= 16 ? 16 : rows >= 8 ? 8 : 0) << rows;
        for (int64_t batch : {int64_t{1}, int64_t{3}, int64_t{9}, int64_t{17}}) {
          if (batch > 3 && rows > 33 && rows < 255) continue;  // the tiles' token counts, on fewer shapes
          const std::vector<float> x = values(rng, batch * cols, batch == 9 ? 3 : 0);
          std::vector<float> y1(static_cast<size_t>(batch * rows)), y2(y1.size());
          matmul(pm, x.data(), batch, y1.data(), 1, ws);
          matmul(pm, x.data(), batch, y2.data(), 2, ws);
          EXPECT_EQ(y1, y2) << isa << " rows " << rows;
          for (int64_t b = 0; b < batch; ++b) {
            std::vector<float> one(static_cast<size_t>(rows));
            matmul(pm, x.data() + b * cols, 1, one.data(), 1, ws);
            EXPECT_TRUE(std::equal(one.begin(), one.end(), y1.begin() + b * rows)) << isa << " rows " << rows << " token " << b;
          }
          for (int64_t b = 0; b < batch; ++b) {
            std::vector<float> xs(x.begin() + b * cols, x.begin() + (b + 1) * cols);
            for (int64_t r = 0; r < rows; ++r) {
              std::vector<float> wr(w.begin() + r * cols, w.begin() + (r + 1) * cols);
              const Row row = make_row(type, wr, xs);
              ASSERT_EQ(std::memcmp(row.w.data(), wq.data() + r * row_bytes, static_cast<size_t>(row_bytes)), 0);
              EXPECT_NEAR(y1[static_cast<size_t>(b * rows + r)], reference_dot(type, row.w.data(), row.xq.data(), cols),
                          budget(type, row, false))
                  << isa << " " << ggml_type_info(type)->name << " rows " << rows << " batch " << b << " row " << r;
            }
          }
        }
      }
    }
  }
}

}  // namespace
}  // namespace vernier
