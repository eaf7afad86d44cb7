// Internal: a GGML block type seen as a grid of values per element, for methods that choose codes
// themselves under scales llama.cpp's rule has fixed (GPTQ's sweep, gptq.cpp). A registry row's
// `codes` (weight_type.hpp) points to its type's GgmlBlockCodes; nullptr where a type has none.
//
// Every block type here stores, for element j, either a uniform grid value(c) = a·(c − off) − m,
// c = 0 … levels − 1 (a = the super-block scale × the sub-block's, m its min term), or a·table[c]
// (IQ4_NL, IQ4_XS). value() repeats the dequantizer's float operations, so that the value a method
// puts into the error update is bit for bit what llama.cpp will decode.
#pragma once

#include <algorithm>
#include <cstdint>

#include "search.hpp"

namespace vernier {

struct GgmlValueGrid {
  float a = 0, m = 0;
  int off = 0, levels = 0;
  const int8_t* table = nullptr;  // non-uniform levels (16 of them), or nullptr

  float value(int c) const { return table ? a * static_cast<float>(table[c]) : a * static_cast<float>(c - off) - m; }
  // The nearest code to x (ties as the float rounding of (x + m)/a falls; a zero scale gives the code
  // of 0 − m, any code having that value).
  int nearest(float x) const {
    if (a == 0) return table ? 0 : std::clamp(off, 0, levels - 1);
    if (table) return ggml::best_index_int8(levels, table, x / a);
    // clamped before nearest_int, which is exact only within ±2^22
    const float v = std::clamp((x + m) / a, -1e6f, 1e6f);
    return std::clamp(ggml::nearest_int(v) + off, 0, levels - 1);
  }
};

struct GgmlBlockCodes {
  // llama.cpp's quantizer on one block (the type's block_size values): its scale search, importance-
  // weighted by qw (nullptr: the reference rule). row_sigma2 is the σ² of the importance weights
  // imatrix × sqrt(σ² + x²) of the types that take it over the whole row (Q4_0, Q4_1, Q5_0, Q5_1:
  // ggml::row_sigma2); the others compute theirs over the block as llama.cpp does.
  void (*quantize_block)(const float* x, void* block, const float* qw, float row_sigma2);
  // The grid of element j under the block's stored scales.
  GgmlValueGrid (*grid)(const void* block, int j);
  // Writes codes[j] (0 … levels − 1 of element j's grid) into the block, keeping its scales.
  void (*set_codes)(void* block, const uint8_t* codes);
};

}  // namespace vernier

namespace vernier::ggml {
extern const GgmlBlockCodes kCodesQ4_0, kCodesQ4_1, kCodesQ5_0, kCodesQ5_1, kCodesQ8_0, kCodesQ2_K, kCodesQ3_K, kCodesQ4_K,
    kCodesQ5_K, kCodesQ6_K, kCodesIQ4_NL, kCodesIQ4_XS;
}  // namespace vernier::ggml
