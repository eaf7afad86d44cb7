// vernier/llama_runtime.hpp — a LLaMA forward pass on the CPU with a KV cache, over weights in their
// stored format.
//
// Token embedding, RMSNorm, rotary embeddings on adjacent pairs within each head (GGUF's and
// llama2.c's layout; Hugging Face Q/K rows are permuted into it on load), grouped-query attention with
// a causal mask, SwiGLU feed-forward, final norm, tied or separate output. Every weight matrix stays
// in the type it was stored in (memory-mapped where the file's bytes can be used as they are) and is
// multiplied by the kernels of vernier/kernels.hpp: activations quantized to the type's dot-product
// format as llama.cpp's CPU backend does, so the numbers — and the KL divergences measured with
// them — are llama.cpp's. A batch of tokens (a prompt, a perplexity chunk) goes through each matrix
// as one matrix-matrix product.
#pragma once

#include <cstdint>
#include <functional>
#include <initializer_list>
#include <utility>
#include <span>
#include <string>
#include <vector>

#include "vernier/kernels.hpp"
#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

// Rotary position embedding in place on n values made of heads of head_dim: within each head the
// pairs (2i, 2i + 1), i < rope_dim / 2, turn by the angle pos · theta^(−2i / rope_dim).
void apply_rope(float* v, int64_t n, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos);

class LlamaRuntime {
 public:
  // context: positions the KV cache holds (0: the model's context length); kv: its storage format;
  // max_batch: the most tokens one forward() call takes (buffers are sized for it).
  LlamaRuntime(const Model& m, int64_t context = 0, int threads = 0, KvType kv = KvType::f32, int64_t max_batch = 512);
  // Runs tokens at positions pos0, pos0 + 1, … (each position once, in order: earlier ones must have
  // run) and returns the logits: of every token (n × vocabulary) with all_logits, else of the last.
  std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos0, bool all_logits = false);
  std::span<const float> forward(int32_t token, int64_t pos) { return forward(std::span<const int32_t>(&token, 1), pos); }
  const LlamaConfig& config() const { return c_; }
  int64_t context() const { return context_; }
  int64_t max_batch() const { return max_batch_; }
  int threads() const { return threads_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  uint64_t kv_bytes_per_token() const;  // K and V of every layer, codes and scales
  // Called with each token's input vector of every weight-matrix product (tensor name, values),
  // before the product: what llama-imatrix collects.
  std::function<void(const std::string&, const float*, int64_t)> on_matrix_input;

 private:
  struct Matrix {
    std::string name;
    uint32_t type = 0;
    int64_t rows = 0, cols = 0;
    const uint8_t* data = nullptr;  // the mapped file's bytes, or `owned`
    std::vector<uint8_t> owned;
    PreparedMatrix prepared;        // what the kernels multiply (data, or a repacked copy)
  };
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  Matrix matrix(const Model& m, const std::string& name, int64_t rows, int64_t cols);
  void mul(const Matrix& m, const float* x, int64_t n, float* out);
  // Matrices that read the same input, in one product (one activation quantization, one barrier)
  void mul(std::initializer_list<std::pair<const Matrix*, float*>> ms, const float* x, int64_t n);
  void attention(int64_t layer, int64_t n, int64_t pos0);

  LlamaConfig c_;
  int64_t context_ = 0, max_batch_ = 0;
  int threads_ = 1;
  uint64_t weight_bytes_ = 0;
  Matrix embd_, output_;
  const Matrix* out_ = nullptr;  // output_ or, tied, embd_
  std::vector<float> out_norm_;
  std::vector<Layer> layers_;
  MatmulWorkspace ws_;
  std::vector<KvStore> keys_, values_;  // one per layer, a row per position
  std::vector<float> kbuf_, vbuf_;      // decoded rows of the current layer (non-f32 caches)
  std::vector<float> x_, xb_, xb2_, q_, k_, v_, hb_, hb2_, logits_;
};

}  // namespace vernier
