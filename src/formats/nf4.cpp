// NF4 encoder: count the 15 midpoints that x lies strictly above. The midpoints are computed in
// double from the float32 levels, the same numbers bitsandbytes hard-codes in its comparison tree.
#include <array>
#include <cmath>

#include "vernier/nf4.hpp"

namespace vernier {
namespace {
std::array<double, 15> make_midpoints() {
  std::array<double, 15> m{};
  for (int i = 0; i < 15; ++i) {
    m[i] = (static_cast<double>(kNf4Levels[i]) + static_cast<double>(kNf4Levels[i + 1])) / 2.0;
  }
  return m;
}
const std::array<double, 15> kMid = make_midpoints();
}  // namespace

uint8_t nf4_encode(float x) {
  if (std::isnan(x)) return 7;
  const double v = x;
  uint8_t code = 0;
  for (int i = 0; i < 15; ++i) code += v > kMid[i] ? 1 : 0;  // branch-free: 15 compares
  return code;
}

}  // namespace vernier
