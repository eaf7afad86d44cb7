// OCP 8-bit float E5M2: the top byte of an IEEE binary16. Bit 7 sign, bits 6..2 exponent (bias 15),
// bits 1..0 mantissa; exponent 31 is Inf (mantissa 0) or NaN. Max finite 57344 (S.11110.11).
#include <array>

#include "minifloat.hpp"

namespace vernier {
namespace {
constexpr detail::MinifloatSpec kE5M2{5, 2, 15, true, 0x7bu, 0x7eu, 0x7cu};

constexpr std::array<float, 256> make_table() {
  std::array<float, 256> t{};
  for (uint32_t c = 0; c < 256; ++c) t[c] = detail::minifloat_decode<kE5M2>(c);
  return t;
}
const std::array<float, 256> kTable = make_table();
}  // namespace

uint8_t fp8_e5m2_from_float(float x, Saturation saturation, Rounding rounding) {
  return static_cast<uint8_t>(detail::minifloat_encode<kE5M2>(x, rounding, saturation));
}
float fp8_e5m2_to_float(uint8_t code) { return kTable[code]; }

}  // namespace vernier
