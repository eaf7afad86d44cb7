#include "vernier/llama_runtime.hpp"

#include <unistd.h>

#include <algorithm>
#include <array>
#include <cmath>
#include <cstring>
#include <thread>

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


namespace {
constexpr std::array<std::string_view, 3> kAttnIn = {"attn_q.weight", "attn_k.weight", "attn_v.weight"};
constexpr std::array<std::string_view, 1> kAttnOut = {"attn_output.weight"};
constexpr std::array<std::string_view, 2> kFfnIn = {"ffn_gate.weight", "ffn_up.weight"};
constexpr std::array<std::string_view, 1> kFfnMid = {"ffn_down.weight"};
}  // namespace

std::string_view input_group_name(InputGroup g) {
  switch (g) {
    case InputGroup::attn_in: return "attn_in";
    case InputGroup::attn_out: return "attn_out";
    case InputGroup::ffn_in: return "ffn_in";
    case InputGroup::ffn_mid: return "ffn_mid";
  }
  return "?";
}

std::span<const std::string_view> input_group_tensors(InputGroup g) {
  switch (g) {
    case InputGroup::attn_in: return kAttnIn;
    case InputGroup::attn_out: return kAttnOut;
    case InputGroup::ffn_in: return kFfnIn;
    case InputGroup::ffn_mid: return kFfnMid;
  }
  return {};
}

LlamaRuntime::Matrix LlamaRuntime::matrix(const Model& m, const std::string& name, int64_t rows, int64_t cols) {
  return matrix_of(need(m, name, rows * cols), m.path, name, rows, cols);
}

LlamaRuntime::Matrix& LlamaRuntime::slot(int64_t layer, std::string_view tensor) {
  if (layer < 0 || layer >= c_.layers) throw_usage("no layer " + std::to_string(layer) + " of " + std::to_string(c_.layers));
  Layer& L = layers_[static_cast<size_t>(layer)];
  const std::string name = "blk." + std::to_string(layer) + "." + std::string(tensor);
  for (Matrix* mx : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) {
    if (mx->name == name) return *mx;
  }
  throw_usage("no matrix '" + name + "'");
}

void LlamaRuntime::replace_matrix(int64_t layer, std::string_view tensor, const ModelTensor& t) {
  Matrix& mx = slot(layer, tensor);
  if (t.elements() != mx.rows * mx.cols) throw_usage("replace_matrix: '" + mx.name + "' has another shape");
  weight_bytes_ -= mx.bytes;  // matrix_of counts the new one
  mx = matrix_of(t, "(replaced)", mx.name, mx.rows, mx.cols);
}

void LlamaRuntime::replace_norm(int64_t layer, std::string_view norm, std::span<const float> w) {
  if (layer < 0 || layer >= c_.layers) throw_usage("replace_norm: no layer " + std::to_string(layer));
  Layer& L = layers_[static_cast<size_t>(layer)];
  std::vector<float>* v = norm == "attn_norm.weight" ? &L.attn_norm : norm == "ffn_norm.weight" ? &L.ffn_norm : nullptr;
  if (!v) throw_usage("replace_norm: no norm '" + std::string(norm) + "' (attn_norm.weight or ffn_norm.weight)");
  if (w.size() != v->size()) throw_usage("replace_norm: " + std::to_string(w.size()) + " values for a norm of " + std::to_string(v->size()));
  v->assign(w.begin(), w.end());
}

void LlamaRuntime::drop_matrix(int64_t layer, std::string_view tensor) {
  Matrix& mx = slot(layer, tensor);
  Matrix gone;
  gone.name = mx.name;
  gone.rows = mx.rows;
  gone.cols = mx.cols;
  gone.dropped = true;
  weight_bytes_ -= mx.bytes;
  mx = std::move(gone);
}

LlamaRuntime::Matrix LlamaRuntime::matrix_of(const ModelTensor& t, const std::string& path, const std::string& name, int64_t rows,
                                             int64_t cols) {
  Matrix mx;
  mx.name = name;
  mx.rows = rows;
  mx.cols = cols;
  if (t.held_as_scheme()) {  // a vernier scheme held in memory: its codes are what the kernels read
    mx.scheme = t.packed();
    if (mx.scheme->rows != rows || mx.scheme->cols != cols) {
      throw_bad_input(path + ": tensor '" + name + "': quantized as " + std::to_string(mx.scheme->rows) + " × " +
                      std::to_string(mx.scheme->cols) + ", expected " + std::to_string(rows) + " × " + std::to_string(cols));
    }
    mx.perm = t.input_perm;
    mx.out_perm = t.output_perm;
    if (mx.out_perm && static_cast<int64_t>(mx.out_perm->size()) != rows) {
      throw_bad_input(path + ": tensor '" + name + "': an output permutation of " + std::to_string(mx.out_perm->size()) + " rows, expected " +
                      std::to_string(rows));
    }
    if (mx.perm && static_cast<int64_t>(mx.perm->size()) != cols) {
      throw_bad_input(path + ": tensor '" + name + "': an input permutation of " + std::to_string(mx.perm->size()) + " columns, expected " +
                      std::to_string(cols));
    }
    mx.type = t.weight_type();
    mx.prepared = backend_->prepare(*mx.scheme);
    mx.bytes = mx.scheme->bytes();
    weight_bytes_ += mx.bytes;
    return mx;
  }
  mx.type = t.type;
  mx.bytes = t.nbytes;
  weight_bytes_ += t.nbytes;
  const GgmlTypeInfo* ti = ggml_type_info(id_of(t.type));
  if (kernel_supports(t.type) && ti && cols % ti->block_size == 0) {
    if (t.view) {
      mx.data = t.view().data();  // multiplied straight from the mapped file
    } else {
      mx.owned.resize(t.nbytes);
      t.read(mx.owned);
      mx.data = mx.owned.data();
    }
  } else {  // F64 and the like: float32 is the nearest type a kernel takes
    mx.type = GgmlType::F32;
    mx.owned.resize(static_cast<size_t>(rows * cols) * 4);
    read_f32(t, std::span<float>(reinterpret_cast<float*>(mx.owned.data()), static_cast<size_t>(rows * cols)));
    mx.data = mx.owned.data();
  }
  mx.prepared = backend_->prepare(mx.type.ggml(), mx.data, rows, cols);
  // A repacked copy replaces the mapped bytes in the products: drop their pages (clean file pages,
  // read again from the file if a leftover row, the embedding lookup or another kernel path needs
  // them), so the model is not resident twice.
  if (!mx.prepared.packed.empty() && t.view && t.release) t.release();
  return mx;
}

LlamaRuntime::LlamaRuntime(const Model& m, int64_t context, int threads, KvType kv, int64_t max_batch)
    : LlamaRuntime(m, RuntimeOptions{context, threads, kv, max_batch, ""}) {}

LlamaRuntime::LlamaRuntime(const Model& m, const RuntimeOptions& opt)
    : LlamaRuntime(m, opt, make_cpu_backend(make_kernel_context(opt.isa, opt.threads), opt.activations)) {
  isa_ = make_kernel_context(opt.isa, opt.threads).isa();
}

LlamaRuntime::LlamaRuntime(const Model& m, const RuntimeOptions& opt, std::unique_ptr<Backend> backend)
    : c_(m.config), backend_(std::move(backend)) {
  if (!backend_) throw_usage("LlamaRuntime: no backend");
  init(m, opt);
}

void LlamaRuntime::init(const Model& m, const RuntimeOptions& opt) {
  validate_llama_config(m);
  if (c_.vocab <= 0) throw_bad_input(m.path + ": no vocabulary (no tokenizer tokens and no vocab_size): nothing to run");
  context_ = opt.context > 0 ? opt.context : c_.context;
  if (context_ <= 0) throw_usage("no context length: pass one");
  max_batch_ = std::max<int64_t>(1, std::min(opt.max_batch, context_));
  threads_ = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  const int64_t D = c_.dim, F = c_.ffn, KV = c_.kv_heads * c_.head_dim(), V = c_.vocab, B = max_batch_;
  embd_ = matrix(m, "token_embd.weight", V, D);
  if (embd_.scheme || !ggml_can_dequantize(embd_.type.ggml())) {
    throw_bad_input(m.path + ": token_embd.weight: cannot read rows of its type");
  }
  out_norm_ = load_f32(m, "output_norm.weight", D, norm_bytes_);
  if (m.find("output.weight")) {
    output_ = matrix(m, "output.weight", V, D);
    out_ = &output_;
  } else {
    out_ = &embd_;  // tied: the embedding doubles as the output matrix, in its stored type
  }
  for (int64_t l = 0; l < c_.layers; ++l) {
    const std::string p = "blk." + std::to_string(l) + ".";
    Layer L;
    L.attn_norm = load_f32(m, p + "attn_norm.weight", D, norm_bytes_);
    L.wq = matrix(m, p + "attn_q.weight", D, D);
    L.wk = matrix(m, p + "attn_k.weight", KV, D);
    L.wv = matrix(m, p + "attn_v.weight", KV, D);
    L.wo = matrix(m, p + "attn_output.weight", D, D);
    L.ffn_norm = load_f32(m, p + "ffn_norm.weight", D, norm_bytes_);
    L.w_gate = matrix(m, p + "ffn_gate.weight", F, D);
    L.w_up = matrix(m, p + "ffn_up.weight", F, D);
    L.w_down = matrix(m, p + "ffn_down.weight", D, F);
    layers_.push_back(std::move(L));
  }
  weight_bytes_ += norm_bytes_;
  shared_kv_ = opt.shared_kv;
  {
    // an absurd context (a header's context_length of 2^31) would end in bad_alloc after gigabytes: refuse it by name
    const auto row = kv_weight_type(opt.kv, c_.head_dim()).storage_bytes(c_.kv_heads, c_.head_dim()).value_or(0);
    const double kv_bytes = 2.0 * static_cast<double>(shared_kv_ ? 1 : c_.layers) * static_cast<double>(row) * static_cast<double>(context_);
    const double physical = static_cast<double>(::sysconf(_SC_PHYS_PAGES)) * static_cast<double>(::sysconf(_SC_PAGESIZE));
    if (physical > 0 && kv_bytes > physical) {
      throw_usage(m.path + ": a KV cache of " + std::to_string(context_) + " positions takes " + std::to_string(static_cast<uint64_t>(kv_bytes / (1 << 20))) +
                  " MiB, more than this machine's memory (" + std::to_string(static_cast<uint64_t>(physical / (1 << 20))) +
                  " MiB)" + (opt.context > 0 ? "" : ": the model's context_length; pass a smaller -c/--ctx-size"));
    }
  }
  for (int64_t l = 0; l < (shared_kv_ ? 1 : c_.layers); ++l) {
    keys_.emplace_back(opt.kv, context_, c_.kv_heads, c_.head_dim());
    values_.emplace_back(opt.kv, context_, c_.kv_heads, c_.head_dim());
  }
  if (opt.kv != KvType::f32) {
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

void LlamaRuntime::mul(std::initializer_list<std::pair<const Matrix*, float*>> ms, const float* x, int64_t n) {
  std::array<MatmulJob, 4> jobs{};
  size_t count = 0;
  for (const auto& [m, out] : ms) {
    if (m->dropped) throw_usage("'" + m->name + "' was let go (drop_matrix): its block cannot run again");
    if (m->perm || m->out_perm) {
      const float* in = x;
      if (m->perm) {  // act order (GPTQ g_idx): the input gathered into the matrix's column order
        const std::vector<int32_t>& p = *m->perm;
        const int64_t cols = m->cols;
        gathered_.resize(static_cast<size_t>(n * cols));
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t k = 0; k < cols; ++k) gathered_[static_cast<size_t>(i * cols + k)] = x[i * cols + p[static_cast<size_t>(k)]];
        }
        in = gathered_.data();
      }
      float* y = out;
      if (m->out_perm) {
        unordered_.resize(static_cast<size_t>(n * m->rows));
        y = unordered_.data();
      }
      const MatmulJob one{&m->prepared, y};
      backend_->matmul(std::span<const MatmulJob>(&one, 1), in, n);
      if (m->out_perm) {  // rows stored in another order (rotate-half Q/K): put them in this runtime's order
        const std::vector<int32_t>& p = *m->out_perm;
        for (int64_t i = 0; i < n; ++i) {
          for (int64_t g = 0; g < m->rows; ++g) out[i * m->rows + g] = y[i * m->rows + p[static_cast<size_t>(g)]];
        }
      }
      continue;
    }
    jobs.at(count++) = {&m->prepared, out};
  }
  if (count > 0) backend_->matmul(std::span<const MatmulJob>(jobs.data(), count), x, n);
}

uint64_t LlamaRuntime::kv_bytes_per_token() const {
  return keys_.empty() ? 0 : 2 * static_cast<uint64_t>(keys_.size()) * keys_[0].bytes_per_row();
}

uint64_t LlamaRuntime::resident_weight_bytes() const {
  uint64_t total = norm_bytes_ + embd_.prepared.resident_bytes() + (out_ == &output_ ? output_.prepared.resident_bytes() : 0);
  for (const Layer& L : layers_)
    for (const Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) total += m->prepared.resident_bytes();
  return total;
}

std::vector<std::pair<std::string, std::string>> LlamaRuntime::matrix_types() const {
  std::vector<std::pair<std::string, std::string>> out;
  out.emplace_back(embd_.name, embd_.type.name());
  if (out_ == &output_) out.emplace_back(output_.name, output_.type.name());
  for (const Layer& L : layers_)
    for (const Matrix* m : {&L.wq, &L.wk, &L.wv, &L.wo, &L.w_gate, &L.w_up, &L.w_down}) out.emplace_back(m->name, m->type.name());
  return out;
}

void LlamaRuntime::check_batch(int64_t n, int64_t pos0) const {
  if (n == 0) throw_usage("forward: no tokens");
  if (n > max_batch_) throw_usage("forward: " + std::to_string(n) + " tokens in one batch, the most is " + std::to_string(max_batch_));
  if (pos0 < 0 || pos0 + n > context_) {
    throw_usage("position " + std::to_string(pos0 + n - 1) + " is past the context of " + std::to_string(context_));
  }
}

void LlamaRuntime::embed(std::span<const int32_t> tokens, float* x) {
  const auto n = static_cast<int64_t>(tokens.size());
  check_batch(n, 0);
  for (int32_t t : tokens) {
    if (t < 0 || t >= c_.vocab) throw_usage("token " + std::to_string(t) + " is outside the vocabulary");
  }
  const int64_t D = c_.dim;
  const GgmlType et = embd_.type.ggml();
  const int64_t embd_row = *ggml_row_bytes(ggml_info(et), D);
  for (int64_t i = 0; i < n; ++i) ggml_dequantize(et, embd_.data + tokens[static_cast<size_t>(i)] * embd_row, x + i * D, D);
}

void LlamaRuntime::run_layer(int64_t l, float* x, int64_t n, int64_t pos0, std::optional<InputGroup> stop) {
  check_batch(n, pos0);
  if (l < 0 || l >= c_.layers) throw_usage("run_layer: layer " + std::to_string(l) + " of " + std::to_string(c_.layers));
  const int64_t D = c_.dim, F = c_.ffn, hd = c_.head_dim(), KV = c_.kv_heads * hd;
  const float eps = static_cast<float>(c_.rms_eps);
  const int64_t rope_dim = c_.rope_dim > 0 ? c_.rope_dim : hd;
  const auto theta = static_cast<float>(c_.rope_theta);
  Layer& L = layers_[static_cast<size_t>(l)];
  Backend& be = *backend_;
  be.rmsnorm(xb_.data(), x, L.attn_norm.data(), n, D, eps);
  observe(l, InputGroup::attn_in, xb_.data(), n, D);
  if (stop == InputGroup::attn_in) return;
  mul({{&L.wq, q_.data()}, {&L.wk, k_.data()}, {&L.wv, v_.data()}}, xb_.data(), n);
  be.rope(q_.data(), n, D, hd, rope_dim, theta, pos0);
  be.rope(k_.data(), n, KV, hd, rope_dim, theta, pos0);
  const auto kv_slot = static_cast<size_t>(shared_kv_ ? 0 : l);
  KvStore& ks = keys_[kv_slot];
  KvStore& vs = values_[kv_slot];
  for (int64_t i = 0; i < n; ++i) {
    ks.write(pos0 + i, k_.data() + i * KV);
    vs.write(pos0 + i, v_.data() + i * KV);
  }
  // attention reads the cache as stored: an f32 cache in place, any other decoded
  const float* kc = ks.f32_rows();
  const float* vc = vs.f32_rows();
  if (!kc) {
    for (int64_t t = 0; t < pos0 + n; ++t) {
      ks.read(t, kbuf_.data() + t * KV);
      vs.read(t, vbuf_.data() + t * KV);
    }
    kc = kbuf_.data();
    vc = vbuf_.data();
  }
  be.attention({q_.data(), kc, vc, xb_.data(), n, pos0, c_.heads, c_.kv_heads, hd});
  observe(l, InputGroup::attn_out, xb_.data(), n, D);
  if (stop == InputGroup::attn_out) return;
  mul({{&L.wo, xb2_.data()}}, xb_.data(), n);
  be.add(x, xb2_.data(), n * D);
  be.rmsnorm(xb_.data(), x, L.ffn_norm.data(), n, D, eps);
  observe(l, InputGroup::ffn_in, xb_.data(), n, D);
  if (stop == InputGroup::ffn_in) return;
  mul({{&L.w_gate, hb_.data()}, {&L.w_up, hb2_.data()}}, xb_.data(), n);
  be.swiglu(hb_.data(), hb2_.data(), n * F);
  observe(l, InputGroup::ffn_mid, hb_.data(), n, F);
  if (stop == InputGroup::ffn_mid) return;
  mul({{&L.w_down, xb_.data()}}, hb_.data(), n);
  be.add(x, xb_.data(), n * D);
}

std::span<const float> LlamaRuntime::head(const float* x, int64_t n) {
  check_batch(n, 0);
  backend_->rmsnorm(xb_.data(), x, out_norm_.data(), n, c_.dim, static_cast<float>(c_.rms_eps));
  mul({{out_, logits_.data()}}, xb_.data(), n);
  return {logits_.data(), static_cast<size_t>(n * c_.vocab)};
}

std::span<const float> LlamaRuntime::forward(std::span<const int32_t> tokens, int64_t pos0, bool all_logits) {
  const auto n = static_cast<int64_t>(tokens.size());
  check_batch(n, pos0);
  if (shared_kv_ && c_.layers > 1 && pos0 > 0) {  // earlier positions' K/V are the last layer's
    throw_usage("forward: this runtime shares one KV store between its layers (a calibration runtime): only batches from position 0");
  }
  embed(tokens, x_.data());
  for (int64_t l = 0; l < c_.layers; ++l) run_layer(l, x_.data(), n, pos0);
  const int64_t first = all_logits ? 0 : n - 1;
  return head(x_.data() + first * c_.dim, n - first);
}

}  // namespace vernier
