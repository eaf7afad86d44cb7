// vernier/float_codecs.hpp — scalar reference codecs for the 16- and 8-bit float formats.
//
// Every encoder takes its rounding and overflow behaviour as arguments, because formats in the field
// differ exactly there:
//   * Rounding::nearest_even is IEEE 754's default and what every hardware cast does; it is unbiased,
//     so a long dot product of rounded values does not drift. toward_zero is plain truncation (what
//     "take the top 16 bits" BF16 code does); it is offered to measure that bias, not to use.
//   * Saturation::non_saturating follows IEEE: a finite value whose rounded magnitude exceeds the
//     largest finite one becomes ±Inf, or NaN in E4M3 "fn", which has no infinity (this is what
//     ml_dtypes and a PyTorch cast do). Saturation::saturate clamps it to ±max finite and also maps
//     ±Inf to ±max ("satfinite", as CUDA's __NV_SATFINITE and CUTLASS round_to_nearest_satfinite do);
//     scaled FP8 quantization uses it so one outlier cannot become Inf or NaN.
//     Under toward_zero, finite overflow gives ±max finite, as IEEE specifies for that mode.
//   * NaN: any NaN input encodes to the format's canonical quiet NaN with the input's sign (FP16 0x7E00,
//     BF16 0x7FC0, E4M3 0x7F, E5M2 0x7E, sign bit set for negative NaN); saturation never turns a
//     NaN into a number. Decoding a NaN code gives a quiet float NaN with that sign (FP16/BF16 keep the
//     payload bits). Signed zeros are kept; values below half the smallest subnormal become ±0.
//
// Decoding is exact: every code of these formats is a float32 value.
#pragma once

#include <cstdint>
#include <cstring>

namespace vernier {

enum class Rounding { nearest_even, toward_zero };
enum class Saturation { non_saturating, saturate };

// IEEE 754 binary16: 1 sign, 5 exponent (bias 15), 10 mantissa bits; max 65504.
uint16_t fp16_from_float(float x, Rounding rounding = Rounding::nearest_even,
                         Saturation saturation = Saturation::non_saturating);
float fp16_to_float(uint16_t code);
// The same value as fp16_to_float for every code (NaN payloads included; checked on all 65,536),
// inline so that decode loops (a packed tensor's FP16 scales) vectorize instead of calling out.
inline float fp16_to_float_inline(uint16_t h) {
  const uint32_t sign = static_cast<uint32_t>(h & 0x8000u) << 16, e = (h >> 10) & 0x1Fu, m = h & 0x3FFu;
  uint32_t bits;
  if (e == 0x1F) bits = sign | 0x7F800000u | (m << 13) | (m ? 0x00400000u : 0u);  // Inf; NaN quiet, payload kept
  else if (e != 0) bits = sign | ((e + 112) << 23) | (m << 13);  // normal: rebias 15 → 127
  else if (m == 0) bits = sign;                                  // ±0
  else {                                                         // subnormal: m · 2^-24, exact
    const float v = static_cast<float>(m) * 0x1p-24f;
    std::memcpy(&bits, &v, 4);
    bits |= sign;
  }
  float f;
  std::memcpy(&f, &bits, 4);
  return f;
}

// bfloat16: the top half of a float32: 1 sign, 8 exponent (bias 127), 7 mantissa bits.
uint16_t bf16_from_float(float x, Rounding rounding = Rounding::nearest_even,
                         Saturation saturation = Saturation::non_saturating);
float bf16_to_float(uint16_t code);

// OCP FP8 E4M3 ("fn"): 1 sign, 4 exponent (bias 7), 3 mantissa bits; no infinities; S.1111.111 is
// NaN, so the largest finite value is S.1111.110 = 448; smallest subnormal 2^-9.
uint8_t fp8_e4m3_from_float(float x, Saturation saturation,
                            Rounding rounding = Rounding::nearest_even);
float fp8_e4m3_to_float(uint8_t code);

// OCP FP8 E5M2: 1 sign, 5 exponent (bias 15), 2 mantissa bits; IEEE-style Inf (S.11111.00) and NaN
// (S.11111.xx, xx != 0); max 57344; smallest subnormal 2^-16.
uint8_t fp8_e5m2_from_float(float x, Saturation saturation,
                            Rounding rounding = Rounding::nearest_even);
float fp8_e5m2_to_float(uint8_t code);

}  // namespace vernier
