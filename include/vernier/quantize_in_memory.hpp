// vernier/quantize_in_memory.hpp — a Model whose block matrices are quantized in memory, for the
// runtime to run and measure without writing a file.
//
// Every linear layer of the transformer blocks (attn_q, attn_k, attn_v, attn_output, ffn_gate,
// ffn_up, ffn_down) is decoded to float32 one tensor at a time, quantized by a method (rtn unless
// told) to one WeightType, and kept in that type: a GGML type's blocks, or a vernier scheme's codes
// and scales (ModelTensor::scheme), which the runtime multiplies with the weight-only kernels — never
// decoded back to float32. The token embedding, the output matrix and the norms stay as stored.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/imatrix.hpp"
#include "vernier/model.hpp"
#include "vernier/quant_method.hpp"

namespace vernier {

struct InMemoryOptions {
  WeightType type;
  const QuantMethod* method = nullptr;        // nullptr: rtn
  const ImportanceMatrix* imatrix = nullptr;  // statistics for the methods that use them
  int threads = 0;                            // 0: every hardware thread
  std::function<void(size_t index, size_t count, const std::string& name)> progress;
};

struct InMemoryTensor {
  std::string name;
  GgmlType source_type = GgmlType::F32;  // what it was decoded from (a quantized source is requantized)
  int64_t rows = 0, cols = 0;
  uint64_t bytes = 0;  // as stored (packed codes, scales, zero points)
  double rmse = 0, sqnr_db = 0;
};
struct InMemoryReport {
  std::vector<InMemoryTensor> tensors;
  uint64_t bytes = 0;
  int64_t elements = 0;
  double bits_per_weight() const { return elements ? 8.0 * static_cast<double>(bytes) / static_cast<double>(elements) : 0; }
};

// Whether a tensor is one of the blocks' linear layers ("blk.N.attn_q.weight", …).
bool is_block_linear(std::string_view name);

// The source model must outlive the result (tensors not quantized still read from its files).
Model quantize_in_memory(const Model& m, const InMemoryOptions& opt, InMemoryReport* report = nullptr);

}  // namespace vernier
