// vernier inspect — what a model file holds: architecture, tokenizer, tensors, and with --stats the
// numbers that decide granularity.
#include <fmt/format.h>

#include <algorithm>
#include <cmath>
#include <cstring>
#include <optional>
#include <span>
#include <iostream>
#include <map>
#include <memory>
#include <regex>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/model.hpp"
#include "vernier/weight_type.hpp"

namespace vernier::cli {

namespace {
struct InspectOptions {
  std::string path;
  std::string tokenizer;
  bool json = false;
  bool stats = false;
  bool metadata = false;
  std::string tensor_regex;
};

std::string shape_str(const std::vector<int64_t>& ne) {
  std::string s;
  for (size_t i = 0; i < ne.size(); ++i) s += (i ? " × " : "") + std::to_string(ne[i]);
  return s;
}

struct TensorStats {
  double min = 0, max = 0, mean = 0, std = 0, kurtosis = 0;
  double row_range_min = 0, row_range_median = 0, row_range_max = 0;
  std::vector<std::pair<int64_t, double>> outlier_columns;  // column, its max |w| / median column max |w|
};

// One pass over slabs of 32 MiB of float rows decoded from the stored bytes, whose pages are let go as
// it goes: memory stays at a slab and two |w| maxima per row and column, whatever the tensor's size.
// Moments from sums of powers of (w − p), p the first slab's mean: close to the tensor's mean, so the
// expansion into central moments loses no precision that matters at the printed 4 digits.
TensorStats compute_stats(const ModelTensor& t) {
  TensorStats s;
  const int64_t cols = std::max<int64_t>(t.ne.empty() ? 1 : t.ne[0], 1);
  const int64_t rows = t.elements() / cols;
  std::vector<uint8_t> raw;
  const std::span<const uint8_t> bytes = stored_bytes(t, raw);
  const auto* info = ggml_type_info(t.type);
  const std::optional<int64_t> row_bytes = info ? ggml_row_bytes(*info, cols) : std::nullopt;
  if (!row_bytes) throw_bad_input(t.name + ": cannot decode its stored type by rows");
  const int64_t slab = std::max<int64_t>(1, static_cast<int64_t>((32ull << 20) / (static_cast<uint64_t>(cols) * 4)));
  std::vector<float> w;
  std::vector<double> row_abs(static_cast<size_t>(rows), 0.0), col_abs(static_cast<size_t>(cols), 0.0);
  double lo = INFINITY, hi = -INFINITY, pivot = 0, s1 = 0, s2 = 0, s3 = 0, s4 = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += slab) {
    const int64_t n = std::min(slab, rows - r0);
    w.resize(static_cast<size_t>(n * cols));
    const uint8_t* src = bytes.data() + static_cast<uint64_t>(r0) * static_cast<uint64_t>(*row_bytes);
    if (t.type == GgmlType::F32) std::memcpy(w.data(), src, w.size() * 4);
    else ggml_dequantize(t.type, src, w.data(), n * cols);
    if (r0 == 0) {
      double sum = 0;
      for (float v : w) sum += v;
      pivot = w.empty() ? 0 : sum / static_cast<double>(w.size());
    }
    for (int64_t r = 0; r < n; ++r) {
      double& ra = row_abs[static_cast<size_t>(r0 + r)];
      for (int64_t c = 0; c < cols; ++c) {
        const double v = w[static_cast<size_t>(r * cols + c)];
        lo = std::min(lo, v);
        hi = std::max(hi, v);
        const double d = v - pivot, d2 = d * d;
        s1 += d;
        s2 += d2;
        s3 += d2 * d;
        s4 += d2 * d2;
        const double a = std::fabs(v);
        ra = std::max(ra, a);
        col_abs[static_cast<size_t>(c)] = std::max(col_abs[static_cast<size_t>(c)], a);
      }
    }
    if (t.view && t.release_part) t.release_part(static_cast<uint64_t>(r0) * *row_bytes, static_cast<uint64_t>(n) * *row_bytes);
  }
  if (rows == 0) return s;
  const double count = static_cast<double>(rows * cols);
  const double mu = s1 / count, e2 = s2 / count, e3 = s3 / count, e4 = s4 / count;
  const double m2 = std::max(0.0, e2 - mu * mu);
  const double m4 = std::max(0.0, e4 - 4 * mu * e3 + 6 * mu * mu * e2 - 3 * mu * mu * mu * mu);
  s.mean = pivot + mu;
  s.min = lo;
  s.max = hi;
  s.std = std::sqrt(m2);
  s.kurtosis = m2 > 0 ? m4 / (m2 * m2) : 0;
  std::vector<double> sorted = row_abs;
  std::sort(sorted.begin(), sorted.end());
  s.row_range_min = sorted.front();
  s.row_range_max = sorted.back();
  s.row_range_median = sorted[sorted.size() / 2];
  if (rows > 1) {
    std::vector<double> cs = col_abs;
    std::sort(cs.begin(), cs.end());
    const double med = cs[cs.size() / 2];
    std::vector<int64_t> idx(static_cast<size_t>(cols));
    for (int64_t c = 0; c < cols; ++c) idx[static_cast<size_t>(c)] = c;
    std::partial_sort(idx.begin(), idx.begin() + std::min<int64_t>(3, cols), idx.end(),
                      [&](int64_t a, int64_t b) { return col_abs[static_cast<size_t>(a)] > col_abs[static_cast<size_t>(b)]; });
    for (int64_t i = 0; i < std::min<int64_t>(3, cols); ++i) {
      s.outlier_columns.push_back({idx[static_cast<size_t>(i)], med > 0 ? col_abs[static_cast<size_t>(idx[static_cast<size_t>(i)])] / med : 0});
    }
  }
  return s;
}

void run_inspect(const InspectOptions& opt) {
  const Model m = open_model(opt.path, opt.tokenizer);
  std::optional<std::regex> re;
  if (!opt.tensor_regex.empty()) {
    try {
      re.emplace(opt.tensor_regex);
    } catch (const std::regex_error& e) {
      throw_usage("bad --tensor regular expression '" + opt.tensor_regex + "': " + e.what());
    }
  }
  const LlamaConfig& c = m.config;
  std::map<std::string, std::pair<int64_t, uint64_t>> per_type;  // type → (params, bytes)
  int64_t params = 0;
  uint64_t bytes = 0;
  // a quantized checkpoint's layers: their scheme and their stored bytes, not the float32 that read() gives
  const auto type_of = [](const ModelTensor& t) { return t.weight_type().name() + (t.input_perm ? " (act order)" : ""); };
  const auto bytes_of = [](const ModelTensor& t) { return t.scheme ? t.scheme->bytes() : t.nbytes; };
  for (const auto& t : m.tensors) {
    const std::string tn = t.weight_type().name();
    per_type[tn].first += t.elements();
    per_type[tn].second += bytes_of(t);
    params += t.elements();
    bytes += bytes_of(t);
  }
  std::vector<std::pair<const ModelTensor*, TensorStats>> stats;
  if (opt.stats) {  // quantized tensors dequantized on the fly: the statistics of what the model computes with
    std::vector<const ModelTensor*> chosen;
    for (const auto& t : m.tensors) {
      if (!re || std::regex_search(t.name, *re)) chosen.push_back(&t);
    }
    Progress progress(opt.json);
    for (size_t i = 0; i < chosen.size(); ++i) {
      progress.update(static_cast<int64_t>(i), static_cast<int64_t>(chosen.size()),
                      fmt::format("[{}/{}] statistics of {}", i + 1, chosen.size(), chosen[i]->name));
      stats.emplace_back(chosen[i], compute_stats(*chosen[i]));
    }
  }

  if (opt.json) {
    nlohmann::json j;
    j["path"] = m.path;
    j["format"] = m.source_format;
    if (!m.layout.empty()) j["layout"] = m.layout;
    j["warnings"] = m.warnings;
    j["architecture"] = c.architecture;
    j["name"] = c.name;
    j["hparams"] = {{"dim", c.dim}, {"ffn", c.ffn}, {"layers", c.layers}, {"heads", c.heads}, {"kv_heads", c.kv_heads},
                    {"head_dim", c.head_dim()}, {"vocab", c.vocab}, {"context", c.context}, {"rope_dim", c.rope_dim},
                    {"rope_theta", c.rope_theta}, {"rms_eps", c.rms_eps}, {"tied_embeddings", c.tied_embeddings}};
    j["tokenizer"] = {{"model", m.tokenizer.model}, {"tokens", m.tokenizer.tokens.size()}};
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : m.tensors) {
      tensors.push_back({{"name", t.name}, {"shape", t.ne}, {"type", t.weight_type().name()}, {"act_order", t.input_perm != nullptr},
                         {"bytes", bytes_of(t)},
                         {"bits_per_weight", 8.0 * static_cast<double>(bytes_of(t)) / static_cast<double>(std::max<int64_t>(1, t.elements()))}});
    }
    j["tensors"] = tensors;
    j["params"] = params;
    j["bytes"] = bytes;
    nlohmann::json pt = nlohmann::json::object();
    for (const auto& [k, v] : per_type) pt[k] = {{"params", v.first}, {"bytes", v.second}};
    j["per_type"] = pt;
    if (m.source_format == "gguf") {
      nlohmann::json md = nlohmann::json::object();
      for (const auto& [k, v] : m.gguf_metadata) md[k] = v.to_display();
      j["metadata"] = md;
    }
    if (opt.stats) {
      nlohmann::json sj = nlohmann::json::array();
      for (const auto& [t, s] : stats) {
        nlohmann::json oc = nlohmann::json::array();
        for (const auto& [col, ratio] : s.outlier_columns) oc.push_back({{"column", col}, {"ratio_to_median", ratio}});
        sj.push_back({{"name", t->name}, {"stored", type_of(*t)}, {"dequantized", !ggml_type_info(t->type)->is_float || t->held_as_scheme()}, {"min", s.min}, {"max", s.max}, {"mean", s.mean}, {"std", s.std},
                      {"kurtosis", s.kurtosis}, {"row_absmax_min", s.row_range_min}, {"row_absmax_median", s.row_range_median},
                      {"row_absmax_max", s.row_range_max}, {"outlier_columns", oc}});
      }
      j["stats"] = sj;
    }
    print_json(j);
    return;
  }

  std::ostream& out = std::cout;
  out << fmt::format("{} ({}{}): {}\n", printable(m.path), m.source_format, m.layout.empty() ? "" : ", " + m.layout + " layout", printable(c.architecture));
  out << fmt::format("  dim {}, FFN {}, {} layers, {} heads ({} KV, head dim {}), vocab {}, context {}\n", c.dim, c.ffn,
                     c.layers, c.heads, c.kv_heads, c.head_dim(), c.vocab, c.context);
  out << fmt::format("  RoPE dims {}, theta {}, RMSNorm eps {}, {} embeddings\n", c.rope_dim, num(c.rope_theta, 6),
                     num(c.rms_eps, 3), c.tied_embeddings ? "tied" : "separate");
  if (m.tokenizer.model.empty()) {
    out << "  tokenizer: none found\n";
  } else {
    const TokenizerSpec& tk = m.tokenizer;
    out << fmt::format("  tokenizer: {}", printable(tk.model));
    if (!tk.tokens.empty()) out << fmt::format(", {} tokens", tk.tokens.size());
    if (tk.bos) out << fmt::format(", BOS {}", *tk.bos);
    if (tk.eos) out << fmt::format(", EOS {}", *tk.eos);
    if (!tk.merges.empty()) out << fmt::format(", {} merges", tk.merges.size());
    out << "\n";
  }
  if (opt.metadata && m.source_format == "gguf") {
    out << "\nmetadata\n";
    Table md;
    md.header = {"key", "type", "value"};
    md.left_tail = 2;
    for (const auto& [k, v] : m.gguf_metadata) md.rows.push_back({k, std::string(gguf_type_name(v.type)), v.to_display()});
    md.print(out, "  ");
  }
  out << "\ntensors (shape as GGUF gives it: row length first)\n";
  Table t;
  t.header = {"name", "shape", "type", "bytes", "bits/w"};
  for (const auto& x : m.tensors) {
    if (re && !std::regex_search(x.name, *re)) continue;
    t.rows.push_back({x.name, shape_str(x.ne), type_of(x), grouped(bytes_of(x)),
                      fixed(8.0 * static_cast<double>(bytes_of(x)) / static_cast<double>(std::max<int64_t>(1, x.elements())), 3)});
  }
  t.print(out, "  ");
  out << "\ntotals\n";
  Table tt;
  tt.header = {"type", "params", "bytes"};
  for (const auto& [k, v] : per_type) tt.rows.push_back({k, grouped(static_cast<uint64_t>(v.first)), grouped(v.second)});
  tt.rows.push_back({"all", grouped(static_cast<uint64_t>(params)), grouped(bytes)});
  tt.print(out, "  ");
  if (opt.stats) {
    out << "\nstatistics (quantized tensors dequantized; row absmax: the range a per-channel scale must cover; outlier\n"
           "columns: largest column absmax over the median column absmax, what per-group scales and AWQ react to)\n";
    Table st;
    st.header = {"name", "stored as", "min", "max", "std", "kurtosis", "row absmax min/med/max", "outlier columns"};
    for (const auto& [x, s] : stats) {
      std::string oc;
      for (const auto& [col, ratio] : s.outlier_columns) oc += fmt::format("{}{} ({:.1f}x)", oc.empty() ? "" : ", ", col, ratio);
      st.rows.push_back({x->name, type_of(*x), num(s.min, 3), num(s.max, 3), num(s.std, 3), fixed(s.kurtosis, 1),
                         fmt::format("{} / {} / {}", num(s.row_range_min, 3), num(s.row_range_median, 3), num(s.row_range_max, 3)),
                         oc.empty() ? "-" : oc});
    }
    st.left_tail = 1;
    st.print(out, "  ");
  }
}
}  // namespace

void add_inspect_command(CLI::App& app) {
  auto opt = std::make_shared<InspectOptions>();
  CLI::App* cmd = app.add_subcommand(
      "inspect", "Show a model file: architecture, tokenizer, tensors (GGUF, safetensors directory — GPTQ, AWQ, compressed-tensors "
                 "and bitsandbytes checkpoints name their layout and each layer's scheme — llama2.c .bin)");
  cmd->add_option("model", opt->path, "Model: a .gguf file, a Hugging Face directory or a llama2.c .bin")->required();
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  cmd->add_flag("--stats", opt->stats, "Per-tensor statistics: min/max/mean/std/kurtosis, row ranges, outlier columns");
  cmd->add_option("--tensor", opt->tensor_regex, "Only tensors whose name matches this regular expression");
  cmd->add_flag("--metadata", opt->metadata, "List every GGUF metadata key");
  add_json_flag(cmd, opt->json, "everything");
  cmd->callback([opt] { run_inspect(*opt); });
}

}  // namespace vernier::cli
