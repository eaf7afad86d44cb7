#include "vernier/llama_runtime.hpp"

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <thread>

#include "core/thread_pool.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier {

namespace {
const ModelTensor& need(const Model& m, const std::string& name, int64_t expect) {
  const ModelTensor* t = m.find(name);
  if (!t) throw_bad_input(m.path + ": tensor '" + name + "' is missing");
  if (t->elements() != expect) {
    throw_bad_input(m.path + ": tensor '" + name + "' has " + std::to_string(t->elements()) + " values, expected " +
                    std::to_string(expect));
  }
  return *t;
}

std::vector<float> load_f32(const Model& m, const std::string& name, int64_t expect, uint64_t& bytes) {
  const ModelTensor& t = need(m, name, expect);
  std::vector<float> v(static_cast<size_t>(expect));
  read_f32(t, v);
  bytes += t.nbytes;
  return v;
}

void rmsnorm(float* o, const float* x, const float* w, int64_t n, float eps) {
  float ss = 0.0f;
  for (int64_t j = 0; j < n; ++j) ss += x[j] * x[j];
  ss /= static_cast<float>(n);
  ss += eps;
  ss = 1.0f / std::sqrt(ss);
  for (int64_t j = 0; j < n; ++j) o[j] = w[j] * (ss * x[j]);
}
}  // namespace

void apply_rope(float* v, int64_t n, int64_t head_dim, int64_t rope_dim, float theta, int64_t pos) {
  const auto p = static_cast<float>(pos);
  // each head rotates by the same angles: cos and sin once per pair of a head (the same float
  // operations as per element, so the same values), not once per head
  constexpr int64_t kMaxPairs = 512;
  const int64_t pairs = std::min(head_dim, rope_dim) / 2;
  float cs[kMaxPairs], sn[kMaxPairs];
  const bool table = pairs <= kMaxPairs;
  for (int64_t i = 0; table && i < pairs; ++i) {
    const float freq = 1.0f / std::pow(theta, static_cast<float>(2 * i) / static_cast<float>(rope_dim));
    cs[i] = std::cos(p * freq);
    sn[i] = std::sin(p * freq);
  }
  for (int64_t j = 0; j < n; j += 2) {
    const int64_t hi = j % head_dim;
    if (hi >= rope_dim) continue;
    float fcr, fci;
    if (table) {
      fcr = cs[hi / 2];
      fci = sn[hi / 2];
    } else {
      const float val = p * (1.0f / std::pow(theta, static_cast<float>(hi) / static_cast<float>(rope_dim)));
      fcr = std::cos(val);
      fci = std::sin(val);
    }
    const float v0 = v[j], v1 = v[j + 1];
    v[j] = v0 * fcr - v1 * fci;
    v[j + 1] = v0 * fci + v1 * fcr;
  }
}

LlamaRuntime::Matrix LlamaRuntime::matrix(const Model& m, const std::string& name, int64_t rows, int64_t cols) {
  const ModelTensor& t = need(m, name, rows * cols);
  Matrix mx;
  mx.name = name;
  mx.rows = rows;
  mx.cols = cols;
  mx.type = t.type;
  weight_bytes_ += t.nbytes;
  const GgmlTypeInfo* ti = ggml_type_info(t.type);
  if (kernel_supports(t.type) && ti && cols % ti->block_size == 0) {
    if (t.view) {
      mx.data = t.view().data();  // multiplied straight from the mapped file
    } else {
      mx.owned.resize(t.nbytes);
      t.read(mx.owned);
      mx.data = mx.owned.data();
    }
  } else {  // F64 and the like: float32 is the nearest type a kernel takes
    mx.type = ggml_type::F32;
    mx.owned.resize(static_cast<size_t>(rows * cols) * 4);
    read_f32(t, std::span<float>(reinterpret_cast<float*>(mx.owned.data()), static_cast<size_t>(rows * cols)));
    mx.data = mx.owned.data();
  }
  mx.prepared = prepare_matrix(mx.type, mx.data, rows, cols);
  // A repacked copy replaces the mapped bytes in the products: drop their pages (clean file pages,
  // read again from the file if a leftover row, the embedding lookup or another kernel path needs
  // them), so the model is not resident twice.
  if (!mx.prepared.packed.empty() && t.view && t.release) t.release();
  return mx;
}

LlamaRuntime::LlamaRuntime(const Model& m, int64_t context, int threads, KvType kv, int64_t max_batch) : c_(m.config) {
  if (c_.dim <= 0 || c_.layers <= 0 || c_.heads <= 0 || c_.kv_heads <= 0 || c_.ffn <= 0 || c_.vocab <= 0 ||
      c_.heads % c_.kv_heads != 0 || c_.dim % c_.heads != 0 || c_.head_dim() % 2 != 0) {
    throw_bad_input(m.path + ": incomplete or inconsistent LLaMA hyperparameters (dim, layers, heads, KV heads, FFN, vocabulary)");
  }
  context_ = context > 0 ? context : c_.context;
  if (context_ <= 0) throw_usage("no context length: pass one");
  max_batch_ = std::max<int64_t>(1, std::min(max_batch, context_));
  threads_ = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t D = c_.dim, F = c_.ffn, KV = c_.kv_heads * c_.head_dim(), V = c_.vocab, B = max_batch_;
  embd_ = matrix(m, "token_embd.weight", V, D);
  if (!ggml_can_dequantize(embd_.type)) throw_bad_input(m.path + ": token_embd.weight: cannot read rows of its type");
  out_norm_ = load_f32(m, "output_norm.weight", D, weight_bytes_);
  if (m.find("output.weight")) {
    output_ = matrix(m, "output.weight", V, D);
    out_ = &output_;
  } else {
    out_ = &embd_;  // tied: the embedding doubles as the output matrix, in its stored type
  }
  for (int64_t l = 0; l < c_.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = load_f32(m, p + "attn_norm.weight", D, weight_bytes_);
    L.wq = matrix(m, p + "attn_q.weight", D, D);
    L.wk = matrix(m, p + "attn_k.weight", KV, D);
    L.wv = matrix(m, p + "attn_v.weight", KV, D);
    L.wo = matrix(m, p + "attn_output.weight", D, D);
    L.ffn_norm = load_f32(m, p + "ffn_norm.weight", D, weight_bytes_);
    L.w_gate = matrix(m, p + "ffn_gate.weight", F, D);
    L.w_up = matrix(m, p + "ffn_up.weight", F, D);
    L.w_down = matrix(m, p + "ffn_down.weight", D, F);
    layers_.push_back(std::move(L));
  }
  for (int64_t l = 0; l < c_.layers; ++l) {
    keys_.emplace_back(kv, context_, c_.kv_heads, c_.head_dim());
    values_.emplace_back(kv, context_, c_.kv_heads, c_.head_dim());
  }
  if (kv != KvType::f32) {
    kbuf_.resize(static_cast<size_t>(context_ * KV));
    vbuf_.resize(static_cast<size_t>(context_ * KV));
  }
  const auto sz = [](int64_t a, int64_t b) { return static_cast<size_t>(a * b); };
  x_.resize(sz(B, D));
  xb_.resize(sz(B, D));
  xb2_.resize(sz(B, D));
  q_.resize(sz(B, D));
  k_.resize(sz(B, KV));
  v_.resize(sz(B, KV));
  hb_.resize(sz(B, F));
  hb2_.resize(sz(B, F));
  logits_.resize(sz(B, V));
}

void LlamaRuntime::mul(const Matrix& m, const float* x, int64_t n, float* out) {
  if (on_matrix_input) {
    for (int64_t i = 0; i < n; ++i) on_matrix_input(m.name, x + i * m.cols, m.cols);
  }
  vernier::matmul(m.prepared, x, n, out, threads_, ws_);
}

void LlamaRuntime::mul(std::initializer_list<std::pair<const Matrix*, float*>> ms, const float* x, int64_t n) {
  std::array<MatmulJob, 4> jobs{};
  size_t count = 0;
  for (const auto& [m, out] : ms) {
    if (on_matrix_input) {
      for (int64_t i = 0; i < n; ++i) on_matrix_input(m->name, x + i * m->cols, m->cols);
    }
    jobs.at(count++) = {&m->prepared, out};
  }
  vernier::matmul(std::span<const MatmulJob>(jobs.data(), count), x, n, threads_, ws_);
}

uint64_t LlamaRuntime::kv_bytes_per_token() const {
  return keys_.empty() ? 0 : 2 * static_cast<uint64_t>(c_.layers) * keys_[0].bytes_per_row();
}

// Causal attention of tokens pos0 .. pos0 + n − 1 (queries in q_, their K/V already in the cache)
// over every cached position up to each one; the result replaces xb_.
void LlamaRuntime::attention(int64_t l, int64_t n, int64_t pos0) {
  const int64_t D = c_.dim, hd = c_.head_dim(), KV = c_.kv_heads * hd, H = c_.heads, group = H / c_.kv_heads;
  const KvStore& ks = keys_[static_cast<size_t>(l)];
  const KvStore& vs = values_[static_cast<size_t>(l)];
  const float* kc = ks.f32_rows();
  const float* vc = vs.f32_rows();
  if (!kc) {  // attention reads the cache as stored: decode it
    for (int64_t t = 0; t < pos0 + n; ++t) {
      ks.read(t, kbuf_.data() + t * KV);
      vs.read(t, vbuf_.data() + t * KV);
    }
    kc = kbuf_.data();
    vc = vbuf_.data();
  }
  const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
  // one task per (token, head); each worker scores into its own buffer (grown once per thread)
  auto task = [&](int64_t job) {
    const int64_t i = job / H, h = job % H, pos = pos0 + i;
    const float* q = q_.data() + i * D + h * hd;
    static thread_local std::vector<float> local;
    if (local.size() < static_cast<size_t>(context_)) local.resize(static_cast<size_t>(context_));
    float* att = local.data();
    const int64_t kvh = h / group;
    float maxv = -INFINITY;
    for (int64_t t = 0; t <= pos; ++t) {
      att[t] = kernel_dot(ggml_type::F32, kc + t * KV + kvh * hd, q, hd) * inv_sqrt;  // the SIMD F32 dot
      maxv = std::max(maxv, att[t]);
    }
    float sum = 0.0f;
    for (int64_t t = 0; t <= pos; ++t) {
      att[t] = std::exp(att[t] - maxv);
      sum += att[t];
    }
    float* xb = xb_.data() + i * D + h * hd;
    std::fill(xb, xb + hd, 0.0f);
    for (int64_t t = 0; t <= pos; ++t) {
      const float a = att[t] / sum;
      const float* v = vc + t * KV + kvh * hd;
      for (int64_t e = 0; e < hd; ++e) xb[e] += a * v[e];
    }
  };
  ThreadPool::shared().run(2 * n * H * (pos0 + n) * hd < (int64_t{1} << 20) ? 1 : threads_, n * H, task);
}

std::span<const float> LlamaRuntime::forward(std::span<const int32_t> tokens, int64_t pos0, bool all_logits) {
  const auto n = static_cast<int64_t>(tokens.size());
  const int64_t D = c_.dim, F = c_.ffn, hd = c_.head_dim(), KV = c_.kv_heads * hd, V = c_.vocab;
  if (n == 0) throw_usage("forward: no tokens");
  if (n > max_batch_) throw_usage("forward: " + std::to_string(n) + " tokens in one batch, the most is " + std::to_string(max_batch_));
  if (pos0 < 0 || pos0 + n > context_) {
    throw_usage("position " + std::to_string(pos0 + n - 1) + " is past the context of " + std::to_string(context_));
  }
  for (int32_t t : tokens) {
    if (t < 0 || t >= c_.vocab) throw_usage("token " + std::to_string(t) + " is outside the vocabulary");
  }
  const float eps = static_cast<float>(c_.rms_eps);
  const int64_t rope_dim = c_.rope_dim > 0 ? c_.rope_dim : hd;
  const int64_t embd_row = *ggml_row_bytes(*ggml_type_info(embd_.type), D);
  for (int64_t i = 0; i < n; ++i) ggml_dequantize(embd_.type, embd_.data + tokens[static_cast<size_t>(i)] * embd_row, x_.data() + i * D, D);
  for (int64_t l = 0; l < c_.layers; ++l) {
    Layer& L = layers_[static_cast<size_t>(l)];
    for (int64_t i = 0; i < n; ++i) rmsnorm(xb_.data() + i * D, x_.data() + i * D, L.attn_norm.data(), D, eps);
    mul({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, xb_.data(), n);
    for (int64_t i = 0; i < n; ++i) {
      float* q = q_.data() + i * D;
      float* k = k_.data() + i * KV;
      apply_rope(q, D, hd, rope_dim, static_cast<float>(c_.rope_theta), pos0 + i);
      apply_rope(k, KV, hd, rope_dim, static_cast<float>(c_.rope_theta), pos0 + i);
      keys_[static_cast<size_t>(l)].write(pos0 + i, k);
      values_[static_cast<size_t>(l)].write(pos0 + i, v_.data() + i * KV);
    }
    attention(l, n, pos0);
    mul(L.wo, xb_.data(), n, xb2_.data());
    for (int64_t e = 0; e < n * D; ++e) x_[static_cast<size_t>(e)] += xb2_[static_cast<size_t>(e)];
    for (int64_t i = 0; i < n; ++i) rmsnorm(xb_.data() + i * D, x_.data() + i * D, L.ffn_norm.data(), D, eps);
    mul({{&L.w_gate, hb_.data()}, {&L.w_up, hb2_.data()}}, xb_.data(), n);
    for (int64_t e = 0; e < n * F; ++e) {
      float g = hb_[static_cast<size_t>(e)];
      g *= 1.0f / (1.0f + std::exp(-g));  // SiLU
      hb_[static_cast<size_t>(e)] = g * hb2_[static_cast<size_t>(e)];
    }
    mul(L.w_down, hb_.data(), n, xb_.data());
    for (int64_t e = 0; e < n * D; ++e) x_[static_cast<size_t>(e)] += xb_[static_cast<size_t>(e)];
  }
  const int64_t first = all_logits ? 0 : n - 1, rows = n - first;
  for (int64_t i = first; i < n; ++i) rmsnorm(xb_.data() + (i - first) * D, x_.data() + i * D, out_norm_.data(), D, eps);
  mul(*out_, xb_.data(), rows, logits_.data());
  return {logits_.data(), static_cast<size_t>(rows * V)};
}

}  // namespace vernier
