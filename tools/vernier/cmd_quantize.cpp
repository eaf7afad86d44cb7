// vernier quantize — a model to a GGUF file in one of llama.cpp's file types, byte-identical to
// llama-quantize, with a per-tensor report of what each tensor became and what it cost.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>
#include <map>
#include <set>
#include <tuple>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/gptq.hpp"
#include "vernier/hf_checkpoint.hpp"
#include "vernier/quantize_model.hpp"

namespace vernier::cli {

namespace {
struct QuantizeCliOptions {
  std::string input, output, type, imatrix, tokenizer;
  std::vector<std::string> positional;  // llama-quantize's OUT TYPE [THREADS] or TYPE [THREADS]
  std::vector<std::string> tensor_types;
  std::string output_tensor_type, token_embedding_type;
  std::string scheme, layout, max_shard_size = "5GB";
  MethodCli method;
  bool quantize_output = false;
  bool pure = false, leave_output = false, allow_requantize = false, allow_nonfinite = false;
  bool force = false, quiet = false, json = false;
  int threads = 0;
};

// what -o may not name: every file the command reads
std::vector<NamedInput> quantize_inputs(const QuantizeCliOptions& o) {
  return {{"model", o.input}, {"--imatrix", o.imatrix}, {"--tokenizer", o.tokenizer}, {"--calib", o.method.calib.text_path},
          {"--calib-tokens", o.method.calib.tokens_path}};
}

GgmlType parse_ggml_type(const std::string& s, const std::string& flag) {
  const GgmlTypeInfo* ti = ggml_type_by_name(s);
  if (!ti || !ggml_can_quantize(ti->type)) {
    throw_usage("unknown tensor type '" + s + "' for " + flag +
                " (expected one of " + weight_type_names(true, false) + ")");
  }
  return ti->type;
}

// The one line after the table: how many tensors fell back from their planned type and why (a row that
// is not whole blocks of it), and whether the file type's own type is in the file at all.
struct FallbackSummary {
  std::string line;
  nlohmann::json json;
};
FallbackSummary fallback_summary(const QuantizeModelReport& r, const GgufFileType& ft) {
  std::map<std::tuple<GgmlType, GgmlType, int64_t>, int> groups;  // (planned, got, row length) → count
  int quantized = 0, fell = 0;
  bool has_default = false;
  nlohmann::json list = nlohmann::json::array();
  for (const QuantizedTensorReport& t : r.tensors) {
    if (t.type == ft.default_type) has_default = true;
    if (t.quantized) ++quantized;
    if (t.planned == t.type) continue;
    ++fell;
    ++groups[{t.planned, t.type, t.row}];
    list.push_back({{"name", t.name}, {"planned", ggml_type_info(t.planned)->name}, {"type", ggml_type_info(t.type)->name}, {"row", t.row}});
  }
  FallbackSummary out;
  const std::string dflt(ggml_type_info(ft.default_type)->name);
  const bool default_quantized = !ggml_info(ft.default_type).is_float;
  if (fell == 0) {
    out.line = fmt::format("fallback: none (every tensor has the type {}'s rules planned for it)", ft.name);
  } else {
    std::string parts;
    for (const auto& [k, n] : groups) {
      const auto& [from, to, row] = k;
      const GgmlTypeInfo* f = ggml_type_info(from);
      parts += fmt::format("{}{} {} -> {} (rows of {}, not a multiple of {}'s {}-value blocks)", parts.empty() ? "" : ", ", n, f->name,
                           ggml_type_info(to)->name, row, f->name, f->block_size);
    }
    out.line = fmt::format("fallback: {} of {} quantized tensors took another type than {} planned: {}", fell, quantized, ft.name, parts);
  }
  if (default_quantized && !has_default) {
    out.line += fmt::format("; this {} file holds no {} tensor at all", ft.name, dflt);
  }
  out.json = {{"count", fell}, {"quantized", quantized}, {"tensors", list}, {"holds_default_type", has_default}};
  return out;
}

// --layout: a quantized Hugging Face checkpoint directory instead of a GGUF file.
void run_quantize_hf(const QuantizeCliOptions& opt) {
  if (opt.scheme.empty()) throw_usage("--layout needs --scheme (e.g. int4-sym-g128, int4-asym-g128, fp8_e4m3-channel, nf4-b64-dq)");
  if (!opt.type.empty()) throw_usage("--type names a GGUF file type; with --layout give --scheme");
  if (!opt.imatrix.empty() || !opt.tensor_types.empty() || opt.pure || opt.leave_output || !opt.output_tensor_type.empty() ||
      !opt.token_embedding_type.empty()) {
    throw_usage("--imatrix, --tensor-type, --pure, --leave-output-tensor, --output-tensor-type and --token-embedding-type "
                "are GGUF options; a --layout checkpoint takes --scheme, --quantize-output and --max-shard-size");
  }
  HfCheckpointOptions h;
  h.layout = parse_hf_layout(opt.layout);
  const WeightType wt = parse_weight_type(opt.scheme);
  if (!wt.is_scheme()) throw_usage("--scheme '" + opt.scheme + "' is a GGML type; a --layout checkpoint holds a vernier scheme");
  const MethodPlan plan = method_plan(opt.method);
  const bool gptq = plan.calibrated();
  h.scheme = method_scheme(wt.as_scheme(), opt.method);
  h.quantize_output = opt.quantize_output;
  h.max_shard_bytes = parse_shard_size(opt.max_shard_size);
  h.overwrite = opt.force;
  if (opt.threads < 0) throw_usage("--threads must be at least 1");
  h.threads = opt.threads;
  const Scheme stored = hf_layout_scheme(h.layout, h.scheme);  // refuses what the layout cannot hold, before loading
  if (plan.awq) awq_target(scheme_name(stored), opt.method);  // an integer scheme
  if (plan.gptq && opt.method.gptq.act_order && !opt.method.gptq.static_groups && h.layout != HfLayout::gptq) {
    throw_usage("--act-order's column order (g_idx) is stored only by --layout gptq; add --static-groups to keep the groups in order");
  }
  refuse_overwriting_inputs(opt.output, "-o", quantize_inputs(opt));
  if (std::filesystem::exists(opt.output) && !opt.force) throw_usage(opt.output + ": exists (pass --force to replace it)");
  const Model source = open_model(opt.input, opt.tokenizer);
  nlohmann::json gptq_report, awq_report;
  // AWQ's scaled float model is quantized by the writer (to nearest, AWQ's quantizer); GPTQ's codes are
  // chosen in memory, then written as they are. Both wait in a scratch file beside the output.
  const bool awq_alone = plan.awq && !plan.gptq;  // awq+gptq runs inside GPTQ's pipeline (apply_gptq)
  const Model scaled = awq_alone ? apply_awq(source, stored, opt.method, opt.threads, opt.quiet || opt.json, &awq_report, output_folder(opt.output))
                                 : Model{};
  const Model& input = awq_alone ? scaled : source;
  const Model m = plan.gptq ? apply_gptq(input, scheme_name(stored), opt.method, opt.threads, opt.quiet || opt.json, &gptq_report, nullptr,
                                         output_folder(opt.output))
                            : input;
  nlohmann::json method_json = "rtn";
  if (gptq) {
    method_json = plan.gptq ? gptq_report : nlohmann::json::object();
    method_json["method"] = plan.name();
    if (awq_alone) method_json["awq"] = awq_report;
  }
  Progress progress(opt.quiet);
  if (!opt.quiet) {
    h.progress = [&](size_t i, size_t n, const std::string& name) {
      progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {}", i + 1, n, name));
    };
  }
  const HfCheckpointReport r = write_hf_checkpoint(m, opt.output, h);
  progress.clear();
  uint64_t qbytes = 0;
  int64_t qelems = 0;
  for (const auto& t : r.tensors) {
    if (t.quantized) {
      qbytes += t.bytes;
      qelems += t.elements;
    }
  }
  const double bpw = qelems ? 8.0 * static_cast<double>(qbytes) / static_cast<double>(qelems) : 0;
  if (opt.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : r.tensors) {
      tensors.push_back({{"name", t.name}, {"stored", t.stored}, {"bytes", t.bytes}, {"elements", t.elements}, {"rmse", t.rmse}});
    }
    print_json({{"input", opt.input}, {"output", opt.output}, {"layout", hf_layout_name(h.layout)}, {"scheme", scheme_name(stored)},
                {"tensors", tensors}, {"files", r.files}, {"notes", r.notes}, {"total_bytes", r.bytes}, {"shards", r.shards},
                {"quantized_bits_per_weight", bpw}, {"seconds", r.seconds}, {"method", method_json}});
    return;
  }
  Table t;
  t.header = {"tensor", "stored as", "bytes", "RMSE"};
  t.left_tail = 2;
  for (const auto& x : r.tensors) t.rows.push_back({x.name, x.stored, grouped(x.bytes), x.rmse > 0 ? num(x.rmse, 3) : "-"});
  t.print(std::cout);
  for (const auto& n : r.notes) std::cout << "note: " << n << "\n";
  if (stored.scale_type != h.scheme.scale_type) {
    std::cout << fmt::format("note: {} stores FP16 scales: the layers are {}\n", hf_layout_name(h.layout), scheme_name(stored));
  }
  std::cout << fmt::format("\n{}: {} layout, {}, {} bytes in {} shard{} ({:.3f} bits per quantized weight), {:.2f} s\n", opt.output,
                           hf_layout_name(h.layout), scheme_name(stored), grouped(r.bytes), r.shards, r.shards == 1 ? "" : "s", bpw,
                           r.seconds);
}

// llama-quantize's positional form, IN [OUT] TYPE [THREADS], folded into the flags (each given once).
QuantizeCliOptions resolve_positional(QuantizeCliOptions opt) {
  const std::vector<std::string>& a = opt.positional;
  size_t i = 0;
  std::string out, type, threads;
  if (i < a.size() && opt.layout.empty() && find_gguf_file_type(a[i])) {
    type = a[i++];  // IN TYPE [THREADS]
  } else if (i < a.size()) {
    out = a[i++];
    if (i < a.size() && opt.layout.empty()) {
      if (!find_gguf_file_type(a[i])) throw_usage("unknown file type '" + a[i] + "' (expected one of: " + gguf_file_type_names() + ")");
      type = a[i++];
    }
  }
  if (i < a.size()) threads = a[i++];
  if (i < a.size()) throw_usage("unexpected argument '" + a[i] + "': quantize takes INPUT [OUTPUT] TYPE [THREADS], as llama-quantize");
  if (!out.empty()) {
    if (!opt.output.empty()) throw_usage("the output is given twice: as '" + out + "' and as -o " + opt.output);
    opt.output = out;
  }
  if (!type.empty()) {
    if (!opt.type.empty()) throw_usage("the file type is given twice: as '" + type + "' and as --type " + opt.type);
    opt.type = find_gguf_file_type(type)->name;
  }
  if (!threads.empty()) {
    if (!is_thread_count(threads)) {
      throw_usage("'" + threads + "' is not a thread count (quantize INPUT [OUTPUT] TYPE [THREADS])");
    }
    if (opt.threads != 0) throw_usage("the thread count is given twice: as '" + threads + "' and as -t");
    opt.threads = std::stoi(threads);
  }
  if (opt.output.empty()) {
    if (!opt.layout.empty() || opt.type.empty()) throw_usage("no output given: quantize INPUT OUTPUT TYPE, or -o OUTPUT");
    // llama-quantize's default name, in the input's folder (a directory's parent, as for a file)
    std::filesystem::path in(opt.input);
    if (!in.has_filename()) in = in.parent_path();
    const std::filesystem::path dir = in.parent_path();
    opt.output = (dir / ("ggml-model-" + opt.type + ".gguf")).string();
  }
  return opt;
}

void run_quantize(const QuantizeCliOptions& given) {
  const QuantizeCliOptions opt = resolve_positional(given);
  if (!opt.layout.empty()) return run_quantize_hf(opt);
  if (opt.type.empty()) throw_usage("--type is required (a GGUF file type), or --layout with --scheme for a Hugging Face checkpoint");
  if (!opt.scheme.empty()) throw_usage("--scheme goes with --layout (a Hugging Face checkpoint); a GGUF file takes --type");
  const MethodPlan plan = method_plan(opt.method);
  const bool gptq = plan.calibrated();  // GPTQ, AWQ or both: the block matrices are the method's
  if (gptq && !opt.imatrix.empty()) throw_usage("--imatrix goes with --method rtn or imatrix; --method " + plan.name() + " makes its own statistics");
  if (plan.gptq && opt.method.gptq.act_order && !opt.method.gptq.static_groups) {
    throw_usage("a GGUF row has no column permutation (g_idx): --act-order into GGML types needs --static-groups");
  }
  const GgufFileType* ft = find_gguf_file_type(opt.type);
  if (!ft) throw_usage("unknown --type '" + opt.type + "' (expected one of: " + gguf_file_type_names() + ")");
  if (opt.threads < 0) throw_usage("--threads must be at least 1");
  QuantizeModelOptions q;
  q.file_type = ft;
  q.threads = opt.threads;
  q.allow_requantize = opt.allow_requantize;
  q.allow_nonfinite = opt.allow_nonfinite;
  q.overwrite = opt.force;
  q.mixture.pure = opt.pure;
  q.mixture.leave_output_tensor = opt.leave_output;
  for (const auto& tt : opt.tensor_types) {
    const auto eq = tt.rfind('=');
    if (eq == std::string::npos || eq == 0) throw_usage("--tensor-type expects REGEX=TYPE, got '" + tt + "'");
    q.mixture.tensor_types.emplace_back(tt.substr(0, eq), parse_ggml_type(tt.substr(eq + 1), "--tensor-type"));
  }
  if (!opt.output_tensor_type.empty()) q.mixture.output_tensor_type = parse_ggml_type(opt.output_tensor_type, "--output-tensor-type");
  if (!opt.token_embedding_type.empty()) q.mixture.token_embedding_type = parse_ggml_type(opt.token_embedding_type, "--token-embedding-type");
  refuse_overwriting_inputs(opt.output, "-o", quantize_inputs(opt));
  if (std::filesystem::exists(opt.output) && !opt.force) throw_usage(opt.output + ": exists (pass --force to overwrite it)");

  ImportanceMatrix imatrix;
  if (!opt.imatrix.empty()) {
    imatrix = load_imatrix(opt.imatrix);
    q.imatrix = &imatrix;
    q.imatrix_path = opt.imatrix;
  }
  const Model source = open_model(opt.input, opt.tokenizer);
  if (!opt.imatrix.empty()) {  // an importance matrix of another model would be ignored tensor by tensor, silently
    size_t matched = 0;
    for (const auto& [name, w] : imatrix.weights) matched += source.find(name) ? 1 : 0;
    if (matched == 0) {
      throw_bad_input(opt.imatrix + ": none of its " + std::to_string(imatrix.weights.size()) + " entries (e.g. '" + imatrix.weights.begin()->first +
                      "') names a tensor of " + opt.input + " (an importance matrix of another model?)");
    }
  }
  nlohmann::json gptq_report;
  // GPTQ: the block matrices' types from the file type's mixture (planned as with an importance matrix:
  // GPTQ is calibrated), their blocks made in memory; quantize_model then copies each as it is (its
  // planned type is already its type) and quantizes the other tensors by round to nearest
  if (gptq) q.mixture.has_imatrix = true;
  std::map<std::string, GgmlType> targets;
  if (gptq) {
    const std::vector<std::string> names = block_linear_names(source);
    const std::set<std::string> linear(names.begin(), names.end());
    for (const MixtureChoice& ch : plan_model_mixture(source, q)) {
      const bool makes = plan.gptq ? gptq_can_make(ch.type) : ggml_can_dequantize(ch.type) && !ggml_info(ch.type).is_float;
      if (ch.quantized && makes && linear.count(ch.name)) targets[ch.name] = ch.type;
    }
  }
  if (gptq && targets.empty()) {
    throw_usage("--type " + std::string(ft->name) + " leaves no block matrix in a type " + plan.name() +
                " makes (GPTQ: Q4_0 … Q8_0, Q2_K … Q6_K, IQ4_NL, IQ4_XS)");
  }
  // AWQ: the scales and clipping folded into a float model, which GPTQ or (AWQ alone) quantize_model's
  // importance-weighted quantizers then quantize, with the scaled inputs' mean squares as the imatrix
  ImportanceMatrix awq_importance;
  nlohmann::json awq_report;
  const bool awq_alone = plan.awq && !plan.gptq;  // awq+gptq runs inside GPTQ's pipeline (apply_gptq)
  const Model scaled = awq_alone ? apply_awq(source, Scheme{}, opt.method, opt.threads, opt.quiet || opt.json, &awq_report,
                                             output_folder(opt.output), &targets, &awq_importance)
                                 : Model{};
  const Model& input = awq_alone ? scaled : source;
  if (awq_alone) {
    q.imatrix = &awq_importance;
    q.method = &imatrix_method();
    q.imatrix_path = !opt.method.calib.text_path.empty() ? opt.method.calib.text_path : opt.method.calib.tokens_path;
  }
  const Model m = plan.gptq ? apply_gptq(input, std::string(ft->name), opt.method, opt.threads, opt.quiet || opt.json, &gptq_report, &targets,
                                         output_folder(opt.output))
                            : input;
  if (plan.awq) {
    if (awq_alone) {
      gptq_report = nlohmann::json::object();
      gptq_report["awq"] = awq_report;
    }
    gptq_report["method"] = plan.name();
  }
  int64_t total_elements = 0;
  for (const auto& t : m.tensors) total_elements += t.elements();
  const double total_mb = static_cast<double>(total_elements) * 4 / 1e6;
  Progress progress(opt.quiet);
  const auto start = std::chrono::steady_clock::now();
  if (!opt.quiet) {
    q.progress = [&](size_t i, size_t n, const std::string& name, uint64_t done) {
      const double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
      const double mb = static_cast<double>(done) / 1e6;
      const std::string rate = s > 0 && mb > 0 ? fmt::format("  {:.1f} MB/s", mb / s) : "";
      progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {}{}", i + 1, n, name, rate),
                      total_mb > 0 ? mb / total_mb : -1);
    };
  }
  const QuantizeModelReport r = quantize_model(m, opt.output, q);
  progress.clear();

  if (opt.json) {
    nlohmann::json tensors = nlohmann::json::array();
    for (const auto& t : r.tensors) {
      tensors.push_back({{"name", t.name}, {"type", ggml_type_info(t.type)->name}, {"reason", t.reason}, {"bytes", t.bytes},
                         {"bits_per_weight", 8.0 * static_cast<double>(t.bytes) / static_cast<double>(t.elements)},
                         {"rmse", t.rmse}, {"sqnr_db", jnum(t.sqnr_db)}, {"imatrix", t.used_imatrix}});
    }
    print_json({{"input", opt.input}, {"output", opt.output}, {"file_type", ft->name}, {"tensors", tensors},
                {"total_bytes", r.total_bytes}, {"bits_per_weight", r.bits_per_weight()}, {"seconds", r.seconds},
                {"threads", r.threads}, {"peak_rss_bytes", peak_rss_bytes()}, {"fallback", fallback_summary(r, *ft).json},
                {"method", gptq ? gptq_report : nlohmann::json(opt.imatrix.empty() ? "rtn" : "imatrix")}});
    return;
  }
  Table t;
  t.header = {"tensor", "type", "bytes", "bits/w", "RMSE", "SQNR dB", "why"};
  t.left_tail = 1;
  for (const auto& x : r.tensors) {
    const bool q8 = x.rmse > 0 || x.sqnr_db != 0;
    t.rows.push_back({x.name, std::string(ggml_type_info(x.type)->name), grouped(x.bytes),
                      fixed(8.0 * static_cast<double>(x.bytes) / static_cast<double>(x.elements), 3),
                      q8 ? num(x.rmse, 3) : "-", q8 ? fixed(x.sqnr_db, 1) : "-",
                      x.reason + (x.used_imatrix ? " (imatrix)" : "") + (targets.count(x.name) ? " (GPTQ)" : "")});
  }
  t.print(std::cout);
  std::cout << '\n' << fallback_summary(r, *ft).line << '\n';
  std::cout << fmt::format("{}: {} tensors, {} bytes of tensor data, {:.3f} bits per weight, {} in {:.2f} s with {} threads "
                           "({:.1f} M weights/s)\n",
                           opt.output, r.tensors.size(), grouped(r.total_bytes), r.bits_per_weight(), ft->name, r.seconds,
                           r.threads, static_cast<double>(r.total_elements) / 1e6 / std::max(r.seconds, 1e-9));
}
}  // namespace

void add_quantize_command(CLI::App& app) {
  auto opt = std::make_shared<QuantizeCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "quantize",
      "Quantize a model to GGUF (Q4_K_M, Q8_0, …), byte-identical to llama-quantize, or with --layout to a GPTQ, AWQ, "
      "compressed-tensors or bitsandbytes checkpoint that vLLM/transformers load; with a per-tensor report");
  cmd->add_option("input", opt->input, "Model: GGUF (F32/F16/BF16), Hugging Face directory or llama2.c .bin")->required();
  cmd->add_option("output-type-threads", opt->positional,
                  "As llama-quantize: [OUTPUT] TYPE [THREADS] (without OUTPUT: ggml-model-TYPE.gguf beside the input; TYPE also "
                  "as llama_ftype's number)");
  cmd->add_option("-o,--output", opt->output, "Output .gguf, or the checkpoint directory with --layout");
  cmd->add_option("--type", opt->type, "GGUF file type: " + gguf_file_type_names());
  cmd->add_option("--layout", opt->layout,
                  "Write a Hugging Face checkpoint in this layout: " + hf_layout_names() +
                      " (GPTQ: int2/3/4/8 sym or asym, per channel or group; AWQ: int4 asym per group; compressed-tensors: "
                      "int2/4/8 or fp8_e4m3 per tensor/channel; bnb: NF4 blocks, dq optional)");
  cmd->add_option("--scheme", opt->scheme, "With --layout: the scheme of the blocks' linear layers, e.g. int4-sym-g128, nf4-b64-dq");
  add_method_options(cmd, opt->method);
  cmd->add_flag("--quantize-output", opt->quantize_output, "With --layout: quantize lm_head too (default: kept, as the ecosystem does)");
  cmd->add_option("--max-shard-size", opt->max_shard_size, "With --layout: largest safetensors shard (5GB, 500MB, 2GiB)")->capture_default_str();
  cmd->add_option("--imatrix", opt->imatrix, "Importance matrix (llama-imatrix GGUF or legacy .dat)");
  add_threads_option(cmd, opt->threads, "Threads for the rows of each tensor (default: all)");
  cmd->add_flag("--pure", opt->pure, "Every quantizable tensor in the file type's default type");
  cmd->add_option("--tensor-type", opt->tensor_types, "REGEX=TYPE for tensors whose name matches (repeatable; first match wins)");
  cmd->add_option("--output-tensor-type", opt->output_tensor_type, "Type of output.weight");
  cmd->add_option("--token-embedding-type", opt->token_embedding_type, "Type of token_embd.weight");
  cmd->add_flag("--leave-output-tensor", opt->leave_output, "Keep output.weight unquantized");
  cmd->add_flag("--allow-requantize", opt->allow_requantize, "Accept already-quantized input tensors");
  cmd->add_flag("--allow-nonfinite", opt->allow_nonfinite, "Quantize tensors that contain NaN or Inf");
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  cmd->add_flag("--force", opt->force, "Overwrite an existing output");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the report");
  cmd->callback([opt] { run_quantize(*opt); });
}

}  // namespace vernier::cli
