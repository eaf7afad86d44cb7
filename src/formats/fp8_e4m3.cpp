// OCP 8-bit float E4M3, the "fn" variant (finite, NaN only at S.1111.111), as in the OCP OFP8 spec,
// NVIDIA Hopper and ml_dtypes.float8_e4m3fn. Bit 7 sign, bits 6..3 exponent (bias 7), bits 2..0
// mantissa. Exponent 15 is an ordinary binade (256..448) except mantissa 7. Decoding goes through a
// 256-entry table built once from the generic decoder.
#include <array>

#include "minifloat.hpp"

namespace vernier {
namespace {
constexpr detail::MinifloatSpec kE4M3{4, 3, 7, false, 0x7eu, 0x7fu, 0u};

constexpr std::array<float, 256> make_table() {
  std::array<float, 256> t{};
  for (uint32_t c = 0; c < 256; ++c) t[c] = detail::minifloat_decode<kE4M3>(c);
  return t;
}
const std::array<float, 256> kTable = make_table();
}  // namespace

uint8_t fp8_e4m3_from_float(float x, Saturation saturation, Rounding rounding) {
  return static_cast<uint8_t>(detail::minifloat_encode<kE4M3>(x, rounding, saturation));
}
float fp8_e4m3_to_float(uint8_t code) { return kTable[code]; }

}  // namespace vernier
