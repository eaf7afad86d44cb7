// vernier formats — the numeric formats table, generated from the format registry.
#include <iostream>
#include <memory>

#include "cli_common.hpp"
#include "vernier/format.hpp"

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

void run_formats(const FormatsOptions& opt) {
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
    print_json({{"formats", arr}});
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
}
}  // namespace

void add_formats_command(CLI::App& app) {
  auto opt = std::make_shared<FormatsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "formats", "Table of every numeric format: bytes per parameter, range, precision, levels, role");
  cmd->add_flag("--json", opt->json, "Print the table as JSON");
  cmd->callback([opt] { run_formats(*opt); });
}

}  // namespace vernier::cli
