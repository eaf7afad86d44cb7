// compare_models: every (weight type, method) combination quantized in memory and measured against
// the source model on the same tokens.
#include "vernier/compare.hpp"

#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <filesystem>
#include <fstream>
#include <iterator>

#include "vernier/awq_model.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/hf_layout.hpp"
#include "vernier/imatrix_collect.hpp"
#include "vernier/llama_runtime.hpp"
#include "vernier/metrics.hpp"
#include "vernier/nf4.hpp"
#include "vernier/quantize_in_memory.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

namespace {
using Clock = std::chrono::steady_clock;
double since(Clock::time_point t) { return std::chrono::duration<double>(Clock::now() - t).count(); }

// Resets the process's peak RSS (VmHWM) to its current RSS, so the next reading is this row's own
// (Linux ≥ 4.0: writing 5 to /proc/self/clear_refs). Where it cannot, the figure stays the process's.
void reset_peak_rss() {
  const int fd = ::open("/proc/self/clear_refs", O_WRONLY);
  if (fd < 0) return;
  [[maybe_unused]] const ssize_t n = ::write(fd, "5", 1);
  ::close(fd);
}

std::string read_text(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(ErrorKind::io, path + ": cannot open");
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// Scheme's asymmetric integer range under AWQ (its own quantizer: min and max not widened to include 0).
Scheme awq_rule(Scheme s) {
  if (s.mode == AffineMode::asymmetric && format_info(s.format).kind == FormatKind::integer) s.range = AsymRange::min_max;
  return s;
}

// Why `method` cannot make `t` ("" when it can), checked before any work.
std::string unsupported(CompareMethod method, const WeightType& t, const Model& m) {
  const bool integer = t.is_scheme() && format_info(t.as_scheme().format).kind == FormatKind::integer;
  if (t.is_ggml()) {
    const GgmlTypeInfo& ti = t.ggml_info();
    for (const ModelTensor& x : m.tensors) {
      if (is_block_linear(x.name) && !x.ne.empty() && x.ne[0] % ti.block_size != 0) {
        return "'" + x.name + "' has rows of " + std::to_string(x.ne[0]) + " values, not whole " + std::string(ti.name) + " blocks of " +
               std::to_string(ti.block_size);
      }
    }
  }
  switch (method) {
    case CompareMethod::rtn: return "";
    case CompareMethod::imatrix:
      return t.is_ggml() ? "" : "imatrix weighs the scale searches of GGML types; " + t.name() + " has none";
    case CompareMethod::gptq:
    case CompareMethod::awq_gptq:
      if (t.is_ggml()) return gptq_can_make(t.ggml()) ? "" : "GPTQ does not make " + t.name();
      if (!integer) return "GPTQ makes integer schemes; " + t.name() + " is not one";
      if (t.as_scheme().granularity == Granularity::per_tensor && method == CompareMethod::awq_gptq) {
        return "AWQ needs per-channel or per-group scales";
      }
      return "";
    case CompareMethod::awq:
      if (t.is_ggml()) return "";
      if (!integer) return "AWQ makes integer schemes; " + t.name() + " is not one";
      if (t.as_scheme().granularity == Granularity::per_tensor) return "AWQ needs per-channel or per-group scales";
      return "";
  }
  return "";
}

std::map<std::string, GgmlType> every_block_linear(const Model& m, GgmlType type) {
  std::map<std::string, GgmlType> out;
  for (const ModelTensor& t : m.tensors)
    if (is_block_linear(t.name)) out[t.name] = type;
  return out;
}

ImportanceMatrix importance_of(const ImatrixStats& s) {
  ImportanceMatrix im;
  for (const auto& [name, sum2] : s.sum2) {
    const auto it = s.counts.find(name);
    const double n = it == s.counts.end() ? 0.0 : static_cast<double>(it->second);
    std::vector<float> w(sum2.size(), 1.0f);  // no tokens seen: weight 1 (llama-quantize's reading)
    if (n > 0)
      for (size_t j = 0; j < w.size(); ++j) w[j] = static_cast<float>(sum2[j] / n);
    im.weights[name] = std::move(w);
  }
  im.chunks = s.chunks;
  return im;
}

std::vector<float> f32_of(const ModelTensor& t) {
  std::vector<float> v(static_cast<size_t>(t.elements()));
  read_f32(t, v);
  return v;
}

// Per block matrix: bytes as the type stores them, and the weight SQNR of `q` against `ref` (the float
// weights the quantizer was given).
void measure_tensors(const Model& ref, const Model& q, const WeightType& t, CompareRow& row) {
  int64_t elements = 0;
  row.matrix_bytes = 0;
  for (const ModelTensor& x : q.tensors) {
    if (!is_block_linear(x.name)) continue;
    const int64_t cols = x.ne[0], rows = x.ne.size() > 1 ? x.ne[1] : 1;
    row.matrix_bytes += t.storage_bytes(rows, cols).value_or(0);
    elements += rows * cols;
    CompareTensor ct{x.name};
    if (const ModelTensor* r = ref.find(x.name)) {
      const std::vector<float> a = f32_of(*r), b = f32_of(x);
      ct.sqnr_db = error_stats(a, b).sqnr_db;
    }
    row.tensors.push_back(std::move(ct));
  }
  row.bits_per_weight = elements ? 8.0 * static_cast<double>(row.matrix_bytes) / static_cast<double>(elements) : 0;
}

void attach_gptq_losses(const GptqModelReport& r, CompareRow& row) {
  for (const GptqLayerReport& l : r.layers) {
    for (CompareTensor& t : row.tensors) {
      if (t.name == l.name) {
        t.loss = l.loss;
        t.rtn_loss = l.rtn_loss;
      }
    }
  }
}

double decode_speed(const Model& m, const std::vector<int32_t>& prompt, const CompareOptions& opt) {
  if (opt.decode_tokens <= 0 || prompt.empty()) return 0;
  RuntimeOptions ro;
  ro.context = std::min<int64_t>(opt.decode_tokens + 1, m.config.context > 0 ? m.config.context : opt.decode_tokens + 1);
  ro.threads = opt.threads;
  ro.isa = opt.isa;
  ro.activations = opt.activations;
  ro.max_batch = 1;
  LlamaRuntime rt(m, ro);
  const int64_t steps = std::min<int64_t>(opt.decode_tokens, ro.context);
  int32_t token = prompt.front();
  Clock::time_point t0 = Clock::now();
  for (int64_t pos = 0; pos < steps; ++pos) {
    if (pos == 1) t0 = Clock::now();  // the first step warms the caches: not timed
    const std::span<const float> logits = rt.forward(token, pos);
    token = static_cast<int32_t>(std::max_element(logits.begin(), logits.end()) - logits.begin());
  }
  const double s = since(t0);
  return steps > 1 && s > 0 ? static_cast<double>(steps - 1) / s : 0;
}

std::vector<float> e4m3_values() {
  std::vector<float> v;
  for (int c = 0; c < 256; ++c) {
    const float x = fp8_e4m3_to_float(static_cast<uint8_t>(c));
    if (std::isfinite(x)) v.push_back(x / 448.0f);
  }
  std::sort(v.begin(), v.end());
  v.erase(std::unique(v.begin(), v.end()), v.end());
  return v;
}

// The histogram of the first FFN down projection (the matrix with the heaviest tails in LLaMA blocks).
WeightHistogram histogram_of(const Model& m) {
  WeightHistogram h;
  const ModelTensor* t = m.find("blk.0.ffn_down.weight");
  if (!t)
    for (const ModelTensor& x : m.tensors)
      if (is_block_linear(x.name)) { t = &x; break; }
  if (!t) return h;
  h.tensor = t->name;
  const std::vector<float> w = f32_of(*t);
  const int64_t cols = t->ne[0];
  const int64_t g = cols % h.group == 0 ? h.group : cols;
  h.group = g;
  constexpr int kBins = 101;  // odd: a bin centred on 0
  h.counts.assign(kBins, 0.0);
  for (size_t start = 0; start + static_cast<size_t>(g) <= w.size(); start += static_cast<size_t>(g)) {
    float amax = 0;
    for (int64_t i = 0; i < g; ++i) amax = std::max(amax, std::fabs(w[start + i]));
    if (!(amax > 0)) continue;
    for (int64_t i = 0; i < g; ++i) {
      const double x = w[start + i] / amax;  // in [-1, 1]
      const int bin = std::clamp(static_cast<int>(std::floor((x + 1.0) / 2.0 * kBins)), 0, kBins - 1);
      h.counts[bin] += 1;
    }
  }
  for (int k = -7; k <= 7; ++k) h.int4.push_back(k / 7.0);
  for (float x : kNf4Levels) h.nf4.push_back(x);
  for (float x : e4m3_values()) h.fp8_e4m3.push_back(x);
  return h;
}

// The source model's logits at every scored position, saved once for every row's KL divergence where
// they are small enough to keep on disk; removed when the comparison ends.
struct BaseLogits {
  std::string path;
  ~BaseLogits() {
    if (!path.empty()) std::filesystem::remove(path);
  }
};
}  // namespace

CompareMethod parse_compare_method(std::string_view name) {
  if (name == "rtn") return CompareMethod::rtn;
  if (name == "imatrix") return CompareMethod::imatrix;
  if (name == "gptq") return CompareMethod::gptq;
  if (name == "awq") return CompareMethod::awq;
  if (name == "awq+gptq") return CompareMethod::awq_gptq;
  throw_usage("unknown method '" + std::string(name) + "' (expected rtn, imatrix, gptq, awq or awq+gptq)");
}

std::string_view compare_method_name(CompareMethod m) {
  switch (m) {
    case CompareMethod::rtn: return "rtn";
    case CompareMethod::imatrix: return "imatrix";
    case CompareMethod::gptq: return "gptq";
    case CompareMethod::awq: return "awq";
    case CompareMethod::awq_gptq: return "awq+gptq";
  }
  return "?";
}

bool compare_method_calibrated(CompareMethod m) { return m != CompareMethod::rtn; }

std::string layouts_of(const WeightType& t) {
  if (t.is_ggml()) return "GGUF";
  std::string out;
  for (HfLayout l : {HfLayout::gptq, HfLayout::awq, HfLayout::compressed_tensors, HfLayout::bnb}) {
    try {
      (void)hf_layout_scheme(l, t.as_scheme());
      out += (out.empty() ? "" : ", ") + std::string(hf_layout_name(l));
    } catch (const Error&) {
    }
  }
  return out.empty() ? "vernier (in memory)" : out;
}

void mark_pareto(std::vector<CompareRow>& rows) {
  for (CompareRow& r : rows) {
    r.pareto = false;
    if (r.status != "ok") continue;
    bool dominated = false;
    for (const CompareRow& o : rows) {
      if (&o == &r || o.status != "ok") continue;
      const bool no_worse = o.bits_per_weight <= r.bits_per_weight && o.kld.mean <= r.kld.mean;
      const bool better = o.bits_per_weight < r.bits_per_weight || o.kld.mean < r.kld.mean;
      if (no_worse && better) dominated = true;
    }
    r.pareto = !dominated;
  }
}

CompareResult compare_models(const Model& source, const CompareOptions& opt) {
  const Clock::time_point start = Clock::now();
  if (opt.types.empty()) throw_usage("compare: no weight types to compare");
  if (opt.methods.empty()) throw_usage("compare: no methods to compare");
  if (opt.text.empty()) throw_usage("compare: the evaluation text is empty");
  std::vector<WeightType> types;
  for (const std::string& n : opt.types) types.push_back(parse_weight_type(n));  // every name checked before any work
  const bool calibrated = !opt.calib.text_path.empty() || !opt.calib.tokens_path.empty();

  CompareResult res;
  res.model = source.path;
  res.config = source.config;
  res.threads = opt.threads;
  res.histogram = histogram_of(source);
  for (KvType k : {KvType::f32, KvType::f16, KvType::bf16, KvType::q8_0, KvType::int8, KvType::fp8_e4m3, KvType::q4_0, KvType::int4}) {
    const int64_t hd = source.config.head_dim();
    const auto row = kv_weight_type(k, hd).storage_bytes(source.config.kv_heads, hd);
    res.kv.push_back({std::string(kv_type_name(k)), 2.0 * static_cast<double>(source.config.layers) * static_cast<double>(row.value_or(0))});
  }

  const size_t count = types.size() * opt.methods.size();
  // the work's shares for the overall fraction: the base run, then per combination quantize and evaluate
  const double share = 1.0 / static_cast<double>(count + 1);
  auto report = [&](size_t index, const std::string& what, double within) {
    if (opt.progress) opt.progress(index, count, what, std::min(1.0, share * (static_cast<double>(index) + 1.0 + within)));
  };

  PerplexityOptions p;
  p.protocol = opt.protocol;
  p.ctx = opt.ctx;
  p.max_chunks = opt.chunks;
  p.batch = opt.batch;
  p.threads = opt.threads;
  p.isa = opt.isa;
  p.activations = opt.activations;
  // the base run: its PPL, and its logits kept for every row when they fit in 2 GiB of scratch disk
  const Tokenizer tok(source.tokenizer);
  const std::vector<int32_t> ids = tok.encode(opt.text, true, false);
  const int64_t windows = static_cast<int64_t>(ids.size()) / std::max<int64_t>(opt.ctx, 1);  // either protocol: whole windows of ctx
  const double logit_bytes = static_cast<double>(windows) * static_cast<double>(opt.ctx) * static_cast<double>(source.config.vocab) * 4.0;
  BaseLogits base_logits;
  PerplexityOptions bp = p;
  if (logit_bytes < 2.0 * (1ull << 30)) {
    base_logits.path = (std::filesystem::temp_directory_path() / ("vernier-compare-" + std::to_string(::getpid()) + ".logits")).string();
    bp.save_logits = base_logits.path;
    bp.overwrite = true;
  }
  bp.progress = [&](int64_t c, int64_t n, double) { if (opt.progress) opt.progress(0, count, "float model " + std::to_string(c + 1) + "/" + std::to_string(n), share * double(c + 1) / double(n)); };
  reset_peak_rss();
  Clock::time_point t0 = Clock::now();
  const PerplexityResult br = perplexity(source, opt.text, bp, nullptr);
  const ModelTensor* q0 = source.find("blk.0.attn_q.weight");
  res.base.type = q0 ? q0->weight_type().name() : "?";
  res.base.method = "-";
  res.base.layouts = source.source_format;
  res.base.ppl = br.ppl;
  res.base.ppl_stderr = br.ppl_stderr;
  res.base.eval_seconds = since(t0);
  res.base.resident_bytes = br.resident_weight_bytes;
  res.base.decode_tokens_per_second = decode_speed(source, ids, opt);
  res.base.peak_rss_bytes = peak_rss_bytes();
  res.isa = br.kernel_isa;
  res.text_tokens = br.text_tokens;
  res.scored = br.scored;
  {
    CompareRow& b = res.base;
    for (const ModelTensor& x : source.tensors) {
      if (!is_block_linear(x.name)) continue;
      b.matrix_bytes += x.nbytes;
      b.tensors.push_back({x.name});
    }
    int64_t el = 0;
    for (const ModelTensor& x : source.tensors) el += is_block_linear(x.name) ? x.elements() : 0;
    b.bits_per_weight = el ? 8.0 * static_cast<double>(b.matrix_bytes) / static_cast<double>(el) : 0;
  }

  std::vector<std::vector<int32_t>> windows_cache;
  std::optional<ImportanceMatrix> imatrix;
  size_t index = 0;
  for (const WeightType& t : types) {
    for (CompareMethod method : opt.methods) {
      CompareRow row;
      row.type = t.name();
      row.method = std::string(compare_method_name(method));
      row.layouts = layouts_of(t);
      const std::string why = unsupported(method, t, source);
      if (!why.empty() || (compare_method_calibrated(method) && !calibrated)) {
        row.status = "skipped";
        row.note = !why.empty() ? why : "needs calibration text (--calib)";
        res.rows.push_back(std::move(row));
        ++index;
        continue;
      }
      try {
        reset_peak_rss();
        report(index, row.type + " " + row.method + ": quantizing", 0);
        const Clock::time_point tq = Clock::now();
        if (compare_method_calibrated(method) && method != CompareMethod::imatrix && windows_cache.empty()) {
          windows_cache = calibration_windows(source, opt.calib);
        }
        auto block_progress = [&](int64_t l, int64_t n, const std::string& what) {
          report(index, row.type + " " + row.method + ": block " + std::to_string(l + 1) + "/" + std::to_string(n) + " " + what,
                 0.5 * static_cast<double>(l) / static_cast<double>(std::max<int64_t>(n, 1)));
        };
        Model q;
        const Model* ref = &source;  // the float weights the quantizer was given (AWQ: the scaled model)
        Model scaled;
        GptqModelReport gr;
        InMemoryOptions im;
        im.threads = opt.threads;
        switch (method) {
          case CompareMethod::rtn:
            im.type = t.is_scheme() ? WeightType::scheme(t.as_scheme()) : t;
            q = quantize_in_memory(source, im);
            break;
          case CompareMethod::imatrix: {
            if (!imatrix) {
              const std::string calib_text = read_text(opt.calib.text_path.empty() ? opt.calib.tokens_path : opt.calib.text_path);
              imatrix = importance_of(collect_imatrix(source, calib_text, opt.calib.ctx, opt.calib.windows, opt.threads, {}, KvType::f32, opt.isa));
            }
            im.type = t;
            im.method = &imatrix_method();
            im.imatrix = &*imatrix;
            q = quantize_in_memory(source, im);
            break;
          }
          case CompareMethod::gptq:
          case CompareMethod::awq_gptq: {
            GptqModelOptions go;
            go.gptq = opt.gptq;
            go.threads = opt.threads;
            go.progress = block_progress;
            if (t.is_ggml()) {
              go.ggml = true;
              go.ggml_types = every_block_linear(source, t.ggml());
            } else {
              go.scheme = method == CompareMethod::awq_gptq ? awq_rule(t.as_scheme()) : t.as_scheme();
            }
            if (method == CompareMethod::gptq) {
              q = gptq_quantize_model(source, windows_cache, go, &gr);
            } else {
              AwqOptions ao = opt.awq;
              ao.clip = false;  // eval's default under awq+gptq (GPTQ compensates against the unclipped weights)
              q = awq_gptq_quantize_model(source, windows_cache, go, ao, nullptr, &gr);
              ref = nullptr;    // the scaled float weights GPTQ quantized are not kept: SQNR not known
            }
            break;
          }
          case CompareMethod::awq: {
            AwqModelOptions ao;
            ao.awq = opt.awq;
            ao.threads = opt.threads;
            ao.progress = block_progress;
            AwqModelReport ar;
            if (t.is_ggml()) {
              ao.ggml = true;
              ao.ggml_types = every_block_linear(source, t.ggml());
              scaled = awq_scale_model(source, windows_cache, ao, &ar);
              im.type = t;
              im.method = &imatrix_method();
              im.imatrix = &ar.importance;
              q = quantize_in_memory(scaled, im);
            } else {
              ao.scheme = awq_rule(t.as_scheme());
              scaled = awq_scale_model(source, windows_cache, ao, &ar);
              im.type = WeightType::scheme(ao.scheme);
              q = quantize_in_memory(scaled, im);
            }
            ref = &scaled;
            break;
          }
        }
        row.quant_seconds = since(tq);
        measure_tensors(ref ? *ref : q, q, t, row);
        if (!ref)
          for (CompareTensor& x : row.tensors) x.sqnr_db = std::numeric_limits<double>::quiet_NaN();
        attach_gptq_losses(gr, row);
        PerplexityOptions ep = p;
        ep.base_logits = base_logits.path;
        ep.progress = [&](int64_t c, int64_t n, double) {
          report(index, row.type + " " + row.method + ": evaluating " + std::to_string(c + 1) + "/" + std::to_string(n),
                 0.5 + 0.45 * double(c + 1) / double(n));
        };
        const Clock::time_point te = Clock::now();
        const PerplexityResult r = perplexity(q, opt.text, ep, base_logits.path.empty() ? &source : nullptr);
        row.eval_seconds = since(te);
        row.ppl = r.ppl;
        row.ppl_stderr = r.ppl_stderr;
        row.kld = r.kld;
        row.resident_bytes = r.resident_weight_bytes;
        report(index, row.type + " " + row.method + ": decoding", 0.95);
        row.decode_tokens_per_second = decode_speed(q, ids, opt);
        row.peak_rss_bytes = peak_rss_bytes();
      } catch (const std::exception& e) {  // a vernier Error or an allocation that failed: this row only
        row.status = "failed";
        row.note = e.what();
        row.tensors.clear();
      }
      res.rows.push_back(std::move(row));
      ++index;
    }
  }
  mark_pareto(res.rows);
  res.seconds = since(start);
  return res;
}

}  // namespace vernier
