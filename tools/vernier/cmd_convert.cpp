// vernier convert — between llama2.c, Hugging Face safetensors and GGUF, one tensor in memory at a time.
#include <fmt/format.h>

#include <chrono>
#include <filesystem>
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/model.hpp"
#include "vernier/quantize_model.hpp"

namespace vernier::cli {

namespace {
struct ConvertCliOptions {
  std::string input;
  std::string output;
  std::string type;
  std::string to;
  std::string tokenizer;
  bool force = false;
  bool quiet = false;
  bool json = false;
};

void run_convert(const ConvertCliOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  std::string to = opt.to;
  if (to.empty()) to = std::filesystem::path(opt.output).extension() == ".safetensors" ? "safetensors" : "gguf";
  if (to != "gguf" && to != "safetensors") throw_usage("unknown --to '" + to + "' (expected gguf or safetensors)");
  const GgmlTypeInfo* gt = opt.type.empty() ? nullptr : ggml_type_by_name(opt.type);
  const bool requantize = gt && !gt->is_float && ggml_can_quantize(gt->type);
  if (!opt.type.empty() && opt.type != "f32" && opt.type != "f16" && opt.type != "bf16" && !requantize) {
    throw_usage("unknown --type '" + opt.type + "' (expected f32, f16, bf16 or a GGML type: " + weight_type_names(true, false) + ")");
  }
  if (requantize && to != "gguf") throw_usage("--type " + opt.type + " is a GGML type: the output must be a .gguf file");
  refuse_overwriting_inputs(opt.output, "-o", {{"model", opt.input}, {"--tokenizer", opt.tokenizer}});
  if (std::filesystem::exists(opt.output) && !opt.force) throw_usage(opt.output + ": exists (pass --force to overwrite it)");
  const Model m = open_model(opt.input, opt.tokenizer);
  if (requantize) {  // every 2-D tensor in one GGML type (llama-quantize --pure), from the decoded weights
    const GgufFileType* ft = nullptr;
    for (const auto& f : gguf_file_types()) {
      if (f.default_type == gt->type) {
        ft = &f;
        break;
      }
    }
    if (!ft) throw_usage("--type " + opt.type + ": no GGUF file type has it as its default type");
    QuantizeModelOptions q;
    q.file_type = ft;
    q.mixture.pure = true;
    q.overwrite = opt.force;
    Progress progress(opt.quiet);
    q.progress = [&](size_t i, size_t n, const std::string& name, uint64_t) {
      progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {}", i + 1, n, name));
    };
    const QuantizeModelReport r = quantize_model(m, opt.output, q);
    progress.clear();
    if (opt.json) {
      print_json({{"input", opt.input}, {"output", opt.output}, {"format", to}, {"type", gt->name}, {"tensors", r.tensors.size()},
                  {"tensor_bytes", r.total_bytes}, {"bits_per_weight", r.bits_per_weight()}, {"seconds", r.seconds}});
    } else {
      std::cout << fmt::format("wrote {} ({} tensors in {}, {} bytes of tensor data, {:.3f} bits per weight) in {:.2f} s\n", opt.output,
                               r.tensors.size(), gt->name, grouped(r.total_bytes), r.bits_per_weight(), r.seconds);
    }
    return;
  }
  ConvertOptions co;
  co.out_type = opt.type;
  co.overwrite = opt.force;
  Progress progress(opt.quiet);
  co.progress = [&](size_t i, size_t n, const ModelTensor& t) {
    progress.update(static_cast<int64_t>(i), static_cast<int64_t>(n), fmt::format("[{}/{}] {}", i + 1, n, t.name));
  };
  const ConvertReport r = to == "gguf" ? write_gguf(m, opt.output, co) : write_safetensors(m, opt.output, co);
  progress.clear();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  const uint64_t rss = peak_rss_bytes();
  if (opt.json) {
    print_json({{"input", opt.input}, {"output", opt.output}, {"format", to}, {"tensors", r.tensors},
                {"tensor_bytes", r.bytes_written}, {"seconds", seconds}, {"peak_rss_bytes", rss}});
  } else {
    std::cout << fmt::format("wrote {} ({}, {} tensors, {} bytes of tensor data) in {:.2f} s; peak RSS {}\n", opt.output,
                             to, r.tensors, grouped(r.bytes_written), seconds, format_bytes_short(rss));
  }
}
}  // namespace

void add_convert_command(CLI::App& app) {
  auto opt = std::make_shared<ConvertCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "convert", "Convert a model between llama2.c, Hugging Face safetensors and GGUF (F32/F16/BF16)");
  cmd->add_option("input", opt->input, "Input: .gguf, Hugging Face directory, or llama2.c .bin")->required();
  cmd->add_option("-o,--output", opt->output, "Output file (.gguf or .safetensors)")->required();
  cmd->add_option("--type", opt->type, "Store 2-D tensors as f32, f16 or bf16 (norms stay f32), or requantize them to a GGML type (Q4_K, Q8_0, …; "
                  "a quantized checkpoint is decoded first); default: keep");
  cmd->add_option("--to", opt->to, "Output format: gguf or safetensors (default: from the extension)");
  cmd->add_option("--tokenizer", opt->tokenizer, kTokenizerHelp);
  cmd->add_flag("--force", opt->force, "Overwrite an existing output file");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the report");
  cmd->callback([opt] { run_convert(*opt); });
}

}  // namespace vernier::cli
