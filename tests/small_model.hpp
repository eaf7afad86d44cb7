// A small synthetic LLaMA model held in memory, for the runtime's tests.
#pragma once

#include <cstring>
#include <string>
#include <vector>

#include "vernier/ggml_types.hpp"
#include "vernier/model.hpp"
#include "vernier/synthetic.hpp"

namespace vernier {

// A 2-layer model of synthetic weights, 4 heads over 2 KV heads (grouped-query attention), or over
// kv_heads of them.
struct SmallModel {
  std::vector<std::vector<float>> data;
  Model m;
  explicit SmallModel(int64_t kv_heads = 2) {
    const int64_t dim = 64, ffn = 96, vocab = 48, kv = 16 * kv_heads;
    m.path = "(test model)";
    LlamaConfig& c = m.config;
    c.dim = dim;
    c.ffn = ffn;
    c.layers = 2;
    c.heads = 4;
    c.kv_heads = kv_heads;
    c.vocab = vocab;
    c.context = 64;
    c.rope_dim = 16;
    uint64_t seed = 1;
    const auto add = [&](const std::string& name, int64_t rows, int64_t cols, double scale) {
      SyntheticSpec s;
      s.rows = rows;
      s.cols = cols;
      s.seed = seed++;
      s.scale = scale;
      data.push_back(rows == 1 ? std::vector<float>(static_cast<size_t>(cols), 1.0f) : synthetic_matrix(s));
      ModelTensor t;
      t.name = name;
      t.ne = rows == 1 ? std::vector<int64_t>{cols} : std::vector<int64_t>{cols, rows};
      t.type = ggml_type::F32;
      t.nbytes = data.back().size() * 4;
      const size_t idx = data.size() - 1;
      t.read = [this, idx](std::span<uint8_t> out) { std::memcpy(out.data(), data[idx].data(), out.size()); };
      m.tensors.push_back(std::move(t));
    };
    data.reserve(32);
    add("token_embd.weight", vocab, dim, 1.0);
    add("output_norm.weight", 1, dim, 0);
    add("output.weight", vocab, dim, 0.3);
    for (int l = 0; l < 2; ++l) {
      const std::string p = "blk." + std::to_string(l) + ".";
      add(p + "attn_norm.weight", 1, dim, 0);
      add(p + "attn_q.weight", dim, dim, 0.3);
      add(p + "attn_k.weight", kv, dim, 0.3);
      add(p + "attn_v.weight", kv, dim, 0.3);
      add(p + "attn_output.weight", dim, dim, 0.2);
      add(p + "ffn_norm.weight", 1, dim, 0);
      add(p + "ffn_gate.weight", ffn, dim, 0.2);
      add(p + "ffn_up.weight", ffn, dim, 0.2);
      add(p + "ffn_down.weight", dim, ffn, 0.2);
    }
  }
};

}  // namespace vernier
