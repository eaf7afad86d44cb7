// FP16, BF16, FP8 E4M3 and E5M2 codecs against the specification (float_reference.hpp): every code,
// and a dense sweep over every rounding boundary and tie, subnormals and overflow, in each rounding
// and saturation mode.
#include <gtest/gtest.h>

#include <bit>
#include <cmath>
#include <limits>
#include <random>

#include "float_reference.hpp"
#include "vernier/float_codecs.hpp"

namespace vernier {
namespace {

using testref::FloatSpec;

struct Codec {
  const char* name;
  FloatSpec spec;
  uint32_t (*encode)(float, Rounding, Saturation);
  float (*decode)(uint32_t);
};

const Codec kCodecs[] = {
    {"fp16", testref::kFp16, [](float x, Rounding r, Saturation s) -> uint32_t { return fp16_from_float(x, r, s); },
     [](uint32_t c) { return fp16_to_float(static_cast<uint16_t>(c)); }},
    {"bf16", testref::kBf16, [](float x, Rounding r, Saturation s) -> uint32_t { return bf16_from_float(x, r, s); },
     [](uint32_t c) { return bf16_to_float(static_cast<uint16_t>(c)); }},
    {"fp8_e4m3", testref::kE4M3,
     [](float x, Rounding r, Saturation s) -> uint32_t { return fp8_e4m3_from_float(x, s, r); },
     [](uint32_t c) { return fp8_e4m3_to_float(static_cast<uint8_t>(c)); }},
    {"fp8_e5m2", testref::kE5M2,
     [](float x, Rounding r, Saturation s) -> uint32_t { return fp8_e5m2_from_float(x, s, r); },
     [](uint32_t c) { return fp8_e5m2_to_float(static_cast<uint8_t>(c)); }},
};

void PrintTo(const Codec& c, std::ostream* os) { *os << c.name; }

class FloatCodec : public ::testing::TestWithParam<Codec> {};

uint32_t num_codes(const FloatSpec& s) { return 1u << testref::total_bits(s); }
uint32_t sign_bit(const FloatSpec& s) { return 1u << (testref::total_bits(s) - 1); }

TEST_P(FloatCodec, EveryCodeDecodesToTheValueTheSpecificationGives) {
  const Codec& c = GetParam();
  for (uint32_t code = 0; code < num_codes(c.spec); ++code) {
    const double want = testref::decode(c.spec, code);
    const float got = c.decode(code);
    if (std::isnan(want)) {
      EXPECT_TRUE(std::isnan(got)) << c.name << " code " << code;
      EXPECT_EQ(std::signbit(got), (code & sign_bit(c.spec)) != 0) << c.name << " NaN keeps its sign, code " << code;
    } else {
      EXPECT_EQ(static_cast<double>(got), want) << c.name << " code " << code;
      EXPECT_EQ(std::signbit(got), (code & sign_bit(c.spec)) != 0) << c.name << " code " << code;
    }
  }
}

TEST_P(FloatCodec, EveryCodeReencodesToItselfAndNaNsToANaN) {
  const Codec& c = GetParam();
  for (uint32_t code = 0; code < num_codes(c.spec); ++code) {
    const float v = c.decode(code);
    const auto cls = testref::classify(c.spec, code);
    const uint32_t back = c.encode(v, Rounding::nearest_even, Saturation::non_saturating);
    if (cls == testref::CodeClass::nan) {
      EXPECT_EQ(testref::classify(c.spec, back), testref::CodeClass::nan) << c.name << " code " << code;
    } else {
      EXPECT_EQ(back, code) << c.name << " code " << code;
    }
    if (cls == testref::CodeClass::finite) {
      EXPECT_EQ(c.encode(v, Rounding::nearest_even, Saturation::saturate), code) << c.name << " code " << code;
      EXPECT_EQ(c.encode(v, Rounding::toward_zero, Saturation::non_saturating), code) << c.name << " code " << code;
    }
  }
}

std::vector<float> sweep_inputs(const FloatSpec& s) {
  std::vector<float> in = testref::boundary_sweep(s);
  std::mt19937_64 rng(12345);
  for (int i = 0; i < 100000; ++i) {  // random bit patterns: every exponent of float32
    in.push_back(std::bit_cast<float>(static_cast<uint32_t>(rng())));
  }
  const auto mags = testref::finite_magnitudes(s);
  const double max_v = testref::decode(s, mags.back());
  std::uniform_real_distribution<double> u(-1.1 * max_v, 1.1 * max_v);
  for (int i = 0; i < 50000; ++i) in.push_back(static_cast<float>(u(rng)));
  return in;
}

uint32_t expected_code(const Codec& c, const std::vector<uint32_t>& mags, float x, Rounding rounding,
                       Saturation saturation) {
  const FloatSpec& s = c.spec;
  const uint32_t sign = std::signbit(x) ? sign_bit(s) : 0u;
  const uint32_t max_code = mags.back();
  const uint32_t exp_ones = (1u << s.exp_bits) - 1;
  const uint32_t inf_code = exp_ones << s.man_bits;
  const uint32_t nan_code = s.ieee_specials ? inf_code | (1u << (s.man_bits - 1)) : (exp_ones << s.man_bits) | ((1u << s.man_bits) - 1);
  if (std::isnan(x)) return sign | nan_code;
  if (std::isinf(x)) {
    if (saturation == Saturation::saturate) return sign | max_code;
    return sign | (s.ieee_specials ? inf_code : nan_code);
  }
  const testref::Encoded e = testref::encode(s, mags, x, rounding);
  if (e.overflow) {
    if (saturation == Saturation::saturate || rounding == Rounding::toward_zero) return sign | max_code;
    return sign | (s.ieee_specials ? inf_code : nan_code);
  }
  return sign | e.magnitude;
}

void check_sweep(const Codec& c, Rounding rounding, Saturation saturation) {
  const auto mags = testref::finite_magnitudes(c.spec);
  int failures = 0;
  size_t checked = 0;
  for (float x : sweep_inputs(c.spec)) {
    const uint32_t want = expected_code(c, mags, x, rounding, saturation);
    const uint32_t got = c.encode(x, rounding, saturation);
    ++checked;
    if (got != want && ++failures <= 10) {
      ADD_FAILURE() << c.name << ": " << x << " (0x" << std::hex << std::bit_cast<uint32_t>(x) << ") encodes to 0x"
                    << got << ", the specification gives 0x" << want << std::dec;
    }
  }
  EXPECT_EQ(failures, 0) << "of " << checked << " inputs";
  EXPECT_GT(checked, 150000u);
}

TEST_P(FloatCodec, NearestEvenNonSaturatingMatchesTheSpecificationOnTheDenseSweep) {
  check_sweep(GetParam(), Rounding::nearest_even, Saturation::non_saturating);
}
TEST_P(FloatCodec, NearestEvenSaturatingMatchesTheSpecificationOnTheDenseSweep) {
  check_sweep(GetParam(), Rounding::nearest_even, Saturation::saturate);
}
TEST_P(FloatCodec, TowardZeroMatchesTheSpecificationOnTheDenseSweep) {
  check_sweep(GetParam(), Rounding::toward_zero, Saturation::non_saturating);
}

TEST_P(FloatCodec, SignedZerosAndTinyValuesUnderflowToSignedZero) {
  const Codec& c = GetParam();
  EXPECT_EQ(c.encode(0.0f, Rounding::nearest_even, Saturation::saturate), 0u);
  EXPECT_EQ(c.encode(-0.0f, Rounding::nearest_even, Saturation::saturate), sign_bit(c.spec));
  EXPECT_EQ(c.encode(-std::numeric_limits<float>::denorm_min(), Rounding::nearest_even, Saturation::saturate),
            sign_bit(c.spec));
}

INSTANTIATE_TEST_SUITE_P(AllFormats, FloatCodec, ::testing::ValuesIn(kCodecs),
                         [](const auto& info) { return std::string(info.param.name); });

// Named facts of each specification, as a reader would check them by hand.
TEST(FloatCodecFacts, Fp16KnownCodes) {
  EXPECT_EQ(fp16_from_float(1.0f), 0x3c00);
  EXPECT_EQ(fp16_from_float(65504.0f), 0x7bff);
  EXPECT_EQ(fp16_from_float(65519.0f), 0x7bff);                 // below the midpoint 65520
  EXPECT_EQ(fp16_from_float(65520.0f), 0x7c00);                 // the tie goes to even: Inf
  EXPECT_EQ(fp16_from_float(65520.0f, Rounding::nearest_even, Saturation::saturate), 0x7bff);
  EXPECT_EQ(fp16_from_float(std::ldexp(1.0f, -24)), 0x0001);    // smallest subnormal
  EXPECT_EQ(fp16_from_float(std::ldexp(1.0f, -25)), 0x0000);    // half of it: tie to even (0)
  EXPECT_EQ(fp16_from_float(std::ldexp(1.5f, -25)), 0x0001);
  EXPECT_EQ(fp16_from_float(std::nanf("")), 0x7e00);
  EXPECT_EQ(fp16_from_float(-std::nanf("")), 0xfe00);
}

TEST(FloatCodecFacts, Bf16KnownCodes) {
  EXPECT_EQ(bf16_from_float(1.0f), 0x3f80);
  EXPECT_EQ(bf16_from_float(std::bit_cast<float>(0x3f808000u)), 0x3f80);  // tie, even stays
  EXPECT_EQ(bf16_from_float(std::bit_cast<float>(0x3f818000u)), 0x3f82);  // tie, odd rounds up
  EXPECT_EQ(bf16_from_float(std::bit_cast<float>(0x3f80ffffu), Rounding::toward_zero), 0x3f80);
  EXPECT_EQ(bf16_from_float(std::numeric_limits<float>::max()), 0x7f80);  // rounds past bf16 max
  EXPECT_EQ(bf16_from_float(std::numeric_limits<float>::max(), Rounding::nearest_even, Saturation::saturate), 0x7f7f);
}

TEST(FloatCodecFacts, Fp8E4M3KnownCodes) {
  EXPECT_EQ(fp8_e4m3_from_float(448.0f, Saturation::non_saturating), 0x7e);
  EXPECT_EQ(fp8_e4m3_from_float(464.0f, Saturation::non_saturating), 0x7e);  // tie to even: 448
  EXPECT_EQ(fp8_e4m3_from_float(465.0f, Saturation::non_saturating), 0x7f);  // overflow: NaN (no Inf)
  EXPECT_EQ(fp8_e4m3_from_float(465.0f, Saturation::saturate), 0x7e);
  EXPECT_EQ(fp8_e4m3_from_float(-1e9f, Saturation::saturate), 0xfe);
  EXPECT_EQ(fp8_e4m3_from_float(std::numeric_limits<float>::infinity(), Saturation::non_saturating), 0x7f);
  EXPECT_EQ(fp8_e4m3_from_float(std::numeric_limits<float>::infinity(), Saturation::saturate), 0x7e);
  EXPECT_EQ(fp8_e4m3_from_float(std::nanf(""), Saturation::saturate), 0x7f);  // saturation never hides a NaN
  EXPECT_EQ(fp8_e4m3_from_float(std::ldexp(1.0f, -9), Saturation::saturate), 0x01);
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0x7f)));
  EXPECT_TRUE(std::isnan(fp8_e4m3_to_float(0xff)));
  EXPECT_EQ(fp8_e4m3_to_float(0x78), 256.0f);  // exponent 15 is an ordinary binade in "fn"
}

TEST(FloatCodecFacts, Fp8E5M2KnownCodes) {
  EXPECT_EQ(fp8_e5m2_from_float(57344.0f, Saturation::non_saturating), 0x7b);
  EXPECT_EQ(fp8_e5m2_from_float(61440.0f, Saturation::non_saturating), 0x7c);  // tie: even is 2^16 → Inf
  EXPECT_EQ(fp8_e5m2_from_float(61440.0f, Saturation::saturate), 0x7b);
  EXPECT_EQ(fp8_e5m2_from_float(-std::numeric_limits<float>::infinity(), Saturation::non_saturating), 0xfc);
  EXPECT_EQ(fp8_e5m2_from_float(std::ldexp(1.0f, -16), Saturation::saturate), 0x01);
  EXPECT_TRUE(std::isinf(fp8_e5m2_to_float(0x7c)));
  EXPECT_TRUE(std::isnan(fp8_e5m2_to_float(0x7d)));
  for (uint32_t c = 0; c < 256; ++c) {  // E5M2 is the top byte of FP16
    const float v = fp8_e5m2_to_float(static_cast<uint8_t>(c));
    const float h = fp16_to_float(static_cast<uint16_t>(c << 8));
    if (std::isnan(v)) EXPECT_TRUE(std::isnan(h)); else EXPECT_EQ(v, h);
  }
}

}  // namespace
}  // namespace vernier

namespace vernier {
namespace {
TEST(Fp16Inline, EveryCodeDecodesBitForBitAsTheCodec) {
  for (uint32_t c = 0; c < 65536; ++c) {
    const float a = fp16_to_float(static_cast<uint16_t>(c)), b = fp16_to_float_inline(static_cast<uint16_t>(c));
    uint32_t ba, bb;
    std::memcpy(&ba, &a, 4);
    std::memcpy(&bb, &b, 4);
    ASSERT_EQ(ba, bb) << "code 0x" << std::hex << c;
  }
}
}  // namespace
}  // namespace vernier
