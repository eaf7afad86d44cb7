// The signed 8-bit dynamic map (bitsandbytes create_dynamic_map, signed, 7 exponent bits, 8 bits):
// for i = 0..6 there are 2^i fraction steps: the midpoints of linspace(0.1, 1, 2^i + 1), times
// 10^(i-6), each with both signs (127 + 127 values), then 0 and 1. Sorted ascending so that the
// encoder can binary-search it.
#include <algorithm>
#include <cmath>
#include <vector>

#include "vernier/nf4.hpp"

namespace vernier {
namespace {
std::array<float, 256> make_map() {
  std::vector<double> v;
  for (int i = 0; i < 7; ++i) {
    const int items = (1 << i) + 1;
    const double scale = std::pow(10.0, i - 6);
    for (int k = 0; k + 1 < items; ++k) {
      const double a = 0.1 + 0.9 * k / (items - 1);
      const double b = 0.1 + 0.9 * (k + 1) / (items - 1);
      const double mean = (a + b) / 2.0;
      v.push_back(scale * mean);
      v.push_back(-scale * mean);
    }
  }
  v.push_back(0.0);
  v.push_back(1.0);
  std::array<float, 256> out{};
  for (size_t i = 0; i < 256; ++i) out[i] = static_cast<float>(v[i]);
  std::sort(out.begin(), out.end());
  return out;
}
}  // namespace

const std::array<float, 256>& dynamic8_map() {
  static const std::array<float, 256> map = make_map();
  return map;
}

uint8_t dynamic8_encode(float x) {
  const auto& m = dynamic8_map();
  if (std::isnan(x)) return static_cast<uint8_t>(std::lower_bound(m.begin(), m.end(), 0.0f) - m.begin());
  const auto it = std::lower_bound(m.begin(), m.end(), x);  // first value >= x
  if (it == m.begin()) return 0;
  if (it == m.end()) return 255;
  const auto lo = it - 1;
  const size_t hi_idx = static_cast<size_t>(it - m.begin());
  return static_cast<uint8_t>((*it - x) < (x - *lo) ? hi_idx : hi_idx - 1);
}

}  // namespace vernier
