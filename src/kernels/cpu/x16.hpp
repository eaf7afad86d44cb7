// Internal: sixteen rows interleaved by dword ("x16") for the AVX-512 VNNI tile kernels (tiles_vnni.cpp).
//
// A product of a matrix with a batch of tokens as tiles of 16 weight rows × up to 8 tokens: one zmm
// register holds four consecutive codes of each of 16 rows (lane r = row r), so one vpdpbusd with the
// four activation codes broadcast from memory adds those four products into every row's own lane —
// no horizontal sums, and each weight register, decoded once, serves every token of the tile. This
// is what makes the kernels a GEMM for prompts; with one token it is the decode mat-vec.
//
// Layouts, per group of 16 rows and per block column (a block of 32 values, or a 256-value
// super-block), "lane" meaning 16 rows × 4 bytes (64 bytes, one zmm):
//   Q4_0 (288 bytes = 16 × 18): the 16 FP16 scales (32), then for j = 0..3 one lane of each row's
//        bytes qs[4j..4j+3] (low nibbles: values 4j..4j+3, high nibbles: values 16+4j..16+4j+3).
//   Q8_0 (544 = 16 × 34): the 16 FP16 scales (32), then for j = 0..7 one lane of each row's codes
//        4j..4j+3, each plus 128 (unsigned, as vpdpbusd's first operand must be).
//   Q4_K (2368 = 16 × 148): d (32), dmin (32), the 6-bit scales unpacked to bytes [sub-block][row]
//        (128), the mins unpacked to bytes [pair of sub-blocks][row][2] (128), then for each pair k
//        = 0..3 and j = 0..7 one lane of each row's bytes qs[32k+4j..+3] (low nibbles: sub-block 2k,
//        high: 2k + 1).
//   Q6_K (3360 = 16 × 210): d (32), the int8 scales [sub-block][row] (256), then per unit u = 0..3 of
//        64 values: 8 lanes of low 4 bits (lane j: for each row the 4 bytes i = 4j..4j+3 of
//        lo(i) = bits 0-3 of value 64u+i, hi(i) = bits 0-3 of value 64u+32+i), then 4 lanes of high
//        2 bits (lane j: bytes i = 4j..4j+3, bits 2c..2c+1 = bits 4-5 of value 64u+16c+i).
// (16 × 148 for Q4_K is the original 144 plus the 4 bytes the unpacked scales and mins take more.)
//
// Activations: each token's row in the type's usual dot-product format (Q8_0S blocks for Q4_0, Q8_0
// for Q8_0, Q8_K for the K-quants: the row kernels of the leftover rows read it), followed by
// "extras" the tiles read with broadcasts: for Q4_0 and Q8_0 per block the float scale and the int32
// offset term (−8·Σq for Q4_0's nibbles, −128·Σq for Q8_0's codes plus 128); for the K-quants per
// super-block the four int16 pairs (Σ of 32 codes of sub-blocks 2p, 2p+1) for the min term, then
// the sixteen −32·Σ (of 16 codes) for Q6_K's offset. The integer sums are the reference's exactly.
#pragma once

#include <cstdint>

#include "dot.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier::kernels {

inline constexpr int kX16Rows = 16;
inline constexpr int kX16Tokens = 8;  // tokens per tile: 8 accumulators beside the decoded weights

inline constexpr int64_t x16_block_bytes(GgmlType type) {
  switch (type) {
    case ggml_type::Q4_0: return 32 + 4 * 64;
    case ggml_type::Q8_0: return 32 + 8 * 64;
    case ggml_type::Q4_K: return 32 + 32 + 128 + 128 + 32 * 64;
    case ggml_type::Q6_K: return 32 + 256 + 4 * 12 * 64;
    default: return 0;
  }
}

// Rows 16·group … 16·group + 15 (row_bytes apart) into out (blocks × x16_block_bytes).
void repack_x16(GgmlType type, const void* w, int64_t row_bytes, int64_t group, int64_t blocks, uint8_t* out);

// The extras after an activation row of `cols` values (a multiple of 64 bytes), and how to make them
// from the row in the type's dot-product format.
int64_t x16_extras_bytes(GgmlType type, int64_t cols);
void make_x16_extras(GgmlType type, const uint8_t* act_row, int64_t cols, uint8_t* extras);

// y[t·y_stride + r] = row r of the group · token t, for t < tokens (1…kX16Tokens). act: token t's
// row at act + t·act_stride, its extras at that + extras_offset. nb: blocks (or super-blocks) per row.
using TileFn = void (*)(const uint8_t* group, const uint8_t* act, int64_t act_stride, int64_t extras_offset, int tokens,
                        int64_t nb, float* y, int64_t y_stride);
using X16Kernels = RepackedKernels<TileFn>;
X16Kernels vnni_tiles();  // tiles_vnni.cpp; call only where vnni_supported()

}  // namespace vernier::kernels
