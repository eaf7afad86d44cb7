// GGUF Q8_0, Q6_K and Q4_0 rows in the GPU kernels' layouts: every weight the kernel decodes equals llama.cpp's
// dequantization (vernier's byte-identical copy of it) exactly, on rows with several blocks, an all-zero row,
// one outlier and tiny values; malformed input is refused with the tensor's name.
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <stdexcept>
#include <vector>

#include "vernier/cuda_gguf_source.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier::cuda {
namespace {

// rows ≥ 3: rows 0–2 are the degenerate ones
std::vector<float> weights(int64_t rows, int64_t cols, uint32_t seed) {
  rows = std::max<int64_t>(rows, 3);
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 0.02f);
  std::vector<float> w(static_cast<size_t>(rows * cols));
  for (auto& v : w) v = nd(rng);
  for (int64_t k = 0; k < cols; ++k) w[static_cast<size_t>(k)] = 0.0f;     // row 0: all zero
  w[static_cast<size_t>(cols + 7)] = 3.0f;                                  // row 1: one outlier
  for (int64_t k = 0; k < cols; ++k) w[static_cast<size_t>(2 * cols + k)] *= 1e-6f;  // row 2: tiny
  return w;
}

std::vector<uint8_t> quantized(GgmlType t, const std::vector<float>& w, int64_t rows, int64_t cols) {
  std::vector<uint8_t> b(static_cast<size_t>(rows) * *ggml_row_bytes(ggml_info(t), cols));
  ggml_quantize(t, w.data(), b.data(), rows, cols, nullptr);
  return b;
}

TEST(CudaGgufLayout, WeightOnlyGemvHoldsQ8_0AndQ6_KExactly) {
  const int64_t rows = 5, cols = 768;
  for (GgmlType t : {GgmlType::Q8_0, GgmlType::Q6_K}) {
    const std::vector<uint8_t> b = quantized(t, weights(rows, cols, 3), rows, cols);
    std::vector<float> ref(static_cast<size_t>(rows * cols));
    ggml_dequantize(t, b.data(), ref.data(), rows * cols);
    EXPECT_STREQ(gguf_gpu_kernel(t), "wo");
    const WoLayout l = pack_wo(wo_source_from_gguf(t, b, rows, cols, "blk.0.attn_q.weight"), "blk.0.attn_q.weight");
    int64_t mismatched = 0;
    for (int64_t r = 0; r < rows; ++r)
      for (int64_t k = 0; k < cols; ++k) mismatched += wo_weight(l, r, k) != static_cast<double>(ref[static_cast<size_t>(r * cols + k)]);
    EXPECT_EQ(mismatched, 0) << ggml_info(t).name;
  }
}

TEST(CudaGgufLayout, W4a16HoldsQ4_0Exactly) {
  const int64_t rows = 19, cols = 96;  // odd rows: a partial row tile of 16
  const std::vector<uint8_t> b = quantized(GgmlType::Q4_0, weights(rows, cols, 5), rows, cols);
  std::vector<float> ref(static_cast<size_t>(rows * cols));
  ggml_dequantize(GgmlType::Q4_0, b.data(), ref.data(), rows * cols);
  EXPECT_STREQ(gguf_gpu_kernel(GgmlType::Q4_0), "w4");
  const W4Tiles tiles = pack_w4_tiles(w4_source_from_gguf(GgmlType::Q4_0, b, rows, cols), "q4");
  int64_t mismatched = 0;
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      const W4Entry e = w4_tiles_entry(tiles, r, k);
      // llama.cpp: (q − 8) · d in float; the kernel multiplies the FP16 scale by (u − zero) in float too
      const float v = static_cast<float>(static_cast<int>(e.code) - static_cast<int>(e.zero)) * e.scale;
      mismatched += v != ref[static_cast<size_t>(r * cols + k)];
    }
  }
  EXPECT_EQ(mismatched, 0);
}

TEST(CudaGgufLayout, MalformedRowsAreRefusedByName) {
  const int64_t rows = 2, cols = 256;
  const std::vector<uint8_t> b = quantized(GgmlType::Q6_K, weights(3, cols, 7), rows, cols);
  auto message = [](auto&& f) {
    try {
      f();
    } catch (const std::invalid_argument& e) {
      return std::string(e.what());
    }
    return std::string("(no error)");
  };
  EXPECT_NE(message([&] { wo_source_from_gguf(GgmlType::Q6_K, std::span(b).first(b.size() - 1), rows, cols, "blk.3.ffn_down.weight"); })
                .find("blk.3.ffn_down.weight"),
            std::string::npos);
  EXPECT_NE(message([&] { wo_source_from_gguf(GgmlType::Q6_K, b, rows, 200, "t"); }).find("whole blocks of 256"), std::string::npos);
  EXPECT_NE(message([&] { wo_source_from_gguf(GgmlType::Q4_K, b, rows, cols, "t"); }).find("Q8_0 and Q6_K"), std::string::npos);
  EXPECT_NE(message([&] { w4_source_from_gguf(GgmlType::Q8_0, b, rows, cols, "t"); }).find("Q4_0"), std::string::npos);
  std::vector<uint8_t> nan = quantized(GgmlType::Q8_0, weights(rows, cols, 9), rows, cols);
  nan[0] = 0x00, nan[1] = 0x7E;  // the first block's d: an FP16 NaN
  EXPECT_NE(message([&] { wo_source_from_gguf(GgmlType::Q8_0, nan, rows, cols, "t"); }).find("not finite"), std::string::npos);
}

}  // namespace
}  // namespace vernier::cuda
