// validate_llama_config (model.hpp): the hyperparameters a LLaMA forward pass needs, checked where a
// model is run and before a model file is written, so that vernier never writes a file it would
// then refuse to run.
#include <cmath>
#include <cstdlib>
#include <string>

#include "vernier/error.hpp"
#include "vernier/model.hpp"

namespace vernier {

void validate_llama_config(const Model& m) {
  const LlamaConfig& c = m.config;
  // a GGUF that declares no hyperparameter at all (an importance matrix, a store of tensors) is not a
  // model to run: it is converted as it is
  if (!m.gguf_metadata.empty() && c.dim == 0 && c.layers == 0 && c.heads == 0 && c.ffn == 0) return;
  const auto bad = [&](const std::string& what) { throw_bad_input(m.path + ": " + what); };
  const auto positive = [&](int64_t v, const char* what, const char* key) {
    if (v <= 0) bad(std::string(what) + " (" + key + ") is " + std::to_string(v) + ": a LLaMA model needs at least 1");
  };
  positive(c.dim, "the model width", "embedding_length / hidden_size");
  positive(c.layers, "the number of blocks", "block_count / num_hidden_layers");
  positive(c.heads, "the number of attention heads", "attention.head_count / num_attention_heads");
  positive(c.kv_heads, "the number of KV heads", "attention.head_count_kv / num_key_value_heads");
  positive(c.ffn, "the feed-forward width", "feed_forward_length / intermediate_size");
  if (c.heads % c.kv_heads != 0) {
    bad(std::to_string(c.heads) + " attention heads are not a multiple of the " + std::to_string(c.kv_heads) + " KV heads");
  }
  if (c.dim % c.heads != 0 || c.head_dim() % 2 != 0) {
    bad("the width " + std::to_string(c.dim) + " is not " + std::to_string(c.heads) + " heads of an even size");
  }
  if (!std::isfinite(c.rms_eps) || c.rms_eps <= 0) {
    bad("the RMSNorm epsilon (attention.layer_norm_rms_epsilon / rms_norm_eps) is " + std::to_string(c.rms_eps) +
        ": it must be a positive number");
  }
  if (!std::isfinite(c.rope_theta) || c.rope_theta <= 0) {
    bad("the RoPE base (rope.freq_base / rope_theta) is " + std::to_string(c.rope_theta) + ": it must be a positive number");
  }
  // every block's tensors numbered below the block count, and the last block present
  int64_t top = -1;
  for (const ModelTensor& t : m.tensors) {
    if (t.name.rfind("blk.", 0) != 0) continue;
    const int64_t n = std::strtoll(t.name.c_str() + 4, nullptr, 10);
    if (n >= c.layers) bad("tensor '" + t.name + "' belongs to block " + std::to_string(n) + ", past the " + std::to_string(c.layers) + " blocks the metadata gives");
    top = std::max(top, n);
  }
  if (top >= 0 && top + 1 != c.layers) {
    bad("the metadata gives " + std::to_string(c.layers) + " blocks, the tensors " + std::to_string(top + 1));
  }
}

}  // namespace vernier
