// Internal: vernier's own weight-only formats (QuantizedTensor) in the form the kernels read.
//
// A row's dot product with float32 activations x is Σ_g s_g · (Σ_{i∈g} c_i·x_i − z_g·X_g), c_i the
// code's value before the scale and X_g = Σ_{i∈g} x_i (computed once per activation row, shared by
// every weight row). Integer codes are read as unsigned fields u (b bits) with c = (u XOR flip) −
// zero: flip = 2^(b−1) for a signed symmetric format (two's complement fields), zero the group's
// zero point (asymmetric) or 2^(b−1) (symmetric). NF4 codes index the 16 levels; FP8 codes are
// E4M3/E5M2 values.
#pragma once

#include <cstdint>

#include "quant/weight_only_ref.hpp"
#include "vernier/quantize.hpp"

namespace vernier::kernels {

// `rows_at_once` consecutive rows from `row` (codes points at the first), results to out[0..].
// The order in which a kernel reads the activations, when decoding codes in element order would cost
// shuffles: per 32 values the even elements then the odd ones (the low nibbles of 16 bytes, then
// the high ones), or per 128 values, element 8k + s at position 16s + k (nibble s of dword k).
// bf16_words128: per 128 values, bfloat16 element 4k + s at position 32s + k (nibble s of word k).
// q8_split128: per 128 values (192 bytes), the Q8_0 codes of the even elements (64 int8), of the
// odd ones (64 int8), then 16 floats: lane L's block scale, d of block L / 4.
enum class XLayout : uint8_t { natural, split32, dwords128, bf16_words128, q8_split128 };
inline constexpr int64_t kQ8SplitBytes = 192;  // per 128 values
using WoRowsFn = void (*)(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out);
// One row against `tokens` (1…tokens_at_once) activation rows x_t = x + t·x_stride (group sums at
// xsum + t·xsum_stride), results to out[t·out_stride]; each (row, token) gets exactly the operations
// `one` gives it.
using WoTokensFn = void (*)(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, int64_t x_stride,
                            const float* xsum, int64_t xsum_stride, int tokens, float* out, int64_t out_stride);
struct WoKernels {
  WoDotFn one = nullptr;    // a single row
  WoRowsFn rows = nullptr;  // rows_at_once rows; each row gets exactly the operations `one` does
  int rows_at_once = 1;
  XLayout x_layout = XLayout::natural;  // the order the kernels read x in (arrange_activations)
  WoTokensFn tokens = nullptr;  // a batch's tokens several at a time, where the kernel has that form
  int tokens_at_once = 0;
};
// The one-row and kRows-row entry points of a kernel family K (`static constexpr int kRows` and
// `template <int R> static void Rows(d, codes, row, x, xsum, out)`), so that one row gets exactly the
// operations it gets among several.
template <class K>
float OneRow(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum) {
  float out;
  K::template Rows<1>(d, codes, row, x, xsum, &out);
  return out;
}
template <class K>
void ManyRows(const WoDesc& d, const uint8_t* codes, int64_t row, const float* x, const float* xsum, float* out) {
  K::template Rows<K::kRows>(d, codes, row, x, xsum, out);
}
template <class K>
WoKernels EntryPoints(XLayout layout = XLayout::natural) {
  return {OneRow<K>, ManyRows<K>, K::kRows, layout};
}
// x (cols values, a multiple of 32 or 128 as the layout needs) in `layout`'s order; for
// bf16_words128 `out` receives cols bfloat16 words (x must hold bfloat16-exact values).
void arrange_activations(XLayout layout, const float* x, int64_t cols, float* out);
// AVX-512 kernels outside Highway (weight_only_avx512.cpp) for 4-bit integer codes in groups of a
// multiple of 128 values; empty where the CPU lacks the extension or the weights have another shape.
// AVX512-BF16 reads x as XLayout::bf16_words128, group sums X_g of the bfloat16 values;
// AVX512-VNNI reads XLayout::q8_split128, X_g of the dequantized Q8_0 values.
bool bf16_supported();
WoKernels wo_bf16_kernels(const WoDesc& d);
WoKernels wo_q8_vnni_kernels(const WoDesc& d);
// The SIMD kernels of a Highway target for these weights, or empty (no kernel for this target, or
// a shape it does not take: groups not a multiple of 32 values, a ragged last group, 2/3/5/6/7-bit codes).
WoKernels wo_simd_kernels(int64_t target, const WoDesc& d);

}  // namespace vernier::kernels
