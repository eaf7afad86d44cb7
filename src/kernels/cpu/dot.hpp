// Internal: one dot-product function per weight type, in tables indexed by GGML type id.
//
// A DotFn multiplies one weight row of n values (blocks of its type) with one activation row already
// quantized to the type's dot-product format (kernel_activation_type) and returns the float sum.
#pragma once

#include <array>
#include <cstdint>

#include "quant/ggml/reference_dot.hpp"
#include "vernier/ggml_blocks.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier::kernels {

using vernier::DotFn;

// Products smaller than this many multiply-adds run on the calling thread: waking a second thread
// costs tens of microseconds on a shared VM, more than a 256 × 256 product takes (measured: a
// 2-layer dim-256 model decoded 12x slower on 2 threads than on 1 with a 32 K threshold).
inline constexpr int64_t kMinParallelWork = int64_t{1} << 20;
// A backend's kernel table, keyed by GGML type (ids 0..30: BF16 = 30 is the last with a product).
inline constexpr size_t kTypeSlots = 31;
struct DotTable {
  std::array<DotFn, kTypeSlots> fn{};
  DotFn& operator[](GgmlType t) { return fn[id_of(t)]; }
  DotFn operator[](GgmlType t) const { return id_of(t) < kTypeSlots ? fn[id_of(t)] : nullptr; }
};

// The activation blocks and their quantizers, defined beside the reference dots (quant/ggml).
using ggml::BlockQ8_0S;
using ggml::BlockQ8_1;
using ggml::quantize_q8_0s;
using ggml::quantize_q8_1;

// The scalar reference kernels (the registry's reference_dot of each type: integer sums per block
// exactly as llama.cpp's generic vec_dot, the float sum over blocks in order).
const DotTable& reference_dots();

// SIMD kernels for one Highway target; nullptr entries fall back to the reference. `target` is a
// Highway target bit; returns false if this build has no kernels for it.
bool simd_dots(int64_t target, DotTable& out);
bool simd_dots_k(int64_t target, DotTable& out);  // the K-quant half (dot_simd_k.cpp), called by simd_dots
// Eight rows interleaved ("x8", rows_x8.cpp) per block column: Q4_0 and Q8_0 (32-value blocks) hold
// the eight rows' FP16 scales (16 bytes), then their codes (16 bytes of nibbles or 32 int8 each);
// Q4_K (256-value super-blocks) holds the eight d (16 bytes), the eight dmin (16), the sub-block
// scales unpacked to bytes [row][8] (64), the mins unpacked to bytes [pair of sub-blocks][row][2]
// (64), then the eight rows' 128 bytes of nibbles. A PackedRowsFn computes the eight rows' dot
// products with one activation row (Q8_0S blocks for Q4_0, Q8_0 for Q8_0, Q8_K for the K-quants)
// into out[0..8).
// Q6_K holds the eight d (16 bytes), each row's 16 int8 sub-block scales widened to int16 with the
// even-numbered ones in the low 128-bit half and the odd ones in the high half ([row][16], 256), then
// each row's ql (128) and qh (64).
inline constexpr bool x8_packable(GgmlType type) {
  return type == ggml_type::Q4_0 || type == ggml_type::Q8_0 || type == ggml_type::Q4_K || type == ggml_type::Q6_K;
}
inline constexpr int64_t x8_block_bytes(GgmlType type) {
  switch (type) {
    case ggml_type::Q4_0: return 16 + 8 * 16;
    case ggml_type::Q8_0: return 16 + 8 * 32;
    case ggml_type::Q4_K: return 16 + 16 + 64 + 64 + 8 * 128;
    case ggml_type::Q6_K: return 16 + 8 * 32 + 8 * 192;
    default: return 0;
  }
}
using PackedRowsFn = void (*)(const uint8_t* group, const void* x, int64_t blocks, float* out);
// One kernel per repacked type (the x8 and x16 layouts take the same four).
template <class Fn>
struct RepackedKernels {
  Fn q4_0 = nullptr, q8_0 = nullptr, q4_k = nullptr, q6_k = nullptr;
  Fn get(GgmlType type) const {
    switch (type) {
      case ggml_type::Q4_0: return q4_0;
      case ggml_type::Q8_0: return q8_0;
      case ggml_type::Q4_K: return q4_k;
      case ggml_type::Q6_K: return q6_k;
      default: return nullptr;
    }
  }
};
using X8Kernels = RepackedKernels<PackedRowsFn>;
X8Kernels x8_kernels(int64_t target);  // empty where the target has none
// Rows 8·group … 8·group + 7 of a Q4_0, Q8_0, Q4_K or Q6_K matrix (row_bytes apart) into out
// (blocks × x8_block_bytes).
void repack_x8(GgmlType type, const void* w, int64_t row_bytes, int64_t group, int64_t blocks, uint8_t* out);

// AVX-512 VNNI (dot_vnni.cpp, outside Highway): whether the CPU has it, and its kernels over an
// AVX-512 table (Q8_0, Q4_0 and their eight-row kernels; the other x8 kernels stay the AVX-512 ones).
bool vnni_supported();
void vnni_dots(DotTable& table, X8Kernels& x8);

// v[i] = exp(v[i] − shift) for i < n, returning their sum (softmax_simd.cpp); nullptr for a target
// this build has no kernel for.
using ExpSumFn = float (*)(float* v, int64_t n, float shift);
ExpSumFn exp_sum_fn(int64_t target);
using SiluMulFn = void (*)(float* gate, const float* up, int64_t n);  // gate = SiLU(gate) · up
SiluMulFn silu_mul_fn(int64_t target);
// Attention's products whose every element is the same bits whatever the product's shape
// (attention_simd.cpp; kernels.hpp says what they compute); nullptr for a target without them.
using AttnScoresFn = void (*)(const float* q, int64_t q_stride, const int64_t* counts, int64_t m, const float* k, int64_t k_stride,
                              int64_t hd, float scale, float* s, int64_t s_stride);
using AttnValuesFn = void (*)(const float* p, int64_t p_stride, const int64_t* counts, int64_t m, const float* v, int64_t v_stride,
                              int64_t hd, float* out, int64_t out_stride);
AttnScoresFn attn_scores_fn(int64_t target);
AttnValuesFn attn_values_fn(int64_t target);

// The Highway target of the process default path (0: the scalar reference).
int64_t current_target();
// The Highway targets this build compiled kernels for and this CPU supports, best first.
std::array<int64_t, 8> simd_targets(int& count);

}  // namespace vernier::kernels
