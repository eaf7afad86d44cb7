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
  cmd->add_option("--method", m.method, "How the codes are chosen: rtn (round to nearest) or gptq (calibrated, Hessian error "
                                        "compensation, for integer schemes and the GGML types Q4_0 … Q8_0, Q2_K … Q6_K, IQ4_NL, "
                                        "IQ4_XS; needs --calib or --calib-tokens)")
      ->capture_default_str();
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
  cmd->add_option("--propagate", m.propagate, "GPTQ: what feeds block l+1: quantized (the quantized block's outputs) or float")
      ->capture_default_str();
}

bool method_is_gptq(const MethodCli& m) {
  if (m.method == "rtn") {
    if (!m.calib.text_path.empty() || !m.calib.tokens_path.empty() || m.gptq.act_order || m.gptq.static_groups) {
      throw_usage("--calib, --calib-tokens, --act-order and --static-groups go with --method gptq");
    }
    return false;
  }
  if (m.method != "gptq") throw_usage("unknown --method '" + m.method + "' (expected rtn or gptq)");
  if (m.calib.text_path.empty() == m.calib.tokens_path.empty()) throw_usage("--method gptq needs one of --calib FILE or --calib-tokens FILE");
  if (m.sample != "first" && m.sample != "random") throw_usage("--calib-sample is first or random");
  if (m.propagate != "quantized" && m.propagate != "float") throw_usage("--propagate is quantized or float");
  return true;
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
      o.scheme = wt.as_scheme();
    } else {  // one GGML type for every block linear layer (eval/run in memory)
      if (!gptq_can_make(wt.ggml())) {
        throw_usage("--method gptq makes vernier's integer schemes and the GGML types Q4_0, Q4_1, Q5_0, Q5_1, Q8_0, Q2_K … Q6_K, "
                    "IQ4_NL and IQ4_XS; not " + target);
      }
      o.ggml = true;
      for (const std::string& name : block_linear_names(m)) {
        const ModelTensor* t = m.find(name);
        if (!t) continue;
        if (t->ne.empty() || t->ne[0] % wt.ggml_info().block_size != 0) {
          throw_usage(m.path + ": tensor '" + name + "' has rows of " + std::to_string(t->ne.empty() ? 0 : t->ne[0]) +
                      " values, not whole " + target + " blocks of " + std::to_string(wt.ggml_info().block_size) +
                      " (a GGUF file type's mixture falls back to a 32-value type there: use quantize --type)");
        }
        o.ggml_types[name] = wt.ggml();
      }
    }
  }
  if (o.ggml && mc.gptq.act_order && !mc.gptq.static_groups) {
    throw_usage("a GGUF row has no column permutation (g_idx): --act-order into GGML types needs --static-groups");
  }
  CalibrationOptions co = mc.calib;
  co.random = mc.sample == "random";
  const std::vector<std::vector<int32_t>> windows = calibration_windows(m, co);
  o.gptq = mc.gptq;
  o.propagate_float = mc.propagate == "float";
  o.threads = threads;
  if (mc.calib_batch < 1) throw_usage("--calib-batch must be at least 1");
  o.batch = mc.calib_batch;
  Progress progress(quiet);
  o.progress = [&](int64_t l, int64_t n, const std::string& what) {
    progress.update(l, n, fmt::format("[{}/{}] GPTQ block {} {}", l + 1, n, l, what));
  };
  GptqModelReport r;
  Model out = gptq_quantize_model(m, windows, o, &r);
  progress.clear();
  nlohmann::json layers = nlohmann::json::array();
  for (const auto& x : r.layers) {
    layers.push_back({{"name", x.name}, {"target", x.target}, {"loss", x.loss}, {"rtn_loss", x.rtn_loss}, {"damp", x.damp}, {"damp_raises", x.damp_raises},
                      {"dead_columns", x.dead_columns}});
  }
  if (report) {
    *report = {{"method", "gptq"}, {"target", o.ggml ? target : scheme_name(o.scheme)}, {"windows", r.windows}, {"tokens", r.tokens},
               {"calib_ctx", co.ctx}, {"calib_batch", o.batch}, {"act_order", o.gptq.act_order}, {"static_groups", o.gptq.static_groups}, {"damp", o.gptq.damp},
               {"block", o.gptq.block}, {"propagate", mc.propagate}, {"layers", layers}, {"block_seconds", r.block_seconds},
               {"seconds", r.seconds}, {"peak_rss_bytes", peak_rss_bytes()}};
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
