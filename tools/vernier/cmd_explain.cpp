// vernier explain — the worked example of one quantization, step by step, for any format.
#include <fmt/format.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <fstream>
#include <iostream>
#include <iterator>
#include <memory>
#include <sstream>

#include "cli_common.hpp"
#include "vernier/error.hpp"
#include "vernier/units.hpp"
#include "vernier/metrics.hpp"
#include "vernier/nf4.hpp"
#include "vernier/quantize.hpp"

namespace vernier::cli {

namespace {
struct ExplainOptions {
  std::string values;
  std::string values_file;
  std::string format = "int8";
  std::string scheme = "asym";
  int64_t group = 0;
  double scale = 0.0;
  bool saturate = true;
  bool f16_scales = false;
  bool double_quant = false;
  bool json = false;
  CLI::Option* group_opt = nullptr;
  CLI::Option* scale_opt = nullptr;
};

std::string read_file_or_stdin(const std::string& path) {
  if (path == "-") {
    return std::string(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  }
  std::ifstream in(path, std::ios::binary);
  if (!in) throw_usage("cannot open --values-file '" + path + "'");
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

Scheme make_scheme(const ExplainOptions& opt, int64_t n) {
  Scheme s;
  s.format = require_format(opt.format).id;
  if (opt.scheme == "asym" || opt.scheme == "asymmetric") s.mode = AffineMode::asymmetric;
  else if (opt.scheme == "sym" || opt.scheme == "symmetric") s.mode = AffineMode::symmetric;
  else throw_usage("unknown --scheme '" + opt.scheme + "' (expected asym or sym)");
  if (opt.group_opt->count() > 0) {
    if (opt.group < 1) throw_usage("--group must be at least 1, got " + std::to_string(opt.group));
    s.granularity = Granularity::per_group;
    s.group_size = opt.group;
  } else {
    s.granularity = Granularity::per_tensor;  // one group holding every value
    (void)n;
  }
  if (opt.scale_opt->count() > 0) {
    if (!(opt.scale > 0.0) || !std::isfinite(opt.scale)) {
      throw_usage("--scale must be a positive finite number, got " + num(opt.scale));
    }
    s.fixed_scale = static_cast<float>(opt.scale);
  }
  s.saturation = opt.saturate ? Saturation::saturate : Saturation::non_saturating;
  s.scale_type = opt.f16_scales ? ScaleType::f16 : ScaleType::f32;
  s.double_quant = opt.double_quant;
  validate(s);
  return s;
}

std::string hex_code(int32_t code, int bits) {
  return fmt::format("0x{:0{}x}", static_cast<uint32_t>(code) & ((bits >= 32) ? 0xffffffffu : ((1u << bits) - 1)),
                     (bits + 3) / 4);
}

void run_explain(const ExplainOptions& opt) {
  const bool have_values = !opt.values.empty();
  const bool have_file = !opt.values_file.empty();
  if (have_values == have_file) throw_usage("give exactly one of --values or --values-file");
  const std::vector<float> x = have_values ? parse_value_list(opt.values, "--values")
                                           : parse_value_list(read_file_or_stdin(opt.values_file), "--values-file");
  const int64_t n = static_cast<int64_t>(x.size());
  const Scheme scheme = make_scheme(opt, n);
  const FormatInfo& f = format_info(scheme.format);

  QuantizedTensor q;
  try {
    q = quantize(TensorView{x.data(), 1, n, "--values"}, scheme);
  } catch (const Error& e) {
    throw_usage(e.what());  // the values came from the command line
  }
  const std::vector<float> y = dequantize(q);
  std::vector<float> err(x.size());
  for (size_t i = 0; i < x.size(); ++i) err[i] = y[i] - x[i];
  const ErrorStats st = error_stats(x, y);

  const bool is_cast = f.id == FormatId::f32 || f.id == FormatId::f16 || f.id == FormatId::bf16;
  const bool is_int = f.kind == FormatKind::integer;
  const bool asym = is_int && scheme.mode == AffineMode::asymmetric;
  const int64_t code_hi = is_int ? (asym || !f.is_signed ? (1 << f.bits) - 1 : (1 << (f.bits - 1)) - 1) : 0;
  const int64_t code_lo = is_int ? (asym ? 0 : (f.is_signed ? -code_hi : 1)) : 0;
  const int32_t sym_zero = (is_int && !asym && !f.is_signed) ? (1 << (f.bits - 1)) : 0;

  struct GroupInfo {
    int64_t begin, end;
    float min, max, absmax, scale;
    int32_t zero;
  };
  std::vector<GroupInfo> groups;
  for (int64_t g = 0; g < q.num_groups(); ++g) {
    GroupInfo gi{};
    gi.begin = g * q.group_len();
    gi.end = std::min(n, gi.begin + q.group_len());
    gi.min = *std::min_element(x.begin() + gi.begin, x.begin() + gi.end);
    gi.max = *std::max_element(x.begin() + gi.begin, x.begin() + gi.end);
    gi.absmax = std::max(std::fabs(gi.min), std::fabs(gi.max));
    gi.scale = q.scales[static_cast<size_t>(g)];
    if (!std::isfinite(gi.scale)) {  // e.g. asymmetric max − min = 6e38 overflows float32: every error would be NaN
      throw_bad_input(fmt::format("{}: the scale of values {} … {} is {} in float32 (the range overflows it); {} cannot store them", scheme_name(scheme),
                                  num(gi.min, 6), num(gi.max, 6), std::isnan(gi.scale) ? "NaN" : "infinite", scheme_name(scheme)));
    }
    gi.zero = asym ? q.zero_points[static_cast<size_t>(g)] : sym_zero;
    groups.push_back(gi);
  }
  std::vector<int32_t> codes(x.size());
  std::vector<double> scaled(x.size(), 0.0);
  for (int64_t i = 0; i < n; ++i) {
    codes[static_cast<size_t>(i)] = q.code(0, i);
    if (!is_cast) {
      const float s = q.scales[static_cast<size_t>(q.group_index(0, i))];
      scaled[static_cast<size_t>(i)] = s > 0 ? static_cast<double>(x[static_cast<size_t>(i)] * (1.0f / s)) : 0.0;
    }
  }
  // The half-step bound applies to uniform (integer) grids; elsewhere the step depends on the value.
  double half_step = std::nan("");
  if (is_int && !groups.empty()) half_step = groups[0].scale / 2.0;

  if (opt.json) {
    nlohmann::json jg = nlohmann::json::array();
    for (const auto& g : groups) {
      jg.push_back({{"begin", g.begin}, {"end", g.end}, {"min", g.min}, {"max", g.max}, {"absmax", g.absmax},
                    {"scale", g.scale}, {"zero_point", is_int ? nlohmann::json(g.zero) : nlohmann::json(nullptr)},
                    {"half_step", is_int ? jnum(g.scale / 2.0) : nlohmann::json(nullptr)}});
    }
    nlohmann::json j = {
        {"format", f.name},
        {"scheme", describe(scheme)},
        {"values", x},
        {"scale", groups.empty() ? nlohmann::json(nullptr) : nlohmann::json(groups[0].scale)},
        {"zero_point", is_int && !groups.empty() ? nlohmann::json(groups[0].zero) : nlohmann::json(nullptr)},
        {"code_range", is_int ? nlohmann::json::array({code_lo, code_hi}) : nlohmann::json(nullptr)},
        {"q", codes},
        {"dequantized", nlohmann::json::array()},
        {"errors", nlohmann::json::array()},
        {"mse", jnum(st.mse)},
        {"rmse", jnum(st.rmse)},
        {"max_abs_error", jnum(st.max_abs)},
        {"mean_signed_error", jnum(st.mean_signed)},
        {"sqnr_db", jnum(st.sqnr_db)},
        {"half_step", jnum(half_step)},
        {"bits_per_weight", q.bits_per_weight()},
        {"groups", jg},
    };
    for (size_t i = 0; i < x.size(); ++i) {
      j["dequantized"].push_back(jnum(y[i]));
      j["errors"].push_back(jnum(err[i]));
    }
    if (!is_cast) j["scaled"] = scaled;
    if (f.id == FormatId::nf4) {
      nlohmann::json lv = nlohmann::json::array();
      for (int32_t c : codes) lv.push_back(kNf4Levels[static_cast<size_t>(c)]);
      j["levels"] = lv;
    }
    print_json(j);
    return;
  }

  std::ostream& out = std::cout;
  out << describe(scheme) << ": ";
  if (is_cast) {
    out << "a plain cast to " << f.name << " (round to nearest, ties to even); no scale\n";
  } else if (is_int && asym) {
    out << fmt::format("codes {}..{}; q = clamp(round(x / scale) + zero_point, {}, {}); x' = (q - zero_point) × scale\n",
                       code_lo, code_hi, code_lo, code_hi);
  } else if (is_int) {
    out << fmt::format("codes {}..{}; q = clamp(round(x / scale){}, {}, {}); x' = (q{}) × scale\n", code_lo, code_hi,
                       sym_zero ? fmt::format(" + {}", sym_zero) : "", code_lo, code_hi,
                       sym_zero ? fmt::format(" - {}", sym_zero) : "");
  } else if (f.id == FormatId::nf4) {
    out << "q = the nearest of 16 NF4 levels to x / absmax; x' = level[q] × absmax\n";
  } else {
    out << fmt::format("q = {}(x / scale) ({}); x' = {}(q) × scale\n", f.name,
                       scheme.saturation == Saturation::saturate ? "saturating" : "non-saturating: overflow → "
                       + std::string(f.id == FormatId::fp8_e4m3 ? "NaN" : "Inf"), f.name);
  }
  for (size_t g = 0; g < groups.size(); ++g) {
    const GroupInfo& gi = groups[g];
    out << fmt::format("\ngroup {} of {}: values {}..{}\n", g + 1, groups.size(), gi.begin, gi.end - 1);
    const bool fixed_scale = scheme.fixed_scale > 0.0f;
    if (is_int && asym) {
      const float lo = std::min(gi.min, 0.0f), hi = std::max(gi.max, 0.0f);
      out << fmt::format("  min = {}, max = {}{}\n", num(gi.min, 6), num(gi.max, 6),
                         (lo != gi.min || hi != gi.max) ? " (the range is widened to include 0)" : "");
      if (fixed_scale) out << fmt::format("  scale = {} (fixed by --scale)\n", num(gi.scale, 6));
      else out << fmt::format("  scale = (max - min) / {} = {} / {} = {}\n", code_hi, num(hi - lo, 6), code_hi, num(gi.scale, 6));
      out << fmt::format("  zero point = round(-min / scale) = round({}) = {}\n",
                         fixed(-lo * (gi.scale > 0 ? 1.0f / gi.scale : 0.0f), 4), gi.zero);
    } else if (is_int) {
      if (fixed_scale) out << fmt::format("  scale = {} (fixed by --scale)\n", num(gi.scale, 6));
      else out << fmt::format("  absmax = {}; scale = absmax / {} = {}\n", num(gi.absmax, 6), code_hi - sym_zero,
                              num(gi.scale, 6));
      out << fmt::format("  zero point = {} (symmetric)\n", gi.zero);
    } else if (f.id == FormatId::nf4) {
      out << fmt::format("  absmax = {}{}\n", num(gi.absmax, 6),
                         fixed_scale ? fmt::format("; scale = {} (fixed by --scale)", num(gi.scale, 6))
                                     : (gi.scale != gi.absmax ? fmt::format("; stored as {}", num(gi.scale, 6)) : ""));
    } else if (!is_cast) {
      if (fixed_scale) out << fmt::format("  scale = {} (fixed by --scale)\n", num(gi.scale, 6));
      else out << fmt::format("  amax = {}; scale = amax / {} = {}\n", num(gi.absmax, 6), num(f.max_finite, 6),
                              num(gi.scale, 6));
    }
    Table t;
    if (is_cast) t.header = {"x", "code", "x'", "error"};
    else if (is_int) t.header = {"x", "x/scale", "q", "x'", "error"};
    else if (f.id == FormatId::nf4) t.header = {"x", "x/absmax", "q", "level", "x'", "error"};
    else t.header = {"x", "x/scale", "code", fmt::format("{}(code)", f.name), "x'", "error"};
    for (int64_t i = gi.begin; i < gi.end; ++i) {
      const size_t k = static_cast<size_t>(i);
      const std::string xs = num(x[k], 6), ys = num(y[k], 6), es = fmt::format("{:+.3g}", err[k]);
      if (is_cast) t.rows.push_back({xs, hex_code(codes[k], f.bits), ys, es});
      else if (is_int) t.rows.push_back({xs, fixed(scaled[k], 4), std::to_string(codes[k]), ys, es});
      else if (f.id == FormatId::nf4)
        t.rows.push_back({xs, fixed(scaled[k], 4), std::to_string(codes[k]), num(kNf4Levels[static_cast<size_t>(codes[k])], 6), ys, es});
      else {
        const float v = f.id == FormatId::fp8_e4m3 ? fp8_e4m3_to_float(static_cast<uint8_t>(codes[k]))
                                                   : fp8_e5m2_to_float(static_cast<uint8_t>(codes[k]));
        t.rows.push_back({xs, num(scaled[k], 6), hex_code(codes[k], 8), num(v, 6), ys, es});
      }
    }
    t.print(out, "  ");
    if (is_int) {
      const double bound = gi.scale / 2.0;
      double worst = 0.0;
      for (int64_t i = gi.begin; i < gi.end; ++i) worst = std::max(worst, std::fabs(static_cast<double>(err[static_cast<size_t>(i)])));
      // A few float32 ulps of slack: x/scale and (q - z) × scale are each rounded once.
      const bool within = worst <= bound * (1 + 1e-6) + 1e-30;
      out << fmt::format("  half-step bound: scale / 2 = {}; largest |error| = {} ({})\n", num(bound, 6), num(worst, 6),
                         within ? "within the bound" : "beyond it: values outside the code range were clipped");
    }
  }
  out << fmt::format("\nMSE = {}   RMSE = {}   max |error| = {}   mean signed error = {}   SQNR = {} dB\n",
                     num(st.mse, 6), num(st.rmse, 6), num(st.max_abs, 6), num(st.mean_signed, 4), num(st.sqnr_db, 4));
  out << fmt::format("storage: {} bytes for {} values = {} bits per value (codes, scales and zero points)\n",
                     q.storage_bytes(), n, num(q.bits_per_weight(), 4));
}
}  // namespace

void add_explain_command(CLI::App& app) {
  auto opt = std::make_shared<ExplainOptions>();
  CLI::App* cmd = app.add_subcommand(
      "explain",
      "Quantize a few values step by step: range, scale, zero point, codes, dequantized values, errors");
  cmd->add_option("--values", opt->values, "Comma-separated values, e.g. 0.10,-0.30,0.70,-1.00,0.50");
  cmd->add_option("--values-file", opt->values_file, "File of values separated by commas or whitespace ('-': stdin)");
  cmd->add_option("--format", opt->format, "Format: " + format_names())->capture_default_str();
  cmd->add_option("--scheme", opt->scheme, "Integer formats: asym (min/max, zero point) or sym (absmax)")
      ->capture_default_str();
  opt->group_opt = cmd->add_option("--group", opt->group, "Group size: one scale per N consecutive values (default: one group)");
  opt->scale_opt = cmd->add_option("--scale", opt->scale, "Use this scale instead of deriving it (FP8 with 1: the plain cast)");
  // two flags rather than CLI11's negated pair, whose help line reads "--saturate,--no-saturate{false}"
  cmd->add_flag_callback("--saturate", [opt] { opt->saturate = true; }, "FP8 overflow: clamp to the largest finite value (the default)");
  cmd->add_flag_callback("--no-saturate", [opt] { opt->saturate = false; }, "FP8 overflow: become Inf/NaN instead");
  cmd->add_flag("--f16-scales", opt->f16_scales, "Store scales as FP16 (as GPTQ/AWQ/GGUF do)");
  cmd->add_flag("--double-quant", opt->double_quant, "NF4: quantize the absmax values too (QLoRA)");
  add_json_flag(cmd, opt->json, "the result");
  cmd->callback([opt] { run_explain(*opt); });
}

}  // namespace vernier::cli
