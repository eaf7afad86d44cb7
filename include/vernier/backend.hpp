// vernier/backend.hpp — the operations a LLaMA forward pass is made of, behind one interface.
//
// The runtime (llama_runtime.hpp) never touches SIMD or threads: it calls these operations on the
// backend it was given. The CPU backend runs them on the kernels of kernels.hpp with the
// KernelContext it was made with; a CUDA backend is one more implementation of the same interface.
// Every operation works on a batch of n tokens, row-major ([n × width] float32).
#pragma once

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "vernier/kernels.hpp"

namespace vernier {

// Causal grouped-query attention of n queries at positions pos0 … pos0 + n − 1 over the cached
// keys and values of positions 0 … pos0 + n − 1 (float32 rows of kv_heads × head_dim, row t at t ×
// kv_dim). Each query head h reads KV head h / (heads / kv_heads).
struct AttentionArgs {
  const float* q = nullptr;      // n × heads × head_dim
  const float* keys = nullptr;   // (pos0 + n) × kv_dim
  const float* values = nullptr;
  float* out = nullptr;          // n × heads × head_dim
  int64_t n = 0, pos0 = 0, heads = 0, kv_heads = 0, head_dim = 0;
};

class Backend {
 public:
  virtual ~Backend() = default;
  virtual std::string name() const = 0;
  // Prepares a matrix for this backend's kernels (repacking, upload); the bytes or codes must
  // outlive the result.
  virtual PreparedMatrix prepare(GgmlType type, const void* data, int64_t rows, int64_t cols) = 0;
  virtual PreparedMatrix prepare(const PackedTensor& w) = 0;
  // y_j = W_j · x for every job: the matrices share the input (x: n × cols).
  virtual void matmul(std::span<const MatmulJob> jobs, const float* x, int64_t n) = 0;
  // out_i = w ⊙ x_i / sqrt(mean(x_i²) + eps) for each of n rows of d values.
  virtual void rmsnorm(float* out, const float* x, const float* w, int64_t n, int64_t d, float eps) = 0;
  // Rotary embedding in place on n rows of `width` values (heads of head_dim), row i at position pos0 + i.
  virtual void rope(float* v, int64_t n, int64_t width, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos0) = 0;
  virtual void attention(const AttentionArgs& a) = 0;
  // gate_e = SiLU(gate_e) · up_e for n values.
  virtual void swiglu(float* gate, const float* up, int64_t n) = 0;
  // x_e += y_e for n values (the residual stream).
  virtual void add(float* x, const float* y, int64_t n) = 0;
};

// act: what weight-only (scheme) matrices multiply against (GGUF types keep their own formats).
std::unique_ptr<Backend> make_cpu_backend(const KernelContext& ctx, Activations act = Activations::f32);

// Where a forward pass's time goes, operation by operation (`vernier run --profile`): a backend that
// times each call of the one it wraps (steady clock around the call, so a product's time includes
// its activation quantization, thread wake-ups and barrier), and counts the weight bytes each
// product reads (its matrices' resident bytes), so that bytes ÷ time is the products' bandwidth.
struct BackendProfile {
  enum Op : int { matmul, rmsnorm, rope, attention, swiglu, add, kOps };
  static const char* name(int op);
  double seconds[kOps] = {};
  int64_t calls[kOps] = {};
  uint64_t weight_bytes = 0;  // read by the products
  double total() const;
};
// The profile must outlive the backend.
std::unique_ptr<Backend> make_profiled_backend(std::unique_ptr<Backend> inner, BackendProfile& profile);

}  // namespace vernier
