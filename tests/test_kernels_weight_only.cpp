// vernier's weight-only formats: every kernel path against the scalar reference, and the reference
// against the float product of the dequantized matrix, for integer (both modes, several widths and
// granularities, ragged groups), NF4 (with and without double quantization) and FP8.
//
// Error budget. Per group of L values the kernels form Σ c_i·x_i (c the code's value before scale
// and zero point) in float, subtract z·X (X = Σx over the group) and multiply by the scale; groups
// are summed in order. Reordering a float sum of m terms moves it by at most about m·u·Σ|terms|
// (u = 2^-24); with L + 16 lane partials per group, the zero-point term, the scale product and G
// groups, 4·(L + G + 24)·u·S bounds every path's difference from any other, where
// S = Σ_i |s_g|·(|c_i| + |z_g|)·|x_i| (the magnitudes actually added).
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <cstdio>
#include <random>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"
#include "vernier/quantize.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {
namespace {

struct RestoreIsa {
  ~RestoreIsa() { set_kernel_isa("auto"); }
};

std::vector<float> values(std::mt19937& rng, int64_t n, int kind) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(static_cast<size_t>(n));
  for (auto& e : v) e = nd(rng);
  switch (kind) {
    case 1: std::fill(v.begin(), v.end(), 0.0f); break;
    case 2: std::fill(v.begin(), v.end(), -0.375f); break;
    case 3: for (auto& e : v) e *= 1e-3f; v[static_cast<size_t>(n / 3)] = 40.0f; break;
    case 4: for (auto& e : v) e *= 1e-30f; break;  // tiny scales
    default: break;
  }
  return v;
}

// offset: a constant the kernel adds to every code's value (the bf16 kernel sums (128 + c)·x)
double budget(const QuantizedTensor& q, const std::vector<float>& wd, int64_t row, const float* x, double offset = 0) {
  const FormatInfo& f = format_info(q.scheme.format);
  const bool integer = f.kind == FormatKind::integer;
  double s = 0;
  for (int64_t c = 0; c < q.cols; ++c) {
    const int64_t g = q.group_index(row, c);
    const double sc = std::fabs(q.scales[static_cast<size_t>(g)]);
    double z = 0;
    if (integer) z = q.zero_points.empty() ? (1 << (f.bits - 1)) : q.zero_points[static_cast<size_t>(g)];
    const double cval = sc > 0 ? std::fabs(wd[static_cast<size_t>(row * q.cols + c)]) / sc : 0;
    s += sc * (cval + z + 2 * offset) * std::fabs(x[c]);
  }
  const double L = static_cast<double>(q.group_len());
  const double G = static_cast<double>(q.cols) / L + 1;
  return 4 * (L + G + 24) * std::ldexp(1.0, -24) * s + 1e-35;
}

// Every scheme of the registry, then shapes where kernels break: unsigned formats, a group that is
// not a multiple of 32 (33), odd widths, FP8 in groups.
const std::vector<std::string> kSchemes = [] {
  std::vector<std::string> out;
  for (const WeightType& w : weight_types())
    if (w.is_scheme()) out.push_back(w.name());
  for (const char* edge : {"uint8-sym-channel", "int4-sym-channel", "uint4-asym-g64", "int4-asym-g33", "int2-sym-g64", "fp8_e5m2-g128"})
    out.emplace_back(edge);
  return out;
}();

TEST(WeightOnlyKernels, EveryPathMatchesTheReferenceAndTheDequantizedProduct) {
  RestoreIsa restore;
  std::mt19937 rng(17);
  for (const std::string& name : kSchemes) {
    const Scheme scheme = parse_scheme(name);
    ASSERT_TRUE(kernel_supports(scheme)) << name;
    for (int64_t cols : {int64_t{32}, int64_t{256}, int64_t{384}, int64_t{264}}) {
      for (int kind = 0; kind < 5; ++kind) {
        const int64_t rows = 9;
        const std::vector<float> w = values(rng, rows * cols, kind);
        const std::vector<float> x = values(rng, cols, kind == 1 ? 0 : kind == 4 ? 0 : kind);
        const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols, "w"}, scheme);
        const std::vector<float> wd = dequantize(q);
        for (int64_t r = 0; r < rows; ++r) {
          const double b = budget(q, wd, r, x.data());
          const float ref = reference_dot(q, r, x.data());
          double f = 0;
          for (int64_t c = 0; c < cols; ++c) f += static_cast<double>(wd[static_cast<size_t>(r * cols + c)]) * x[static_cast<size_t>(c)];
          ASSERT_NEAR(ref, f, b) << name << " cols " << cols << " kind " << kind << " row " << r;
          for (const std::string& isa : available_kernel_isas()) {
            set_kernel_isa(isa);
            ASSERT_NEAR(kernel_dot(q, r, x.data()), ref, b) << isa << " " << name << " cols " << cols << " kind " << kind;
          }
          set_kernel_isa("auto");
        }
      }
    }
  }
}

// Activations other than float32: every path computes with x rounded to bfloat16 (bf16) or
// quantized to Q8_0 and dequantized (q8_0), so the reference is the float32 reference on those
// values (exactly, computed here with the codec and the GGUF quantizer), the dedicated kernels
// (AVX512-BF16 and AVX512-VNNI, 4-bit integers in groups of a multiple of 128) agree with it
// within the float budget (widened by the bf16 kernel's +128 code offset), matmul equals the row
// kernel bit for bit, and the result stays within Σ|w|·|x − x'| of the float32 product.
std::vector<float> activations_as(Activations act, const std::vector<float>& x) {
  std::vector<float> out(x.size());
  if (act == Activations::bf16) {
    for (size_t i = 0; i < x.size(); ++i) out[i] = bf16_to_float(bf16_from_float(x[i]));
  } else {
    std::vector<uint8_t> blocks(x.size() / 32 * 34);
    ggml_quantize(ggml_type::Q8_0, x.data(), blocks.data(), 1, static_cast<int64_t>(x.size()), nullptr);
    ggml_dequantize(ggml_type::Q8_0, blocks.data(), out.data(), static_cast<int64_t>(x.size()));
  }
  return out;
}

class LowPrecisionActivations : public ::testing::TestWithParam<Activations> {};

TEST_P(LowPrecisionActivations, MatchTheReferenceOnTheConvertedActivations) {
  const Activations act = GetParam();
  RestoreIsa restore;
  std::mt19937 rng(23);
  MatmulWorkspace ws;
  bool dedicated = false;
  for (const char* name : {"int4-sym-g128", "int4-asym-g128", "uint4-asym-g256", "int4-sym-channel", "int4-asym-g32", "nf4-b64",
                           "int8-sym-channel"}) {
    const Scheme scheme = parse_scheme(name);
    for (int64_t cols : {int64_t{128}, int64_t{256}, int64_t{512}}) {
      for (int kind = 0; kind < 5; ++kind) {
        const int64_t rows = 9;
        const std::vector<float> w = values(rng, rows * cols, kind);
        const std::vector<float> x = values(rng, cols, kind == 1 ? 0 : kind);
        const std::vector<float> xa = activations_as(act, x);
        const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols, "w"}, scheme);
        const std::vector<float> wd = dequantize(q);
        for (const std::string& isa : available_kernel_isas()) {
          set_kernel_isa(isa);
          dedicated = dedicated || dedicated_kernel_available(q, act);
          std::vector<float> y(static_cast<size_t>(rows), NAN);
          matmul(q, x.data(), 1, y.data(), 1, ws, act);
          for (int64_t r = 0; r < rows; ++r) {
            const float ref = reference_dot(q, r, x.data(), act);
            ASSERT_EQ(ref, reference_dot(q, r, xa.data())) << name;
            const float k = kernel_dot(q, r, x.data(), act);
            const double b = budget(q, wd, r, xa.data(), act == Activations::bf16 ? 128 : 0);
            ASSERT_NEAR(k, ref, b) << isa << " " << name << " cols " << cols << " kind " << kind;
            ASSERT_EQ(y[static_cast<size_t>(r)], k) << isa << " " << name << " row " << r;
            double moved = 0;
            for (int64_t c = 0; c < cols; ++c) {
              const auto i = static_cast<size_t>(c);
              moved += std::fabs(static_cast<double>(wd[static_cast<size_t>(r * cols + c)])) * std::fabs(static_cast<double>(x[i]) - xa[i]);
            }
            ASSERT_NEAR(k, reference_dot(q, r, x.data()), moved + b + budget(q, wd, r, x.data())) << name;
          }
        }
      }
    }
  }
  // rounding ties (to even, both ways), subnormals and values next to them: the same rounding as the
  // codec (a block scale beyond FP16, as 1e30 would give Q8_0, is infinite in llama.cpp too)
  const QuantizedTensor q = quantize(TensorView{values(rng, 128, 0).data(), 1, 128, "w"}, parse_scheme("int4-asym-g128"));
  std::vector<float> x(128);
  const float big = act == Activations::bf16 ? 1.0e30f : 1.0e6f;
  const float special[] = {1.00390625f, 1.01171875f, -1.00390625f, 1e-40f, -3e-39f, 1.2e-38f, 0.0f, -0.0f, big, 65504.5f};
  for (size_t i = 0; i < x.size(); ++i) x[i] = special[i % 10] * (i < 10 ? 1.0f : 0.5f);
  EXPECT_EQ(reference_dot(q, 0, x.data(), act), reference_dot(q, 0, activations_as(act, x).data()));
  if (!dedicated) std::printf("note: no kernel of its own for %s activations on this CPU; the float32 kernels computed every product\n", activations_name(act));
}

// matmul = the row kernel bit for bit, whatever the rows, batch, threads and activations
class WeightOnlyMatmul : public ::testing::TestWithParam<Activations> {};

TEST_P(WeightOnlyMatmul, EqualsRowDotsForEveryShapeBatchAndThreadCount) {
  const Activations act = GetParam();
  std::mt19937 rng(5);
  MatmulWorkspace ws;
  for (const char* name : {"int4-asym-g128", "int4-sym-channel", "int8-sym-channel", "nf4-b64", "fp8_e4m3-channel", "int4-asym-g33"}) {
    const Scheme scheme = parse_scheme(name);
    for (int64_t rows : {1, 7, 8, 9, 31, 32, 33, 255, 256, 257}) {
      const int64_t cols = 384;
      const std::vector<float> w = values(rng, rows * cols, 0);
      const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols, "w"}, scheme);
      for (int64_t batch : {1, 4, 9}) {  // 9: a tile of 8 tokens and one more (the bf16 kernel's token form)
        const std::vector<float> x = values(rng, batch * cols, 0);
        for (int threads : {1, 2}) {
          std::vector<float> y(static_cast<size_t>(batch * rows), NAN);
          matmul(q, x.data(), batch, y.data(), threads, ws, act);
          for (int64_t b = 0; b < batch; ++b)
            for (int64_t r = 0; r < rows; ++r)
              ASSERT_EQ(y[static_cast<size_t>(b * rows + r)], kernel_dot(q, r, x.data() + b * cols, act)) << name << " rows " << rows;
        }
      }
    }
  }
}

// The weights as stored (FP16 scales, NF4 double-quantization codes, zero points packed at the code
// width, decoded per group) give the products of the unpacked tensor bit for bit, on every path.
TEST_P(WeightOnlyMatmul, PackedWeightsGiveTheSameProductsBitForBit) {
  RestoreIsa restore;
  const Activations act = GetParam();
  std::mt19937 rng(9);
  MatmulWorkspace ws;
  std::vector<std::string> names = kSchemes;
  for (const char* extra : {"int4-asym-g128-f16", "uint4-asym-g64-f16", "int4-asym-tensor", "int3-asym-g32-f16", "nf4-b64-dq-f16"})
    names.emplace_back(extra);
  for (const std::string& name : names) {
    const Scheme scheme = parse_scheme(name);
    const int64_t rows = 33, cols = 384;  // tiles of 16 rows: two whole and one of a single row
    const std::vector<float> w = values(rng, rows * cols, 0);
    const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols, "w"}, scheme);
    const PackedTensor p = pack(q);
    EXPECT_EQ(p.bytes(), q.storage_bytes()) << name;
    const QuantizedTensor back = unpack(p);
    EXPECT_EQ(back.codes, q.codes) << name;
    EXPECT_EQ(back.zero_points, q.zero_points) << name;
    ASSERT_EQ(back.scales.size(), q.scales.size()) << name;
    for (size_t g = 0; g < q.scales.size(); ++g) ASSERT_EQ(back.scales[g], q.scales[g]) << name << " group " << g;
    for (const std::string& isa : available_kernel_isas()) {
      const KernelContext ctx = make_kernel_context(isa, 2);
      for (int64_t batch : {1, 3}) {
        const std::vector<float> x = values(rng, batch * cols, 0);
        std::vector<float> yq(static_cast<size_t>(batch * rows)), yp(yq.size(), NAN);
        matmul(ctx, q, x.data(), batch, yq.data(), ws, act);
        matmul(ctx, p, x.data(), batch, yp.data(), ws, act);
        ASSERT_EQ(std::memcmp(yq.data(), yp.data(), yq.size() * sizeof(float)), 0) << name << " on " << isa << " batch " << batch;
      }
    }
  }
}

INSTANTIATE_TEST_SUITE_P(WeightOnlyKernels, WeightOnlyMatmul, ::testing::Values(Activations::f32, Activations::bf16, Activations::q8_0),
                         [](const auto& info) { return std::string(activations_name(info.param)); });

INSTANTIATE_TEST_SUITE_P(WeightOnlyKernels, LowPrecisionActivations, ::testing::Values(Activations::bf16, Activations::q8_0),
                         [](const auto& info) { return std::string(activations_name(info.param)); });

TEST(WeightOnlyKernels, Q8_0ActivationsNeedWholeBlocks) {
  const std::vector<float> w(2 * 48, 1.0f);
  const QuantizedTensor q = quantize(TensorView{w.data(), 2, 48, "w"}, parse_scheme("int8-sym-channel"));
  MatmulWorkspace ws;
  float y[2];
  EXPECT_THROW(matmul(q, w.data(), 1, y, 1, ws, Activations::q8_0), Error);
  EXPECT_EQ(parse_activations("q8_0"), Activations::q8_0);
  EXPECT_THROW(parse_activations("int8"), Error);
}

TEST(WeightOnlyKernels, PlainCastsHaveNoWeightOnlyKernel) {
  EXPECT_FALSE(kernel_supports(parse_scheme("fp16")));
  const std::vector<float> w(64, 1.0f);
  const QuantizedTensor q = quantize(TensorView{w.data(), 2, 32, "w"}, parse_scheme("bf16"));
  MatmulWorkspace ws;
  float y[2];
  EXPECT_THROW(matmul(q, w.data(), 1, y, 1, ws), Error);
}

}  // namespace
}  // namespace vernier
