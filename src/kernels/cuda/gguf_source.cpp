// GGUF blocks in the GPU kernels' source forms (vernier/cuda_gguf_source.hpp). Pure C++: built and tested
// everywhere, and in the GPU machine's standalone project (it needs only the block layouts and the FP16 codec).
#include "vernier/cuda_gguf_source.hpp"

#include <cmath>
#include <cstring>
#include <stdexcept>

#include "vernier/float_codecs.hpp"
#include "vernier/ggml_blocks.hpp"

namespace vernier::cuda {

namespace {
// Checks the shape and byte count; returns the blocks' bytes. Blocks are copied out one at a time (a mapped
// tensor's bytes need not be aligned for the structs).
template <class Block>
const uint8_t* blocks_of(std::span<const uint8_t> bytes, int64_t rows, int64_t cols, int64_t per_block, const char* type, const std::string& name) {
  if (rows < 1 || cols < 1 || cols % per_block != 0) {
    throw std::invalid_argument(name + ": " + type + " rows must be whole blocks of " + std::to_string(per_block) + " values; got " +
                                std::to_string(rows) + " × " + std::to_string(cols));
  }
  const uint64_t want = static_cast<uint64_t>(rows) * static_cast<uint64_t>(cols / per_block) * sizeof(Block);
  if (bytes.size() != want) {
    throw std::invalid_argument(name + ": " + std::to_string(bytes.size()) + " bytes for " + std::to_string(rows) + " × " + std::to_string(cols) + " " +
                                type + " (expected " + std::to_string(want) + ")");
  }
  return bytes.data();
}

template <class Block>
Block block_at(const uint8_t* base, int64_t i) {
  Block b;
  std::memcpy(&b, base + static_cast<size_t>(i) * sizeof(Block), sizeof(Block));
  return b;
}

float scale_of(uint16_t d, const std::string& name, int64_t row) {
  const float v = fp16_to_float(d);
  if (!std::isfinite(v)) throw std::invalid_argument(name + ": row " + std::to_string(row) + " has a block scale that is not finite");
  return v;
}
}  // namespace

const char* gguf_gpu_kernel(GgmlType t) {
  switch (t) {
    case GgmlType::Q8_0:
    case GgmlType::Q6_K: return "wo";
    case GgmlType::Q4_0: return "w4";
    default: return "";
  }
}

WoSource wo_source_from_gguf(GgmlType t, std::span<const uint8_t> bytes, int64_t rows, int64_t cols, const std::string& name) {
  WoSource w;
  w.format = WoFormat::int8;
  w.symmetric = true;
  w.rows = rows;
  w.cols = cols;
  w.codes.resize(static_cast<size_t>(rows * cols));
  if (t == GgmlType::Q8_0) {
    const auto* b = blocks_of<ggml::BlockQ8_0>(bytes, rows, cols, ggml::QK8_0, "Q8_0", name);
    w.group = ggml::QK8_0;
    const int64_t nb = cols / ggml::QK8_0;
    w.scales.resize(static_cast<size_t>(rows * nb));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < nb; ++j) {
        const ggml::BlockQ8_0 x = block_at<ggml::BlockQ8_0>(b, r * nb + j);
        w.scales[static_cast<size_t>(r * nb + j)] = scale_of(x.d, name, r);
        std::memcpy(&w.codes[static_cast<size_t>(r * cols + j * ggml::QK8_0)], x.qs, ggml::QK8_0);  // signed q as its byte
      }
    }
    return w;
  }
  if (t == GgmlType::Q6_K) {
    const auto* b = blocks_of<ggml::BlockQ6_K>(bytes, rows, cols, ggml::QK_K, "Q6_K", name);
    w.group = 16;
    const int64_t nb = cols / ggml::QK_K, groups = cols / 16;
    w.scales.resize(static_cast<size_t>(rows * groups));
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t j = 0; j < nb; ++j) {
        const ggml::BlockQ6_K x = block_at<ggml::BlockQ6_K>(b, r * nb + j);
        const float d = scale_of(x.d, name, r);
        // llama.cpp's dequantize_row_q6_K computes (d · sc) · (q − 32) in float: the group scale is d · sc
        for (int s = 0; s < ggml::QK_K / 16; ++s) w.scales[static_cast<size_t>(r * groups + j * 16 + s)] = d * static_cast<float>(x.scales[s]);
        uint8_t* out = &w.codes[static_cast<size_t>(r * cols + j * ggml::QK_K)];
        for (int half = 0; half < 2; ++half) {  // 128 values each: ql 64 bytes, qh 32 bytes
          const uint8_t* ql = x.ql + 64 * half;
          const uint8_t* qh = x.qh + 32 * half;
          uint8_t* o = out + 128 * half;
          for (int l = 0; l < 32; ++l) {
            const int q1 = ((ql[l] & 0xF) | (((qh[l] >> 0) & 3) << 4)) - 32;
            const int q2 = ((ql[l + 32] & 0xF) | (((qh[l] >> 2) & 3) << 4)) - 32;
            const int q3 = ((ql[l] >> 4) | (((qh[l] >> 4) & 3) << 4)) - 32;
            const int q4 = ((ql[l + 32] >> 4) | (((qh[l] >> 6) & 3) << 4)) - 32;
            o[l] = static_cast<uint8_t>(q1 & 0xFF);
            o[l + 32] = static_cast<uint8_t>(q2 & 0xFF);
            o[l + 64] = static_cast<uint8_t>(q3 & 0xFF);
            o[l + 96] = static_cast<uint8_t>(q4 & 0xFF);
          }
        }
      }
    }
    return w;
  }
  throw std::invalid_argument(name + ": the weight-only GEMV holds the GGUF types Q8_0 and Q6_K exactly, not type " + std::to_string(static_cast<uint32_t>(t)));
}

W4Source w4_source_from_gguf(GgmlType t, std::span<const uint8_t> bytes, int64_t rows, int64_t cols, const std::string& name) {
  if (t != GgmlType::Q4_0) {
    throw std::invalid_argument(name + ": the W4A16 kernel holds the GGUF type Q4_0 exactly, not type " + std::to_string(static_cast<uint32_t>(t)));
  }
  const auto* b = blocks_of<ggml::BlockQ4_0>(bytes, rows, cols, ggml::QK4_0, "Q4_0", name);
  W4Source w;
  w.rows = rows;
  w.cols = cols;
  w.group = ggml::QK4_0;  // symmetric: zero point 8, as Q4_0's q − 8
  const int64_t nb = cols / ggml::QK4_0;
  w.codes.resize(static_cast<size_t>(rows * cols));
  w.scales.resize(static_cast<size_t>(rows * nb));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t j = 0; j < nb; ++j) {
      const ggml::BlockQ4_0 x = block_at<ggml::BlockQ4_0>(b, r * nb + j);
      w.scales[static_cast<size_t>(r * nb + j)] = scale_of(x.d, name, r);
      uint8_t* o = &w.codes[static_cast<size_t>(r * cols + j * ggml::QK4_0)];
      for (int i = 0; i < ggml::QK4_0 / 2; ++i) {
        o[i] = x.qs[i] & 0xF;       // element i: the low nibble
        o[i + 16] = x.qs[i] >> 4;   // element i + 16: the high nibble
      }
    }
  }
  return w;
}

}  // namespace vernier::cuda
