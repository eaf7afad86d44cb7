// The format registry's facts against the codecs: levels by enumeration, extremes by decoding.
#include <gtest/gtest.h>

#include <cmath>
#include <set>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/nf4.hpp"

namespace vernier {
namespace {

struct Enumerated {
  uint64_t levels = 0;
  double max_finite = 0, min_normal_or_positive = 0, min_subnormal = 0;
};

template <class Decode>
Enumerated enumerate(uint32_t codes, Decode decode, int man_bits) {
  std::set<double> values;
  Enumerated e;
  double min_pos = INFINITY;
  for (uint32_t c = 0; c < codes; ++c) {
    const double v = decode(c);
    if (!std::isfinite(v)) continue;
    values.insert(v == 0.0 ? 0.0 : v);
    e.max_finite = std::max(e.max_finite, v);
    if (v > 0) min_pos = std::min(min_pos, v);
  }
  e.levels = values.size();
  e.min_subnormal = min_pos;
  // smallest normal: smallest positive value whose code has a non-zero exponent field
  double min_normal = INFINITY;
  for (uint32_t c = 0; c < codes / 2; ++c) {
    if ((c >> man_bits) != 0 && std::isfinite(decode(c))) min_normal = std::min(min_normal, decode(c));
  }
  e.min_normal_or_positive = min_normal;
  return e;
}

TEST(Registry, RowsAreInIdOrderAndNamesAreUnique) {
  std::set<std::string_view> names;
  for (size_t i = 0; i < kFormats.size(); ++i) {
    EXPECT_EQ(static_cast<size_t>(kFormats[i].id), i);
    EXPECT_TRUE(names.insert(kFormats[i].name).second) << kFormats[i].name;
    EXPECT_EQ(find_format(kFormats[i].name), &kFormats[i]);
  }
}

TEST(Registry, FloatFactsMatchTheCodecs) {
  struct Case { FormatId id; uint32_t codes; int man_bits; double (*decode)(uint32_t); };
  const Case cases[] = {
      {FormatId::f16, 65536, 10, [](uint32_t c) { return double(fp16_to_float(uint16_t(c))); }},
      {FormatId::bf16, 65536, 7, [](uint32_t c) { return double(bf16_to_float(uint16_t(c))); }},
      {FormatId::fp8_e4m3, 256, 3, [](uint32_t c) { return double(fp8_e4m3_to_float(uint8_t(c))); }},
      {FormatId::fp8_e5m2, 256, 2, [](uint32_t c) { return double(fp8_e5m2_to_float(uint8_t(c))); }},
  };
  for (const Case& c : cases) {
    const FormatInfo& f = format_info(c.id);
    const Enumerated e = enumerate(c.codes, c.decode, c.man_bits);
    EXPECT_EQ(f.levels, e.levels) << f.name;
    EXPECT_EQ(f.max_finite, e.max_finite) << f.name;
    EXPECT_EQ(f.min_normal, e.min_normal_or_positive) << f.name;
    EXPECT_EQ(f.min_subnormal, e.min_subnormal) << f.name;
    // machine epsilon: the value just above 1.0 minus 1.0
    const double one = 1.0;
    double next = INFINITY;
    for (uint32_t code = 0; code < c.codes; ++code) {
      const double v = c.decode(code);
      if (v > one && v < next) next = v;
    }
    EXPECT_EQ(f.step_near_one, next - one) << f.name;
  }
  // float32: 2^32 codes minus 2^24 Inf/NaN patterns, +0/-0 once
  EXPECT_EQ(format_info(FormatId::f32).levels, (1ull << 32) - (1ull << 24) - 1);
}

TEST(Registry, IntegerAndNf4Facts) {
  for (const FormatInfo& f : kFormats) {
    if (f.kind == FormatKind::integer) {
      EXPECT_EQ(f.levels, 1ull << f.bits) << f.name;
      const double top = f.is_signed ? (1 << (f.bits - 1)) - 1 : (1 << f.bits) - 1;
      EXPECT_EQ(f.max_finite, top) << f.name;
      EXPECT_DOUBLE_EQ(f.step_near_one, 1.0 / top) << f.name;
    }
  }
  const FormatInfo& nf4 = format_info(FormatId::nf4);
  EXPECT_EQ(nf4.levels, 16u);
  EXPECT_EQ(nf4.max_finite, kNf4Levels[15]);
  EXPECT_EQ(nf4.min_normal, kNf4Levels[8]);
  EXPECT_DOUBLE_EQ(nf4.step_near_one, 1.0 - kNf4Levels[14]);
}

TEST(Registry, AliasesAndUnknownNames) {
  EXPECT_EQ(find_format("E4M3")->id, FormatId::fp8_e4m3);
  EXPECT_EQ(find_format("bfloat16")->id, FormatId::bf16);
  EXPECT_EQ(find_format("half")->id, FormatId::f16);
  EXPECT_EQ(find_format("int9"), nullptr);
  try {
    require_format("int9");
    FAIL() << "no error";
  } catch (const Error& e) {
    EXPECT_EQ(e.kind(), ErrorKind::usage);
    EXPECT_NE(std::string(e.what()).find("nf4"), std::string::npos) << "the message lists valid names";
  }
}

}  // namespace
}  // namespace vernier
