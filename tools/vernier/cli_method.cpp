// --method and its calibration options, shared by quantize (with --layout) and eval/run (--scheme).
#include <fmt/format.h>

#include <filesystem>
#include <iostream>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/gptq.hpp"
#include "vernier/llama_runtime.hpp"

namespace vernier::cli {

void add_method_options(CLI::App* cmd, MethodCli& m) {
  cmd->add_option("--method", m.method,
                  "How the codes are chosen: rtn (round to nearest); gptq (calibrated, Hessian error compensation, for integer "
                  "schemes and the GGML types Q4_0 … Q8_0, Q2_K … Q6_K, IQ4_NL, IQ4_XS); awq (calibrated, activation-aware scales "
                  "folded into the model and clipping, then round to nearest; integer schemes and GGML types); awq+gptq (GPTQ, "
                  "each block's attention and FFN scales searched by AWQ just before GPTQ quantizes them, every candidate judged "
                  "by the weights GPTQ makes of it). The calibrated ones need --calib or --calib-tokens")
      ->capture_default_str();
  cmd->add_option("--quantizer", m.quantizer,
                  "Asymmetric integer schemes: awq (AWQ's quantizer: min and max as they are, not widened to include 0) or "
                  "vernier (widened, as GPTQ's); default: awq under --method awq/awq+gptq, vernier otherwise");
  cmd->add_flag("--awq-duo", m.awq.duo, "AWQ: AutoAWQ's duo scaling, s = x̄^α / w̄^(1−α)");
  cmd->add_option("--awq-clip", m.awq_clip,
                  "AWQ: the clip search, on or off; default on under --method awq, off under awq+gptq (GPTQ compensates "
                  "the rounding against the unclipped weights, and clipping first made it worse in every measured case)");
  cmd->add_option("--awq-grid", m.awq.grid, "AWQ: scale candidates α = i/N, i < N, and the clip ratios' step 1/N")->capture_default_str();
  cmd->add_option("--awq-clip-tokens", m.awq.clip_tokens, "AWQ: tokens sampled (strided) for the clip search")->capture_default_str();
  cmd->add_option("--calib", m.calib.text_path, "GPTQ: calibration text, tokenized with the model's tokenizer");
  cmd->add_option("--calib-tokens", m.calib.tokens_path, "GPTQ: calibration token ids (whitespace-separated integers)");
  cmd->add_option("--calib-ctx", m.calib.ctx, "GPTQ: tokens per calibration window")->capture_default_str();
  cmd->add_option("--calib-windows", m.calib.windows, "GPTQ: calibration windows (the first N)")->capture_default_str();
  cmd->add_option("--calib-batch", m.calib_batch,
                  "GPTQ: tokens per calibration pass (a window runs in chunks of N; the runtime's buffers grow with N)")
      ->capture_default_str();
  cmd->add_option("--calib-sample", m.sample, "GPTQ: which windows: first or random")->capture_default_str();
  cmd->add_option("--seed", m.calib.seed, "GPTQ: seed of --calib-sample random")->capture_default_str();
  cmd->add_option("--damp", m.gptq.damp, "GPTQ: damping, a fraction of mean(diag H)")->capture_default_str();
  cmd->add_option("--block", m.gptq.block, "GPTQ: columns per lazy batch update")->capture_default_str();
  cmd->add_flag("--act-order", m.gptq.act_order, "GPTQ: quantize columns by decreasing Hessian diagonal (desc_act, g_idx)");
  cmd->add_flag("--static-groups", m.gptq.static_groups, "GPTQ: group scales from the weights before the sweep");
  cmd->add_option("--propagate", m.propagate,
                  "What feeds block l+1: quantized (the quantized block's outputs; the default of gptq and awq+gptq) or float (the "
                  "float block's; the default of awq, as the authors run it)");
}

MethodPlan method_plan(const MethodCli& m) {
  MethodPlan p;
  if (m.method == "gptq") p.gptq = true;
  else if (m.method == "awq") p.awq = true;
  else if (m.method == "awq+gptq") p.awq = p.gptq = true;
  else if (m.method != "rtn") throw_usage("unknown --method '" + m.method + "' (expected rtn, gptq, awq or awq+gptq)");
  if (!m.quantizer.empty() && m.quantizer != "awq" && m.quantizer != "vernier") throw_usage("--quantizer is awq or vernier");
  if (!p.calibrated()) {
    if (!m.calib.text_path.empty() || !m.calib.tokens_path.empty() || m.gptq.act_order || m.gptq.static_groups) {
      throw_usage("--calib, --calib-tokens, --act-order and --static-groups go with --method gptq, awq or awq+gptq");
    }
    return p;
  }
  if (!p.gptq && (m.gptq.act_order || m.gptq.static_groups)) throw_usage("--act-order and --static-groups are GPTQ's (--method gptq or awq+gptq)");
  const AwqOptions awq_defaults;
  if (!p.awq && (m.awq.duo || !m.awq_clip.empty() || m.awq.grid != awq_defaults.grid || m.awq.clip_tokens != awq_defaults.clip_tokens)) {
    throw_usage("--awq-duo, --awq-clip, --awq-grid and --awq-clip-tokens are AWQ's (--method awq or awq+gptq)");
  }
  if (m.calib.text_path.empty() == m.calib.tokens_path.empty()) {
    throw_usage("--method " + p.name() + " needs one of --calib FILE or --calib-tokens FILE");
  }
  if (m.sample != "first" && m.sample != "random") throw_usage("--calib-sample is first or random");
  if (!m.propagate.empty() && m.propagate != "quantized" && m.propagate != "float") throw_usage("--propagate is quantized or float");
  if (m.awq.grid < 1 || m.awq.grid > 1000) throw_usage("--awq-grid must be 1 … 1000");
  if (m.awq.clip_tokens < 1) throw_usage("--awq-clip-tokens must be at least 1");
  if (!m.awq_clip.empty() && m.awq_clip != "on" && m.awq_clip != "off") throw_usage("--awq-clip is on or off");
  if (m.calib_batch < 1) throw_usage("--calib-batch must be at least 1");
  return p;
}

bool method_is_gptq(const MethodCli& m) { return method_plan(m).gptq; }

Scheme method_scheme(Scheme s, const MethodCli& m) {
  const bool awq_rule = m.quantizer.empty() ? method_plan(m).awq : m.quantizer == "awq";
  if (awq_rule && s.mode == AffineMode::asymmetric && format_info(s.format).kind == FormatKind::integer) s.range = AsymRange::min_max;
  return s;
}

WeightType rtn_type(const std::string& scheme, const MethodCli& m) {
  if (scheme.empty()) return WeightType{};
  const WeightType wt = parse_weight_type(scheme);
  if (!wt.is_scheme()) {
    if (!m.quantizer.empty()) throw_usage("--quantizer chooses the rule of vernier's asymmetric integer schemes; " + scheme + " is a GGML type");
    return wt;
  }
  return WeightType::scheme(method_scheme(wt.as_scheme(), m));
}

Scheme awq_target(const std::string& scheme, const MethodCli& m) {
  const WeightType wt = parse_weight_type(scheme);
  if (!wt.is_scheme() || format_info(wt.as_scheme().format).kind != FormatKind::integer) {
    throw_usage("--method " + m.method + " quantizes to vernier's integer schemes (e.g. int4-asym-g128) and GGML types; not " + scheme);
  }
  return method_scheme(wt.as_scheme(), m);
}

namespace {
std::vector<std::vector<int32_t>> windows_of(const Model& m, const MethodCli& mc) {
  CalibrationOptions co = mc.calib;
  co.random = mc.sample == "random";
  return calibration_windows(m, co);
}
}  // namespace

std::map<std::string, GgmlType> ggml_targets(const Model& m, GgmlType type, const std::string& target) {
  std::map<std::string, GgmlType> out;
  const int64_t block = ggml_info(type).block_size;
  for (const std::string& name : block_linear_names(m)) {
    const ModelTensor* t = m.find(name);
    if (!t) continue;
    if (t->ne.empty() || t->ne[0] % block != 0) {
      throw_usage(m.path + ": tensor '" + name + "' has rows of " + std::to_string(t->ne.empty() ? 0 : t->ne[0]) + " values, not whole " +
                  target + " blocks of " + std::to_string(block) + " (a GGUF file type's mixture falls back to a 32-value type there: use quantize --type)");
    }
    out[name] = type;
  }
  return out;
}

namespace {
AwqOptions awq_options(const MethodCli& mc) {
  AwqOptions a = mc.awq;
  a.clip = mc.awq_clip.empty() ? !method_plan(mc).gptq : mc.awq_clip == "on";
  return a;
}

// AWQ's report: the JSON object (report) and, unless quiet, the tables on stderr
void report_awq(const AwqModelReport& r, const AwqOptions& a, const std::string& method, const std::string& target, const std::string& quantizer,
                bool propagate_quantized, const MethodCli& mc, bool quiet, nlohmann::json* report) {
  if (report) {
    nlohmann::json scales = nlohmann::json::array(), clips = nlohmann::json::array();
    for (const auto& x : r.scales) {
      scales.push_back({{"group", x.group}, {"folded_into", x.folded_into}, {"alpha", x.alpha}, {"loss_before", x.loss_before},
                        {"loss_after", x.loss_after}});
    }
    for (const auto& x : r.clips) {
      clips.push_back({{"name", x.name}, {"mean_ratio", x.mean_ratio}, {"loss_before", x.loss_before}, {"loss_after", x.loss_after}});
    }
    *report = {{"method", method}, {"scheme", target}, {"quantizer", quantizer}, {"windows", r.windows}, {"tokens", r.tokens},
               {"calib_ctx", mc.calib.ctx}, {"duo", a.duo}, {"clip", a.clip}, {"grid", a.grid},
               {"propagate", propagate_quantized ? "quantized" : "float"}, {"scales", scales}, {"clips", clips}, {"skipped", r.skipped},
               {"block_seconds", r.block_seconds}, {"seconds", r.seconds}, {"peak_rss_bytes", peak_rss_bytes()}};
  }
  if (quiet) return;
  const std::string base = method == "awq" ? "RTN" : "GPTQ";  // what α = 0 (s = 1) gives
  Table t;
  t.header = {"group", "folded into", "α", base + " loss", "AWQ loss", "AWQ/" + base};
  for (const auto& x : r.scales) {
    t.rows.push_back({x.group, x.folded_into, fixed(x.alpha, 2), num(x.loss_before, 4), num(x.loss_after, 4),
                      fixed(x.loss_before > 0 ? x.loss_after / x.loss_before : 0, 3)});
  }
  t.print(std::cerr);
  if (!r.clips.empty()) {
    Table c;
    c.header = {"layer", "mean clip ratio", "unclipped loss", "clipped loss"};
    for (const auto& x : r.clips) c.rows.push_back({x.name, fixed(x.mean_ratio, 3), num(x.loss_before, 4), num(x.loss_after, 4)});
    c.print(std::cerr);
  }
  for (const auto& s : r.skipped) std::cerr << "note: " << s << "\n";
  std::cerr << fmt::format("AWQ {}: {} windows × {} tokens, {} blocks' searches in {:.2f} s ({:.2f} s per block), peak RSS {}\n", target,
                           r.windows, mc.calib.ctx, r.block_seconds.size(), r.seconds,
                           r.block_seconds.empty() ? 0.0 : r.seconds / static_cast<double>(r.block_seconds.size()),
                           format_bytes_short(peak_rss_bytes()));
}
}  // namespace

Model apply_awq(const Model& m, const Scheme& scheme, const MethodCli& mc, int threads, bool quiet, nlohmann::json* report,
                const std::string& park_dir, const std::map<std::string, GgmlType>* ggml_types, ImportanceMatrix* importance) {
  if (method_plan(mc).gptq) throw_usage("internal: awq+gptq runs through apply_gptq");
  AwqModelOptions o;
  o.scheme = scheme;
  if (ggml_types) {
    o.ggml = true;
    o.ggml_types = *ggml_types;
  }
  o.awq = awq_options(mc);
  o.propagate_quantized = mc.propagate == "quantized";
  o.threads = threads;
  o.batch = mc.calib_batch;
  o.park_dir = park_dir;
  const std::vector<std::vector<int32_t>> windows = windows_of(m, mc);
  Progress progress(quiet);
  o.progress = [&](int64_t l, int64_t n, const std::string& what) {
    progress.update(l, n, fmt::format("[{}/{}] AWQ block {} {}", l + 1, n, l, what));
  };
  AwqModelReport r;
  Model out = awq_scale_model(m, windows, o, &r);
  progress.clear();
  if (importance) *importance = r.importance;
  report_awq(r, o.awq, "awq", o.ggml ? std::string("GGML types") : scheme_name(scheme),
             o.ggml ? "llama.cpp" : scheme.range == AsymRange::min_max ? "awq" : "vernier", o.propagate_quantized, mc, quiet, report);
  return out;
}

std::vector<std::string> block_linear_names(const Model& m) {
  std::vector<std::string> names;
  for (int64_t l = 0; l < m.config.layers; ++l) {
    for (InputGroup g : kInputGroups) {
      for (std::string_view tn : input_group_tensors(g)) names.push_back("blk." + std::to_string(l) + "." + std::string(tn));
    }
  }
  return names;
}

std::string output_folder(const std::string& output) {
  std::filesystem::path p = std::filesystem::absolute(output).lexically_normal();
  if (!p.has_filename()) p = p.parent_path();  // "dir/": the directory itself is the output
  return p.parent_path().string();
}

Model apply_gptq(const Model& m, const std::string& target, const MethodCli& mc, int threads, bool quiet, nlohmann::json* report,
                 const std::map<std::string, GgmlType>* mixture, const std::string& park_dir) {
  GptqModelOptions o;
  o.park_dir = park_dir;
  if (mixture) {
    o.ggml = true;
    o.ggml_types = *mixture;
  } else {
    const WeightType wt = parse_weight_type(target);
    if (wt.is_scheme()) {
      o.scheme = method_scheme(wt.as_scheme(), mc);
    } else {  // one GGML type for every block linear layer (eval/run in memory)
      if (!gptq_can_make(wt.ggml())) {
        throw_usage("--method gptq makes vernier's integer schemes and the GGML types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K, "
                    "IQ4_NL and IQ4_XS; not " + target);
      }
      o.ggml = true;
      o.ggml_types = ggml_targets(m, wt.ggml(), target);
    }
  }
  if (o.ggml && mc.gptq.act_order && !mc.gptq.static_groups) {
    throw_usage("a GGUF row has no column permutation (g_idx): --act-order into GGML types needs --static-groups");
  }
  const std::vector<std::vector<int32_t>> windows = windows_of(m, mc);
  const CalibrationOptions& co = mc.calib;
  o.gptq = mc.gptq;
  o.propagate_float = mc.propagate == "float";
  o.threads = threads;
  o.batch = mc.calib_batch;
  Progress progress(quiet);
  const bool with_awq = method_plan(mc).awq;  // awq+gptq: each half's AWQ search just before GPTQ quantizes it
  o.progress = [&](int64_t l, int64_t n, const std::string& what) {
    progress.update(l, n, fmt::format("[{}/{}] {} block {} {}", l + 1, n, with_awq ? "AWQ+GPTQ" : "GPTQ", l, what));
  };
  GptqModelReport r;
  AwqModelReport ar;
  const AwqOptions ao = awq_options(mc);
  Model out = with_awq ? awq_gptq_quantize_model(m, windows, o, ao, &ar, &r) : gptq_quantize_model(m, windows, o, &r);
  progress.clear();
  nlohmann::json awq_json;
  if (with_awq) {
    report_awq(ar, ao, "awq+gptq", o.ggml ? std::string("GGML types") : scheme_name(o.scheme),
               o.ggml ? "llama.cpp" : o.scheme.range == AsymRange::min_max ? "awq" : "vernier", !o.propagate_float, mc, quiet,
               report ? &awq_json : nullptr);
  }
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& x : r.layers) {
    layers.push_back({{"name", x.name}, {"target", x.target}, {"loss", x.loss}, {"rtn_loss", x.rtn_loss}, {"damp", x.damp}, {"damp_raises", x.damp_raises},
                      {"dead_columns", x.dead_columns}});
  }
  if (report) {
    *report = {{"method", "gptq"}, {"target", o.ggml ? target : scheme_name(o.scheme)}, {"windows", r.windows}, {"tokens", r.tokens},
               {"calib_ctx", co.ctx}, {"calib_batch", o.batch}, {"act_order", o.gptq.act_order}, {"static_groups", o.gptq.static_groups}, {"damp", o.gptq.damp},
               {"block", o.gptq.block}, {"propagate", o.propagate_float ? "float" : "quantized"}, {"layers", layers}, {"block_seconds", r.block_seconds},
               {"seconds", r.seconds}, {"peak_rss_bytes", peak_rss_bytes()}};
    if (with_awq) (*report)["awq"] = awq_json;
  }
  if (!quiet) {
    Table t;
    // against GGML types the baseline is llama.cpp's quantizer weighted by the same statistic (imatrix)
    t.header = {"layer", "target", "GPTQ loss", o.ggml ? "imatrix loss" : "RTN loss", o.ggml ? "GPTQ/imatrix" : "GPTQ/RTN", "damp"};
    for (const auto& x : r.layers) {
      t.rows.push_back({x.name, x.target, num(x.loss, 4), num(x.rtn_loss, 4), fixed(x.rtn_loss > 0 ? x.loss / x.rtn_loss : 0, 3),
                        num(x.damp, 3) + (x.damp_raises ? " (raised)" : "")});
    }
    t.print(std::cerr);
    std::cerr << fmt::format("GPTQ {}: {} windows × {} tokens, {} layers in {:.2f} s ({:.2f} s per block), peak RSS {}\n",
                             o.ggml ? target : scheme_name(o.scheme), r.windows, co.ctx, r.layers.size(), r.seconds,
                             r.block_seconds.empty() ? 0.0 : r.seconds / static_cast<double>(r.block_seconds.size()),
                             format_bytes_short(peak_rss_bytes()));
  }
  return out;
}

}  // namespace vernier::cli
