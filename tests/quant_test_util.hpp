// Helpers for the quantizer tests: seeded matrices with the traits that matter for granularity.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

namespace vernier::testutil {

// rows × cols, row r scaled by gain^(r mod 8) so that row ranges differ by up to gain^7.
inline std::vector<float> rows_with_different_ranges(int64_t rows, int64_t cols, uint64_t seed, double gain = 2.0) {
  std::mt19937_64 rng(seed);
  std::normal_distribution<double> n(0.0, 1.0);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (int64_t r = 0; r < rows; ++r) {
    const double g = std::pow(gain, static_cast<double>(r % 8));
    for (int64_t c = 0; c < cols; ++c) w[static_cast<size_t>(r * cols + c)] = static_cast<float>(g * n(rng));
  }
  return w;
}

inline std::vector<float> uniform_matrix(int64_t rows, int64_t cols, uint64_t seed, float lo, float hi) {
  std::mt19937_64 rng(seed);
  std::uniform_real_distribution<float> u(lo, hi);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = u(rng);
  return w;
}

}  // namespace vernier::testutil
