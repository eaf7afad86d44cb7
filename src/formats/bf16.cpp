// bfloat16: the upper 16 bits of an IEEE float32. Bit 15 sign, bits 14..7 exponent (bias 127),
// bits 6..0 mantissa. Same range as float32 (max 3.3895e38), 8 significant bits.
#include "minifloat.hpp"

namespace vernier {
namespace {
constexpr detail::MinifloatSpec kBf16{8, 7, 127, true, 0x7f7fu, 0x7fc0u, 0x7f80u};
}

uint16_t bf16_from_float(float x, Rounding rounding, Saturation saturation) {
  return static_cast<uint16_t>(detail::minifloat_encode<kBf16>(x, rounding, saturation));
}
float bf16_to_float(uint16_t code) { return detail::minifloat_decode<kBf16>(code); }

}  // namespace vernier
