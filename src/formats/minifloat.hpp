// Internal: one generic binary-float codec, instantiated per format with its parameters at compile time.
//
// A format is (exp_bits, man_bits, bias) plus how the all-ones exponent is used: IEEE formats spend it
// on Inf/NaN; E4M3 "fn" uses it for normal numbers and keeps only S.1111.111 as NaN. The encoder works
// on the float32 bit pattern with integers only, so it is exact for every input and needs no FP
// environment: the input is sig * 2^exp2 with an integer significand, the target ULP at that magnitude
// is 2^qexp, and the significand is shifted right by (qexp - exp2) with the rounding applied to the
// bits shifted out. Gradual underflow falls out of clamping the exponent at the format's minimum.
#pragma once

#include <algorithm>
#include <bit>
#include <cstdint>

#include "vernier/float_codecs.hpp"

namespace vernier::detail {

struct MinifloatSpec {
  int exp_bits;
  int man_bits;
  int bias;
  bool ieee_specials;        // all-ones exponent = Inf (mantissa 0) / NaN; else only nan_code is NaN
  uint32_t max_finite_code;  // magnitude bits of the largest finite value
  uint32_t nan_code;         // magnitude bits of the canonical quiet NaN
  uint32_t inf_code;         // magnitude bits of Inf (IEEE formats only)
};

constexpr float pow2f(int e) {
  // 2^e as a float32 for -149 <= e <= 127, exactly.
  return e >= -126 ? std::bit_cast<float>(static_cast<uint32_t>(e + 127) << 23)
                   : std::bit_cast<float>(1u << (e + 149));
}

template <MinifloatSpec S>
constexpr uint32_t minifloat_encode(float x, Rounding rounding, Saturation saturation) {
  constexpr int M = S.man_bits;
  constexpr int total_bits = 1 + S.exp_bits + M;
  constexpr uint32_t sign_bit = 1u << (total_bits - 1);
  constexpr int emin = 1 - S.bias;  // exponent of the smallest normal

  const uint32_t bits = std::bit_cast<uint32_t>(x);
  const uint32_t sign = (bits >> 31) ? sign_bit : 0u;
  const uint32_t abs = bits & 0x7fffffffu;

  if (abs > 0x7f800000u) return sign | S.nan_code;  // NaN stays NaN, sign kept
  const auto overflow = [&]() -> uint32_t {
    if (saturation == Saturation::saturate || rounding == Rounding::toward_zero) {
      return sign | S.max_finite_code;
    }
    return sign | (S.ieee_specials ? S.inf_code : S.nan_code);
  };
  if (abs == 0x7f800000u) {  // ±Inf is exact where the format has it, else it overflows
    if (S.ieee_specials && saturation == Saturation::non_saturating) return sign | S.inf_code;
    return saturation == Saturation::saturate ? (sign | S.max_finite_code) : (sign | S.nan_code);
  }
  if (abs == 0) return sign;

  // abs = sig * 2^exp2 exactly.
  const int e32 = static_cast<int>(abs >> 23);
  const uint32_t sig = e32 == 0 ? abs : ((abs & 0x7fffffu) | 0x800000u);
  const int exp2 = e32 == 0 ? -149 : e32 - 150;
  const int top = exp2 + (31 - std::countl_zero(sig));  // exponent of the leading 1 bit
  int qexp = std::max(top, emin) - M;                   // exponent of one target ULP here
  const int shift = qexp - exp2;

  uint64_t r;
  if (shift <= 0) {
    r = static_cast<uint64_t>(sig) << -shift;  // representable without rounding
  } else if (shift > 32) {
    r = 0;  // below a quarter ULP of the smallest subnormal (sig < 2^24): rounds to zero either way
  } else {
    r = static_cast<uint64_t>(sig) >> shift;  // 64-bit: shift may be 32
    const uint64_t rem = static_cast<uint64_t>(sig) & ((uint64_t{1} << shift) - 1);
    const uint64_t half = uint64_t{1} << (shift - 1);
    if (rounding == Rounding::nearest_even && (rem > half || (rem == half && (r & 1)))) ++r;
  }
  if (r == 0) return sign;                       // underflow to a signed zero
  if (r >> (M + 1)) { r >>= 1; ++qexp; }         // rounding carried into the next binade (exact)
  uint32_t code;
  if (r < (uint64_t{1} << M)) {
    code = static_cast<uint32_t>(r);             // subnormal: exponent field 0
  } else {
    const uint64_t efield = static_cast<uint64_t>(qexp + M + S.bias);
    const uint64_t wide = (efield << M) | (r - (uint64_t{1} << M));
    if (wide > S.max_finite_code) return overflow();
    code = static_cast<uint32_t>(wide);
  }
  if (code > S.max_finite_code) return overflow();
  return sign | code;
}

template <MinifloatSpec S>
constexpr float minifloat_decode(uint32_t code) {
  constexpr int M = S.man_bits;
  constexpr int total_bits = 1 + S.exp_bits + M;
  constexpr uint32_t mag_mask = (1u << (total_bits - 1)) - 1;
  constexpr uint32_t exp_all_ones = (1u << S.exp_bits) - 1;
  const uint32_t sign32 = ((code >> (total_bits - 1)) & 1u) << 31;
  const uint32_t mag = code & mag_mask;
  const uint32_t efield = mag >> M;
  const uint32_t mant = mag & ((1u << M) - 1);
  if (S.ieee_specials ? (efield == exp_all_ones) : (mag == S.nan_code)) {
    if (S.ieee_specials && mant == 0) return std::bit_cast<float>(sign32 | 0x7f800000u);
    // quiet NaN; for 16-bit formats the payload moves up with the mantissa
    return std::bit_cast<float>(sign32 | 0x7fc00000u | (mant << (23 - M)));
  }
  float v;
  if (efield == 0) {
    v = static_cast<float>(mant) * pow2f(1 - S.bias - M);  // exact: small integer times 2^k
  } else {
    const uint32_t e = efield - static_cast<uint32_t>(S.bias) + 127u;
    v = std::bit_cast<float>((e << 23) | (mant << (23 - M)));
  }
  return std::bit_cast<float>(std::bit_cast<uint32_t>(v) | sign32);
}

}  // namespace vernier::detail
