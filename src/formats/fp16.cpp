// IEEE 754 binary16. Layout: bit 15 sign, bits 14..10 exponent (bias 15), bits 9..0 mantissa.
// Exponent 31 holds Inf (mantissa 0) and NaN; exponent 0 holds ±0 and subnormals (mantissa × 2^-24).
#include "minifloat.hpp"

namespace vernier {
namespace {
constexpr detail::MinifloatSpec kFp16{5, 10, 15, true, 0x7bffu, 0x7e00u, 0x7c00u};
}

uint16_t fp16_from_float(float x, Rounding rounding, Saturation saturation) {
  return static_cast<uint16_t>(detail::minifloat_encode<kFp16>(x, rounding, saturation));
}
float fp16_to_float(uint16_t code) { return detail::minifloat_decode<kFp16>(code); }

}  // namespace vernier
