#include "vernier/llama_runtime.hpp"

#include <algorithm>
#include <cmath>
#include <thread>

#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/parallel.hpp"

namespace vernier {

namespace {
std::vector<float> load(const Model& m, const std::string& name, int64_t expect, uint64_t& bytes) {
  const ModelTensor* t = m.find(name);
  if (!t) throw_bad_input(m.path + ": tensor '" + name + "' is missing");
  if (t->elements() != expect) {
    throw_bad_input(m.path + ": tensor '" + name + "' has " + std::to_string(t->elements()) + " values, expected " +
                    std::to_string(expect));
  }
  std::vector<float> v(static_cast<size_t>(expect));
  read_f32(*t, v);
  bytes += t->nbytes;
  return v;
}

// llama.cpp's vec_dot_type: the format activations take before a dot product with each weight type
uint32_t activation_type(uint32_t weight_type) {
  switch (weight_type) {
    case ggml_type::Q4_0: case ggml_type::Q4_1: case ggml_type::Q5_0: case ggml_type::Q5_1: case ggml_type::Q8_0:
    case ggml_type::IQ4_NL:
      return ggml_type::Q8_0;  // Q8_1 for Q4_1/Q5_1 has the same values
    case ggml_type::Q2_K: case ggml_type::Q3_K: case ggml_type::Q4_K: case ggml_type::Q5_K: case ggml_type::Q6_K:
    case ggml_type::IQ4_XS:
      return ggml_type::Q8_K;
    default:
      return 0;
  }
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

LlamaRuntime::LlamaRuntime(const Model& m, int64_t context, int threads, KvType kv) : c_(m.config) {
  const auto matrix = [&](const std::string& name, int64_t expect) {
    Matrix mx;
    mx.name = name;
    mx.w = load(m, name, expect, weight_bytes_);
    mx.act_type = activation_type(m.find(name)->type);
    return mx;
  };
  if (c_.dim <= 0 || c_.layers <= 0 || c_.heads <= 0 || c_.kv_heads <= 0 || c_.ffn <= 0 || c_.vocab <= 0) {
    throw_bad_input(m.path + ": incomplete LLaMA hyperparameters (dim, layers, heads, FFN and vocabulary are needed)");
  }
  context_ = context > 0 ? context : c_.context;
  if (context_ <= 0) throw_usage("no context length: pass one");
  threads_ = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t D = c_.dim, F = c_.ffn, KV = c_.kv_heads * c_.head_dim(), V = c_.vocab;
  embd_ = load(m, "token_embd.weight", V * D, weight_bytes_);
  out_norm_ = load(m, "output_norm.weight", D, weight_bytes_);
  if (m.find("output.weight")) {
    output_ = matrix("output.weight", V * D);
  } else {
    output_.w = embd_;  // tied: the embedding doubles as the output matrix, in its stored type
    output_.act_type = activation_type(m.find("token_embd.weight")->type);
  }
  for (int64_t l = 0; l < c_.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = load(m, p + "attn_norm.weight", D, weight_bytes_);
    L.wq = matrix(p + "attn_q.weight", D * D);
    L.wk = matrix(p + "attn_k.weight", KV * D);
    L.wv = matrix(p + "attn_v.weight", KV * D);
    L.wo = matrix(p + "attn_output.weight", D * D);
    L.ffn_norm = load(m, p + "ffn_norm.weight", D, weight_bytes_);
    L.w_gate = matrix(p + "ffn_gate.weight", F * D);
    L.w_up = matrix(p + "ffn_up.weight", F * D);
    L.w_down = matrix(p + "ffn_down.weight", D * F);
    layers_.push_back(std::move(L));
  }
  for (int64_t l = 0; l < c_.layers; ++l) {
    keys_.emplace_back(kv, context_, c_.kv_heads, c_.head_dim());
    values_.emplace_back(kv, context_, c_.kv_heads, c_.head_dim());
  }
  kbuf_.resize(static_cast<size_t>(context_ * KV));
  vbuf_.resize(static_cast<size_t>(context_ * KV));
  x_.resize(static_cast<size_t>(D));
  xb_.resize(static_cast<size_t>(D));
  xb2_.resize(static_cast<size_t>(D));
  q_.resize(static_cast<size_t>(D));
  k_.resize(static_cast<size_t>(KV));
  v_.resize(static_cast<size_t>(KV));
  att_.resize(static_cast<size_t>(c_.heads * context_));
  hb_.resize(static_cast<size_t>(F));
  hb2_.resize(static_cast<size_t>(F));
  logits_.resize(static_cast<size_t>(V));
}

void LlamaRuntime::matvec(const Matrix& m, const float* x, float* out, int64_t rows, int64_t cols) {
  if (on_matrix_input && !m.name.empty()) on_matrix_input(m.name, x, cols);
  if (m.act_type != 0) {  // round the activations through the dot-product format, as llama.cpp does
    const GgmlTypeInfo* ti = ggml_type_info(m.act_type);
    qbuf_.resize(static_cast<size_t>(*ggml_row_bytes(*ti, cols)));
    xq_.resize(static_cast<size_t>(cols));
    ggml_quantize(m.act_type, x, qbuf_.data(), 1, cols, nullptr);
    ggml_dequantize(m.act_type, qbuf_.data(), xq_.data(), cols);
    x = xq_.data();
  }
  const std::vector<float>& w = m.w;
  const int t = rows * cols < (1 << 16) ? 1 : threads_;  // small products are not worth a thread
  parallel_for(rows, t, [&](int64_t r0, int64_t r1, int) {
    for (int64_t r = r0; r < r1; ++r) {
      const float* wr = w.data() + r * cols;
      float s = 0.0f;
      for (int64_t j = 0; j < cols; ++j) s += wr[j] * x[j];
      out[r] = s;
    }
  });
}

uint64_t LlamaRuntime::kv_bytes_per_token() const {
  return keys_.empty() ? 0 : 2 * static_cast<uint64_t>(c_.layers) * keys_[0].bytes_per_row();
}

std::span<const float> LlamaRuntime::forward(int32_t token, int64_t pos) {
  const int64_t D = c_.dim, F = c_.ffn, hd = c_.head_dim(), KV = c_.kv_heads * hd, H = c_.heads;
  const int64_t group = c_.heads / c_.kv_heads;
  if (token < 0 || token >= c_.vocab) throw_usage("token " + std::to_string(token) + " is outside the vocabulary");
  if (pos < 0 || pos >= context_) throw_usage("position " + std::to_string(pos) + " is past the context of " + std::to_string(context_));
  const float eps = static_cast<float>(c_.rms_eps);
  const int64_t rope_dim = c_.rope_dim > 0 ? c_.rope_dim : hd;
  std::copy_n(embd_.begin() + token * D, D, x_.begin());
  for (int64_t l = 0; l < c_.layers; ++l) {
    Layer& L = layers_[static_cast<size_t>(l)];
    rmsnorm(xb_.data(), x_.data(), L.attn_norm.data(), D, eps);
    matvec(L.wq, xb_.data(), q_.data(), D, D);
    matvec(L.wk, xb_.data(), k_.data(), KV, D);
    matvec(L.wv, xb_.data(), v_.data(), KV, D);
    // rotary embedding on adjacent pairs (2i, 2i+1) of each head
    for (int64_t i = 0; i < D; i += 2) {
      const int64_t hi = i % hd;
      if (hi >= rope_dim) continue;
      const float freq = 1.0f / std::pow(static_cast<float>(c_.rope_theta), static_cast<float>(hi) / static_cast<float>(rope_dim));
      const float val = static_cast<float>(pos) * freq;
      const float fcr = std::cos(val), fci = std::sin(val);
      for (float* vec : {q_.data(), i < KV ? k_.data() : nullptr}) {
        if (!vec) continue;
        const float v0 = vec[i], v1 = vec[i + 1];
        vec[i] = v0 * fcr - v1 * fci;
        vec[i + 1] = v0 * fci + v1 * fcr;
      }
    }
    keys_[static_cast<size_t>(l)].write(pos, k_.data());
    values_[static_cast<size_t>(l)].write(pos, v_.data());
    for (int64_t t = 0; t <= pos; ++t) {  // attention reads the cache as stored: decode it
      keys_[static_cast<size_t>(l)].read(t, kbuf_.data() + t * KV);
      values_[static_cast<size_t>(l)].read(t, vbuf_.data() + t * KV);
    }
    const float inv_sqrt = 1.0f / std::sqrt(static_cast<float>(hd));
    for (int64_t h = 0; h < H; ++h) {
      const float* q = q_.data() + h * hd;
      float* att = att_.data() + h * context_;
      const int64_t kvh = h / group;
      float maxv = -INFINITY;
      for (int64_t t = 0; t <= pos; ++t) {
        const float* k = kbuf_.data() + t * KV + kvh * hd;
        float s = 0.0f;
        for (int64_t i = 0; i < hd; ++i) s += q[i] * k[i];
        att[t] = s * inv_sqrt;
        maxv = std::max(maxv, att[t]);
      }
      float sum = 0.0f;
      for (int64_t t = 0; t <= pos; ++t) {
        att[t] = std::exp(att[t] - maxv);
        sum += att[t];
      }
      float* xb = xb_.data() + h * hd;
      std::fill(xb, xb + hd, 0.0f);
      for (int64_t t = 0; t <= pos; ++t) {
        const float a = att[t] / sum;
        const float* v = vbuf_.data() + t * KV + kvh * hd;
        for (int64_t i = 0; i < hd; ++i) xb[i] += a * v[i];
      }
    }
    matvec(L.wo, xb_.data(), xb2_.data(), D, D);
    for (int64_t i = 0; i < D; ++i) x_[static_cast<size_t>(i)] += xb2_[static_cast<size_t>(i)];
    rmsnorm(xb_.data(), x_.data(), L.ffn_norm.data(), D, eps);
    matvec(L.w_gate, xb_.data(), hb_.data(), F, D);
    matvec(L.w_up, xb_.data(), hb2_.data(), F, D);
    for (int64_t i = 0; i < F; ++i) {
      float g = hb_[static_cast<size_t>(i)];
      g *= 1.0f / (1.0f + std::exp(-g));  // SiLU
      hb_[static_cast<size_t>(i)] = g * hb2_[static_cast<size_t>(i)];
    }
    matvec(L.w_down, hb_.data(), xb_.data(), D, F);
    for (int64_t i = 0; i < D; ++i) x_[static_cast<size_t>(i)] += xb_[static_cast<size_t>(i)];
  }
  rmsnorm(x_.data(), x_.data(), out_norm_.data(), D, eps);
  matvec(output_, x_.data(), logits_.data(), c_.vocab, D);
  return logits_;
}

}  // namespace vernier
