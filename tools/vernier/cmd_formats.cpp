// vernier formats — the numeric formats table, generated from the format registry.
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "vernier/format.hpp"
#include "vernier/kernels.hpp"
#include "vernier/weight_type.hpp"

namespace vernier::cli {

namespace {
struct FormatsOptions {
  bool json = false;
};

std::string kind_name(FormatKind k) {
  switch (k) {
    case FormatKind::floating: return "float";
    case FormatKind::integer: return "integer";
    case FormatKind::lookup: return "lookup";
  }
  return "?";
}

std::string layout(const WeightType& w) {
  if (w.is_ggml()) {
    const GgmlTypeInfo& t = w.ggml_info();
    return t.block_size == 1 ? "element" : "block of " + std::to_string(t.block_size) + " (" + std::to_string(t.block_bytes) + " B)";
  }
  const Scheme& s = w.as_scheme();
  switch (s.granularity) {
    case Granularity::per_tensor: return "scale per tensor";
    case Granularity::per_channel: return "scale per row";
    case Granularity::per_group: return "scale per " + std::to_string(s.group_size);
  }
  return "";
}

const char* kernel_name(const WeightType& w) {
  return cpu_kernel(KernelContext{}, w) == CpuKernel::simd ? "simd" : "reference";
}

void run_formats(const FormatsOptions& opt) {
  const std::vector<WeightType>& types = weight_types();
  if (opt.json) {
    nlohmann::json arr = nlohmann::json::array();
    for (const FormatInfo& f : kFormats) {
      arr.push_back({{"name", f.name},
                     {"kind", kind_name(f.kind)},
                     {"bits", f.bits},
                     {"bytes_per_param", f.bits / 8.0},
                     {"signed", f.is_signed},
                     {"max_finite", f.max_finite},
                     {"min_normal", f.min_normal},
                     {"min_subnormal", f.min_subnormal > 0 ? nlohmann::json(f.min_subnormal) : nlohmann::json(nullptr)},
                     {"levels", f.levels},
                     {"step_near_one", f.step_near_one},
                     {"role", f.role}});
    }
    nlohmann::json wt = nlohmann::json::array();
    for (const WeightType& w : types) {
      wt.push_back({{"name", w.name()}, {"kind", w.is_ggml() ? "ggml" : "scheme"}, {"bits_per_weight", w.nominal_bits_per_weight()},
                    {"layout", layout(w)}, {"activations", w.activations()}, {"cpu_kernel", kernel_name(w)}, {"doc", w.doc()}});
    }
    print_json({{"formats", arr}, {"weight_types", wt}});
    return;
  }
  Table t;
  t.left_tail = 1;
  t.header = {"format", "bits", "bytes/param", "max finite", "min normal", "min subnormal", "levels",
              "step at 1.0", "typical role"};
  for (const FormatInfo& f : kFormats) {
    const bool code_units = f.kind != FormatKind::floating;
    t.rows.push_back({std::string(f.name), std::to_string(f.bits), num(f.bits / 8.0, 4),
                      num(f.max_finite, 5), num(f.min_normal, 4),
                      f.min_subnormal > 0 ? num(f.min_subnormal, 4) : "-", grouped(f.levels),
                      num(f.step_near_one, 4) + (code_units ? "*" : " "), std::string(f.role)});
  }
  t.print(std::cout);
  std::cout << "\nmax finite / min normal of integer formats are codes (times the scale); NF4's are levels.\n"
               "step at 1.0: floats, the gap from 1.0 to the next value (machine epsilon);\n"
               "* integer and NF4 codes, the gap below 1.0 when the scale puts the top code at 1.0.\n"
               "levels: distinct finite values (+0 and -0 counted once).\n";
  Table w;
  w.left_tail = 1;
  w.header = {"weight type", "bits/w", "layout", "activations", "CPU kernel", "docs"};
  for (const WeightType& t : types) {
    w.rows.push_back({t.name(), num(t.nominal_bits_per_weight(), 5), layout(t), t.activations(), kernel_name(t), std::string(t.doc())});
  }
  std::cout << "\nweight types (what `quantize`, `eval --scheme`, `run --scheme` and `bench` take):\n";
  w.print(std::cout);
  std::cout << "\nbits/w: codes plus scales, zero points and block metadata per weight, for large matrices\n"
               "(per-tensor and per-row scales not counted). GGML types multiply activations quantized to the\n"
               "format shown, as llama.cpp does; vernier's schemes multiply float32 activations.\n";
}
}  // namespace

void add_formats_command(CLI::App& app) {
  auto opt = std::make_shared<FormatsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "formats", "Table of every numeric format (range, precision, levels, role) and every weight type (bits per weight, layout, kernel)");
  add_json_flag(cmd, opt->json, "the table");
  cmd->callback([opt] { run_formats(*opt); });
}

}  // namespace vernier::cli
