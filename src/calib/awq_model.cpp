// AWQ over a model, block by block (awq_model.hpp).
#include "vernier/awq_model.hpp"

#include <cblas.h>
#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <span>
#include <thread>

#include "calib_runtime.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/gptq.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier {

namespace {
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

using Vec = std::vector<float>;

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

}  // namespace

Model awq_scale_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const AwqModelOptions& opt, AwqModelReport* report) {
  if (windows.empty()) throw_usage("AWQ needs at least one calibration window");
  if (opt.awq.grid < 1) throw_usage("AWQ's grid needs at least one step");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t ctx = static_cast<int64_t>(windows[0].size());
  const int threads = calib::resolve_threads(opt.threads);
  calib::WindowRuntime wr(m, windows, threads, opt.batch);
  LlamaRuntime& rt = wr.rt();
  const int64_t batch = wr.batch();
  const LlamaConfig& c = rt.config();
  const int64_t D = c.dim, F = c.ffn, KV = c.kv_heads * c.head_dim(), W = static_cast<int64_t>(windows.size()), N = W * ctx;
  // the groups of w̄ (duo): the scheme's, or a GGML target's blocks (32 for the legacy types, 256 for K-quants: 32 is used)
  const int64_t len_d = opt.ggml ? std::min<int64_t>(32, D) : awq_group_len(opt.scheme, D),  // refuses schemes AWQ does not serve
      len_f = opt.ggml ? std::min<int64_t>(32, F) : awq_group_len(opt.scheme, F);
  openblas_set_num_threads(threads);
  AwqModelReport rep;
  rep.windows = W;
  rep.tokens = N;

  Vec x = wr.embed_all();  // the windows' hidden states entering the block
  Tap tap;
  rt.set_observer(&tap);
  // block l over every window, each copied out of x first unless in_place (up to stop's input if given)
  Vec tmp(static_cast<size_t>(ctx * D));
  const auto run_all = [&](int64_t l, std::optional<InputGroup> stop, bool in_place) {
    for (int64_t w = 0; w < W; ++w) {
      float* rows = x.data() + w * ctx * D;
      if (!in_place) {
        std::copy_n(rows, ctx * D, tmp.begin());
        rows = tmp.data();
      }
      wr.run_window(l, w, rows, stop, [&](int64_t base) { tap.base = base; });
    }
  };
  const int64_t stride = std::max<int64_t>(1, N / std::max<int64_t>(1, opt.awq.clip_tokens));
  const std::shared_ptr<ScratchFile> park = opt.park_dir.empty() ? nullptr : std::make_shared<ScratchFile>(opt.park_dir);
  Model out = m;
  const auto put = [&](ModelTensor t) {
    if (park) t = parked_tensor(t, park);
    for (auto& o : out.tensors) {
      if (o.name == t.name) o = t;
    }
  };
  Vec ref(static_cast<size_t>(N * D)), ffn_in(static_cast<size_t>(N * D)), gbuf, ubuf;
  Vec yb(static_cast<size_t>(std::max<int64_t>(batch, 128) * D));  // one chunk's outputs (runtime chunks, FFN rows)

  for (int64_t l = 0; l < c.layers; ++l) {
    const auto tb = std::chrono::steady_clock::now();
    const std::string p = "blk." + std::to_string(l) + ".";
    const auto progress = [&](const std::string& what) {
      if (opt.progress) opt.progress(l, c.layers, what);
    };
    Vec wq = read_values(m, p + "attn_q.weight", D * D), wk = read_values(m, p + "attn_k.weight", KV * D),
        wv = read_values(m, p + "attn_v.weight", KV * D), wo = read_values(m, p + "attn_output.weight", D * D),
        wg = read_values(m, p + "ffn_gate.weight", F * D), wu = read_values(m, p + "ffn_up.weight", F * D),
        wd = read_values(m, p + "ffn_down.weight", D * F), attn_norm = read_values(m, p + "attn_norm.weight", D),
        ffn_norm = read_values(m, p + "ffn_norm.weight", D);

    std::vector<std::shared_ptr<const Vec>> in_runtime;  // matrices the runtime multiplies in place: kept alive while it does
    // 1. the float block's inputs: mean |x| per group, a token sample, O's and down's XᵀX, the FFN's input
    progress("statistics");
    GroupStats st[4];
    Vec h_o(static_cast<size_t>(D * D), 0.0f), h_d(static_cast<size_t>(F * F), 0.0f), h_in, h_fin;
    if (opt.gptq) {  // the searches' GPTQ needs the Q/K/V and gate/up inputs' Hessians too
      h_in.assign(static_cast<size_t>(D * D), 0.0f);
      h_fin.assign(static_cast<size_t>(D * D), 0.0f);
    }
    tap.layer = l;
    tap.fn = [&](InputGroup g, const float* xr, int64_t n, int64_t d, int64_t base) {
      GroupStats& s = st[static_cast<int>(g)];
      if (s.d == 0) {
        s.d = d;
        s.abs_sum.assign(static_cast<size_t>(d), 0.0);
        s.sq_sum.assign(static_cast<size_t>(d), 0.0);
      }
      for (int64_t i = 0; i < n; ++i) {
        const float* row = xr + i * d;
        for (int64_t k = 0; k < d; ++k) {
          s.abs_sum[static_cast<size_t>(k)] += std::fabs(row[k]);
          s.sq_sum[static_cast<size_t>(k)] += static_cast<double>(row[k]) * row[k];
        }
        if ((base + i) % stride == 0) s.sample.insert(s.sample.end(), row, row + d);
      }
      if (g == InputGroup::attn_out) hessian_accumulate(h_o, xr, n, d, N);
      if (opt.gptq && g == InputGroup::attn_in) hessian_accumulate(h_in, xr, n, d, N);
      if (opt.gptq && g == InputGroup::ffn_in) hessian_accumulate(h_fin, xr, n, d, N);
      if (g == InputGroup::ffn_mid) hessian_accumulate(h_d, xr, n, d, N);
      if (g == InputGroup::ffn_in) std::copy_n(xr, n * d, ffn_in.begin() + base * D);
    };
    run_all(l, std::nullopt, false);
    hessian_symmetrize(h_o, D);
    hessian_symmetrize(h_d, F);
    if (opt.gptq) {
      hessian_symmetrize(h_in, D);
      hessian_symmetrize(h_fin, D);
    }
    Vec mean[4], x2[4];
    for (int g = 0; g < 4; ++g) {
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
    // Q(W·diag s)·diag(s)⁻¹ of matrix tn to its target: the scheme, or its GGML type weighted by the
    // scaled inputs' mean squares x2 / s² (a matrix without a GGML type stays float)
    const auto ggml_type_of = [&](const std::string& tn) -> std::optional<GgmlType> {
      const auto it = opt.ggml_types.find(p + tn);
      if (it == opt.ggml_types.end()) return std::nullopt;
      return it->second;
    };
    const auto fq = [&](const std::string& tn, const Vec& w, int64_t rows, int64_t cols, std::span<const float> s, const Vec& x2g) {
      Vec q(w.size());
      if (!opt.ggml) {
        awq_fake_quantize(TensorView{w.data(), rows, cols, ""}, s, opt.scheme, q.data());
      } else if (const auto t = ggml_type_of(tn)) {
        awq_fake_quantize_ggml(TensorView{w.data(), rows, cols, p + tn}, s, *t, x2g.data(), q.data());
      } else {
        q = w;
      }
      return q;
    };
    // A candidate's weights for a group of matrices reading one input: Q(W·diag s)·diag(s)⁻¹, Q round to
    // nearest or (opt.gptq) GPTQ with the scaled input's Hessian diag(s)⁻¹·H·diag(s)⁻¹, one factorisation
    GptqOptions gopt = opt.gptq.value_or(GptqOptions{});
    gopt.threads = threads;
    struct Member {
      const char* tn;
      const Vec* w;
      int64_t rows;
    };
    const auto candidate = [&](std::initializer_list<Member> ws, int64_t cols, std::span<const float> s, const Vec& h, const Vec& x2g,
                               const std::string& name) {
      std::vector<Vec> out;
      if (!opt.gptq) {
        for (const Member& mb : ws) out.push_back(fq(mb.tn, *mb.w, mb.rows, cols, s, x2g));
        return out;
      }
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
    };
    const auto duo_mean = [&](std::initializer_list<std::pair<const Vec*, int64_t>> ws, int64_t cols, int64_t len) {
      if (!opt.awq.duo) return Vec{};
      std::vector<TensorView> views;
      for (const auto& [w, rows] : ws) views.push_back(TensorView{w->data(), rows, cols, ""});
      return awq_weight_mean(views, len);
    };
    const auto report_scale = [&](const std::string& group, const std::string& into, const AwqSearch& r) {
      rep.scales.push_back({p + group, p + into, r.alpha, r.loss_before, r.loss_after});
    };

    // 2. the scale searches, all on the unscaled block
    progress("scales Q/K/V");
    tap.fn = [&](InputGroup g, const float* a, int64_t n, int64_t, int64_t base) {  // the float attention's output after O
      if (g == InputGroup::attn_out) matmul_t(a, n, D, wo.data(), D, ref.data() + base * D);
    };
    run_all(l, InputGroup::attn_out, false);
    const AwqSearch s_qkv = awq_search_scales(
        p + "attn_q/k/v", mean[0], duo_mean({{&wq, D}, {&wk, KV}, {&wv, KV}}, D, len_d), opt.awq, [&](const Vec& s) {
          const char* names[] = {"attn_q.weight", "attn_k.weight", "attn_v.weight"};
          const int64_t rows[] = {D, KV, KV};
          std::vector<Vec> qkv =
              candidate({{"attn_q.weight", &wq, D}, {"attn_k.weight", &wk, KV}, {"attn_v.weight", &wv, KV}}, D, s, h_in, x2[0], p + "attn_q/k/v");
          in_runtime.clear();  // the previous candidate's, no longer multiplied once replaced below
          for (int i = 0; i < 3; ++i) {
            in_runtime.push_back(std::make_shared<const Vec>(std::move(qkv[static_cast<size_t>(i)])));
            rt.replace_matrix(l, names[i], held_f32_tensor(p + names[i], {D, rows[i]}, in_runtime.back()));
          }
          double sum = 0;
          tap.fn = [&](InputGroup g, const float* a, int64_t n, int64_t, int64_t base) {
            if (g != InputGroup::attn_out) return;
            matmul_t(a, n, D, wo.data(), D, yb.data());
            sum += squared_distance(yb.data(), ref.data() + base * D, n * D);
          };
          run_all(l, InputGroup::attn_out, false);
          return sum / static_cast<double>(N * D);
        });
    tap.fn = nullptr;  // (it held the last candidate's sum)
    for (const char* tn : {"attn_q.weight", "attn_k.weight", "attn_v.weight"}) rt.replace_matrix(l, tn, *m.find(p + tn));
    in_runtime.clear();
    report_scale("attn_q/k/v", "attn_norm.weight", s_qkv);

    std::optional<AwqSearch> s_o;
    if (KV == D) {
      progress("scales O");
      s_o = awq_search_scales(p + "attn_output", mean[1], duo_mean({{&wo, D}}, D, len_d), opt.awq, [&](const Vec& s) {
        Vec dw = std::move(candidate({{"attn_output.weight", &wo, D}}, D, s, h_o, x2[1], p + "attn_output")[0]);
        for (size_t i = 0; i < dw.size(); ++i) dw[i] -= wo[i];
        return quadratic_loss(dw.data(), D, D, h_o.data()) / static_cast<double>(2 * D);  // H = 2/N XᵀX
      });
      report_scale("attn_output", "attn_v.weight", *s_o);
    } else {
      rep.skipped.push_back(p + "attn_output: not scaled (grouped-query attention: V's " + std::to_string(KV) + " rows are not O's " +
                            std::to_string(D) + " inputs)");
    }

    progress("scales gate/up");
    constexpr int64_t kRows = 128;  // FFN rows per product
    for (int64_t r0 = 0; r0 < N; r0 += kRows) {
      const int64_t n = std::min(kRows, N - r0);
      ffn_out(ffn_in.data() + r0 * D, n, wg, wu, wd, D, F, ref.data() + r0 * D, gbuf, ubuf);
    }
    const AwqSearch s_gu =
        awq_search_scales(p + "ffn_gate/up", mean[2], duo_mean({{&wg, F}, {&wu, F}}, D, len_d), opt.awq, [&](const Vec& s) {
          const std::vector<Vec> gu = candidate({{"ffn_gate.weight", &wg, F}, {"ffn_up.weight", &wu, F}}, D, s, h_fin, x2[2], p + "ffn_gate/up");
          const Vec &g = gu[0], &u = gu[1];
          double sum = 0;
          for (int64_t r0 = 0; r0 < N; r0 += kRows) {
            const int64_t n = std::min(kRows, N - r0);
            ffn_out(ffn_in.data() + r0 * D, n, g, u, wd, D, F, yb.data(), gbuf, ubuf);
            sum += squared_distance(yb.data(), ref.data() + r0 * D, n * D);
          }
          return sum / static_cast<double>(N * D);
        });
    report_scale("ffn_gate/up", "ffn_norm.weight", s_gu);

    progress("scales down");
    const AwqSearch s_d = awq_search_scales(p + "ffn_down", mean[3], duo_mean({{&wd, D}}, F, len_f), opt.awq, [&](const Vec& s) {
      Vec dw = std::move(candidate({{"ffn_down.weight", &wd, D}}, F, s, h_d, x2[3], p + "ffn_down")[0]);
      for (size_t i = 0; i < dw.size(); ++i) dw[i] -= wd[i];
      return quadratic_loss(dw.data(), D, F, h_d.data()) / static_cast<double>(2 * D);
    });
    report_scale("ffn_down", "ffn_up.weight", s_d);
    h_d = {};

    // 3. fold: the input's producer divided by s, the matrices' columns multiplied (the float function unchanged)
    for (int64_t k = 0; k < D; ++k) attn_norm[static_cast<size_t>(k)] /= s_qkv.s[static_cast<size_t>(k)];
    scale_columns(wq.data(), D, D, s_qkv.s);
    scale_columns(wk.data(), KV, D, s_qkv.s);
    scale_columns(wv.data(), KV, D, s_qkv.s);
    if (s_o) {
      divide_rows(wv.data(), KV, D, s_o->s);
      scale_columns(wo.data(), D, D, s_o->s);
    }
    for (int64_t k = 0; k < D; ++k) ffn_norm[static_cast<size_t>(k)] /= s_gu.s[static_cast<size_t>(k)];
    scale_columns(wg.data(), F, D, s_gu.s);
    scale_columns(wu.data(), F, D, s_gu.s);
    divide_rows(wu.data(), F, D, s_d.s);
    scale_columns(wd.data(), D, F, s_d.s);

    // the scaled inputs' mean squares per matrix: the importance of the GGML quantizer (llama.cpp's imatrix)
    const Vec ones(static_cast<size_t>(std::max(D, F)), 1.0f);
    const auto scaled_x2 = [](const Vec& x2g, std::span<const float> s) {
      Vec v(x2g.size());
      for (size_t k = 0; k < v.size(); ++k) v[k] = x2g[k] / (s[k] * s[k]);
      return v;
    };
    const Vec imp_qkv = scaled_x2(x2[0], s_qkv.s), imp_o = scaled_x2(x2[1], s_o ? std::span<const float>(s_o->s) : std::span(ones).first(D)),
              imp_gu = scaled_x2(x2[2], s_gu.s), imp_d = scaled_x2(x2[3], s_d.s);
    for (const auto& [tn, imp] : {std::pair<const char*, const Vec*>{"attn_q.weight", &imp_qkv}, {"attn_k.weight", &imp_qkv},
                                  {"attn_v.weight", &imp_qkv}, {"attn_output.weight", &imp_o}, {"ffn_gate.weight", &imp_gu},
                                  {"ffn_up.weight", &imp_gu}, {"ffn_down.weight", &imp_d}}) {
      rep.importance.weights[p + tn] = *imp;
    }

    // 4. clipping, on the scaled weights with the inputs they now see (x / s); Q and K are not clipped
    if (opt.awq.clip) {
      progress("clip");
      const auto unscale = [](GroupStats& g, std::span<const float> s) {
        for (size_t i = 0; i < g.sample.size(); ++i) g.sample[i] /= s[i % s.size()];
      };
      unscale(st[0], s_qkv.s);
      if (s_o) unscale(st[1], s_o->s);
      unscale(st[2], s_gu.s);
      unscale(st[3], s_d.s);
      struct Job {
        const char* name;
        Vec* w;
        int64_t rows, cols;
        const GroupStats* in;
        const Vec* imp;
      };
      for (const Job& j : {Job{"attn_v.weight", &wv, KV, D, &st[0], &imp_qkv}, Job{"attn_output.weight", &wo, D, D, &st[1], &imp_o},
                           Job{"ffn_gate.weight", &wg, F, D, &st[2], &imp_gu}, Job{"ffn_up.weight", &wu, F, D, &st[2], &imp_gu},
                           Job{"ffn_down.weight", &wd, D, F, &st[3], &imp_d}}) {
        const auto n = static_cast<int64_t>(j.in->sample.size()) / j.cols;
        AwqClipResult r;
        if (!opt.ggml) {
          r = awq_clip(j.w->data(), j.rows, j.cols, j.in->sample.data(), n, opt.scheme, opt.awq, threads);
        } else if (const auto t = ggml_type_of(j.name)) {  // a group is one block of the type, quantized by llama.cpp's rule
          const GgmlTypeInfo& ti = ggml_info(*t);
          std::vector<uint8_t> blk(static_cast<size_t>(*ggml_row_bytes(ti, ti.block_size)));
          const Vec& imp = *j.imp;
          r = awq_clip(j.w->data(), j.rows, j.cols, j.in->sample.data(), n, ti.block_size,
                       [&](const float* v, int64_t m, int64_t col0, float* out) {
                         ggml_quantize(*t, v, blk.data(), 1, m, imp.data() + col0);
                         ggml_dequantize(*t, blk.data(), out, m);
                       },
                       opt.awq, threads);
        } else {
          continue;  // kept in float: nothing to clip for
        }
        rep.clips.push_back({p + j.name, r.mean_ratio, r.loss_before, r.loss_after});
      }
    }

    // 5. the block's new float tensors; the next block's inputs
    const auto mat = [&](const char* tn, Vec& w, int64_t rows, int64_t cols) {
      return held_f32_tensor(p + tn, {cols, rows}, std::make_shared<const Vec>(std::move(w)));
    };
    std::vector<ModelTensor> made = {mat("attn_q.weight", wq, D, D),      mat("attn_k.weight", wk, KV, D),
                                     mat("attn_v.weight", wv, KV, D),     mat("attn_output.weight", wo, D, D),
                                     mat("ffn_gate.weight", wg, F, D),    mat("ffn_up.weight", wu, F, D),
                                     mat("ffn_down.weight", wd, D, F)};
    const ModelTensor an = held_f32_tensor(p + "attn_norm.weight", {D}, std::make_shared<const Vec>(attn_norm));
    const ModelTensor fnm = held_f32_tensor(p + "ffn_norm.weight", {D}, std::make_shared<const Vec>(ffn_norm));
    if (opt.propagate_quantized) {  // the scaled, clipped block rounded to nearest feeds the next
      progress("propagate");
      for (const ModelTensor& t : made) {
        const int64_t rows = t.ne[1], cols = t.ne[0];
        Vec w(static_cast<size_t>(rows * cols));
        read_f32(t, w);
        const std::string tn = t.name.substr(p.size());
        in_runtime.push_back(std::make_shared<const Vec>(fq(tn, w, rows, cols, std::span(ones).first(cols), rep.importance.weights[t.name])));
        rt.replace_matrix(l, tn, held_f32_tensor(t.name, t.ne, in_runtime.back()));
      }
      rt.replace_norm(l, "attn_norm.weight", attn_norm);
      rt.replace_norm(l, "ffn_norm.weight", ffn_norm);
    }
    run_all(l, std::nullopt, true);
    for (InputGroup g : kInputGroups) {
      for (std::string_view tn : input_group_tensors(g)) rt.drop_matrix(l, tn);
    }
    in_runtime.clear();
    for (ModelTensor& t : made) put(std::move(t));
    put(an);
    put(fnm);
    ::malloc_trim(0);
    rep.block_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count());
  }
  rt.set_observer(nullptr);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report) *report = std::move(rep);
  return out;
}

}  // namespace vernier
