// The demo's model step: the synthetic block made a whole (one-layer) LLaMA, written as GGUF in
// several llama.cpp file types and run: KL divergence from the F32 model per type.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/synthetic.hpp"

namespace vernier::cli {

struct DemoModelRow {
  std::string type;
  uint64_t bytes = 0;                        // of the block's matrices
  double bits_per_weight = 0, rmse = 0, sqnr_db = 0, quantize_seconds = 0;
  double kld_mean = 0, kld_p99 = 0, same_top1 = 0;
};

struct DemoModelResult {
  int64_t vocab = 0, stream_tokens = 0;
  std::vector<DemoModelRow> rows;
};

// progress: called before each file type (index, count, name).
DemoModelResult demo_model_step(const std::vector<SyntheticTensor>& block, int64_t dim, int64_t ffn, int64_t kv_dim, uint64_t seed,
                                const std::function<void(size_t, size_t, const std::string&)>& progress = {});

}  // namespace vernier::cli
