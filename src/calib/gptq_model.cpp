// Calibration windows and the block-by-block GPTQ pipeline (gptq_model.hpp).
#include "vernier/gptq_model.hpp"

#include <malloc.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <fstream>
#include <numeric>
#include <optional>
#include <random>
#include <span>
#include <sstream>
#include <thread>

#include "gptq_pipeline.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

std::vector<std::vector<int32_t>> calibration_windows(const Model& m, const CalibrationOptions& opt) {
  if (opt.ctx < 2) throw_usage("--calib-ctx must be at least 2 tokens");
  if (opt.windows < 1) throw_usage("--calib-windows must be at least 1");
  std::vector<int32_t> ids;
  std::string path;
  if (!opt.tokens_path.empty()) {
    path = opt.tokens_path;
    std::ifstream in(path);
    if (!in) throw Error(ErrorKind::io, path + ": cannot open");
    std::string word;
    while (in >> word) {
      size_t used = 0;
      long long v = 0;
      try {
        v = std::stoll(word, &used);
      } catch (const std::exception&) {
        used = 0;
      }
      if (used != word.size()) throw_bad_input(path + ": '" + word + "' is not a token id (expected whitespace-separated integers)");
      if (v < 0 || v >= m.config.vocab) {
        throw_bad_input(path + ": token id " + word + " outside the vocabulary [0, " + std::to_string(m.config.vocab) + ")");
      }
      ids.push_back(static_cast<int32_t>(v));
    }
  } else {
    path = opt.text_path;
    std::ifstream in(path, std::ios::binary);
    if (!in) throw Error(ErrorKind::io, path + ": cannot open");
    std::stringstream ss;
    ss << in.rdbuf();
    if (m.tokenizer.tokens.empty()) throw_bad_input(m.path + ": no tokenizer to cut the calibration text with (pass --calib-tokens)");
    const Tokenizer tok(m.tokenizer);
    ids = tok.encode(ss.str(), tok.adds_bos(), false);
  }
  const int64_t available = static_cast<int64_t>(ids.size()) / opt.ctx;
  if (available < 1) {
    throw_bad_input(path + ": " + std::to_string(ids.size()) + " tokens, shorter than one calibration window of " +
                    std::to_string(opt.ctx));
  }
  std::vector<int64_t> starts(static_cast<size_t>(available));
  std::iota(starts.begin(), starts.end(), 0);
  if (opt.random) std::shuffle(starts.begin(), starts.end(), std::mt19937_64(opt.seed));
  starts.resize(static_cast<size_t>(std::min(available, opt.windows)));
  std::vector<std::vector<int32_t>> out;
  for (int64_t s : starts) out.emplace_back(ids.begin() + s * opt.ctx, ids.begin() + (s + 1) * opt.ctx);
  return out;
}

namespace {
// Accumulates the Hessian of one input group of one layer.
class HessianObserver : public LayerObserver {
 public:
  int64_t layer = -1;
  InputGroup group = InputGroup::attn_in;
  int64_t total = 0;
  std::vector<float> h;
  int64_t d = 0;
  void observe(int64_t l, InputGroup g, const float* x, int64_t n, int64_t dim) override {
    if (l != layer || g != group) return;
    if (h.empty()) {
      d = dim;
      h.assign(static_cast<size_t>(dim * dim), 0.0f);
    }
    hessian_accumulate(h, x, n, dim, total);
  }
};

}  // namespace

Model gptq_quantize_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt,
                          GptqModelReport* report) {
  return calib::gptq_pipeline(m, windows, opt, report, {});
}

namespace calib {
Model gptq_pipeline(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt, GptqModelReport* report,
                    const HalfRewrite& rewrite) {
  if (windows.empty()) throw_usage("GPTQ needs at least one calibration window");
  const auto t0 = std::chrono::steady_clock::now();
  const int64_t ctx = static_cast<int64_t>(windows[0].size());
  const int threads = calib::resolve_threads(opt.threads);
  calib::WindowRuntime wr(m, windows, threads, opt.batch);
  LlamaRuntime& rt = wr.rt();
  const LlamaConfig& c = rt.config();
  const int64_t D = c.dim, W = static_cast<int64_t>(windows.size());
  GptqOptions go = opt.gptq;
  go.threads = threads;
  GptqModelReport rep;
  rep.windows = W;
  rep.tokens = W * ctx;

  std::vector<float> x = wr.embed_all();  // the windows' hidden states entering the block
  if (const ModelTensor* te = m.find("token_embd.weight"); te && te->release) te->release();  // read again only if tied to the output
  Model out = m;
  const std::shared_ptr<ScratchFile> park = opt.park_dir.empty() ? nullptr : std::make_shared<ScratchFile>(opt.park_dir);
  std::vector<float> tmp(static_cast<size_t>(ctx * D)), next;
  HessianObserver obs;
  obs.total = W * ctx;
  rt.set_observer(&obs);
  // the block's quantized matrices as float32, which the runtime multiplies in place while the block is calibrated
  std::vector<std::shared_ptr<std::vector<float>>> block_dense;
  std::vector<ModelTensor> rewritten;  // the block's tensors from `rewrite`, in place of the source's
  const auto source_of = [&](const std::string& name) -> const ModelTensor* {
    for (const ModelTensor& t : rewritten) {
      if (t.name == name) return &t;
    }
    return m.find(name);
  };
  for (int64_t l = 0; l < c.layers; ++l) {
    const auto tb = std::chrono::steady_clock::now();
    rewritten.clear();
    if (opt.propagate_float) {  // the float block's outputs, before any of its matrices is replaced
      next = x;
      for (int64_t w = 0; w < W; ++w) wr.run_window(l, w, next.data() + w * ctx * D, std::nullopt);
    }
    for (InputGroup g : kInputGroups) {
      const auto targeted = [&](std::string_view tn) { return !opt.ggml || opt.ggml_types.count("blk." + std::to_string(l) + "." + std::string(tn)); };
      const auto tensors = input_group_tensors(g);
      if (std::none_of(tensors.begin(), tensors.end(), targeted)) continue;  // the group stays in float
      if (rewrite && (g == InputGroup::attn_in || g == InputGroup::ffn_in)) {
        const std::string prefix = "blk." + std::to_string(l) + ".";
        for (ModelTensor& t : rewrite(l, g, wr, x)) {
          if (t.name.rfind(prefix, 0) != 0) throw_usage("a block rewrite returned '" + t.name + "', not a tensor of block " + std::to_string(l));
          const std::string tn = t.name.substr(prefix.size());
          if (t.ne.size() == 1) {  // a norm: into the runtime and the result
            std::vector<float> v(static_cast<size_t>(t.elements()));
            read_f32(t, v);
            rt.replace_norm(l, tn, v);
            for (auto& o : out.tensors) {
              if (o.name == t.name) o = t;
            }
          } else {
            rt.replace_matrix(l, tn, t);
          }
          rewritten.push_back(std::move(t));
        }
        rt.set_observer(&obs);  // (the rewrite ran its own passes)
      }
      if (opt.progress) opt.progress(l, c.layers, std::string(input_group_name(g)));
      obs.layer = l;
      obs.group = g;
      obs.h.clear();
      for (int64_t w = 0; w < W; ++w) {  // inputs computed with the sub-layers before g quantized
        std::copy_n(x.begin() + w * ctx * D, ctx * D, tmp.begin());
        wr.run_window(l, w, tmp.data(), g);  // up to g's input only
      }
      hessian_symmetrize(obs.h, obs.d);
      // one factorisation for the group's matrices, in the Hessian's own buffer
      const std::string group_name = "blk." + std::to_string(l) + "." + std::string(tensors.front());
      const GptqHessian hf = gptq_factorise(obs.h, obs.d, go, group_name);
      for (std::string_view tn : tensors) {
        const std::string name = "blk." + std::to_string(l) + "." + std::string(tn);
        const ModelTensor* src = source_of(name);
        if (!src || src->ne.size() != 2) throw_bad_input(m.path + ": tensor '" + name + "' is missing");
        GgmlType ggml_type = GgmlType::F32;
        if (opt.ggml) {
          const auto it = opt.ggml_types.find(name);
          if (it == opt.ggml_types.end()) continue;  // kept in float; later groups see it as it is
          ggml_type = it->second;
        }
        // an F32 source is read where it is mapped; others are decoded into a copy
        std::vector<float> wv;
        const float* wdata = nullptr;
        if (src->type == GgmlType::F32 && src->view) {
          const std::span<const uint8_t> bytes = src->view();
          if (bytes.size() == static_cast<size_t>(src->elements()) * 4 && reinterpret_cast<uintptr_t>(bytes.data()) % alignof(float) == 0) {
            wdata = reinterpret_cast<const float*>(bytes.data());
          }
        }
        if (!wdata) {
          wv.resize(static_cast<size_t>(src->elements()));
          read_f32(*src, wv);
          wdata = wv.data();
        }
        const TensorView view{wdata, src->ne[1], src->ne[0], name};
        // a mapped source's rows are let go as GPTQ is done with them: resident once, beside its working copy
        GptqRowsRead rows_read;
        if (wv.empty() && src->release_part) {
          const auto row_bytes = static_cast<uint64_t>(src->ne[0]) * 4;
          rows_read = [src, row_bytes](int64_t r0, int64_t r1) {
            src->release_part(static_cast<uint64_t>(r0) * row_bytes, static_cast<uint64_t>(r1 - r0) * row_bytes);
          };
        }
        ModelTensor q;
        GptqResult r;
        if (opt.ggml) {
          r = gptq_quantize_ggml(view, hf, ggml_type, go, rows_read);
          q = held_ggml_tensor(name, src->ne, ggml_type, std::move(r.blocks));
        } else {
          r = gptq_quantize(view, hf, opt.scheme, go, rows_read);
          q = held_tensor(name, std::move(r.w));
        }
        if (park) q = parked_tensor(q, park);  // the codes wait in the scratch file, not in memory
        wv = {};
        if (src->release) src->release();  // the float source is not read again: its pages may go
        // the runtime multiplies the quantized weights as float32 while it calibrates the rest: the same
        // values, at the F32 kernel's speed whatever the target (3-bit products have no SIMD path)
        auto dense = std::make_shared<std::vector<float>>(std::move(r.values));
        ::malloc_trim(0);  // the sweep's freed buffers back to the system before the next matrix's are made
        rep.layers.push_back({name, opt.ggml ? std::string(ggml_info(ggml_type).name) : scheme_name(opt.scheme), r.loss, r.rtn_loss,
                              r.damp, r.damp_raises, r.dead_columns});
        block_dense.push_back(dense);
        for (auto& t : out.tensors) {
          if (t.name == name) t = q;
        }
        rt.replace_matrix(l, tn, held_f32_tensor(name, src->ne, dense));
      }
    }
    obs.layer = -1;
    if (opt.propagate_float) {
      x.swap(next);
    } else {  // the quantized block's outputs feed the next block
      for (int64_t w = 0; w < W; ++w) wr.run_window(l, w, x.data() + w * ctx * D, std::nullopt);
    }
    // The block is not run again: the runtime lets go of its matrices (the float32 copies of the
    // quantized ones; the others are the source's, mapped or read).
    for (InputGroup g : kInputGroups) {
      for (std::string_view tn : input_group_tensors(g)) rt.drop_matrix(l, tn);
    }
    block_dense.clear();
    rewritten.clear();
    rep.block_seconds.push_back(std::chrono::duration<double>(std::chrono::steady_clock::now() - tb).count());
  }
  rt.set_observer(nullptr);
  rep.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  if (report) *report = std::move(rep);
  return out;
}
}  // namespace calib

}  // namespace vernier
