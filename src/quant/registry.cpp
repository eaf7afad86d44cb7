// The registry of weight types: one row per GGML type and one per vernier scheme family, the
// canonical names and the list vernier shows.
#include <algorithm>
#include <array>
#include <cctype>
#include <cstring>

#include "ggml/codes.hpp"
#include "ggml/reference_dot.hpp"
#include "ggml/types.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"
#include "vernier/weight_type.hpp"
#include "weight_only_ref.hpp"

namespace vernier {

namespace {
// The plain float types: element casts (round to nearest even).
void quantize_f32(const float* x, void* y, int64_t n, const float*) { std::memcpy(y, x, static_cast<size_t>(n) * 4); }
void dequantize_f32(const void* x, float* y, int64_t n) { std::memcpy(y, x, static_cast<size_t>(n) * 4); }
void quantize_f16(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<uint16_t*>(vy);
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_from_float(x[i]);
}
void dequantize_f16(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(vx);
  for (int64_t i = 0; i < n; ++i) y[i] = fp16_to_float(x[i]);
}
void quantize_bf16(const float* x, void* vy, int64_t n, const float*) {
  auto* y = static_cast<uint16_t*>(vy);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_from_float(x[i]);
}
void dequantize_bf16(const void* vx, float* y, int64_t n) {
  const auto* x = static_cast<const uint16_t*>(vx);
  for (int64_t i = 0; i < n; ++i) y[i] = bf16_to_float(x[i]);
}
void quantize_q8_1(const float* x, void* y, int64_t n, const float*) { ggml::quantize_q8_1(x, y, n); }

using G = GgmlType;
constexpr std::string_view kGgufDoc = "docs/gguf-types.md", kFloatDoc = "docs/formats/fp16-bf16.md";
// type, name, block, bytes, is_float, activations, quantize, dequantize, reference dot, importance, codes, doc.
// Sizes: QK4_0 = 32 → 2 + 16 bytes, QK_K = 256 …; a type without a quantizer is read and copied only.
constexpr std::array<GgmlTypeInfo, 32> kGgmlTypes = {{
    {G::F32, "F32", 1, 4, true, G::F32, quantize_f32, dequantize_f32, ggml::dot_f32, false, nullptr, kFloatDoc},
    {G::F16, "F16", 1, 2, true, G::F16, quantize_f16, dequantize_f16, ggml::dot_f16, false, nullptr, kFloatDoc},
    {G::Q4_0, "Q4_0", 32, 18, false, G::Q8_0, ggml::quantize_q4_0, ggml::dequantize_q4_0, ggml::dot_q4_0, true, &ggml::kCodesQ4_0, kGgufDoc},
    {G::Q4_1, "Q4_1", 32, 20, false, G::Q8_1, ggml::quantize_q4_1, ggml::dequantize_q4_1, ggml::dot_q4_1, true, &ggml::kCodesQ4_1, kGgufDoc},
    {G::Q5_0, "Q5_0", 32, 22, false, G::Q8_0, ggml::quantize_q5_0, ggml::dequantize_q5_0, ggml::dot_q5_0, true, &ggml::kCodesQ5_0, kGgufDoc},
    {G::Q5_1, "Q5_1", 32, 24, false, G::Q8_1, ggml::quantize_q5_1, ggml::dequantize_q5_1, ggml::dot_q5_1, true, &ggml::kCodesQ5_1, kGgufDoc},
    {G::Q8_0, "Q8_0", 32, 34, false, G::Q8_0, ggml::quantize_q8_0, ggml::dequantize_q8_0, ggml::dot_q8_0, false, &ggml::kCodesQ8_0, kGgufDoc},
    {G::Q8_1, "Q8_1", 32, 36, false, G::Q8_1, quantize_q8_1, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::Q2_K, "Q2_K", 256, 84, false, G::Q8_K, ggml::quantize_q2_k, ggml::dequantize_q2_k, ggml::dot_q2_k, true, &ggml::kCodesQ2_K, kGgufDoc},
    {G::Q3_K, "Q3_K", 256, 110, false, G::Q8_K, ggml::quantize_q3_k, ggml::dequantize_q3_k, ggml::dot_q3_k, true, &ggml::kCodesQ3_K, kGgufDoc},
    {G::Q4_K, "Q4_K", 256, 144, false, G::Q8_K, ggml::quantize_q4_k, ggml::dequantize_q4_k, ggml::dot_q4_k, true, &ggml::kCodesQ4_K, kGgufDoc},
    {G::Q5_K, "Q5_K", 256, 176, false, G::Q8_K, ggml::quantize_q5_k, ggml::dequantize_q5_k, ggml::dot_q5_k, true, &ggml::kCodesQ5_K, kGgufDoc},
    {G::Q6_K, "Q6_K", 256, 210, false, G::Q8_K, ggml::quantize_q6_k, ggml::dequantize_q6_k, ggml::dot_q6_k, true, &ggml::kCodesQ6_K, kGgufDoc},
    {G::Q8_K, "Q8_K", 256, 292, false, G::Q8_K, ggml::quantize_q8_k, ggml::dequantize_q8_k, nullptr, false, nullptr, kGgufDoc},
    {G::IQ2_XXS, "IQ2_XXS", 256, 66, false, G::IQ2_XXS, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ2_XS, "IQ2_XS", 256, 74, false, G::IQ2_XS, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ3_XXS, "IQ3_XXS", 256, 98, false, G::IQ3_XXS, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ1_S, "IQ1_S", 256, 50, false, G::IQ1_S, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ4_NL, "IQ4_NL", 32, 18, false, G::Q8_0, ggml::quantize_iq4_nl, ggml::dequantize_iq4_nl, ggml::dot_iq4_nl, true, &ggml::kCodesIQ4_NL, kGgufDoc},
    {G::IQ3_S, "IQ3_S", 256, 110, false, G::IQ3_S, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ2_S, "IQ2_S", 256, 82, false, G::IQ2_S, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::IQ4_XS, "IQ4_XS", 256, 136, false, G::Q8_K, ggml::quantize_iq4_xs, ggml::dequantize_iq4_xs, ggml::dot_iq4_xs, true, &ggml::kCodesIQ4_XS, kGgufDoc},
    {G::I8, "I8", 1, 1, false, G::I8, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::I16, "I16", 1, 2, false, G::I16, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::I32, "I32", 1, 4, false, G::I32, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::I64, "I64", 1, 8, false, G::I64, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::F64, "F64", 1, 8, true, G::F64, nullptr, nullptr, nullptr, false, nullptr, kFloatDoc},
    {G::IQ1_M, "IQ1_M", 256, 56, false, G::IQ1_M, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::BF16, "BF16", 1, 2, true, G::BF16, quantize_bf16, dequantize_bf16, ggml::dot_bf16, false, nullptr, kFloatDoc},
    {G::TQ1_0, "TQ1_0", 256, 54, false, G::TQ1_0, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::TQ2_0, "TQ2_0", 256, 66, false, G::TQ2_0, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
    {G::MXFP4, "MXFP4", 32, 17, false, G::MXFP4, nullptr, nullptr, nullptr, false, nullptr, kGgufDoc},
}};

QuantizedTensor quantize_scheme(const TensorView& in, const Scheme& s) { return quantize(in, s); }
void dequantize_scheme(const QuantizedTensor& q, std::span<float> out) { dequantize(q, out); }

// family, name, granularities, activations, quantize, dequantize, reference dot, doc
constexpr std::array<SchemeFamilyInfo, 4> kSchemeFamilies = {{
    {SchemeFamily::integer, "int", "tensor, channel, gN (sym or asym)", "f32 (bf16, q8_0 by choice)", quantize_scheme,
     dequantize_scheme, kernels::scheme_reference_dot, "docs/formats/integer.md"},
    {SchemeFamily::nf4, "nf4", "bN (QLoRA blocks), channel, tensor; dq", "f32 (bf16, q8_0 by choice)", quantize_scheme,
     dequantize_scheme, kernels::scheme_reference_dot, "docs/formats/nf4.md"},
    {SchemeFamily::fp8_e4m3, "fp8_e4m3", "tensor, channel, gN", "f32 (bf16, q8_0 by choice)", quantize_scheme,
     dequantize_scheme, kernels::scheme_reference_dot, "docs/formats/fp8.md"},
    {SchemeFamily::fp8_e5m2, "fp8_e5m2", "tensor, channel, gN", "f32 (bf16, q8_0 by choice)", quantize_scheme,
     dequantize_scheme, kernels::scheme_reference_dot, "docs/formats/fp8.md"},
}};

std::string upper(std::string_view s) {
  std::string n;
  for (char c : s) n += static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return n;
}
}  // namespace

std::span<const GgmlTypeInfo> ggml_types() { return kGgmlTypes; }

const GgmlTypeInfo* ggml_type_info(uint32_t id) {
  // by id, in O(1): the products look their type up per call
  static const auto by_id = [] {
    std::array<const GgmlTypeInfo*, 64> a{};
    for (const auto& t : kGgmlTypes) a.at(id_of(t.type)) = &t;
    return a;
  }();
  return id < by_id.size() ? by_id[id] : nullptr;
}

const GgmlTypeInfo* ggml_type_info(GgmlType t) { return ggml_type_info(id_of(t)); }

const GgmlTypeInfo& ggml_info(GgmlType t) {
  const GgmlTypeInfo* ti = ggml_type_info(id_of(t));
  if (!ti) throw_usage("GGML type id " + std::to_string(id_of(t)) + " is not a type");
  return *ti;
}

const GgmlTypeInfo* ggml_type_by_name(std::string_view name) {
  const std::string n = upper(name);
  for (const auto& t : kGgmlTypes) {
    if (t.name == n) return &t;
  }
  return nullptr;
}

std::optional<int64_t> ggml_row_bytes(const GgmlTypeInfo& t, int64_t n) {
  if (n < 0 || n % t.block_size != 0) return std::nullopt;
  return n / t.block_size * t.block_bytes;
}

std::span<const SchemeFamilyInfo> scheme_families() { return kSchemeFamilies; }

const SchemeFamilyInfo* scheme_family_of(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  SchemeFamily fam;
  if (f.kind == FormatKind::integer) fam = SchemeFamily::integer;
  else if (s.format == FormatId::nf4) fam = SchemeFamily::nf4;
  else if (s.format == FormatId::fp8_e4m3) fam = SchemeFamily::fp8_e4m3;
  else if (s.format == FormatId::fp8_e5m2) fam = SchemeFamily::fp8_e5m2;
  else return nullptr;  // fp32, fp16, bf16: the GGML float types
  for (const auto& r : kSchemeFamilies)
    if (r.family == fam) return &r;
  return nullptr;
}

WeightType WeightType::scheme(const Scheme& s) {
  validate(s);
  if (s.format == FormatId::f32) return GgmlType::F32;
  if (s.format == FormatId::f16) return GgmlType::F16;
  if (s.format == FormatId::bf16) return GgmlType::BF16;
  if (s.fixed_scale > 0.0f) throw_usage("a weight type's scales come from the weights, not a fixed scale");
  WeightType w;
  w.is_scheme_ = true;
  w.scheme_ = s;
  return w;
}

const SchemeFamilyInfo& WeightType::family() const {
  const SchemeFamilyInfo* f = is_scheme_ ? scheme_family_of(scheme_) : nullptr;
  if (!f) throw_usage(name() + " is a GGML type, not a vernier scheme");
  return *f;
}

std::string scheme_name(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  std::string out(f.name);
  if (f.kind == FormatKind::floating && f.bits > 8) return out;  // fp32, fp16, bf16
  if (f.kind == FormatKind::integer) out += s.mode == AffineMode::symmetric ? "-sym" : "-asym";
  switch (s.granularity) {
    case Granularity::per_tensor: out += "-tensor"; break;
    case Granularity::per_channel: out += "-channel"; break;
    case Granularity::per_group: out += (f.kind == FormatKind::lookup ? "-b" : "-g") + std::to_string(s.group_size); break;
  }
  if (s.double_quant) out += "-dq";
  if (s.scale_type == ScaleType::f16) out += "-f16";
  return out;
}

std::string WeightType::name() const { return is_scheme_ ? scheme_name(scheme_) : std::string(ggml_info().name); }

std::optional<uint64_t> WeightType::storage_bytes(int64_t rows, int64_t cols) const {
  if (is_scheme_) {
    return scheme_storage_bytes(scheme_, rows, cols);
  }
  const auto rb = ggml_row_bytes(ggml_info(), cols);
  if (!rb) return std::nullopt;
  return static_cast<uint64_t>(*rb) * static_cast<uint64_t>(rows);
}

double WeightType::bits_per_weight(int64_t rows, int64_t cols) const {
  if (is_scheme_) return scheme_bits_per_weight(scheme_, rows, cols);
  const auto b = storage_bytes(rows, cols);
  return b && rows > 0 && cols > 0 ? 8.0 * static_cast<double>(*b) / (static_cast<double>(rows) * static_cast<double>(cols))
                                   : ggml_info().bits_per_weight();
}

double WeightType::nominal_bits_per_weight() const {
  if (!is_scheme_) return ggml_info().bits_per_weight();
  const Scheme& s = scheme_;
  const FormatInfo& f = format_info(s.format);
  double bits = f.bits;
  if (s.granularity != Granularity::per_group) return bits;
  const auto g = static_cast<double>(s.group_size);
  if (s.format == FormatId::nf4 && s.double_quant) return bits + 8.0 / g + 32.0 / (g * 256.0);
  bits += (s.scale_type == ScaleType::f16 ? 16.0 : 32.0) / g;
  if (f.kind == FormatKind::integer && s.mode == AffineMode::asymmetric) bits += static_cast<double>(f.bits) / g;
  return bits;
}

std::string WeightType::activations() const {
  return is_scheme_ ? "f32" : std::string(vernier::ggml_info(ggml_info().activations).name);
}

std::string_view WeightType::doc() const { return is_scheme_ ? family().doc : ggml_info().doc; }

bool WeightType::operator==(const WeightType& o) const {
  if (is_scheme_ != o.is_scheme_) return false;
  if (!is_scheme_) return ggml_ == o.ggml_;
  return scheme_name(scheme_) == scheme_name(o.scheme_) && scheme_.saturation == o.scheme_.saturation &&
         scheme_.rounding == o.scheme_.rounding;
}

const std::vector<WeightType>& weight_types() {
  static const std::vector<WeightType> list = [] {
    std::vector<WeightType> out;
    for (const auto& t : kGgmlTypes)
      if (t.quantize && t.reference_dot) out.emplace_back(t.type);  // storage-only and activation types are left out
    // vernier's schemes: every family and granularity a user reaches for (the GPTQ/AWQ shapes first)
    for (const char* name :
         {"int8-sym-channel", "int8-asym-channel", "int8-sym-tensor", "int8-sym-g128", "int4-asym-g128", "int4-sym-g128",
          "int4-asym-g64", "int4-sym-g64", "int4-asym-g32", "int4-asym-channel", "int4-asym-tensor", "int4-asym-g128-f16",
          "int3-asym-g128", "int2-asym-g64", "nf4-b64", "nf4-b64-dq", "nf4-channel", "fp8_e4m3-channel", "fp8_e4m3-tensor",
          "fp8_e5m2-channel", "fp8_e5m2-tensor"})
      out.push_back(WeightType::scheme(parse_scheme(name)));
    return out;
  }();
  return list;
}

std::string weight_type_names(bool ggml, bool schemes) {
  std::string s;
  for (const WeightType& w : weight_types()) {
    if ((w.is_ggml() && !ggml) || (w.is_scheme() && !schemes)) continue;
    s += (s.empty() ? "" : ", ") + w.name();
  }
  return s;
}

WeightType parse_weight_type(std::string_view text) {
  if (const GgmlTypeInfo* t = ggml_type_by_name(text)) {
    if (!t->quantize || !t->dequantize) {
      throw_usage("'" + std::string(text) + "' is a GGML type vernier reads and copies but does not make (types: " +
                  weight_type_names(true, false) + ")");
    }
    return t->type;
  }
  try {
    return WeightType::scheme(parse_scheme(text));
  } catch (const Error& e) {
    throw_usage("unknown weight type '" + std::string(text) + "': " + e.what() + " (GGML types: " +
                weight_type_names(true, false) + "; schemes such as " + weight_type_names(false, true) + ")");
  }
}

}  // namespace vernier
