// The CPU backend: the forward pass's operations on the CPU kernels, with the threads and kernel
// path of its KernelContext. Every operation gives each token's values independently of the batch it
// came in and of the thread count (attention through attention_simd's kernels), so a prompt read in
// batches, or on another thread count, gives the same logits bit for bit.
#include <algorithm>
#include <array>
#include <cmath>
#include <vector>

#include "core/thread_pool.hpp"
#include "vernier/backend.hpp"
#include "vernier/error.hpp"
#include "vernier/kernels.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier {

namespace {
class CpuBackend final : public Backend {
 public:
  CpuBackend(const KernelContext& ctx, Activations act) : ctx_(ctx), act_(act) {}
  std::string name() const override { return "cpu (" + ctx_.isa() + ", " + std::to_string(ctx_.threads) + " threads)"; }

  PreparedMatrix prepare(GgmlType type, const void* data, int64_t rows, int64_t cols) override {
    return prepare_matrix(ctx_, type, data, rows, cols);
  }
  PreparedMatrix prepare(const PackedTensor& w) override { return prepare_matrix(w); }

  void matmul(std::span<const MatmulJob> jobs, const float* x, int64_t n) override { vernier::matmul(ctx_, jobs, x, n, ws_, act_); }

  void rmsnorm(float* out, const float* x, const float* w, int64_t n, int64_t d, float eps) override {
    for (int64_t i = 0; i < n; ++i) {
      const float* xi = x + i * d;
      float* o = out + i * d;
      float ss = 0.0f;
      for (int64_t j = 0; j < d; ++j) ss += xi[j] * xi[j];
      ss /= static_cast<float>(d);
      ss += eps;
      ss = 1.0f / std::sqrt(ss);
      for (int64_t j = 0; j < d; ++j) o[j] = w[j] * (ss * xi[j]);
    }
  }

  void rope(float* v, int64_t n, int64_t width, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos0) override {
    for (int64_t i = 0; i < n; ++i) apply_rope(v + i * width, width, head_dim, rope_dim, theta, pos0 + i);
  }

  void attention(const AttentionArgs& a) override {
    if (ctx_.isa() == "scalar") return reference_attention(a);
    // Per head and block of up to kQ query rows: each row's scores S = Q·Kᵀ/√d over its own keys
    // (those at or before its position), its softmax (vector exp), then P·V over each row's own keys
    // and each row divided by its sum. The kernels' elements do not depend on the block's shape, so a
    // prompt in batches gives the whole prompt's bits (kernels.hpp); the same sums as the reference,
    // in another order.
    constexpr int64_t kQ = 32;
    const int64_t hd = a.head_dim, H = a.heads, D = H * hd, KV = a.kv_heads * hd, group = H / a.kv_heads;
    const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
    const int64_t blocks = (a.n + kQ - 1) / kQ;
    auto task = [&](int64_t job) {
      const int64_t h = job % H, i0 = job / H * kQ, i1 = std::min(a.n, i0 + kQ), m = i1 - i0, keys = a.pos0 + i1;
      static thread_local std::vector<float> scores;
      if (scores.size() < static_cast<size_t>(m * keys)) scores.resize(static_cast<size_t>(m * keys));
      float* s = scores.data();
      const int64_t kvh = h / group;
      float inv[kQ];
      int64_t counts[kQ];
      for (int64_t r = 0; r < m; ++r) counts[r] = a.pos0 + i0 + r + 1;  // keys at or before the row's position
      attention_scores(ctx_, a.q + i0 * D + h * hd, D, counts, m, a.keys + kvh * hd, KV, hd, inv_sqrt, s, keys);
      for (int64_t r = 0; r < m; ++r) {
        float* row = s + r * keys;
        float maxv = -INFINITY;
        for (int64_t t = 0; t < counts[r]; ++t) maxv = std::max(maxv, row[t]);
        inv[r] = 1.0f / exp_sum(ctx_, row, counts[r], maxv);
      }
      float* out = a.out + i0 * D + h * hd;
      attention_values(ctx_, s, keys, counts, m, a.values + kvh * hd, KV, hd, out, D);
      for (int64_t r = 0; r < m; ++r)
        for (int64_t e = 0; e < hd; ++e) out[r * D + e] *= inv[r];
    };
    const int64_t positions = a.pos0 + a.n;
    ctx_.workers().run(2 * a.n * H * positions * hd < (int64_t{1} << 20) ? 1 : ctx_.threads, blocks * H, task);
  }

  // The scalar path's attention, the reference: per (token, head) the scores one dot at a time, the
  // softmax with std::exp, and the weighted sum of the values in position order.
  void reference_attention(const AttentionArgs& a) {
    const int64_t hd = a.head_dim, H = a.heads, D = H * hd, KV = a.kv_heads * hd, group = H / a.kv_heads;
    const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
    const int64_t positions = a.pos0 + a.n;
    const DotFn dot = kernel_dot_fn(ctx_, GgmlType::F32);  // the SIMD F32 dot, looked up once
    // one task per (token, head); each worker scores into its own buffer (grown once per thread)
    auto task = [&](int64_t job) {
      const int64_t i = job / H, h = job % H, pos = a.pos0 + i;
      const float* q = a.q + i * D + h * hd;
      static thread_local std::vector<float> local;
      if (local.size() < static_cast<size_t>(positions)) local.resize(static_cast<size_t>(positions));
      float* att = local.data();
      const int64_t kvh = h / group;
      float maxv = -INFINITY;
      for (int64_t t = 0; t <= pos; ++t) {
        att[t] = dot(a.keys + t * KV + kvh * hd, q, hd) * inv_sqrt;
        maxv = std::max(maxv, att[t]);
      }
      float sum = 0.0f;
      for (int64_t t = 0; t <= pos; ++t) {
        att[t] = std::exp(att[t] - maxv);
        sum += att[t];
      }
      float* xb = a.out + i * D + h * hd;
      std::fill(xb, xb + hd, 0.0f);
      for (int64_t t = 0; t <= pos; ++t) {
        const float p = att[t] / sum;
        const float* v = a.values + t * KV + kvh * hd;
        for (int64_t e = 0; e < hd; ++e) xb[e] += p * v[e];
      }
    };
    ctx_.workers().run(2 * a.n * H * positions * hd < (int64_t{1} << 20) ? 1 : ctx_.threads, a.n * H, task);
  }

  void swiglu(float* gate, const float* up, int64_t n) override { silu_mul(ctx_, gate, up, n); }

  void add(float* x, const float* y, int64_t n) override {
    for (int64_t e = 0; e < n; ++e) x[e] += y[e];
  }

 private:
  KernelContext ctx_;
  Activations act_;
  MatmulWorkspace ws_;
};
}  // namespace

std::unique_ptr<Backend> make_cpu_backend(const KernelContext& ctx, Activations act) { return std::make_unique<CpuBackend>(ctx, act); }

}  // namespace vernier
