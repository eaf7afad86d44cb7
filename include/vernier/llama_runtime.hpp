// vernier/llama_runtime.hpp — a LLaMA forward pass on the CPU, one token at a time with a KV cache.
//
// Token embedding, RMSNorm, rotary embeddings on adjacent pairs within each head (GGUF's and
// llama2.c's layout; Hugging Face Q/K rows are permuted into it on load), grouped-query attention with
// a causal mask, SwiGLU feed-forward, final norm, tied or separate output. This first version decodes
// every weight matrix to float32 when the model is loaded and multiplies in float32 over threads;
// products on the stored formats come with the kernel work. Like llama.cpp's CPU backend, the
// activations multiplied with a quantized GGUF matrix are first rounded through that type's
// dot-product format (Q8_0 for the 32-value block types, Q8_K for the K-quants and IQ4_XS), so the
// numbers — and the KL divergences measured with them — are llama.cpp's.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <span>
#include <vector>

#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

class LlamaRuntime {
 public:
  // context: positions the KV cache holds (0: the model's context length); kv: its storage format.
  LlamaRuntime(const Model& m, int64_t context = 0, int threads = 0, KvType kv = KvType::f32);
  // Runs one token at position pos (0, 1, 2, … in order) and returns the logits over the vocabulary.
  std::span<const float> forward(int32_t token, int64_t pos);
  const LlamaConfig& config() const { return c_; }
  int64_t context() const { return context_; }
  uint64_t weight_bytes() const { return weight_bytes_; }
  uint64_t kv_bytes_per_token() const;  // K and V of every layer, codes and scales
  // Called with the input vector of every weight-matrix product (tensor name, values), before the
  // product: what llama-imatrix collects.
  std::function<void(const std::string&, const float*, int64_t)> on_matrix_input;

 private:
  struct Matrix {
    std::string name;
    std::vector<float> w;
    uint32_t act_type = 0;  // GGML type the activations are rounded through first (0: none)
  };
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  void matvec(const Matrix& m, const float* x, float* out, int64_t rows, int64_t cols);

  LlamaConfig c_;
  int64_t context_ = 0;
  int threads_ = 1;
  uint64_t weight_bytes_ = 0;
  std::vector<float> embd_, out_norm_;
  Matrix output_;
  std::vector<float> xq_;
  std::vector<uint8_t> qbuf_;
  std::vector<Layer> layers_;
  std::vector<KvStore> keys_, values_;  // one per layer, a row per position
  std::vector<float> kbuf_, vbuf_;      // the decoded rows 0..pos of the current layer
  std::vector<float> x_, xb_, xb2_, q_, k_, v_, att_, hb_, hb2_, logits_;
};

}  // namespace vernier
