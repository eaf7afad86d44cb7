// Shared by the GPTQ tests: seeded weights, correlated inputs and their Hessians.
#pragma once

#include <cstdint>
#include <random>
#include <vector>

#include "vernier/gptq.hpp"

namespace vernier {

inline std::vector<float> random_weights(int64_t rows, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.05f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& x : w) x = nd(rng);
  return w;
}

// Inputs with correlated columns and uneven scales, like a transformer's activations: x = z · A.
inline std::vector<float> correlated_inputs(int64_t n, int64_t cols, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> a(static_cast<size_t>(cols * cols)), z(static_cast<size_t>(n * cols)), x(static_cast<size_t>(n * cols), 0.0f);
  for (auto& v : a) v = nd(rng) * 0.3f;
  for (int64_t i = 0; i < cols; ++i) a[static_cast<size_t>(i * cols + i)] += 1.0f + 3.0f * static_cast<float>(i % 7 == 0);
  for (auto& v : z) v = nd(rng);
  for (int64_t t = 0; t < n; ++t) {
    for (int64_t k = 0; k < cols; ++k) {
      const float zk = z[static_cast<size_t>(t * cols + k)];
      for (int64_t j = 0; j < cols; ++j) x[static_cast<size_t>(t * cols + j)] += zk * a[static_cast<size_t>(k * cols + j)];
    }
  }
  return x;
}

inline std::vector<float> hessian_of(const std::vector<float>& x, int64_t n, int64_t cols) {
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  hessian_accumulate(h, x.data(), n / 2, cols, n);  // two batches, as calibration feeds them
  hessian_accumulate(h, x.data() + (n / 2) * cols, n - n / 2, cols, n);
  hessian_symmetrize(h, cols);
  return h;
}

inline std::vector<float> identity(int64_t cols) {
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  for (int64_t i = 0; i < cols; ++i) h[static_cast<size_t>(i * cols + i)] = 1.0f;
  return h;
}

}  // namespace vernier
