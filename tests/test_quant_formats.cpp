// NF4 blockwise (with and without double quantization), scaled FP8, the casts, code packing and
// scheme names.
#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "quant_test_util.hpp"
#include "vernier/error.hpp"
#include "vernier/metrics.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"
#include "vernier/quantize.hpp"

namespace vernier {
namespace {

TEST(Nf4Block, CodesAreTheNearestLevelOfXOverAbsmax) {
  const std::vector<float> w = testutil::rows_with_different_ranges(4, 200, 21);
  const Scheme s = parse_scheme("nf4-b64");
  const QuantizedTensor q = quantize(TensorView{w.data(), 4, 200}, s);
  ASSERT_EQ(q.num_groups(), 4 * 4);  // 200 = 3 × 64 + a ragged 8
  const std::vector<float> y = dequantize(q);
  for (int64_t r = 0; r < 4; ++r) {
    for (int64_t c = 0; c < 200; ++c) {
      const size_t i = static_cast<size_t>(r * 200 + c);
      const float absmax = q.scales[static_cast<size_t>(q.group_index(r, c))];
      EXPECT_EQ(q.code(r, c), nf4_encode(w[i] * (1.0f / absmax)));
      EXPECT_EQ(y[i], kNf4Levels[static_cast<size_t>(q.code(r, c))] * absmax);
    }
  }
  // The block maximum is exact (level ±1).
  EXPECT_DOUBLE_EQ(q.bits_per_weight(), 4.0 + 32.0 * 16 / 800);
}

TEST(Nf4Block, DoubleQuantizationCostsLittleAndStoresAbout4Point127Bits) {
  const int64_t rows = 64, cols = 4096;
  const std::vector<float> w = testutil::rows_with_different_ranges(rows, cols, 8, 1.3);
  const QuantizedTensor plain = quantize(TensorView{w.data(), rows, cols}, parse_scheme("nf4-b64"));
  const QuantizedTensor dq = quantize(TensorView{w.data(), rows, cols}, parse_scheme("nf4-b64-dq"));
  EXPECT_DOUBLE_EQ(plain.bits_per_weight(), 4.5);
  // 4 + 8/64 + 32/(64·256) plus one float32 offset over 262,144 weights
  EXPECT_NEAR(dq.bits_per_weight(), 4.0 + 8.0 / 64 + 32.0 / (64 * 256), 2e-4);
  EXPECT_EQ(dq.double_quant.codes.size(), static_cast<size_t>(plain.num_groups()));
  EXPECT_EQ(dq.double_quant.block_absmax.size(), static_cast<size_t>((plain.num_groups() + 255) / 256));
  // The dynamic map's coarsest step is 0.9/64 (between 10^-1 and 1), so a stored absmax is within
  // half of it, 0.00703, times its block's largest |absmax - mean|.
  for (size_t g = 0; g < plain.scales.size(); ++g) {
    const float m = dq.double_quant.block_absmax[g / 256];
    EXPECT_NEAR(dq.scales[g], plain.scales[g], 0.00704 * m + 1e-6) << g;
  }
  const double mse_plain = error_stats(w, dequantize(plain)).mse;
  const double mse_dq = error_stats(w, dequantize(dq)).mse;
  EXPECT_LT(mse_dq, mse_plain * 1.02);
}

TEST(Fp8Scaled, ScaleMapsTheGroupAmaxToTheFormatMaximum) {
  const std::vector<float> w = testutil::rows_with_different_ranges(8, 96, 3);
  for (const char* name : {"fp8_e4m3-channel", "fp8_e5m2-channel", "fp8_e4m3-g32"}) {
    const Scheme s = parse_scheme(name);
    const QuantizedTensor q = quantize(TensorView{w.data(), 8, 96}, s);
    const double fmax = format_info(s.format).max_finite;
    std::vector<double> amax(static_cast<size_t>(q.num_groups()), 0.0);
    for (int64_t r = 0; r < 8; ++r) {
      for (int64_t c = 0; c < 96; ++c) {
        double& a = amax[static_cast<size_t>(q.group_index(r, c))];
        a = std::max(a, std::fabs(double(w[static_cast<size_t>(r * 96 + c)])));
      }
    }
    for (size_t g = 0; g < amax.size(); ++g) EXPECT_FLOAT_EQ(q.scales[g], static_cast<float>(amax[g] / fmax)) << name;
    // relative error of a normal FP8 value is at most half an ULP: 2^-4 (E4M3) or 2^-3 (E5M2)
    const double rel = s.format == FormatId::fp8_e4m3 ? 0.0625 : 0.125;
    const std::vector<float> y = dequantize(q);
    for (size_t i = 0; i < y.size(); ++i) {
      const double scale = q.scales[static_cast<size_t>(q.group_index(static_cast<int64_t>(i) / 96, static_cast<int64_t>(i) % 96))];
      const double sub = s.format == FormatId::fp8_e4m3 ? std::ldexp(1.0, -10) : std::ldexp(1.0, -17);
      EXPECT_LE(std::fabs(double(y[i]) - w[i]), rel * std::fabs(w[i]) + sub * scale * 1.0001) << name << " " << i;
    }
  }
}

TEST(Fp8Scaled, ScaleOneIsThePlainCast) {
  const std::vector<float> x = {0.1f, -3.3f, 500.0f, 1e-4f};
  Scheme s = parse_scheme("fp8_e4m3-tensor");
  s.fixed_scale = 1.0f;
  const QuantizedTensor q = quantize(TensorView{x.data(), 1, 4}, s);
  for (int i = 0; i < 4; ++i) EXPECT_EQ(q.code(0, i), fp8_e4m3_from_float(x[i], Saturation::saturate));
  s.saturation = Saturation::non_saturating;
  EXPECT_TRUE(std::isnan(dequantize(quantize(TensorView{x.data(), 1, 4}, s))[2]));  // 500 overflows E4M3
}

TEST(Casts, Fp16AndBf16StoreLittleEndianCodesAndCarryNaN) {
  const std::vector<float> x = {1.0f, -2.5f, std::nanf(""), INFINITY};
  Scheme s;
  s.format = FormatId::f16;
  s.saturation = Saturation::non_saturating;
  const QuantizedTensor q = quantize(TensorView{x.data(), 1, 4}, s);
  EXPECT_EQ(q.row_bytes, 8);
  EXPECT_EQ(q.codes[0], 0x00);
  EXPECT_EQ(q.codes[1], 0x3c);
  EXPECT_TRUE(q.scales.empty());
  const std::vector<float> y = dequantize(q);
  EXPECT_EQ(y[1], -2.5f);
  EXPECT_TRUE(std::isnan(y[2]));
  EXPECT_TRUE(std::isinf(y[3]));
  s.format = FormatId::bf16;
  EXPECT_EQ(quantize(TensorView{x.data(), 1, 4}, s).code(0, 0), 0x3f80);
  s.format = FormatId::f32;
  EXPECT_EQ(dequantize(quantize(TensorView{x.data(), 1, 4}, s))[1], -2.5f);
}

TEST(Packing, EveryWidthAndLengthRoundTrips) {
  std::mt19937 rng(1);
  for (int bits = 1; bits <= 8; ++bits) {
    for (int64_t n : {1, 2, 3, 7, 8, 9, 31, 32, 33}) {
      std::vector<int32_t> codes(static_cast<size_t>(n));
      for (auto& c : codes) c = static_cast<int32_t>(rng() % (1u << bits));
      std::vector<uint8_t> packed(static_cast<size_t>(packed_bytes(n, bits)), 0xAA);
      pack_codes(codes.data(), n, bits, packed.data());
      std::vector<int32_t> back(static_cast<size_t>(n));
      unpack_codes(packed.data(), n, bits, false, back.data());
      EXPECT_EQ(back, codes) << bits << " bits, " << n << " codes";
      // sign extension: the top bit of the field is the sign
      unpack_codes(packed.data(), n, bits, true, back.data());
      for (int64_t i = 0; i < n; ++i) {
        const int32_t c = codes[static_cast<size_t>(i)];
        EXPECT_EQ(back[static_cast<size_t>(i)], c >= (1 << (bits - 1)) ? c - (1 << bits) : c);
      }
    }
  }
}

TEST(Packing, DocumentedNibbleOrder) {
  const int32_t codes[3] = {0x1, 0x2, 0xf};
  uint8_t out[2];
  pack_codes(codes, 3, 4, out);
  EXPECT_EQ(out[0], 0x21);  // element 0 low nibble, element 1 high nibble
  EXPECT_EQ(out[1], 0x0f);
  const int32_t three[3] = {0b101, 0b011, 0b111};  // LSB-first stream: 101 | 011 | 111 → bits 0..8
  uint8_t o3[2];
  pack_codes(three, 3, 3, o3);
  EXPECT_EQ(o3[0], 0b11011101);
  EXPECT_EQ(o3[1], 0b1);
}

TEST(Schemes, NamesRoundTripAndBadNamesAreUsageErrors) {
  for (const char* name : {"int4-asym-g128", "int8-sym-channel", "nf4-b64-dq", "fp8_e5m2-tensor", "uint3-asym-g7-f16", "bf16"}) {
    const Scheme s = parse_scheme(name);
    EXPECT_EQ(describe(parse_scheme(describe(s))), describe(s)) << name;
  }
  EXPECT_EQ(describe(parse_scheme("int4-asym-g128")), "int4 asym g128");
  for (const char* bad : {"", "int9", "int4-g0", "int4-gx", "int4-wat", "int4-dq"}) {
    try {
      parse_scheme(bad);
      FAIL() << bad;
    } catch (const Error& e) {
      EXPECT_EQ(e.kind(), ErrorKind::usage) << bad;
    }
  }
  Scheme s;
  s.granularity = Granularity::per_group;
  s.group_size = 0;
  const float x = 1.0f;
  EXPECT_THROW(quantize(TensorView{&x, 1, 1}, s), Error);
}

TEST(Storage, BitsPerWeightCountsCodesScalesAndZeroPoints) {
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("int4-sym-g32-f16"), 128, 4096), 4.5);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("int4-sym-g64-f16"), 128, 4096), 4.25);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("int4-sym-g128-f16"), 128, 4096), 4.125);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("int8-sym-channel"), 128, 4096), 8.0 + 32.0 / 4096);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("int4-asym-channel"), 128, 4096), 4.0 + 36.0 / 4096);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("fp16"), 3, 5), 16.0);
  EXPECT_DOUBLE_EQ(scheme_bits_per_weight(parse_scheme("fp8_e4m3-tensor"), 1024, 1024), 8.0 + 32.0 / (1024 * 1024));
}

TEST(Degenerate, EmptyAndSingleElementTensors) {
  const QuantizedTensor empty = quantize(TensorView{nullptr, 0, 0}, parse_scheme("int4-asym-g32"));
  EXPECT_TRUE(dequantize(empty).empty());
  const float one = -3.0f;
  for (const char* name : {"int4-asym-g32", "int8-sym-tensor", "nf4-b64-dq", "fp8_e4m3-channel", "int2-asym-g1"}) {
    const std::vector<float> y = dequantize(quantize(TensorView{&one, 1, 1}, parse_scheme(name)));
    EXPECT_FLOAT_EQ(y[0], -3.0f) << name;  // a one-element group's extreme is exact
  }
}

TEST(Degenerate, TinyMagnitudesKeepTheirRelativePrecision) {
  // weights around 1e-30: the scale is tiny but finite, and INT8 keeps ~2 significant digits
  std::vector<float> w = testutil::uniform_matrix(2, 64, 6, -1e-30f, 1e-30f);
  const std::vector<float> y = dequantize(quantize(TensorView{w.data(), 2, 64}, parse_scheme("int8-sym-channel")));
  const ErrorStats st = error_stats(w, y);
  EXPECT_GT(st.sqnr_db, 35.0);
}

}  // namespace
}  // namespace vernier
