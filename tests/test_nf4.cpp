// NF4 levels and encoder (all 16 codes, nearest-level search) and the dynamic 8-bit map.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>

#include "vernier/nf4.hpp"

namespace vernier {
namespace {

TEST(Nf4, LevelsAreTheBitsandbytesConstants) {
  // The 16 values of bitsandbytes' NF4 table, as the issue lists them (float32).
  const float expected[16] = {-1.0f, -0.6961928009986877f, -0.5250730514526367f, -0.39491748809814453f,
                              -0.28444138169288635f, -0.18477343022823334f, -0.09105003625154495f, 0.0f,
                              0.07958029955625534f, 0.16093020141124725f, 0.24611230194568634f,
                              0.33791524171829224f, 0.44070982933044434f, 0.5626170039176941f,
                              0.7229568362236023f, 1.0f};
  for (int i = 0; i < 16; ++i) EXPECT_EQ(kNf4Levels[i], expected[i]) << i;
  for (int i = 0; i + 1 < 16; ++i) EXPECT_LT(kNf4Levels[i], kNf4Levels[i + 1]);
}

TEST(Nf4, EveryCodeRoundTrips) {
  for (int c = 0; c < 16; ++c) EXPECT_EQ(nf4_encode(nf4_decode(static_cast<uint8_t>(c))), c);
}

TEST(Nf4, EncodeIsTheNearestLevelWithTiesToTheLowerLevel) {
  std::mt19937 rng(7);
  std::uniform_real_distribution<float> u(-1.2f, 1.2f);
  for (int i = 0; i < 100000; ++i) {
    const float x = u(rng);
    int best = 0;
    for (int c = 1; c < 16; ++c) {
      if (std::fabs(double(x) - kNf4Levels[c]) < std::fabs(double(x) - kNf4Levels[best])) best = c;
    }
    ASSERT_EQ(nf4_encode(x), best) << x;
  }
  for (int c = 0; c + 1 < 16; ++c) {
    const double mid = (double(kNf4Levels[c]) + kNf4Levels[c + 1]) / 2;
    const float below = static_cast<float>(mid);  // float nearest to the midpoint
    const int got = nf4_encode(below);
    EXPECT_TRUE(got == c || got == c + 1);
    EXPECT_EQ(nf4_encode(std::nextafter(below, -2.0f)), c);
    EXPECT_EQ(nf4_encode(std::nextafter(below, 2.0f)), c + 1);
  }
}

TEST(Nf4, OutOfRangeClampsAndNaNIsZero) {
  EXPECT_EQ(nf4_encode(5.0f), 15);
  EXPECT_EQ(nf4_encode(-5.0f), 0);
  EXPECT_EQ(nf4_encode(std::nanf("")), 7);
  EXPECT_EQ(nf4_decode(7), 0.0f);
}

TEST(Dynamic8, MapIsSortedUniqueWithZeroAndOne) {
  const auto& m = dynamic8_map();
  for (size_t i = 0; i + 1 < m.size(); ++i) EXPECT_LT(m[i], m[i + 1]) << i;
  EXPECT_EQ(m.back(), 1.0f);
  EXPECT_EQ(std::count(m.begin(), m.end(), 0.0f), 1);
  EXPECT_NEAR(m.front(), -0.99297, 1e-5);  // -(10^0 × midpoint of the last fraction step)
  for (int c = 0; c < 256; ++c) EXPECT_EQ(dynamic8_encode(dynamic8_decode(static_cast<uint8_t>(c))), c);
}

TEST(Dynamic8, EncodeIsNearest) {
  const auto& m = dynamic8_map();
  std::mt19937 rng(3);
  std::uniform_real_distribution<float> u(-1.0f, 1.0f);
  for (int i = 0; i < 20000; ++i) {
    const float x = u(rng) * u(rng) * u(rng);
    const float got = m[dynamic8_encode(x)];
    for (float v : m) ASSERT_LE(std::fabs(double(got) - x), std::fabs(double(v) - x) + 1e-12) << x;
  }
}

}  // namespace
}  // namespace vernier
