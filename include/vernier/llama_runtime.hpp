// vernier/llama_runtime.hpp — a LLaMA forward pass with a KV cache, over weights in their stored
// format, on a backend.
//
// Token embedding, RMSNorm, rotary embeddings on adjacent pairs within each head (GGUF's and
// llama2.c's layout; Hugging Face Q/K rows are permuted into it on load), grouped-query attention with
// a causal mask, SwiGLU feed-forward, final norm, tied or separate output. Every weight matrix stays
// in the WeightType it was stored in — a GGML type (memory-mapped where the file's bytes can be used
// as they are) or a vernier scheme held in memory (quantize_in_memory.hpp) — and is multiplied by the
// backend's kernels: for GGML types the activations are quantized to the type's dot-product format as
// llama.cpp's CPU backend does, so the numbers — and the KL divergences measured with them — are
// llama.cpp's; vernier's schemes multiply float32 activations (W4A16-style weight-only). A batch of
// tokens (a prompt, a perplexity chunk) goes through each matrix as one matrix-matrix product.
//
// The pass is exposed in three steps, so that a calibration pipeline can run one block at a time
// over a batch of activations: embed (tokens → hidden rows), run_layer (one block, in place), head
// (final norm and output matrix → logits). forward() is the three in a row. A LayerObserver sees
// the [n × d] input of every group of matrices that share an input, before their products.
#pragma once

#include <array>
#include <cstdint>
#include <initializer_list>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "vernier/backend.hpp"
#include "vernier/kernels.hpp"
#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

// Rotary position embedding in place on n values made of heads of head_dim: within each head the
// pairs (2i, 2i + 1), i < rope_dim / 2, turn by the angle pos · theta^(−2i / rope_dim).
void apply_rope(float* v, int64_t n, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos);

// The inputs of a block that feed weight matrices, each shared by the matrices listed:
//   attn_in  (normed residual)        → attn_q, attn_k, attn_v     [n × dim]
//   attn_out (attention's output)     → attn_output                [n × dim]
//   ffn_in   (normed residual)        → ffn_gate, ffn_up           [n × dim]
//   ffn_mid  (SiLU(gate) · up)        → ffn_down                   [n × ffn]
enum class InputGroup : uint8_t { attn_in, attn_out, ffn_in, ffn_mid };
inline constexpr std::array<InputGroup, 4> kInputGroups = {InputGroup::attn_in, InputGroup::attn_out, InputGroup::ffn_in,
                                                          InputGroup::ffn_mid};
std::string_view input_group_name(InputGroup g);
// The GGUF names (without "blk.N.") of the matrices a group feeds.
std::span<const std::string_view> input_group_tensors(InputGroup g);

class LayerObserver {
 public:
  virtual ~LayerObserver() = default;
  // x: the n tokens' input rows (n × d, in token order), before the group's products.
  virtual void observe(int64_t layer, InputGroup group, const float* x, int64_t n, int64_t d) = 0;
};

struct RuntimeOptions {
  int64_t context = 0;          // positions the KV cache holds (0: the model's context length)
  int threads = 0;              // 0: every hardware thread
  KvType kv = KvType::f32;      // the KV cache's storage format
  int64_t max_batch = 512;      // the most tokens one call takes (buffers are sized for it)
  std::string isa;              // kernel path ("auto", "scalar", a target); "": the process default
  // One KV store for every layer (a calibration pipeline's memory: it runs each window through one
  // block at a time, so no layer reads positions another layer wrote). forward() then takes only
  // batches from position 0 (a later one would read the last layer's K/V).
  bool shared_kv = false;
  // What vernier's weight-only formats (schemes) multiply against: float32 activations, bfloat16-
  // rounded ones (W4A16, as GPU runtimes do: the CLI's default) or Q8_0-quantized ones (W4A8).
  // GGUF types take their own activation formats whatever this says.
  Activations activations = Activations::f32;
};

class LlamaRuntime {
 public:
  LlamaRuntime(const Model& m, const RuntimeOptions& opt);
  // On a backend of the caller's (its kernel path and threads are the backend's own).
  LlamaRuntime(const Model& m, const RuntimeOptions& opt, std::unique_ptr<Backend> backend);
  LlamaRuntime(const Model& m, int64_t context = 0, int threads = 0, KvType kv = KvType::f32, int64_t max_batch = 512);

  // Runs tokens at positions pos0, pos0 + 1, … (each position once, in order: earlier ones must have
  // run) and returns the logits: of every token (n × vocabulary) with all_logits, else of the last.
  std::span<const float> forward(std::span<const int32_t> tokens, int64_t pos0, bool all_logits = false);
  std::span<const float> forward(int32_t token, int64_t pos) { return forward(std::span<const int32_t>(&token, 1), pos); }

  // The same pass in steps. x: n × dim hidden rows (the residual stream), n ≤ max_batch.
  void embed(std::span<const int32_t> tokens, float* x);
  // Block `layer` on x in place, for tokens at positions pos0 … pos0 + n − 1 (writes their K/V). With
  // `stop`, returns as soon as that group's input has been observed (x is then partly updated).
  void run_layer(int64_t layer, float* x, int64_t n, int64_t pos0, std::optional<InputGroup> stop = std::nullopt);
  // Final norm and output matrix of n rows of x → logits (n × vocabulary, valid until the next call).
  std::span<const float> head(const float* x, int64_t n);

  void set_observer(LayerObserver* observer) { observer_ = observer; }  // nullptr: none
  // Swaps one of block `layer`'s matrices ("attn_q.weight", …) for t (same shape), e.g. its quantized
  // form while a calibration pipeline quantizes the block sub-layer by sub-layer. t's data must
  // outlive the runtime.
  void replace_matrix(int64_t layer, std::string_view tensor, const ModelTensor& t);
  // Lets go of one of block `layer`'s matrices (a calibration pipeline that never runs the block
  // again); running the block afterwards throws a usage Error.
  void drop_matrix(int64_t layer, std::string_view tensor);
  // Swaps block `layer`'s "attn_norm.weight" or "ffn_norm.weight" for w (dim values, copied).
  void replace_norm(int64_t layer, std::string_view norm, std::span<const float> w);

  const LlamaConfig& config() const { return c_; }
  int64_t context() const { return context_; }
  int64_t max_batch() const { return max_batch_; }
  int threads() const { return threads_; }
  const Backend& backend() const { return *backend_; }
  const std::string& isa() const { return isa_; }  // the kernel path of the CPU backend it was made with
  uint64_t weight_bytes() const { return weight_bytes_; }      // as stored: packed codes, scales, norms
  uint64_t resident_weight_bytes() const;                      // what the kernels read, as held in memory
  uint64_t kv_bytes_per_token() const;  // K and V of every layer (of the one store if shared), codes and scales
  // Each matrix's name and WeightType (the runtime's view, for reports).
  std::vector<std::pair<std::string, std::string>> matrix_types() const;

 private:
  struct Matrix {
    std::string name;
    WeightType type;
    int64_t rows = 0, cols = 0;
    uint64_t bytes = 0;             // as stored (counted in weight_bytes_)
    const uint8_t* data = nullptr;  // GGML types: the mapped file's bytes, or `owned`
    std::vector<uint8_t> owned;
    std::shared_ptr<const PackedTensor> scheme;     // vernier schemes
    std::shared_ptr<const std::vector<int32_t>> perm;  // act order: the input gathered as x[perm[k]]
    std::shared_ptr<const std::vector<int32_t>> out_perm;  // output g is the product's row out_perm[g]
    PreparedMatrix prepared;        // what the kernels multiply (data, a repacked copy, or scheme)
    bool dropped = false;           // drop_matrix: nothing to multiply
  };
  struct Layer {
    std::vector<float> attn_norm, ffn_norm;
    Matrix wq, wk, wv, wo, w_gate, w_up, w_down;
  };
  void init(const Model& m, const RuntimeOptions& opt);
  Matrix matrix(const Model& m, const std::string& name, int64_t rows, int64_t cols);
  Matrix matrix_of(const ModelTensor& t, const std::string& path, const std::string& name, int64_t rows, int64_t cols);
  Matrix& slot(int64_t layer, std::string_view tensor);
  // Matrices that read the same input, in one product (one activation quantization, one barrier)
  void mul(std::initializer_list<std::pair<const Matrix*, float*>> ms, const float* x, int64_t n);
  void observe(int64_t layer, InputGroup g, const float* x, int64_t n, int64_t d) {
    if (observer_) observer_->observe(layer, g, x, n, d);
  }
  void check_batch(int64_t n, int64_t pos0) const;
  std::vector<float> gathered_;  // the input of an act-order matrix, in its column order
  std::vector<float> unordered_; // the product of a matrix with out_perm, before its rows are put in order

  LlamaConfig c_;
  std::unique_ptr<Backend> backend_;
  LayerObserver* observer_ = nullptr;
  int64_t context_ = 0, max_batch_ = 0;
  bool shared_kv_ = false;
  int threads_ = 1;
  std::string isa_;
  uint64_t weight_bytes_ = 0, norm_bytes_ = 0;
  Matrix embd_, output_;
  const Matrix* out_ = nullptr;  // output_ or, tied, embd_
  std::vector<float> out_norm_;
  std::vector<Layer> layers_;
  std::vector<KvStore> keys_, values_;  // one per layer, a row per position
  std::vector<float> kbuf_, vbuf_;      // decoded rows of the current layer (non-f32 caches)
  std::vector<float> x_, xb_, xb2_, q_, k_, v_, hb_, hb2_, logits_;
};

}  // namespace vernier
