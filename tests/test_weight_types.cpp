// The weight-type registry: every row complete (quantizer, dequantizer, reference dot, a CPU kernel
// or an explicit "reference only", a docs page that names it, a bench row), canonical names that
// read back as themselves, and the facts of a row against what its codec does.
#include <gtest/gtest.h>

#include <algorithm>
#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <random>
#include <string>

#include "vernier/bench.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/kernels.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {
namespace {

std::string read_doc(std::string_view rel) {
  std::ifstream in(std::string(VERNIER_SOURCE_DIR) + "/" + std::string(rel));
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

std::string lower(std::string s) {
  for (char& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return s;
}

TEST(WeightTypes, EveryRowIsComplete) {
  const KernelContext best = make_kernel_context("auto", 1);
  const std::vector<WeightType> bench = default_bench_types();
  ASSERT_FALSE(weight_types().empty());
  for (const WeightType& w : weight_types()) {
    SCOPED_TRACE(w.name());
    if (w.is_ggml()) {
      const GgmlTypeInfo& t = w.ggml_info();
      EXPECT_NE(t.quantize, nullptr);
      EXPECT_NE(t.dequantize, nullptr);
      EXPECT_NE(t.reference_dot, nullptr);
      EXPECT_TRUE(kernel_supports(w.ggml()));
    } else {
      const SchemeFamilyInfo& f = w.family();
      EXPECT_NE(f.quantize, nullptr);
      EXPECT_NE(f.dequantize, nullptr);
      EXPECT_NE(f.reference_dot, nullptr);
      EXPECT_TRUE(kernel_supports(w.as_scheme()));
    }
    // a SIMD kernel on the best path, or listed as reference-only by design, not both
    const bool simd = cpu_kernel(best, w) == CpuKernel::simd;
    EXPECT_NE(simd, cpu_reference_only(w)) << "CPU kernel: simd " << simd << ", reference-only " << cpu_reference_only(w);
    // a docs page that exists and names the type (GGML) or its family
    const std::string doc = read_doc(w.doc());
    ASSERT_FALSE(doc.empty()) << "no docs page " << w.doc();
    const std::string key = w.is_ggml() ? std::string(w.ggml_info().name) : std::string(w.family().name);
    EXPECT_NE(lower(doc).find(lower(key)), std::string::npos) << w.doc() << " does not mention " << key;
    // a row in the benchmark
    EXPECT_NE(std::find(bench.begin(), bench.end(), w), bench.end()) << "not benchmarked";
  }
}

TEST(WeightTypes, CanonicalNamesReadBackAsThemselves) {
  for (const WeightType& w : weight_types()) {
    const WeightType back = parse_weight_type(w.name());
    EXPECT_TRUE(back == w) << w.name() << " read back as " << back.name();
    EXPECT_EQ(back.name(), w.name());
  }
  // GGML names are case-insensitive; the plain casts among the schemes are the GGML float types
  EXPECT_EQ(parse_weight_type("q4_k").name(), "Q4_K");
  EXPECT_TRUE(parse_weight_type("fp16") == WeightType(GgmlType::F16));
  EXPECT_TRUE(parse_weight_type("bf16") == WeightType(GgmlType::BF16));
  EXPECT_EQ(parse_weight_type("int4-g128").name(), "int4-asym-g128");  // asymmetric is the default mode
  EXPECT_EQ(parse_weight_type("nf4").name(), "nf4-b64");               // QLoRA's block of 64
  EXPECT_EQ(parse_weight_type("fp8_e4m3-channel").name(), "fp8_e4m3-channel");
}

TEST(WeightTypes, BadNamesAreUsageErrorsThatNameTheChoices) {
  for (const char* bad : {"", "Q4_X", "int4-g0", "int4-dq", "IQ2_XXS", "nf4-bogus", "int9"}) {
    try {
      parse_weight_type(bad);
      ADD_FAILURE() << "'" << bad << "' was accepted";
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage) << bad;
      EXPECT_NE(std::string(e.what()).find("Q4_K"), std::string::npos) << bad << ": " << e.what();
    }
  }
}

TEST(WeightTypes, GgmlRowFactsMatchTheCodecs) {
  std::mt19937 rng(5);
  std::normal_distribution<float> nd;
  for (const GgmlTypeInfo& t : ggml_types()) {
    SCOPED_TRACE(std::string(t.name));
    EXPECT_EQ(ggml_type_info(id_of(t.type)), &t);
    EXPECT_EQ(ggml_type_by_name(lower(std::string(t.name))), &t);
    if (!t.quantize || !t.dequantize) continue;
    // one row of two blocks: the quantizer writes exactly two blocks' bytes, and decodes back near x
    const int64_t n = 2 * std::max<int64_t>(t.block_size, 256);
    std::vector<float> x(static_cast<size_t>(n)), y(static_cast<size_t>(n));
    for (auto& v : x) v = nd(rng);
    std::vector<uint8_t> q(static_cast<size_t>(*ggml_row_bytes(t, n)) + 64, 0xA5);
    EXPECT_EQ(ggml_quantize(t.type, x.data(), q.data(), 1, n, nullptr), static_cast<size_t>(*ggml_row_bytes(t, n)));
    for (size_t i = static_cast<size_t>(*ggml_row_bytes(t, n)); i < q.size(); ++i) ASSERT_EQ(q[i], 0xA5) << "wrote past the row";
    ggml_dequantize(t.type, q.data(), y.data(), n);
    double err = 0, ref = 0;
    for (int64_t i = 0; i < n; ++i) {
      err += (x[static_cast<size_t>(i)] - y[static_cast<size_t>(i)]) * (x[static_cast<size_t>(i)] - y[static_cast<size_t>(i)]);
      ref += x[static_cast<size_t>(i)] * x[static_cast<size_t>(i)];
    }
    // every type here has at least 2.6 bits per weight: its SQNR on N(0, 1) is above 6 dB
    EXPECT_GT(10 * std::log10(ref / err), 6.0);
    EXPECT_DOUBLE_EQ(WeightType(t.type).bits_per_weight(1, n), t.bits_per_weight());
  }
}

TEST(WeightTypes, SchemeStorageIsWhatTheQuantizerStores) {
  std::mt19937 rng(6);
  std::normal_distribution<float> nd;
  const int64_t rows = 8, cols = 384;
  std::vector<float> x(static_cast<size_t>(rows * cols));
  for (auto& v : x) v = nd(rng);
  for (const WeightType& w : weight_types()) {
    if (!w.is_scheme()) continue;
    SCOPED_TRACE(w.name());
    const QuantizedTensor q = w.family().quantize(TensorView{x.data(), rows, cols, "w"}, w.as_scheme());
    EXPECT_EQ(*w.storage_bytes(rows, cols), q.storage_bytes());
    // the family's reference dot is the product of the dequantized row, up to float reassociation
    std::vector<float> back(x.size());
    w.family().dequantize(q, back);
    for (int64_t r = 0; r < rows; ++r) {
      double exact = 0, wmax = 0, xabs = 0;
      for (int64_t k = 0; k < cols; ++k) {
        exact += static_cast<double>(back[static_cast<size_t>(r * cols + k)]) * x[static_cast<size_t>(k)];
        wmax = std::max(wmax, std::fabs(static_cast<double>(back[static_cast<size_t>(r * cols + k)])));
        xabs += std::fabs(static_cast<double>(x[static_cast<size_t>(k)]));
      }
      // The reference sums c·x per group in float32 and subtracts z·Σx: each sum's error is at most
      // γ_cols · c_max · Σ|x|, and s · c_max is at most the group's range, ≤ 2 max|w'|. Two sums, then the
      // sum over groups (γ_(cols+groups) covers both roundings): 2 · γ · 2 max|w'| · Σ|x|.
      const double gamma = static_cast<double>(cols + 8) * std::ldexp(1.0, -24);
      EXPECT_NEAR(w.family().reference_dot(q, r, x.data()), exact, 4.0 * gamma * wmax * xabs + 1e-30);
    }
  }
}

}  // namespace
}  // namespace vernier
