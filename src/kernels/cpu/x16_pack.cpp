// The x16 layouts (x16.hpp): repacking sixteen rows, and the activation extras the tiles read. Plain
// C++: run once per matrix at load and once per activation row per product.
#include "x16.hpp"

#include <cstring>

#include "vernier/float_codecs.hpp"
#include "vernier/ggml_blocks.hpp"

namespace vernier::kernels {

namespace {
using namespace vernier::ggml;

// Rows 16·group … +15, block column by block column: `place(block, r, out)` writes row r's block.
template <class Block, class Place>
void repack_rows(const void* w, int64_t row_bytes, int64_t group, int64_t nb, int64_t block_bytes, uint8_t* out, Place place) {
  const auto* base = static_cast<const uint8_t*>(w) + group * kX16Rows * row_bytes;
  for (int64_t b = 0; b < nb; ++b, out += block_bytes) {
    for (int r = 0; r < kX16Rows; ++r) {
      Block blk;
      std::memcpy(&blk, base + r * row_bytes + b * static_cast<int64_t>(sizeof blk), sizeof blk);
      place(blk, r, out);
    }
  }
}

// Byte i of row r's 4-byte groups into lane i/4 at `lanes` (64 bytes per lane).
inline void put_lane_byte(uint8_t* lanes, int r, int i, uint8_t v) { lanes[64 * (i / 4) + 4 * r + i % 4] = v; }
}  // namespace

void repack_x16(GgmlType type, const void* w, int64_t row_bytes, int64_t group, int64_t nb, uint8_t* out) {
  const int64_t bytes = x16_block_bytes(type);
  switch (type) {
    case ggml_type::Q4_0:
      return repack_rows<BlockQ4_0>(w, row_bytes, group, nb, bytes, out, [](const BlockQ4_0& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        for (int i = 0; i < 16; ++i) put_lane_byte(o + 32, r, i, b.qs[i]);
      });
    case ggml_type::Q8_0:
      return repack_rows<BlockQ8_0>(w, row_bytes, group, nb, bytes, out, [](const BlockQ8_0& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        for (int i = 0; i < 32; ++i) put_lane_byte(o + 32, r, i, static_cast<uint8_t>(b.qs[i] + 128));
      });
    case ggml_type::Q4_K:
      return repack_rows<BlockQ4_K>(w, row_bytes, group, nb, bytes, out, [](const BlockQ4_K& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        std::memcpy(o + 32 + 2 * r, &b.dmin, 2);
        for (int j = 0; j < 8; ++j) {
          uint8_t sc, m;
          get_scale_min_k4(j, b.scales, &sc, &m);
          o[64 + 16 * j + r] = sc;
          o[192 + 32 * (j / 2) + 2 * r + j % 2] = m;
        }
        for (int k = 0; k < 4; ++k)
          for (int i = 0; i < 32; ++i) put_lane_byte(o + 320 + 512 * k, r, i, b.qs[32 * k + i]);
      });
    case ggml_type::Q6_K:
      return repack_rows<BlockQ6_K>(w, row_bytes, group, nb, bytes, out, [](const BlockQ6_K& b, int r, uint8_t* o) {
        std::memcpy(o + 2 * r, &b.d, 2);
        for (int j = 0; j < 16; ++j) o[32 + 16 * j + r] = static_cast<uint8_t>(b.scales[j]);
        uint8_t q[256];  // the 6-bit codes in value order (llama.cpp's dequantize_row_q6_K order)
        for (int half = 0; half < 2; ++half) {
          const uint8_t* ql = b.ql + 64 * half;
          const uint8_t* qh = b.qh + 32 * half;
          uint8_t* v = q + 128 * half;
          for (int l = 0; l < 32; ++l) {
            v[l] = static_cast<uint8_t>((ql[l] & 15) | (((qh[l] >> 0) & 3) << 4));
            v[l + 32] = static_cast<uint8_t>((ql[l + 32] & 15) | (((qh[l] >> 2) & 3) << 4));
            v[l + 64] = static_cast<uint8_t>((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4));
            v[l + 96] = static_cast<uint8_t>((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4));
          }
        }
        for (int u = 0; u < 4; ++u) {
          uint8_t* unit = o + 288 + 768 * u;
          const uint8_t* v = q + 64 * u;
          for (int i = 0; i < 32; ++i) put_lane_byte(unit, r, i, static_cast<uint8_t>((v[i] & 15) | ((v[32 + i] & 15) << 4)));
          for (int i = 0; i < 16; ++i) {
            uint8_t h = 0;
            for (int c = 0; c < 4; ++c) h = static_cast<uint8_t>(h | ((v[16 * c + i] >> 4) << (2 * c)));
            put_lane_byte(unit + 512, r, i, h);
          }
        }
      });
    default:
      break;
  }
}

int64_t x16_extras_bytes(GgmlType type, int64_t cols) {
  int64_t n = 0;
  if (type == ggml_type::Q4_0 || type == ggml_type::Q8_0) n = cols / 32 * 8;        // float d, int32 offset term
  if (type == ggml_type::Q4_K || type == ggml_type::Q6_K) n = cols / 256 * 20 * 4;  // 4 pairs, 16 offsets
  return (n + 63) / 64 * 64;
}

void make_x16_extras(GgmlType type, const uint8_t* act, int64_t cols, uint8_t* extras) {
  if (type == ggml_type::Q4_0 || type == ggml_type::Q8_0) {
    const int64_t nb = cols / 32;
    auto* d = reinterpret_cast<float*>(extras);
    auto* off = reinterpret_cast<int32_t*>(extras + 4 * nb);
    for (int64_t b = 0; b < nb; ++b) {
      uint16_t h;
      int32_t sum = 0;
      if (type == ggml_type::Q4_0) {  // Q8_0S: the code sum is in the block
        BlockQ8_0S blk;
        std::memcpy(&blk, act + b * static_cast<int64_t>(sizeof blk), sizeof blk);
        h = blk.d;
        sum = blk.sum;
      } else {
        BlockQ8_0 blk;
        std::memcpy(&blk, act + b * static_cast<int64_t>(sizeof blk), sizeof blk);
        h = blk.d;
        for (const int8_t q : blk.qs) sum += q;
      }
      d[b] = fp16_to_float(h);
      off[b] = (type == ggml_type::Q4_0 ? -8 : -128) * sum;
    }
    return;
  }
  const int64_t ns = cols / 256;
  auto* e = reinterpret_cast<int32_t*>(extras);
  for (int64_t s = 0; s < ns; ++s, e += 20) {
    BlockQ8_K blk;
    std::memcpy(&blk, act + s * static_cast<int64_t>(sizeof blk), sizeof blk);
    for (int p = 0; p < 4; ++p) {  // (Σ of sub-block 2p, Σ of 2p + 1), each Σ of 32 codes: |Σ| ≤ 4096
      const auto lo = static_cast<uint16_t>(static_cast<int16_t>(blk.bsums[4 * p] + blk.bsums[4 * p + 1]));
      const auto hi = static_cast<uint16_t>(static_cast<int16_t>(blk.bsums[4 * p + 2] + blk.bsums[4 * p + 3]));
      e[p] = static_cast<int32_t>(static_cast<uint32_t>(lo) | (static_cast<uint32_t>(hi) << 16));
    }
    for (int j = 0; j < 16; ++j) e[4 + j] = -32 * blk.bsums[j];
  }
}

}  // namespace vernier::kernels
