// The weight-only GPU GEMV's layout (vernier/cuda_wo.hpp), on the CPU: vernier's quantized matrices of every
// scheme the GEMV takes convert to the same weights dequantize() gives, rows are padded to whole 16-byte
// chunks whose padding contributes nothing, and bad sources are refused with the tensor's name.
#include <gtest/gtest.h>

#include <cmath>
#include <random>
#include <string>

#include "vernier/cuda_wo.hpp"
#include "vernier/cuda_wo_source.hpp"
#include "vernier/quantize.hpp"

namespace {
using vernier::cuda::WoFormat;
using vernier::cuda::WoSource;

std::vector<float> random_matrix(int64_t n, int64_t k, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(n * k));
  for (auto& v : w) v = nd(rng);
  w[3] = 0.9f;  // an outlier
  return w;
}

TEST(CudaWoLayout, VerniersMatricesConvertToTheSameWeights) {
  std::mt19937 rng(5);
  for (const char* name : {"int8-sym-channel", "int8-asym-g32", "uint8-sym-g128", "uint8-asym-channel", "int8-sym-tensor", "int8-asym-tensor",
                           "fp8_e4m3-channel", "fp8_e4m3-tensor", "fp8_e4m3-g64", "nf4-b64", "nf4-b32", "nf4-b64-dq"}) {
    SCOPED_TRACE(name);
    const vernier::Scheme scheme = vernier::parse_scheme(name);
    for (const int64_t k : {64, 200, 300}) {
      const int64_t n = 9;
      const std::vector<float> w = random_matrix(n, k, rng);
      const vernier::QuantizedTensor q = vernier::quantize({w.data(), n, k, "blk.0.ffn_up.weight"}, scheme);
      std::vector<float> deq(w.size());
      vernier::dequantize(q, deq);
      const vernier::cuda::WoLayout l = vernier::cuda::pack_wo(vernier::cuda::wo_source(q, "blk.0.ffn_up.weight"));
      ASSERT_EQ(l.row_bytes % 16, 0);
      for (int64_t r = 0; r < n; ++r) {
        for (int64_t c = 0; c < k; ++c) {
          const double want = deq[static_cast<size_t>(r * k + c)], got = vernier::cuda::wo_weight(l, r, c);
          // dequantize() rounds scale·value to float32 once; the layout's weight is exact in double
          ASSERT_LE(std::fabs(got - want), std::ldexp(std::fabs(want), -24) + 1e-30) << "row " << r << " column " << c;
        }
      }
      // the reference product over the activations equals the product with dequantize()'s weights
      std::vector<float> x(static_cast<size_t>(2 * k));
      std::normal_distribution<float> nd(0.0f, 1.0f);
      for (auto& v : x) v = nd(rng);
      std::vector<double> y(static_cast<size_t>(2 * n));
      vernier::cuda::wo_reference(l, x.data(), 2, y.data());
      for (int64_t b = 0; b < 2; ++b) {
        for (int64_t r = 0; r < n; ++r) {
          double s = 0, mag = 0;
          for (int64_t c = 0; c < k; ++c) {
            s += static_cast<double>(deq[static_cast<size_t>(r * k + c)]) * x[static_cast<size_t>(b * k + c)];
            mag += std::fabs(static_cast<double>(deq[static_cast<size_t>(r * k + c)]) * x[static_cast<size_t>(b * k + c)]);
          }
          EXPECT_NEAR(y[static_cast<size_t>(b * n + r)], s, 1e-6 * mag + 1e-30);
        }
      }
    }
  }
}

TEST(CudaWoLayout, RowsArePaddedToWholeChunksOfWeightZero) {
  for (const WoFormat f : {WoFormat::int8, WoFormat::fp8_e4m3, WoFormat::nf4}) {
    WoSource w;
    w.format = f;
    w.rows = 3;
    w.cols = 37;
    w.codes.assign(3 * 37, f == WoFormat::nf4 ? 15 : 0x30);
    w.scales.assign(3, 0.5f);
    const auto l = vernier::cuda::pack_wo(w, "t");
    const int64_t per_chunk = f == WoFormat::nf4 ? 32 : 16;
    EXPECT_EQ(l.row_bytes, (37 + per_chunk - 1) / per_chunk * 16);
    for (int64_t r = 0; r < 3; ++r) {
      for (int64_t c = 37; c < l.row_bytes * 16 / per_chunk; ++c) EXPECT_EQ(vernier::cuda::wo_weight(l, r, c), 0.0) << "column " << c;
      EXPECT_NE(vernier::cuda::wo_weight(l, r, 36), 0.0);
    }
  }
}

void expect_refused(const WoSource& w, const std::string& what) {
  try {
    (void)vernier::cuda::pack_wo(w, "blk.3.attn_q.weight");
    ADD_FAILURE() << "accepted: " << what;
  } catch (const std::invalid_argument& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("blk.3.attn_q.weight"), std::string::npos) << msg;
    EXPECT_NE(msg.find(what), std::string::npos) << msg;
  }
}

TEST(CudaWoLayout, BadSourcesAreRefusedWithTheirName) {
  WoSource ok;
  ok.format = WoFormat::int8;
  ok.rows = 2;
  ok.cols = 64;
  ok.group = 32;
  ok.codes.assign(128, 1);
  ok.scales.assign(4, 0.1f);
  (void)vernier::cuda::pack_wo(ok, "fine");
  WoSource w = ok;
  w.group = 24;
  expect_refused(w, "multiple of 16");
  w = ok;
  w.codes.pop_back();
  expect_refused(w, "codes");
  w = ok;
  w.scales.push_back(1);
  expect_refused(w, "scales");
  w = ok;
  w.scales[1] = std::nanf("");
  expect_refused(w, "not finite");
  w = ok;
  w.zeros.assign(4, 3);
  expect_refused(w, "zero points");
  w = ok;
  w.symmetric = false;
  expect_refused(w, "zero points");
  w = ok;
  w.format = WoFormat::fp8_e4m3;
  w.codes[5] = 0xFF;
  expect_refused(w, "NaN");
  w = ok;
  w.format = WoFormat::nf4;
  w.group = 48;
  expect_refused(w, "multiple of 32");
  w = ok;
  w.format = WoFormat::nf4;
  w.codes[7] = 16;
  expect_refused(w, "NF4 code 16");
  w = ok;
  w.format = WoFormat::nf4;
  w.scales.clear();
  w.dq_codes.assign(4, 1);
  w.dq_absmax.assign(2, 1.0f);
  expect_refused(w, "double-quantization blocks");
  w = ok;
  w.rows = 0;
  expect_refused(w, "rows and columns");
}

TEST(CudaWoLayout, SchemesTheGemvDoesNotTakeAreNamed) {
  std::mt19937 rng(7);
  const std::vector<float> w = random_matrix(4, 64, rng);
  for (const char* name : {"int4-sym-g32", "int8-sym-g8", "nf4-b16", "fp8_e5m2-channel"}) {
    const vernier::QuantizedTensor q = vernier::quantize({w.data(), 4, 64, "t"}, vernier::parse_scheme(name));
    try {
      (void)vernier::cuda::wo_source(q, "blk.1.ffn_down.weight");
      ADD_FAILURE() << "accepted " << name;
    } catch (const std::exception& e) {
      EXPECT_NE(std::string(e.what()).find("blk.1.ffn_down.weight"), std::string::npos) << e.what();
    }
  }
}
}  // namespace
