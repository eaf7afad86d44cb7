// vernier/llama2c.hpp — llama2.c checkpoints and tokenizers.
//
// Legacy (version 0): 7 int32 (dim, hidden_dim, n_layers, n_heads, n_kv_heads, vocab_size, seq_len;
// a negative vocab_size means the classifier is stored separately), then float32 arrays: token
// embedding [vocab, dim]; per layer groups rms_att [L, dim], wq [L, dim, dim], wk [L, kv_dim, dim],
// wv [L, kv_dim, dim], wo [L, dim, dim], rms_ffn [L, dim], w1 [L, hidden, dim], w2 [L, dim, hidden],
// w3 [L, hidden, dim]; rms_final [dim]; freq_cis real and imaginary [seq_len, head_size/2] each;
// wcls [vocab, dim] if not shared. Matrices are [out, in] row-major, as GGUF stores them.
// Version 1 and 2 ("ak42" magic, export.py): a 256-byte header (magic, version, the 7 ints, a
// shared-classifier byte, for v2 an int32 group size), then norms (all attention norms, all FFN norms,
// the final norm) in float32, then token embedding, wq…, wk…, wv…, wo…, w1…, w2…, w3…, [wcls]: float32
// in v1; in v2 each as int8 values followed by its float32 scales, one per group of group_size
// consecutive values (symmetric, value = q × scale), as llama2.c's runq.c reads them.
// Tokenizer .bin: int32 max token length, then per token float32 score, int32 length, bytes.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vernier/file.hpp"

namespace vernier {

struct Llama2cConfig {
  int64_t dim = 0, hidden_dim = 0, n_layers = 0, n_heads = 0, n_kv_heads = 0, vocab_size = 0, seq_len = 0;
  bool shared_classifier = true;
  int version = 0;       // 0 legacy, 1 float32, 2 int8 groups
  int64_t group_size = 0;
  int64_t head_size() const { return dim / n_heads; }
  int64_t kv_dim() const { return n_kv_heads * head_size(); }
};

struct Llama2cTensor {
  std::string name;          // GGUF name, e.g. blk.0.attn_q.weight
  std::vector<int64_t> ne;   // GGUF order: ne[0] = row length
  uint64_t offset = 0;       // of the float32 data (v0/v1) or the int8 values (v2)
  uint64_t scale_offset = 0; // v2: of the float32 scales
  int64_t elements() const;
};

class Llama2cCheckpoint {
 public:
  // Throws a bad_input Error naming the file if the header is implausible or the file size does not
  // match what the header implies.
  static Llama2cCheckpoint open(const std::string& path);
  const Llama2cConfig& config() const { return config_; }
  // In llama.cpp's converter order: token_embd, output_norm, output, then per layer attn_q, attn_k,
  // attn_v, attn_output, attn_norm, ffn_gate, ffn_down, ffn_up, ffn_norm. "output" is the separate
  // classifier, or the token embedding again when it is shared.
  const std::vector<Llama2cTensor>& tensors() const { return tensors_; }
  void read_f32(const Llama2cTensor& t, std::span<float> out) const;  // dequantizes v2; then releases the pages
  const std::string& path() const { return file_.path(); }

 private:
  MappedFile file_;
  Llama2cConfig config_;
  std::vector<Llama2cTensor> tensors_;
};

struct Llama2cVocab {
  int32_t max_token_length = 0;
  std::vector<std::string> tokens;  // raw bytes
  std::vector<float> scores;
  // Throws a bad_input Error naming the file if it is truncated, has a negative length, or has
  // fewer than vocab_size tokens.
  static Llama2cVocab read(const std::string& path, int64_t vocab_size);
};

}  // namespace vernier
