// The layouts' names, the schemes each holds, their quantization_config, and the helpers they share.
#include <algorithm>
#include <cmath>
#include <cstring>
#include <numeric>
#include <nlohmann/json.hpp>

#include "hf_layout_internal.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/pack.hpp"

namespace vernier {

namespace {
constexpr HfLayout kLayouts[] = {HfLayout::gptq, HfLayout::awq, HfLayout::compressed_tensors, HfLayout::bnb};

bool power_of_two(int64_t v) { return v > 0 && (v & (v - 1)) == 0; }
}  // namespace

std::string_view hf_layout_name(HfLayout l) {
  switch (l) {
    case HfLayout::gptq: return "gptq";
    case HfLayout::awq: return "awq";
    case HfLayout::compressed_tensors: return "compressed-tensors";
    case HfLayout::bnb: return "bnb";
  }
  return "?";
}

std::string hf_layout_names() {
  std::string s;
  for (HfLayout l : kLayouts) s += (s.empty() ? "" : ", ") + std::string(hf_layout_name(l));
  return s;
}

HfLayout parse_hf_layout(std::string_view name) {
  for (HfLayout l : kLayouts) {
    if (name == hf_layout_name(l)) return l;
  }
  if (name == "bitsandbytes") return HfLayout::bnb;
  if (name == "ct") return HfLayout::compressed_tensors;
  throw_usage("unknown layout '" + std::string(name) + "' (expected one of " + hf_layout_names() + ")");
}

Scheme hf_layout_scheme(HfLayout l, const Scheme& requested) {
  validate(requested);
  Scheme s = requested;
  const FormatInfo& f = format_info(s.format);
  const std::string name = describe(s);
  const auto no = [&](const std::string& limits) -> Scheme {
    throw_usage("layout " + std::string(hf_layout_name(l)) + " cannot hold " + name + ": it holds " + limits);
  };
  switch (l) {
    case HfLayout::gptq:
      if (f.kind != FormatKind::integer || (f.bits != 2 && f.bits != 3 && f.bits != 4 && f.bits != 8) ||
          s.granularity == Granularity::per_tensor) {
        return no("2-, 3-, 4- or 8-bit integers, symmetric or asymmetric, per channel or per group (FP16 scales)");
      }
      s.scale_type = ScaleType::f16;
      return s;
    case HfLayout::awq:
      if (f.kind != FormatKind::integer || f.bits != 4 || s.mode != AffineMode::asymmetric ||
          s.granularity != Granularity::per_group) {
        return no("4-bit asymmetric integers per group (zero points and FP16 scales), e.g. int4-asym-g128");
      }
      s.scale_type = ScaleType::f16;
      return s;
    case HfLayout::compressed_tensors:
      if (f.kind == FormatKind::integer) {
        if (f.bits != 2 && f.bits != 4 && f.bits != 8) return no("2-, 4- or 8-bit integers (pack-quantized) or FP8 E4M3 (float-quantized)");
        if (s.mode == AffineMode::asymmetric && s.granularity == Granularity::per_tensor) {
          return no("asymmetric integers per channel or per group only (it packs zero points per channel or group)");
        }
        return s;
      }
      if (s.format == FormatId::fp8_e4m3 && s.granularity != Granularity::per_group) return s;
      return no("2-, 4- or 8-bit integers (pack-quantized) or FP8 E4M3 per tensor or per channel (float-quantized)");
    case HfLayout::bnb:
      if (s.format != FormatId::nf4 || s.granularity != Granularity::per_group || !power_of_two(s.group_size) ||
          s.group_size < 32 || s.group_size > 4096 || s.scale_type != ScaleType::f32) {
        return no("NF4 in blocks of 32 to 4096 (a power of two) with float32 absmax, optionally double-quantized, e.g. nf4-b64-dq");
      }
      return s;
  }
  return s;
}

std::string hf_layout_shape_error(HfLayout l, const Scheme& s, int64_t rows, int64_t cols) {
  const int b = hf::bits_of(s);
  const auto need = [&](bool ok, const std::string& what) { return ok ? std::string() : what; };
  if (s.granularity == Granularity::per_group && cols % s.group_size != 0) {
    return "the group size " + std::to_string(s.group_size) + " does not divide the input size " + std::to_string(cols);
  }
  switch (l) {
    case HfLayout::gptq:
      if (cols * b % 32 != 0 || cols % 32 != 0) return need(false, "GPTQ packs the input dimension in 32-row words: it must be a multiple of 32");
      return need(rows * b % 32 == 0, "GPTQ packs zero points across the output dimension: it must be a multiple of " +
                                          std::to_string(32 / std::gcd(32, b)));
    case HfLayout::awq: return need(rows % 8 == 0, "AWQ packs 8 output columns in a word: the output size must be a multiple of 8");
    case HfLayout::compressed_tensors: return "";
    case HfLayout::bnb: return "";
  }
  return "";
}

std::vector<HfTensor> hf_layout_specs(const HfQuantConfig& c, const Scheme& s, int64_t rows, int64_t cols) {
  switch (c.layout) {
    case HfLayout::gptq: return hf::gptq_specs(s, rows, cols);
    case HfLayout::awq: return hf::awq_specs(s, rows, cols);
    case HfLayout::compressed_tensors: return hf::ct_specs(s, rows, cols);
    case HfLayout::bnb: return hf::bnb_specs(c, s, rows, cols);
  }
  return {};
}

std::vector<HfTensor> encode_linear(const HfQuantConfig& c, const QuantizedLinear& w) {
  const HfLayout l = c.layout;
  if (!w.perm.empty() && l != HfLayout::gptq) {
    throw_usage("layout " + std::string(hf_layout_name(l)) + " has no act-order permutation (only gptq stores g_idx)");
  }
  const Scheme held = hf_layout_scheme(l, w.q.scheme);  // throws where the layout cannot hold it
  if (held.scale_type != w.q.scheme.scale_type) {
    throw_usage("layout " + std::string(hf_layout_name(l)) + " stores FP16 scales: quantize with " + describe(held));
  }
  const std::string err = hf_layout_shape_error(l, w.q.scheme, w.q.rows, w.q.cols);
  if (!err.empty()) throw_usage("layout " + std::string(hf_layout_name(l)) + ": " + err);
  switch (l) {
    case HfLayout::gptq: return hf::gptq_encode(w, c.gptq_v2);
    case HfLayout::awq: return hf::awq_encode(w);
    case HfLayout::compressed_tensors: return hf::ct_encode(w);
    case HfLayout::bnb: return hf::bnb_encode(c, w);
  }
  return {};
}

QuantizedLinear decode_linear(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                              const std::string& file, DecodeNotes* notes) {
  switch (c.layout) {
    case HfLayout::gptq: return hf::gptq_decode(c, find, rows, cols, file, notes);
    case HfLayout::awq: return hf::awq_decode(c, find, rows, cols, file, notes);
    case HfLayout::compressed_tensors: return hf::ct_decode(c, find, rows, cols, file, notes);
    case HfLayout::bnb: return hf::bnb_decode(c, find, rows, cols, file, notes);
  }
  throw_bad_input(file + ": unknown layout");
}

bool hf_layout_owns(HfLayout l, std::string_view suffix) {
  switch (l) {
    case HfLayout::gptq: return suffix == "qweight";
    case HfLayout::awq: return suffix == "qweight";
    case HfLayout::compressed_tensors: return suffix == "weight_packed" || suffix == "weight_scale";
    case HfLayout::bnb: return suffix == "weight.quant_state.bitsandbytes__nf4";
  }
  return false;
}

// ---- quantization_config ---------------------------------------------------------------------
nlohmann::json hf_quant_config_json(const HfQuantConfig& c) {
  using nlohmann::json;
  const Scheme& s = c.scheme;
  const int b = hf::bits_of(s);
  const int64_t g = s.granularity == Granularity::per_group ? s.group_size : -1;
  const bool sym = s.mode == AffineMode::symmetric;
  switch (c.layout) {
    case HfLayout::gptq:
      return json{{"quant_method", "gptq"}, {"bits", b}, {"group_size", g}, {"desc_act", c.desc_act}, {"sym", sym},
                  {"damp_percent", 0.01}, {"true_sequential", true}, {"static_groups", false},
                  {"checkpoint_format", c.gptq_v2 ? "gptq_v2" : "gptq"}, {"pack_dtype", "int32"}, {"lm_head", false},
                  {"meta", {{"quantizer", json::array({"vernier"})}}}};
    case HfLayout::awq:
      return json{{"quant_method", "awq"}, {"bits", b}, {"group_size", g}, {"zero_point", true}, {"version", "gemm"},
                  {"modules_to_not_convert", c.ignore}};
    case HfLayout::compressed_tensors: {
      const bool fp8 = s.format == FormatId::fp8_e4m3;
      const std::string strategy = s.granularity == Granularity::per_tensor    ? "tensor"
                                   : s.granularity == Granularity::per_channel ? "channel"
                                                                               : "group";
      const std::string format = fp8 ? "float-quantized" : "pack-quantized";
      json weights{{"num_bits", fp8 ? 8 : b}, {"type", fp8 ? "float" : "int"}, {"symmetric", fp8 || sym},
                   {"strategy", strategy}, {"group_size", s.granularity == Granularity::per_group ? json(g) : json(nullptr)},
                   {"block_structure", nullptr}, {"dynamic", false}, {"actorder", nullptr}, {"observer", "minmax"},
                   {"observer_kwargs", json::object()}};
      return json{{"quant_method", "compressed-tensors"},
                  {"format", format},
                  {"quantization_status", "compressed"},
                  {"config_groups", {{"group_0", {{"targets", json::array({"Linear"})}, {"weights", weights},
                                                  {"input_activations", nullptr}, {"output_activations", nullptr},
                                                  {"format", format}}}}},
                  {"ignore", c.ignore},
                  {"kv_cache_scheme", nullptr},
                  {"sparsity_config", json::object()}};
    }
    case HfLayout::bnb:
      return json{{"quant_method", "bitsandbytes"}, {"load_in_4bit", true}, {"load_in_8bit", false},
                  {"_load_in_4bit", true}, {"_load_in_8bit", false},
                  {"bnb_4bit_quant_type", "nf4"}, {"bnb_4bit_use_double_quant", s.double_quant},
                  {"bnb_4bit_compute_dtype", c.dtype}, {"bnb_4bit_quant_storage", "uint8"},
                  {"llm_int8_skip_modules", c.ignore}, {"llm_int8_threshold", 6.0},
                  {"llm_int8_has_fp16_weight", false}, {"llm_int8_enable_fp32_cpu_offload", false}};
  }
  return json::object();
}

namespace {
using nlohmann::json;

int64_t int_field(const json& o, std::initializer_list<const char*> keys, int64_t dflt, const std::string& path, bool required) {
  for (const char* k : keys) {
    if (!o.contains(k) || o[k].is_null()) continue;
    if (!o[k].is_number_integer()) throw_bad_input(path + ": quantization_config." + k + " must be an integer");
    return o[k].get<int64_t>();
  }
  if (required) throw_bad_input(path + ": quantization_config has no '" + std::string(*keys.begin()) + "'");
  return dflt;
}
bool bool_field(const json& o, const char* key, bool dflt, const std::string& path) {
  if (!o.contains(key) || o[key].is_null()) return dflt;
  if (!o[key].is_boolean()) throw_bad_input(path + ": quantization_config." + key + " must be true or false");
  return o[key].get<bool>();
}
std::string str_field(const json& o, const char* key, const std::string& dflt) {
  return o.contains(key) && o[key].is_string() ? o[key].get<std::string>() : dflt;
}
std::vector<std::string> str_list(const json& o, const char* key) {
  std::vector<std::string> v;
  if (o.contains(key) && o[key].is_array()) {
    for (const auto& e : o[key]) {
      if (e.is_string()) v.push_back(e.get<std::string>());
    }
  }
  return v;
}
FormatId int_format(int bits, const std::string& path) {
  static constexpr FormatId kSigned[] = {FormatId::int2, FormatId::int3, FormatId::int4, FormatId::int5,
                                         FormatId::int6, FormatId::int7, FormatId::int8};
  if (bits < 2 || bits > 8) throw_bad_input(path + ": quantization_config names " + std::to_string(bits) + " bits (expected 2 to 8)");
  return kSigned[bits - 2];
}
void set_group(Scheme& s, int64_t g, const std::string& path) {
  if (g == -1 || g == 0) {
    s.granularity = Granularity::per_channel;
    s.group_size = 0;
  } else if (g > 0) {
    s.granularity = Granularity::per_group;
    s.group_size = g;
  } else {
    throw_bad_input(path + ": quantization_config.group_size " + std::to_string(g) + " (expected -1 or a positive size)");
  }
}
}  // namespace

HfQuantConfig parse_hf_quant_config(const json& qc, const std::string& path) {
  if (!qc.is_object()) throw_bad_input(path + ": quantization_config is not an object");
  const std::string method = str_field(qc, "quant_method", "");
  HfQuantConfig c;
  Scheme& s = c.scheme;
  if (method == "gptq") {
    c.layout = HfLayout::gptq;
    const int bits = static_cast<int>(int_field(qc, {"bits"}, 4, path, true));
    if (bits != 2 && bits != 3 && bits != 4 && bits != 8) {
      throw_bad_input(path + ": quantization_config.bits is " + std::to_string(bits) + " (GPTQ stores 2, 3, 4 or 8)");
    }
    const bool sym = bool_field(qc, "sym", true, path);
    s.format = int_format(bits, path);
    s.mode = sym ? AffineMode::symmetric : AffineMode::asymmetric;
    s.scale_type = ScaleType::f16;
    set_group(s, int_field(qc, {"group_size"}, 128, path, false), path);
    c.desc_act = bool_field(qc, "desc_act", false, path);
    const std::string fmt = str_field(qc, "checkpoint_format", "gptq");
    if (fmt != "gptq" && fmt != "gptq_v2") {
      throw_bad_input(path + ": quantization_config.checkpoint_format is '" + fmt + "' (vernier reads gptq and gptq_v2; "
                      "marlin and bitblas repack the codes)");
    }
    c.gptq_v2 = fmt == "gptq_v2";
  } else if (method == "awq") {
    c.layout = HfLayout::awq;
    const int bits = static_cast<int>(int_field(qc, {"bits", "w_bit"}, 4, path, true));
    if (bits != 4) throw_bad_input(path + ": quantization_config.bits is " + std::to_string(bits) + " (AWQ GEMM stores 4)");
    const std::string version = str_field(qc, "version", "gemm");
    if (version != "gemm" && version != "GEMM") {
      throw_bad_input(path + ": AWQ version '" + version + "' (vernier reads the GEMM layout)");
    }
    if (!bool_field(qc, "zero_point", true, path)) throw_bad_input(path + ": AWQ without zero points (vernier reads zero_point: true)");
    s.format = FormatId::int4;
    s.mode = AffineMode::asymmetric;
    s.scale_type = ScaleType::f16;
    set_group(s, int_field(qc, {"group_size", "q_group_size"}, 128, path, true), path);
    if (s.granularity != Granularity::per_group) throw_bad_input(path + ": AWQ needs a positive group_size");
    c.ignore = str_list(qc, "modules_to_not_convert");
  } else if (method == "compressed-tensors") {
    c.layout = HfLayout::compressed_tensors;
    if (!qc.contains("config_groups") || !qc["config_groups"].is_object() || qc["config_groups"].size() != 1) {
      throw_bad_input(path + ": compressed-tensors config: expected exactly one entry in config_groups");
    }
    const json& grp = qc["config_groups"].begin().value();
    const std::string format = str_field(grp, "format", str_field(qc, "format", ""));
    if (!grp.contains("weights") || !grp["weights"].is_object()) throw_bad_input(path + ": compressed-tensors config group has no weights");
    const json& w = grp["weights"];
    if (grp.contains("input_activations") && !grp["input_activations"].is_null()) {
      throw_bad_input(path + ": compressed-tensors with quantized input activations (vernier reads weight-only schemes)");
    }
    const std::string type = str_field(w, "type", "int");
    const int bits = static_cast<int>(int_field(w, {"num_bits"}, 8, path, true));
    const std::string strategy = str_field(w, "strategy", "tensor");
    if (w.contains("actorder") && !w["actorder"].is_null() && w["actorder"] != "static") {
      // "group"/"weight" act order stores weight_g_idx: not read here
      throw_bad_input(path + ": compressed-tensors act order '" + w["actorder"].dump() + "' (vernier reads actorder null or static)");
    }
    if (format == "pack-quantized" && type == "int") {
      if (bits != 2 && bits != 4 && bits != 8) throw_bad_input(path + ": pack-quantized with " + std::to_string(bits) + " bits (vernier reads 2, 4, 8)");
      const bool sym = bool_field(w, "symmetric", true, path);
      s.format = int_format(bits, path);
      s.mode = sym ? AffineMode::symmetric : AffineMode::asymmetric;
    } else if (format == "float-quantized" && type == "float" && bits == 8) {
      s.format = FormatId::fp8_e4m3;
    } else {
      throw_bad_input(path + ": compressed-tensors format '" + format + "' with " + type + std::to_string(bits) +
                      " weights (vernier reads pack-quantized int and float-quantized FP8)");
    }
    if (strategy == "tensor") s.granularity = Granularity::per_tensor;
    else if (strategy == "channel") s.granularity = Granularity::per_channel;
    else if (strategy == "group" && s.format != FormatId::fp8_e4m3) {
      s.granularity = Granularity::per_group;
      s.group_size = int_field(w, {"group_size"}, 0, path, true);
      if (s.group_size <= 0) throw_bad_input(path + ": compressed-tensors group strategy with group_size " + std::to_string(s.group_size));
    } else {
      throw_bad_input(path + ": compressed-tensors strategy '" + strategy + "' (vernier reads tensor, channel, group)");
    }
    c.ignore = str_list(qc, "ignore");
  } else if (method == "bitsandbytes") {
    c.layout = HfLayout::bnb;
    if (!bool_field(qc, "load_in_4bit", false, path) && !bool_field(qc, "_load_in_4bit", false, path)) {
      throw_bad_input(path + ": bitsandbytes 8-bit (LLM.int8) checkpoints are not read; vernier reads 4-bit NF4");
    }
    const std::string qt = str_field(qc, "bnb_4bit_quant_type", "fp4");
    if (qt != "nf4") throw_bad_input(path + ": bitsandbytes quant type '" + qt + "' (vernier reads nf4)");
    s.format = FormatId::nf4;
    s.granularity = Granularity::per_group;
    s.group_size = 64;  // each tensor's quant_state names its own block size
    s.double_quant = bool_field(qc, "bnb_4bit_use_double_quant", false, path);
    c.ignore = str_list(qc, "llm_int8_skip_modules");
  } else {
    throw_bad_input(path + ": quantization_config.quant_method '" + method + "' (vernier reads gptq, awq, compressed-tensors, bitsandbytes)");
  }
  return c;
}

// ---- shared helpers ---------------------------------------------------------------------------
namespace hf {

int bits_of(const Scheme& s) { return format_info(s.format).bits; }
bool is_int(const Scheme& s) { return format_info(s.format).kind == FormatKind::integer; }

int64_t groups_per_row(const Scheme& s, int64_t cols) {
  return s.granularity == Granularity::per_group ? (cols + s.group_size - 1) / s.group_size : 1;
}
int64_t group_len(const Scheme& s, int64_t cols) { return s.granularity == Granularity::per_group ? s.group_size : cols; }

std::vector<uint8_t> unsigned_codes(const QuantizedTensor& q) {
  const FormatInfo& f = format_info(q.scheme.format);
  const int b = f.bits;
  const bool flip = q.scheme.mode == AffineMode::symmetric && f.is_signed;  // signed q → q + 2^(b-1)
  std::vector<int32_t> row(static_cast<size_t>(q.cols));
  std::vector<uint8_t> u(static_cast<size_t>(q.rows * q.cols));
  for (int64_t r = 0; r < q.rows; ++r) {
    unpack_codes(q.codes.data() + r * q.row_bytes, q.cols, b, false, row.data());
    for (int64_t c = 0; c < q.cols; ++c) {
      const int32_t raw = row[static_cast<size_t>(c)];
      u[static_cast<size_t>(r * q.cols + c)] = static_cast<uint8_t>(flip ? raw ^ (1 << (b - 1)) : raw);
    }
  }
  return u;
}

std::vector<int32_t> unsigned_zeros(const QuantizedTensor& q) {
  if (q.scheme.mode == AffineMode::asymmetric) return q.zero_points;
  return std::vector<int32_t>(static_cast<size_t>(q.num_groups()), 1 << (bits_of(q.scheme) - 1));
}

QuantizedTensor from_unsigned(const Scheme& s, int64_t rows, int64_t cols, const std::vector<uint8_t>& u,
                              const std::vector<int32_t>& z, std::vector<float> scales) {
  const FormatInfo& f = format_info(s.format);
  const int b = f.bits;
  QuantizedTensor q;
  q.scheme = s;
  q.rows = rows;
  q.cols = cols;
  q.row_bytes = packed_bytes(cols, b);
  q.codes.assign(static_cast<size_t>(rows * q.row_bytes), 0);
  const bool flip = s.mode == AffineMode::symmetric && f.is_signed;
  std::vector<int32_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) {
      const int32_t v = u[static_cast<size_t>(r * cols + c)];
      row[static_cast<size_t>(c)] = flip ? v ^ (1 << (b - 1)) : v;
    }
    pack_codes(row.data(), cols, b, q.codes.data() + r * q.row_bytes);
  }
  q.scales = std::move(scales);
  if (s.mode == AffineMode::asymmetric) q.zero_points = z;
  return q;
}

Scheme symmetric_or_not(const Scheme& declared, const std::vector<int32_t>& z, const std::string& what, DecodeNotes* notes) {
  if (declared.mode != AffineMode::symmetric) return declared;
  const int32_t mid = 1 << (bits_of(declared) - 1);
  if (std::all_of(z.begin(), z.end(), [&](int32_t v) { return v == mid; })) return declared;
  Scheme s = declared;
  s.mode = AffineMode::asymmetric;
  if (notes) notes->warnings.push_back(what + ": declared symmetric, but its zero points are not all " + std::to_string(mid) + "; read as asymmetric");
  return s;
}

std::string shape_string(const std::vector<int64_t>& shape) {
  std::string s = "[";
  for (size_t i = 0; i < shape.size(); ++i) s += (i ? ", " : "") + std::to_string(shape[i]);
  return s + "]";
}

void refuse(const std::string& file, const HfTensorRef& t, const std::string& what) {
  throw_bad_input(file + ": tensor '" + t.name + "': " + what);
}

const HfTensorRef& need_any(const HfTensorLookup& find, const std::string& suffix, const std::string& file) {
  const HfTensorRef* t = find(suffix);
  if (!t) throw_bad_input(file + ": missing tensor '" + suffix + "' of a quantized layer");
  return *t;
}

const HfTensorRef& need(const HfTensorLookup& find, const std::string& suffix, StDtype dtype,
                        const std::vector<int64_t>& shape, const std::string& file) {
  const HfTensorRef& t = need_any(find, suffix, file);
  if (t.dtype != dtype) {
    refuse(file, t, "dtype " + std::string(st_dtype_name(t.dtype)) + ", expected " + std::string(st_dtype_name(dtype)));
  }
  if (t.shape != shape) refuse(file, t, "shape " + shape_string(t.shape) + ", expected " + shape_string(shape) + " for this layer and config");
  return t;
}

uint32_t word_at(const HfTensorRef& t, int64_t i) {
  uint32_t w;
  std::memcpy(&w, t.data.data() + 4 * i, 4);
  return w;
}

std::vector<uint8_t> words_bytes(const std::vector<uint32_t>& w) {
  std::vector<uint8_t> b(w.size() * 4);
  if (!w.empty()) std::memcpy(b.data(), w.data(), b.size());
  return b;
}

std::vector<float> read_scales(const HfTensorRef& t, const std::string& file) {
  int64_t n = 1;
  for (int64_t d : t.shape) n *= d;
  std::vector<float> v(static_cast<size_t>(n));
  for (int64_t i = 0; i < n; ++i) {
    float x;
    if (t.dtype == StDtype::F32) {
      std::memcpy(&x, t.data.data() + 4 * i, 4);
    } else if (t.dtype == StDtype::F16 || t.dtype == StDtype::BF16) {
      uint16_t h;
      std::memcpy(&h, t.data.data() + 2 * i, 2);
      x = t.dtype == StDtype::F16 ? fp16_to_float(h) : bf16_to_float(h);
    } else {
      refuse(file, t, "dtype " + std::string(st_dtype_name(t.dtype)) + ", expected F16, BF16 or F32 scales");
    }
    if (!std::isfinite(x)) refuse(file, t, "scale " + std::to_string(i) + " is " + std::to_string(x) + " (expected a finite scale)");
    v[static_cast<size_t>(i)] = x;
  }
  return v;
}

void check_scales(const QuantizedTensor& q, const HfTensorRef& scales, const std::string& file) {
  const int64_t gpr = q.scheme.granularity == Granularity::per_group ? q.groups_per_row() : 1;
  const int64_t len = hf::group_len(q.scheme, q.cols);
  for (size_t g = 0; g < q.scales.size(); ++g) {
    const float s = q.scales[g];
    if (s > 0) continue;
    // the group's elements: all must decode to zero for a zero scale to be a valid encoding
    bool nonzero_codes = false;
    if (q.scheme.granularity == Granularity::per_tensor) {
      nonzero_codes = s < 0;
    } else {
      const int64_t r = static_cast<int64_t>(g) / gpr, j = static_cast<int64_t>(g) % gpr;
      for (int64_t c = j * len; c < std::min(q.cols, (j + 1) * len); ++c) {
        const int32_t code = q.code(r, c);
        const int32_t zero = q.zero_points.empty() ? 0 : q.zero_points[g];
        const bool is_nf4 = q.scheme.format == FormatId::nf4;
        if ((is_nf4 && code != 7) || (!is_nf4 && q.scheme.format != FormatId::fp8_e4m3 && code != zero) ||
            (q.scheme.format == FormatId::fp8_e4m3 && (code & 0x7f) != 0)) {
          nonzero_codes = true;
          break;
        }
      }
      nonzero_codes = nonzero_codes || s < 0;
    }
    if (nonzero_codes) {
      refuse(file, scales, "scale " + std::to_string(g) + " is " + std::to_string(s) +
                               " for a group whose codes are not zero (expected a positive scale)");
    }
  }
}

}  // namespace hf
}  // namespace vernier
