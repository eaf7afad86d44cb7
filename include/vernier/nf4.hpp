// vernier/nf4.hpp — NormalFloat4 (QLoRA, Dettmers et al. 2023) and the 8-bit dynamic map that
// bitsandbytes uses to compress NF4's block scales ("double quantization").
//
// NF4 has 16 levels in [-1, 1]: quantiles of a standard normal, rescaled so the extremes are ±1, with
// an exact zero (7 negative levels, 8 positive). A weight block is divided by its absmax and each
// value takes the nearest level. The level values are the 16 float32 constants of bitsandbytes.
#pragma once

#include <array>
#include <cstdint>

namespace vernier {

inline constexpr std::array<float, 16> kNf4Levels = {
    -1.0f,
    -0.6961928009986877f,
    -0.5250730514526367f,
    -0.39491748809814453f,
    -0.28444138169288635f,
    -0.18477343022823334f,
    -0.09105003625154495f,
    0.0f,
    0.07958029955625534f,
    0.16093020141124725f,
    0.24611230194568634f,
    0.33791524171829224f,
    0.44070982933044434f,
    0.5626170039176941f,
    0.7229568362236023f,
    1.0f,
};

// Nearest NF4 level to x (x is expected in [-1, 1]; outside it clamps to ±1). A value exactly on the
// midpoint between two levels takes the lower level (bitsandbytes compares x > midpoint). NaN → 7 (0).
uint8_t nf4_encode(float x);
inline float nf4_decode(uint8_t code) { return kNf4Levels[code & 15]; }

// The signed 8-bit "dynamic" map of bitsandbytes (create_dynamic_map(signed=True, 7 exponent bits)):
// 256 ascending values in [-1, 1] with a decimal exponent 10^-6..10^0 and a linear fraction whose
// resolution grows with the exponent, plus 0 and 1. QLoRA stores NF4 block absmax values in it.
const std::array<float, 256>& dynamic8_map();
uint8_t dynamic8_encode(float x);  // index of the nearest map value (ties: the lower index)
inline float dynamic8_decode(uint8_t code) { return dynamic8_map()[code]; }

}  // namespace vernier
