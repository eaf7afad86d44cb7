// vernier/imatrix_collect.hpp — importance matrices collected as llama-imatrix does.
//
// The text is tokenized with BOS and cut into chunks of ctx tokens, the first token of each replaced
// by BOS; every position of every chunk runs through the model and, for each weight matrix (not the
// output), the squares of its input vector are summed per column (float, in token order) with a count
// of tokens. Written as llama-imatrix's GGUF (general.type "imatrix": <name>.in_sum2 and <name>.counts)
// or its legacy .dat.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

struct ImatrixStats {
  std::map<std::string, std::vector<float>> sum2;  // per tensor, per input column
  std::map<std::string, int64_t> counts;           // tokens seen per tensor
  int64_t chunks = 0, ctx = 0;
  std::string dataset;
};

// kv: the KV cache the activations are computed with (llama-imatrix runs llama.cpp's default F16).
ImatrixStats collect_imatrix(const Model& m, const std::string& text, int64_t ctx, int64_t max_chunks, int threads,
                             const std::function<void(int64_t, int64_t)>& progress = {}, KvType kv = KvType::f32,
                             const std::string& isa = "");
void write_imatrix_gguf(const ImatrixStats& s, const std::string& path, bool overwrite);
void write_imatrix_dat(const ImatrixStats& s, const std::string& path, bool overwrite);

}  // namespace vernier
