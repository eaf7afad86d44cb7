// One block's AWQ in two halves (awq_block.hpp).
#include "awq_block.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <functional>
#include <initializer_list>
#include <map>
#include <span>

#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/gptq.hpp"

namespace vernier::calib {

namespace {
using Vec = std::vector<float>;

// Hands the inputs of one layer's groups to the pass that is running, with the global index of the
// chunk's first token (window × ctx + position).
class Tap : public LayerObserver {
 public:
  int64_t layer = -1;
  int64_t base = 0;
  std::function<void(InputGroup, const float*, int64_t n, int64_t d, int64_t base)> fn;
  void observe(int64_t l, InputGroup g, const float* x, int64_t n, int64_t d) override {
    if (l == layer && fn) fn(g, x, n, d, base);
  }
};

struct GroupStats {
  std::vector<double> abs_sum;  // Σ |x| per channel
  std::vector<double> sq_sum;   // Σ x² per channel (the importance of GGML targets)
  std::vector<float> sample;    // the clip search's tokens (rows of d)
  int64_t d = 0;
};

// y (m × out) = x (m × in) · wᵀ, w (out × in) row-major
void matmul_t(const float* x, int64_t m, int64_t in, const float* w, int64_t out, float* y) {
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasTrans, static_cast<int>(m), static_cast<int>(out), static_cast<int>(in), 1.0f, x,
              static_cast<int>(in), w, static_cast<int>(in), 0.0f, y, static_cast<int>(out));
}

// The FFN's output for m rows of its (normed) input: down(SiLU(gate·x) ⊙ up·x)
void ffn_out(const float* x, int64_t m, const Vec& wg, const Vec& wu, const Vec& wd, int64_t D, int64_t F, float* y, Vec& g, Vec& u) {
  g.resize(static_cast<size_t>(m * F));
  u.resize(static_cast<size_t>(m * F));
  matmul_t(x, m, D, wg.data(), F, g.data());
  matmul_t(x, m, D, wu.data(), F, u.data());
  for (size_t i = 0; i < g.size(); ++i) g[i] = g[i] / (1.0f + std::exp(-g[i])) * u[i];
  matmul_t(g.data(), m, F, wd.data(), D, y);
}

double squared_distance(const float* a, const float* b, int64_t n) {
  double s = 0;
  for (int64_t i = 0; i < n; ++i) {
    const double d = static_cast<double>(a[i]) - b[i];
    s += d * d;
  }
  return s;
}

Vec read_values(const Model& m, const std::string& name, int64_t elements) {
  const ModelTensor* t = m.find(name);
  if (!t || t->elements() != elements) throw_bad_input(m.path + ": tensor '" + name + "' is missing or has another shape");
  Vec v(static_cast<size_t>(elements));
  read_f32(*t, v);
  for (size_t i = 0; i < v.size(); ++i) {
    if (!std::isfinite(v[i])) throw_bad_input(m.path + ": tensor '" + name + "': element " + std::to_string(i) + " is not finite");
  }
  return v;
}

Vec scaled_x2(const Vec& x2g, std::span<const float> s) {
  Vec v(x2g.size());
  for (size_t k = 0; k < v.size(); ++k) v[k] = x2g[k] / (s[k] * s[k]);
  return v;
}

constexpr int64_t kFfnRows = 128;  // FFN rows per product

// The block's tap observes the runtime for one call's passes; the runtime is left with no observer
// (the caller's pipeline sets its own again), also when a pass throws.
class Observing {
 public:
  Observing(LlamaRuntime& rt, LayerObserver* o) : rt_(rt) { rt_.set_observer(o); }
  ~Observing() { rt_.set_observer(nullptr); }
  Observing(const Observing&) = delete;
  Observing& operator=(const Observing&) = delete;

 private:
  LlamaRuntime& rt_;
};
}  // namespace

struct AwqBlock::State {
  const Model& m;
  WindowRuntime& wr;
  LlamaRuntime& rt;
  const AwqModelOptions& opt;
  AwqModelReport& rep;
  const int64_t l;
  const std::string p;
  const int64_t D, F, KV, W, ctx, N, len_d, len_f, stride;
  const int threads;
  std::shared_ptr<ScratchFile> park;
  Tap tap;
  Vec wq, wk, wv, wo, wg, wu, wd, attn_norm, ffn_norm;
  GroupStats st[4];
  Vec mean[4], x2[4];
  Vec h_in, h_o, h_fin, h_d;  // XᵀX of the groups' inputs (2/N-scaled, as GPTQ's): O's and down's always, Q/K/V's and gate/up's for GPTQ
  Vec ffn_in;                  // the FFN's normed inputs, N × D
  std::optional<AwqSearch> s_qkv, s_o, s_gu, s_d;
  Vec imp[4];  // the scaled inputs' mean squares per group: the GGML quantizer's importance
  std::vector<std::shared_ptr<const Vec>> in_runtime;  // candidates the runtime multiplies in place

  State(const Model& model, WindowRuntime& w, int64_t layer, const AwqModelOptions& o, AwqModelReport& r)
      : m(model),
        wr(w),
        rt(w.rt()),
        opt(o),
        rep(r),
        l(layer),
        p("blk." + std::to_string(layer) + "."),
        D(rt.config().dim),
        F(rt.config().ffn),
        KV(rt.config().kv_heads * rt.config().head_dim()),
        W(w.windows()),
        ctx(w.ctx()),
        N(W * ctx),
        // the groups of w̄ (duo): the scheme's, or a GGML target's blocks (32 for the legacy types, 256 for K-quants: 32 is used)
        len_d(o.ggml ? std::min<int64_t>(32, D) : awq_group_len(o.scheme, D)),  // refuses schemes AWQ does not serve
        len_f(o.ggml ? std::min<int64_t>(32, F) : awq_group_len(o.scheme, F)),
        stride(std::max<int64_t>(1, N / std::max<int64_t>(1, o.awq.clip_tokens))),
        threads(resolve_threads(o.threads)) {
    tap.layer = l;
    if (!opt.park_dir.empty()) park = std::make_shared<ScratchFile>(opt.park_dir);
  }

  void progress(const std::string& what) const {
    if (opt.progress) opt.progress(l, rt.config().layers, what);
  }
  // block l over every window, each a copy of x's rows (up to stop's input if given)
  void run_all(const Vec& x, std::optional<InputGroup> stop) {
    Vec tmp(static_cast<size_t>(ctx * D));
    for (int64_t w = 0; w < W; ++w) {
      std::copy_n(x.data() + w * ctx * D, ctx * D, tmp.begin());
      wr.run_window(l, w, tmp.data(), stop, [&](int64_t base) { tap.base = base; });
    }
  }
  std::optional<GgmlType> ggml_type_of(const std::string& tn) const {
    const auto it = opt.ggml_types.find(p + tn);
    if (it == opt.ggml_types.end()) return std::nullopt;
    return it->second;
  }
  // Q(W·diag s)·diag(s)⁻¹ of matrix tn to its target: the scheme, or its GGML type weighted by the
  // scaled inputs' mean squares x2g / s² (a matrix without a GGML type stays float)
  Vec fake_quantize(const std::string& tn, const Vec& w, int64_t rows, int64_t cols, std::span<const float> s, const Vec& x2g) const {
    Vec q(w.size());
    if (!opt.ggml) {
      awq_fake_quantize(TensorView{w.data(), rows, cols, ""}, s, opt.scheme, q.data());
    } else if (const auto t = ggml_type_of(tn)) {
      awq_fake_quantize_ggml(TensorView{w.data(), rows, cols, p + tn}, s, *t, x2g.data(), q.data());
    } else {
      q = w;
    }
    return q;
  }
  struct Member {
    const char* tn;
    const Vec* w;
    int64_t rows;
  };
  // A candidate's weights for a group of matrices reading one input: Q(W·diag s)·diag(s)⁻¹, Q round to
  // nearest or (opt.gptq) GPTQ with the scaled input's Hessian diag(s)⁻¹·H·diag(s)⁻¹, one factorisation
  std::vector<Vec> candidate(std::initializer_list<Member> ws, int64_t cols, std::span<const float> s, const Vec& h, const Vec& x2g,
                             const std::string& name) const {
    std::vector<Vec> out;
    if (!opt.gptq) {
      for (const Member& mb : ws) out.push_back(fake_quantize(mb.tn, *mb.w, mb.rows, cols, s, x2g));
      return out;
    }
    GptqOptions gopt = *opt.gptq;
    gopt.threads = threads;
    Vec hs(h.size());
    for (int64_t i = 0; i < cols; ++i)
      for (int64_t j = 0; j < cols; ++j)
        hs[static_cast<size_t>(i * cols + j)] = h[static_cast<size_t>(i * cols + j)] / (s[static_cast<size_t>(i)] * s[static_cast<size_t>(j)]);
    const GptqHessian hf = gptq_factorise(hs, cols, gopt, name);
    for (const Member& mb : ws) {
      const int64_t rows = mb.rows;
      const auto t = ggml_type_of(mb.tn);
      if (opt.ggml && !t) {
        out.push_back(*mb.w);
        continue;
      }
      Vec sw = *mb.w;
      scale_columns(sw.data(), rows, cols, s);
      const TensorView view{sw.data(), rows, cols, name};
      Vec q = (opt.ggml ? gptq_quantize_ggml(view, hf, *t, gopt) : gptq_quantize(view, hf, opt.scheme, gopt)).values;
      for (int64_t r = 0; r < rows; ++r)
        for (int64_t c = 0; c < cols; ++c) q[static_cast<size_t>(r * cols + c)] /= s[static_cast<size_t>(c)];
      out.push_back(std::move(q));
    }
    return out;
  }
  Vec duo_mean(std::initializer_list<std::pair<const Vec*, int64_t>> ws, int64_t cols, int64_t len) const {
    if (!opt.awq.duo) return Vec{};
    std::vector<TensorView> views;
    for (const auto& [w, rows] : ws) views.push_back(TensorView{w->data(), rows, cols, ""});
    return awq_weight_mean(views, len);
  }
  void report_scale(const std::string& group, const std::string& into, const AwqSearch& r) {
    rep.scales.push_back({p + group, p + into, r.alpha, r.loss_before, r.loss_after});
  }
  void finish_stats(int g) {
    mean[g].resize(st[g].abs_sum.size());
    x2[g].resize(st[g].sq_sum.size());
    for (size_t k = 0; k < mean[g].size(); ++k) {
      mean[g][k] = static_cast<float>(st[g].abs_sum[k] / static_cast<double>(N));
      x2[g][k] = static_cast<float>(st[g].sq_sum[k] / static_cast<double>(N));
      if (!std::isfinite(mean[g][k])) {
        throw_bad_input(m.path + ": block " + std::to_string(l) + ": the calibration activations of " +
                        std::string(input_group_name(static_cast<InputGroup>(g))) + " are not finite (channel " + std::to_string(k) + ")");
      }
    }
  }
  ModelTensor held(const std::string& tn, Vec& w, std::vector<int64_t> ne) {
    ModelTensor t = held_f32_tensor(p + tn, std::move(ne), std::make_shared<const Vec>(std::move(w)));
    w = {};
    return park ? parked_tensor(t, park) : t;
  }
};

AwqBlock::AwqBlock(const Model& m, WindowRuntime& wr, int64_t layer, const AwqModelOptions& opt, AwqModelReport& rep)
    : s_(std::make_unique<State>(m, wr, layer, opt, rep)) {
  State& s = *s_;
  const std::string& p = s.p;
  const int64_t D = s.D, F = s.F, KV = s.KV;
  s.wq = read_values(m, p + "attn_q.weight", D * D);
  s.wk = read_values(m, p + "attn_k.weight", KV * D);
  s.wv = read_values(m, p + "attn_v.weight", KV * D);
  s.wo = read_values(m, p + "attn_output.weight", D * D);
  s.wg = read_values(m, p + "ffn_gate.weight", F * D);
  s.wu = read_values(m, p + "ffn_up.weight", F * D);
  s.wd = read_values(m, p + "ffn_down.weight", D * F);
  s.attn_norm = read_values(m, p + "attn_norm.weight", D);
  s.ffn_norm = read_values(m, p + "ffn_norm.weight", D);
}

AwqBlock::~AwqBlock() = default;

void AwqBlock::collect(const std::vector<float>& x, bool attention_half, bool ffn_half) {
  State& s = *s_;
  s.progress("statistics");
  const int64_t D = s.D, F = s.F, N = s.N;
  const bool gptq = s.opt.gptq.has_value();
  const auto wanted = [&](InputGroup g) { return g == InputGroup::attn_in || g == InputGroup::attn_out ? attention_half : ffn_half; };
  if (attention_half) {
    s.h_o.assign(static_cast<size_t>(D * D), 0.0f);
    if (gptq) s.h_in.assign(static_cast<size_t>(D * D), 0.0f);
  }
  if (ffn_half) {
    s.h_d.assign(static_cast<size_t>(F * F), 0.0f);
    if (gptq) s.h_fin.assign(static_cast<size_t>(D * D), 0.0f);
    s.ffn_in.assign(static_cast<size_t>(N * D), 0.0f);
  }
  for (InputGroup g : kInputGroups) {
    if (wanted(g)) s.st[static_cast<int>(g)] = GroupStats{};
  }
  s.tap.fn = [&](InputGroup g, const float* xr, int64_t n, int64_t d, int64_t base) {
    if (!wanted(g)) return;
    GroupStats& st = s.st[static_cast<int>(g)];
    if (st.d == 0) {
      st.d = d;
      st.abs_sum.assign(static_cast<size_t>(d), 0.0);
      st.sq_sum.assign(static_cast<size_t>(d), 0.0);
    }
    for (int64_t i = 0; i < n; ++i) {
      const float* row = xr + i * d;
      for (int64_t k = 0; k < d; ++k) {
        st.abs_sum[static_cast<size_t>(k)] += std::fabs(row[k]);
        st.sq_sum[static_cast<size_t>(k)] += static_cast<double>(row[k]) * row[k];
      }
      if ((base + i) % s.stride == 0) st.sample.insert(st.sample.end(), row, row + d);
    }
    if (g == InputGroup::attn_out) hessian_accumulate(s.h_o, xr, n, d, N);
    if (gptq && g == InputGroup::attn_in) hessian_accumulate(s.h_in, xr, n, d, N);
    if (gptq && g == InputGroup::ffn_in) hessian_accumulate(s.h_fin, xr, n, d, N);
    if (g == InputGroup::ffn_mid) hessian_accumulate(s.h_d, xr, n, d, N);
    if (g == InputGroup::ffn_in) std::copy_n(xr, n * d, s.ffn_in.begin() + base * D);
  };
  {
    const Observing watch(s.rt, &s.tap);
    s.run_all(x, ffn_half ? InputGroup::ffn_mid : InputGroup::attn_out);
  }
  s.tap.fn = nullptr;
  if (attention_half) {
    hessian_symmetrize(s.h_o, D);
    if (gptq) hessian_symmetrize(s.h_in, D);
    s.finish_stats(0);
    s.finish_stats(1);
  }
  if (ffn_half) {
    hessian_symmetrize(s.h_d, F);
    if (gptq) hessian_symmetrize(s.h_fin, D);
    s.finish_stats(2);
    s.finish_stats(3);
  }
}

void AwqBlock::search(Half h, const std::vector<float>& x) {
  State& s = *s_;
  const int64_t D = s.D, F = s.F, KV = s.KV, N = s.N, l = s.l;
  const std::string& p = s.p;
  Vec ref(static_cast<size_t>(N * D)), yb(static_cast<size_t>(std::max<int64_t>(s.wr.batch(), kFfnRows) * D));
  if (h == attention) {
    if (s.mean[0].empty()) throw_usage("AwqBlock: the attention's statistics were not collected");
    s.progress("scales Q/K/V");
    const Observing watch(s.rt, &s.tap);
    s.tap.fn = [&](InputGroup g, const float* a, int64_t n, int64_t, int64_t base) {  // the float attention's output after O
      if (g == InputGroup::attn_out) matmul_t(a, n, D, s.wo.data(), D, ref.data() + base * D);
    };
    s.run_all(x, InputGroup::attn_out);
    s.s_qkv = awq_search_scales(
        p + "attn_q/k/v", s.mean[0], s.duo_mean({{&s.wq, D}, {&s.wk, KV}, {&s.wv, KV}}, D, s.len_d), s.opt.awq, [&](const Vec& sc) {
          const char* names[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight"};
          const int64_t rows[] = {D, KV, KV};
          std::vector<Vec> qkv = s.candidate({{"attn_q.weight", &s.wq, D}, {"attn_k.weight", &s.wk, KV}, {"attn_v.weight", &s.wv, KV}}, D, sc,
                                             s.h_in, s.x2[0], p + "attn_q/k/v");
          s.in_runtime.clear();  // the previous candidate's, no longer multiplied once replaced below
          for (int i = 0; i < 3; ++i) {
            s.in_runtime.push_back(std::make_shared<const Vec>(std::move(qkv[static_cast<size_t>(i)])));
            s.rt.replace_matrix(l, names[i], held_f32_tensor(p + names[i], {D, rows[i]}, s.in_runtime.back()));
          }
          double sum = 0;
          s.tap.fn = [&](InputGroup g, const float* a, int64_t n, int64_t, int64_t base) {
            if (g != InputGroup::attn_out) return;
            matmul_t(a, n, D, s.wo.data(), D, yb.data());
            sum += squared_distance(yb.data(), ref.data() + base * D, n * D);
          };
          s.run_all(x, InputGroup::attn_out);
          return sum / static_cast<double>(N * D);
        });
    s.tap.fn = nullptr;  // (it held the last candidate's sum)
    for (const char* tn : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) s.rt.replace_matrix(l, tn, *s.m.find(p + tn));
    s.in_runtime.clear();
    s.report_scale("attn_q/k/v", "attn_norm.weight", *s.s_qkv);

    if (KV == D) {
      s.progress("scales O");
      s.s_o = awq_search_scales(p + "attn_output", s.mean[1], s.duo_mean({{&s.wo, D}}, D, s.len_d), s.opt.awq, [&](const Vec& sc) {
        Vec dw = std::move(s.candidate({{"attn_output.weight", &s.wo, D}}, D, sc, s.h_o, s.x2[1], p + "attn_output")[0]);
        for (size_t i = 0; i < dw.size(); ++i) dw[i] -= s.wo[i];
        return quadratic_loss(dw.data(), D, D, s.h_o.data()) / static_cast<double>(2 * D);  // H = 2/N XᵀX
      });
      s.report_scale("attn_output", "attn_v.weight", *s.s_o);
    } else {
      s.rep.skipped.push_back(p + "attn_output: not scaled (grouped-query attention: V's " + std::to_string(KV) + " rows are not O's " +
                              std::to_string(D) + " inputs)");
    }
    // fold: the input's producer divided by s, the matrices' columns multiplied (the float function unchanged)
    for (int64_t k = 0; k < D; ++k) s.attn_norm[static_cast<size_t>(k)] /= s.s_qkv->s[static_cast<size_t>(k)];
    scale_columns(s.wq.data(), D, D, s.s_qkv->s);
    scale_columns(s.wk.data(), KV, D, s.s_qkv->s);
    scale_columns(s.wv.data(), KV, D, s.s_qkv->s);
    if (s.s_o) {
      divide_rows(s.wv.data(), KV, D, s.s_o->s);
      scale_columns(s.wo.data(), D, D, s.s_o->s);
    }
    const Vec ones(static_cast<size_t>(D), 1.0f);
    s.imp[0] = scaled_x2(s.x2[0], s.s_qkv->s);
    s.imp[1] = scaled_x2(s.x2[1], s.s_o ? std::span<const float>(s.s_o->s) : std::span<const float>(ones));
    for (const char* tn : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) s.rep.importance.weights[p + tn] = s.imp[0];
    s.rep.importance.weights[p + "attn_output.weight"] = s.imp[1];
    s.h_o = {};
    s.h_in = {};
    return;
  }

  if (s.mean[2].empty()) throw_usage("AwqBlock: the FFN's statistics were not collected");
  s.progress("scales gate/up");
  Vec gbuf, ubuf;
  for (int64_t r0 = 0; r0 < N; r0 += kFfnRows) {
    const int64_t n = std::min(kFfnRows, N - r0);
    ffn_out(s.ffn_in.data() + r0 * D, n, s.wg, s.wu, s.wd, D, F, ref.data() + r0 * D, gbuf, ubuf);
  }
  s.s_gu = awq_search_scales(p + "ffn_gate/up", s.mean[2], s.duo_mean({{&s.wg, F}, {&s.wu, F}}, D, s.len_d), s.opt.awq, [&](const Vec& sc) {
    const std::vector<Vec> gu = s.candidate({{"ffn_gate.weight", &s.wg, F}, {"ffn_up.weight", &s.wu, F}}, D, sc, s.h_fin, s.x2[2], p + "ffn_gate/up");
    double sum = 0;
    for (int64_t r0 = 0; r0 < N; r0 += kFfnRows) {
      const int64_t n = std::min(kFfnRows, N - r0);
      ffn_out(s.ffn_in.data() + r0 * D, n, gu[0], gu[1], s.wd, D, F, yb.data(), gbuf, ubuf);
      sum += squared_distance(yb.data(), ref.data() + r0 * D, n * D);
    }
    return sum / static_cast<double>(N * D);
  });
  s.report_scale("ffn_gate/up", "ffn_norm.weight", *s.s_gu);
  s.ffn_in = {};

  s.progress("scales down");
  s.s_d = awq_search_scales(p + "ffn_down", s.mean[3], s.duo_mean({{&s.wd, D}}, F, s.len_f), s.opt.awq, [&](const Vec& sc) {
    Vec dw = std::move(s.candidate({{"ffn_down.weight", &s.wd, D}}, F, sc, s.h_d, s.x2[3], p + "ffn_down")[0]);
    for (size_t i = 0; i < dw.size(); ++i) dw[i] -= s.wd[i];
    return quadratic_loss(dw.data(), D, F, s.h_d.data()) / static_cast<double>(2 * D);
  });
  s.report_scale("ffn_down", "ffn_up.weight", *s.s_d);
  s.h_d = {};
  s.h_fin = {};
  for (int64_t k = 0; k < D; ++k) s.ffn_norm[static_cast<size_t>(k)] /= s.s_gu->s[static_cast<size_t>(k)];
  scale_columns(s.wg.data(), F, D, s.s_gu->s);
  scale_columns(s.wu.data(), F, D, s.s_gu->s);
  divide_rows(s.wu.data(), F, D, s.s_d->s);
  scale_columns(s.wd.data(), D, F, s.s_d->s);
  s.imp[2] = scaled_x2(s.x2[2], s.s_gu->s);
  s.imp[3] = scaled_x2(s.x2[3], s.s_d->s);
  for (const char* tn : {"ffn_gate.weight", "ffn_up.weight"}) s.rep.importance.weights[p + tn] = s.imp[2];
  s.rep.importance.weights[p + "ffn_down.weight"] = s.imp[3];
}

void AwqBlock::clip(Half h) {
  State& s = *s_;
  if (!s.opt.awq.clip) return;
  const bool att = h == attention;
  if (att ? !s.s_qkv : !s.s_gu) throw_usage("AwqBlock: clip before the half's scales were searched");
  s.progress(att ? "clip attention" : "clip FFN");
  // the sample's inputs as the scaled weights see them (x / s)
  const auto unscale = [](GroupStats& g, std::span<const float> sc) {
    for (size_t i = 0; i < g.sample.size(); ++i) g.sample[i] /= sc[i % sc.size()];
  };
  if (att) {
    unscale(s.st[0], s.s_qkv->s);
    if (s.s_o) unscale(s.st[1], s.s_o->s);
  } else {
    unscale(s.st[2], s.s_gu->s);
    unscale(s.st[3], s.s_d->s);
  }
  struct Job {
    const char* name;
    Vec* w;
    int64_t rows, cols;
    const GroupStats* in;
    const Vec* imp;
  };
  const int64_t D = s.D, F = s.F, KV = s.KV;
  const std::vector<Job> jobs = att ? std::vector<Job>{{"attn_v.weight", &s.wv, KV, D, &s.st[0], &s.imp[0]},
                                                       {"attn_output.weight", &s.wo, D, D, &s.st[1], &s.imp[1]}}
                                    : std::vector<Job>{{"ffn_gate.weight", &s.wg, F, D, &s.st[2], &s.imp[2]},
                                                       {"ffn_up.weight", &s.wu, F, D, &s.st[2], &s.imp[2]},
                                                       {"ffn_down.weight", &s.wd, D, F, &s.st[3], &s.imp[3]}};
  for (const Job& j : jobs) {
    const auto n = static_cast<int64_t>(j.in->sample.size()) / j.cols;
    AwqClipResult r;
    if (!s.opt.ggml) {
      r = awq_clip(j.w->data(), j.rows, j.cols, j.in->sample.data(), n, s.opt.scheme, s.opt.awq, s.threads);
    } else if (const auto t = s.ggml_type_of(j.name)) {  // a group is one block of the type, quantized by llama.cpp's rule
      const GgmlTypeInfo& ti = ggml_info(*t);
      std::vector<uint8_t> blk(static_cast<size_t>(*ggml_row_bytes(ti, ti.block_size)));
      const Vec& imp = *j.imp;
      r = awq_clip(j.w->data(), j.rows, j.cols, j.in->sample.data(), n, ti.block_size,
                   [&](const float* v, int64_t m, int64_t col0, float* out) {
                     ggml_quantize(*t, v, blk.data(), 1, m, imp.data() + col0);
                     ggml_dequantize(*t, blk.data(), out, m);
                   },
                   s.opt.awq, s.threads);
    } else {
      continue;  // kept in float: nothing to clip for
    }
    s.rep.clips.push_back({s.p + j.name, r.mean_ratio, r.loss_before, r.loss_after});
  }
  const int first = att ? 0 : 2;
  s.st[first].sample = {};
  s.st[first + 1].sample = {};
}

std::vector<ModelTensor> AwqBlock::rounded() {
  State& s = *s_;
  const int64_t D = s.D, F = s.F, KV = s.KV;
  const Vec ones(static_cast<size_t>(std::max(D, F)), 1.0f);
  std::vector<ModelTensor> out;
  const auto one = [&](const char* tn, const Vec& w, int64_t rows, int64_t cols, const Vec& imp) {
    auto q = std::make_shared<const Vec>(s.fake_quantize(tn, w, rows, cols, std::span(ones).first(static_cast<size_t>(cols)), imp));
    out.push_back(held_f32_tensor(s.p + tn, {cols, rows}, std::move(q)));
  };
  one("attn_q.weight", s.wq, D, D, s.imp[0]);
  one("attn_k.weight", s.wk, KV, D, s.imp[0]);
  one("attn_v.weight", s.wv, KV, D, s.imp[0]);
  one("attn_output.weight", s.wo, D, D, s.imp[1]);
  one("ffn_gate.weight", s.wg, F, D, s.imp[2]);
  one("ffn_up.weight", s.wu, F, D, s.imp[2]);
  one("ffn_down.weight", s.wd, D, F, s.imp[3]);
  out.push_back(held_f32_tensor(s.p + "attn_norm.weight", {D}, std::make_shared<const Vec>(s.attn_norm)));
  out.push_back(held_f32_tensor(s.p + "ffn_norm.weight", {D}, std::make_shared<const Vec>(s.ffn_norm)));
  return out;
}

std::vector<ModelTensor> AwqBlock::take(Half h) {
  State& s = *s_;
  const int64_t D = s.D, F = s.F, KV = s.KV;
  std::vector<ModelTensor> out;
  if (h == attention) {
    out.push_back(s.held("attn_q.weight", s.wq, {D, D}));
    out.push_back(s.held("attn_k.weight", s.wk, {D, KV}));
    out.push_back(s.held("attn_v.weight", s.wv, {D, KV}));
    out.push_back(s.held("attn_output.weight", s.wo, {D, D}));
    out.push_back(held_f32_tensor(s.p + "attn_norm.weight", {D}, std::make_shared<const Vec>(s.attn_norm)));
  } else {
    out.push_back(s.held("ffn_gate.weight", s.wg, {D, F}));
    out.push_back(s.held("ffn_up.weight", s.wu, {D, F}));
    out.push_back(s.held("ffn_down.weight", s.wd, {F, D}));
    out.push_back(held_f32_tensor(s.p + "ffn_norm.weight", {D}, std::make_shared<const Vec>(s.ffn_norm)));
  }
  return out;
}

}  // namespace vernier::calib
