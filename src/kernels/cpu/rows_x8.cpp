// Q4_0, Q8_0, Q4_K and Q6_K with eight rows interleaved ("x8", layouts in dot.hpp): for every block
// column, the eight rows' scales and then their codes. A mat-vec then loads each activation block
// once for eight rows and does the scale conversion and multiply-add (and the offset or min terms)
// for eight rows at a time (rows_x8-inl.h). Per block and
// row the integer sum is the reference's exactly; the float accumulation over blocks is per row in
// order (a fused multiply-add instead of the reference's multiply then add). Also: the repacking, and
// the kernels of each Highway target.
#undef HWY_TARGET_INCLUDE
#define HWY_TARGET_INCLUDE "kernels/cpu/rows_x8.cpp"
#include <hwy/foreach_target.h>  // IWYU pragma: keep
#include <hwy/highway.h>

#include <cstring>

#include "dot.hpp"
#include "quant/ggml/search.hpp"

#if HWY_ARCH_X86
#include <immintrin.h>
#endif

HWY_BEFORE_NAMESPACE();
namespace vernier::kernels::HWY_NAMESPACE {
using namespace vernier::ggml;

#if HWY_TARGET == HWY_AVX2 || HWY_TARGET == HWY_AVX3 || HWY_TARGET == HWY_AVX3_DL

#include "kernels/cpu/x86-inl.h"

#include "kernels/cpu/rows_x8-inl.h"

void Q4_0x8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  Q4_0x8Body(group, vx, nb, out, [](__m256i u, __m256i v) { return DotU8I8(u, v); });
}
void Q8_0x8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) {
  Q8_0x8Body(group, vx, nb, out, [](__m256i u, __m256i v) { return DotU8I8(u, v); });
}
void Q4_Kx8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q4_Kx8Body(group, vx, nb, out); }
void Q6_Kx8Rows(const uint8_t* group, const void* vx, int64_t nb, float* out) { Q6_Kx8Body(group, vx, nb, out); }

X8Kernels GetX8() { return {Q4_0x8Rows, Q8_0x8Rows, Q4_Kx8Rows, Q6_Kx8Rows}; }

#else

X8Kernels GetX8() { return {}; }

#endif

}  // namespace vernier::kernels::HWY_NAMESPACE
HWY_AFTER_NAMESPACE();

#if HWY_ONCE
namespace vernier::kernels {
X8Kernels x8_kernels(int64_t target) {
  struct Entry {
    int64_t target;
    X8Kernels (*get)();
  };
  const Entry entries[] = {
      {HWY_AVX3_DL, HWY_CHOOSE_AVX3_DL(GetX8)},
      {HWY_AVX3, HWY_CHOOSE_AVX3(GetX8)},
      {HWY_AVX2, HWY_CHOOSE_AVX2(GetX8)},
  };
  for (const Entry& e : entries) {
    if (e.target == target && e.get) return e.get();
  }
  return {};
}

namespace {
template <class Block>
void repack(const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  constexpr int64_t kCodes = sizeof(Block::qs);
  const auto* base = static_cast<const uint8_t*>(w) + group * 8 * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += 16 + 8 * kCodes) {
    for (int r = 0; r < 8; ++r) {
      Block blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      std::memcpy(out + 2 * r, &blk.d, 2);
      std::memcpy(out + 16 + kCodes * r, blk.qs, kCodes);
    }
  }
}

// Q4_K: d and dmin of the eight rows, the 6-bit scales and mins unpacked (get_scale_min_k4) to
// bytes — scales [row][8], mins [pair of sub-blocks][row][2] — then the nibbles.
void repack_q4_k(const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  const auto* base = static_cast<const uint8_t*>(w) + group * 8 * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += x8_block_bytes(ggml_type::Q4_K)) {
    for (int r = 0; r < 8; ++r) {
      ggml::BlockQ4_K blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      std::memcpy(out + 2 * r, &blk.d, 2);
      std::memcpy(out + 16 + 2 * r, &blk.dmin, 2);
      for (int j = 0; j < 8; ++j) {
        uint8_t sc, m;
        ggml::get_scale_min_k4(j, blk.scales, &sc, &m);
        out[32 + 8 * r + j] = sc;
        out[96 + 16 * (j / 2) + 2 * r + j % 2] = m;
      }
      std::memcpy(out + 160 + 128 * r, blk.qs, 128);
    }
  }
}
// Q6_K: the eight d, each row's scales as int16 (even-numbered sub-blocks in lanes 0..7, odd ones in
// 8..15), then each row's ql and qh.
void repack_q6_k(const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  const auto* base = static_cast<const uint8_t*>(w) + group * 8 * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += x8_block_bytes(ggml_type::Q6_K)) {
    for (int r = 0; r < 8; ++r) {
      ggml::BlockQ6_K blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      std::memcpy(out + 2 * r, &blk.d, 2);
      int16_t sc[16];
      for (int j = 0; j < 16; ++j) sc[(j % 2) * 8 + j / 2] = blk.scales[j];
      std::memcpy(out + 16 + 32 * r, sc, 32);
      std::memcpy(out + 16 + 256 + 192 * r, blk.ql, 128);
      std::memcpy(out + 16 + 256 + 192 * r + 128, blk.qh, 64);
    }
  }
}
}  // namespace

void repack_x8(uint32_t type, const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  if (type == ggml_type::Q4_0) return repack<ggml::BlockQ4_0>(w, row_bytes, group, nb, out);
  if (type == ggml_type::Q4_K) return repack_q4_k(w, row_bytes, group, nb, out);
  if (type == ggml_type::Q6_K) return repack_q6_k(w, row_bytes, group, nb, out);
  repack<ggml::BlockQ8_0>(w, row_bytes, group, nb, out);
}
}  // namespace vernier::kernels
#endif
