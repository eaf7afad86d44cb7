// Affine integer quantization: the worked example, the half-step bound, granularity, ragged groups,
// zero and constant groups, NaN/Inf policy.
#include <gtest/gtest.h>

#include <cmath>

#include "quant_test_util.hpp"
#include "vernier/error.hpp"
#include "vernier/metrics.hpp"
#include "vernier/quantize.hpp"

namespace vernier {
namespace {

Scheme make(FormatId f, AffineMode m, Granularity g, int64_t group = 0) {
  Scheme s;
  s.format = f;
  s.mode = m;
  s.granularity = g;
  s.group_size = group;
  return s;
}

TEST(Affine, WorkedExampleInt8Asymmetric) {
  // The seed's example: min -1.0, max 0.7, scale 1.7/255, zero point 150, 0.10 → 165.
  const std::vector<float> x = {0.10f, -0.30f, 0.70f, -1.00f, 0.50f};
  const QuantizedTensor q =
      quantize(TensorView{x.data(), 1, 5, "example"}, make(FormatId::int8, AffineMode::asymmetric, Granularity::per_tensor));
  ASSERT_EQ(q.scales.size(), 1u);
  EXPECT_FLOAT_EQ(q.scales[0], 1.7f / 255.0f);
  EXPECT_NEAR(q.scales[0], 0.0066667, 1e-7);
  EXPECT_EQ(q.zero_points[0], 150);
  const int32_t want[5] = {165, 105, 255, 0, 225};
  for (int i = 0; i < 5; ++i) EXPECT_EQ(q.code(0, i), want[i]) << i;
  const std::vector<float> y = dequantize(q);
  for (int i = 0; i < 5; ++i) EXPECT_NEAR(y[i], x[i], q.scales[0] / 2) << i;
}

TEST(Affine, SymmetricInt8UsesAbsmaxOver127) {
  const std::vector<float> x = {0.10f, -0.30f, 0.70f, -1.00f, 0.50f};
  const QuantizedTensor q =
      quantize(TensorView{x.data(), 1, 5}, make(FormatId::int8, AffineMode::symmetric, Granularity::per_tensor));
  EXPECT_FLOAT_EQ(q.scales[0], 1.0f / 127.0f);
  EXPECT_TRUE(q.zero_points.empty());
  EXPECT_EQ(q.code(0, 3), -127);
  EXPECT_EQ(q.code(0, 2), 89);  // 0.7 × 127 = 88.9
}

// |x - x'| <= scale/2 for every element, every bit width, both modes, every granularity. Slack: x/s is
// rounded once in float32 before rounding to an integer, and (q - z) × s once after, each within
// 2^-24 relative; 1e-6 relative to the scale and 1e-7 relative to |x| covers both.
TEST(Affine, EveryElementIsWithinHalfAStepForEverySchemeAndWidth) {
  const int64_t rows = 9, cols = 67;
  const std::vector<float> w = testutil::rows_with_different_ranges(rows, cols, 11, 3.0);
  for (const FormatInfo& f : kFormats) {
    if (f.kind != FormatKind::integer) continue;
    for (AffineMode m : {AffineMode::asymmetric, AffineMode::symmetric}) {
      for (auto [g, gs] : {std::pair{Granularity::per_tensor, 0}, std::pair{Granularity::per_channel, 0},
                           std::pair{Granularity::per_group, 1}, std::pair{Granularity::per_group, 7},
                           std::pair{Granularity::per_group, 32}, std::pair{Granularity::per_group, 33}}) {
        const Scheme s = make(f.id, m, g, gs);
        const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols}, s);
        const std::vector<float> y = dequantize(q);
        for (int64_t r = 0; r < rows; ++r) {
          for (int64_t c = 0; c < cols; ++c) {
            const size_t i = static_cast<size_t>(r * cols + c);
            const double s_g = q.scales[static_cast<size_t>(q.group_index(r, c))];
            const double bound = s_g / 2 * (1 + 1e-6) + 1e-7 * std::fabs(w[i]);
            ASSERT_LE(std::fabs(double(y[i]) - w[i]), bound)
                << describe(s) << " at [" << r << ", " << c << "] x=" << w[i] << " x'=" << y[i];
          }
        }
      }
    }
  }
}

TEST(Affine, PerChannelBeatsPerTensorWhenRowRangesDiffer) {
  const int64_t rows = 64, cols = 256;
  const std::vector<float> w = testutil::rows_with_different_ranges(rows, cols, 5);
  for (FormatId f : {FormatId::int8, FormatId::int4, FormatId::int3}) {
    for (AffineMode m : {AffineMode::asymmetric, AffineMode::symmetric}) {
      const auto mse = [&](Granularity g, int64_t gs) {
        const QuantizedTensor q = quantize(TensorView{w.data(), rows, cols}, make(f, m, g, gs));
        return error_stats(w, dequantize(q)).mse;
      };
      const double tensor = mse(Granularity::per_tensor, 0);
      const double channel = mse(Granularity::per_channel, 0);
      const double group = mse(Granularity::per_group, 32);
      EXPECT_LT(channel, tensor) << format_info(f).name;
      EXPECT_LE(group, channel) << format_info(f).name;
      // rows differ by 2^7 in range: per tensor wastes most of the grid on the small rows
      EXPECT_LT(channel * 2, tensor) << format_info(f).name;
    }
  }
}

TEST(Affine, RaggedLastGroupHasItsOwnScale) {
  // 10 columns in groups of 4: groups [0,4), [4,8), [8,10); the last has two elements.
  const std::vector<float> x = {1, 2, 3, 4, -8, 8, 0, 1, 0.5f, -0.25f};
  Scheme s = make(FormatId::int4, AffineMode::symmetric, Granularity::per_group, 4);
  const QuantizedTensor q = quantize(TensorView{x.data(), 1, 10}, s);
  ASSERT_EQ(q.num_groups(), 3);
  EXPECT_FLOAT_EQ(q.scales[0], 4.0f / 7);
  EXPECT_FLOAT_EQ(q.scales[1], 8.0f / 7);
  EXPECT_FLOAT_EQ(q.scales[2], 0.5f / 7);
  EXPECT_EQ(q.group_index(0, 9), 2);
  const std::vector<float> y = dequantize(q);
  EXPECT_FLOAT_EQ(y[8], 0.5f);
}

TEST(Affine, AllZeroRowsAndTensorsGiveZeroNotNaN) {
  const int64_t rows = 3, cols = 40;
  std::vector<float> w = testutil::uniform_matrix(rows, cols, 2, -1, 1);
  for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(cols + c)] = 0.0f;  // row 1 all zero
  const std::vector<float> zeros(static_cast<size_t>(rows * cols), 0.0f);
  for (const FormatInfo& f : kFormats) {
    for (AffineMode m : {AffineMode::asymmetric, AffineMode::symmetric}) {
      for (auto [g, gs] : {std::pair{Granularity::per_tensor, 0}, std::pair{Granularity::per_channel, 0},
                           std::pair{Granularity::per_group, 16}}) {
        Scheme s = make(f.id, m, g, gs);
        for (const std::vector<float>* input : {static_cast<const std::vector<float>*>(&w), &zeros}) {
          const std::vector<float> y = dequantize(quantize(TensorView{input->data(), rows, cols}, s));
          for (size_t i = 0; i < y.size(); ++i) {
            ASSERT_TRUE(std::isfinite(y[i])) << describe(s) << " element " << i;
          }
          for (int64_t c = 0; c < cols; ++c) {
            ASSERT_EQ(y[static_cast<size_t>(cols + c)], 0.0f) << describe(s) << ": a zero row decodes to exact zeros";
          }
        }
      }
    }
  }
}

TEST(Affine, ConstantGroupsAreExactAtTheirEnds) {
  const std::vector<float> x(64, -0.75f);
  for (AffineMode m : {AffineMode::asymmetric, AffineMode::symmetric}) {
    const std::vector<float> y =
        dequantize(quantize(TensorView{x.data(), 2, 32}, make(FormatId::int4, m, Granularity::per_channel)));
    for (float v : y) EXPECT_FLOAT_EQ(v, -0.75f);
  }
}

TEST(Affine, NonFiniteInputIsRefusedWithTheTensorNameAndIndex) {
  for (float bad : {std::nanf(""), INFINITY, -INFINITY}) {
    std::vector<float> x(12, 0.5f);
    x[7] = bad;
    try {
      quantize(TensorView{x.data(), 2, 6, "blk.3.ffn_up.weight"},
               make(FormatId::int4, AffineMode::asymmetric, Granularity::per_channel));
      FAIL() << "accepted " << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::bad_input);
      const std::string msg = e.what();
      EXPECT_NE(msg.find("blk.3.ffn_up.weight"), std::string::npos) << msg;
      EXPECT_NE(msg.find("[1, 1]"), std::string::npos) << msg;
    }
  }
}

TEST(Affine, FixedScaleClipsOutOfRangeValues) {
  const std::vector<float> x = {0.0f, 1.0f, 100.0f};
  Scheme s = make(FormatId::int8, AffineMode::symmetric, Granularity::per_tensor);
  s.fixed_scale = 0.5f;
  const QuantizedTensor q = quantize(TensorView{x.data(), 1, 3}, s);
  EXPECT_EQ(q.code(0, 1), 2);
  EXPECT_EQ(q.code(0, 2), 127);  // clipped
  EXPECT_FLOAT_EQ(dequantize(q)[2], 63.5f);
}

TEST(Affine, TiesRoundToEven) {
  const std::vector<float> x = {0.5f, 1.5f, 2.5f, -0.5f, -1.5f, -2.5f, 3.5f, 126.5f};
  Scheme s = make(FormatId::int8, AffineMode::symmetric, Granularity::per_tensor);
  s.fixed_scale = 1.0f;
  const QuantizedTensor q = quantize(TensorView{x.data(), 1, 8}, s);
  const int32_t want[8] = {0, 2, 2, 0, -2, -2, 4, 126};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(q.code(0, i), want[i]) << x[i];
  s.rounding = Rounding::toward_zero;
  const QuantizedTensor t = quantize(TensorView{x.data(), 1, 8}, s);
  const int32_t trunc[8] = {0, 1, 2, 0, -1, -2, 3, 126};
  for (int i = 0; i < 8; ++i) EXPECT_EQ(t.code(0, i), trunc[i]) << x[i];
}

TEST(Affine, F16ScalesAreRepresentableInFp16AndCostFewerBits) {
  const std::vector<float> w = testutil::uniform_matrix(4, 256, 9, -0.03f, 0.05f);
  Scheme s = make(FormatId::int4, AffineMode::symmetric, Granularity::per_group, 128);
  s.scale_type = ScaleType::f16;
  const QuantizedTensor q = quantize(TensorView{w.data(), 4, 256}, s);
  for (float sc : q.scales) EXPECT_EQ(fp16_to_float(fp16_from_float(sc)), sc);
  EXPECT_DOUBLE_EQ(q.bits_per_weight(), 4.125);  // 4 + 16/128
  s.mode = AffineMode::asymmetric;
  EXPECT_DOUBLE_EQ(quantize(TensorView{w.data(), 4, 256}, s).bits_per_weight(), 4.0 + (16.0 + 4.0) / 128);
}

TEST(Affine, TowardZeroRoundingIsBiasedAndNearestIsNot) {
  const std::vector<float> w = testutil::uniform_matrix(16, 512, 4, 0.0f, 1.0f);
  Scheme s = make(FormatId::int4, AffineMode::symmetric, Granularity::per_channel);
  const ErrorStats nearest = error_stats(w, dequantize(quantize(TensorView{w.data(), 16, 512}, s)));
  s.rounding = Rounding::toward_zero;
  const ErrorStats trunc = error_stats(w, dequantize(quantize(TensorView{w.data(), 16, 512}, s)));
  EXPECT_LT(trunc.mean_signed, -0.02);  // about -scale/2 = -1/14
  EXPECT_LT(std::fabs(nearest.mean_signed), 0.005);
  EXPECT_GT(trunc.mse, nearest.mse);
}

TEST(Affine, UnsignedSymmetricIsOffsetBinary) {
  const std::vector<float> x = {-1.0f, 0.0f, 1.0f};
  const QuantizedTensor q =
      quantize(TensorView{x.data(), 1, 3}, make(FormatId::uint4, AffineMode::symmetric, Granularity::per_tensor));
  EXPECT_EQ(q.code(0, 0), 1);
  EXPECT_EQ(q.code(0, 1), 8);
  EXPECT_EQ(q.code(0, 2), 15);
  const auto y = dequantize(q);
  EXPECT_FLOAT_EQ(y[0], -1.0f);
  EXPECT_FLOAT_EQ(y[2], 1.0f);
}

}  // namespace
}  // namespace vernier
