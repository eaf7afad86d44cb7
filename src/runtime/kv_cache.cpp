#include "vernier/kv_cache.hpp"

#include <cstring>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier {

namespace {
struct KvName { KvType t; std::string_view name; };
constexpr KvName kNames[] = {{KvType::f32, "f32"}, {KvType::f16, "f16"}, {KvType::bf16, "bf16"}, {KvType::q8_0, "q8_0"},
                             {KvType::q4_0, "q4_0"}, {KvType::int8, "int8"}, {KvType::int4, "int4"},
                             {KvType::fp8_e4m3, "fp8_e4m3"}, {KvType::fp8_e5m2, "fp8_e5m2"}};
}  // namespace

std::string_view kv_type_name(KvType t) {
  for (const auto& k : kNames) if (k.t == t) return k.name;
  return "?";
}

std::string kv_type_names() {
  std::string s;
  for (const auto& k : kNames) s += (s.empty() ? "" : ", ") + std::string(k.name);
  return s;
}

KvType parse_kv_type(std::string_view name) {
  for (const auto& k : kNames) if (k.name == name) return k.t;
  throw_usage("unknown KV cache type '" + std::string(name) + "' (expected one of: " + kv_type_names() + ")");
}

WeightType kv_weight_type(KvType t, int64_t head_dim) {
  switch (t) {
    case KvType::f32: return GgmlType::F32;
    case KvType::f16: return GgmlType::F16;
    case KvType::bf16: return GgmlType::BF16;
    case KvType::q8_0: return GgmlType::Q8_0;
    case KvType::q4_0: return GgmlType::Q4_0;
    default: break;
  }
  Scheme s;  // on the kv_heads × head_dim matrix of one token: a row is one head
  s.scale_type = ScaleType::f32;
  s.saturation = Saturation::saturate;
  s.granularity = Granularity::per_channel;
  if (t == KvType::int8 || t == KvType::int4) {
    s.format = t == KvType::int8 ? FormatId::int8 : FormatId::int4;
    s.mode = AffineMode::symmetric;
  } else {
    s.format = t == KvType::fp8_e4m3 ? FormatId::fp8_e4m3 : FormatId::fp8_e5m2;
  }
  if (t == KvType::int4) {
    s.granularity = Granularity::per_group;
    s.group_size = head_dim < 32 ? head_dim : 32;
  }
  return WeightType::scheme(s);
}

KvStore::KvStore(KvType type, int64_t rows, int64_t kv_heads, int64_t head_dim)
    : type_(type), wtype_(kv_weight_type(type, head_dim)), kv_heads_(kv_heads), head_dim_(head_dim), kv_dim_(kv_heads * head_dim) {
  if (wtype_.is_ggml()) {
    const GgmlTypeInfo& ti = wtype_.ggml_info();
    const auto rb = ggml_row_bytes(ti, kv_dim_);
    if (!rb) {
      throw_usage("a " + std::string(kv_type_name(type)) + " KV cache needs rows of a multiple of " + std::to_string(ti.block_size) +
                  " values, not " + std::to_string(kv_dim_));
    }
    row_bytes_ = static_cast<uint64_t>(*rb);
  } else {
    scheme_ = wtype_.as_scheme();
    const uint64_t total = scheme_storage_bytes(scheme_, kv_heads, head_dim);  // codes, then FP32 scales
    const int64_t groups = scheme_.granularity == Granularity::per_channel ? kv_heads
                                                                           : kv_heads * ((head_dim + scheme_.group_size - 1) / scheme_.group_size);
    code_bytes_ = total - static_cast<uint64_t>(groups) * 4;
    row_bytes_ = total;
    scratch_.scheme = scheme_;
    scratch_.rows = kv_heads;
    scratch_.cols = head_dim;
    scratch_.row_bytes = static_cast<int64_t>(code_bytes_) / kv_heads;
    scratch_.codes.resize(static_cast<size_t>(code_bytes_));
    scratch_.scales.resize(static_cast<size_t>(groups));
  }
  data_.assign(static_cast<size_t>(row_bytes_ * static_cast<uint64_t>(rows)), 0);
}

void KvStore::write(int64_t row, const float* v) {
  uint8_t* out = data_.data() + static_cast<uint64_t>(row) * row_bytes_;
  if (wtype_.is_ggml()) {
    wtype_.ggml_info().quantize(v, out, kv_dim_, nullptr);  // the registry's row quantizer (F32: a copy)
    return;
  }
  const QuantizedTensor q = quantize(TensorView{v, kv_heads_, head_dim_, "kv"}, scheme_);
  std::memcpy(out, q.codes.data(), q.codes.size());
  std::memcpy(out + code_bytes_, q.scales.data(), q.scales.size() * 4);
}

void KvStore::read(int64_t row, float* v) const {
  const uint8_t* in = data_.data() + static_cast<uint64_t>(row) * row_bytes_;
  if (wtype_.is_ggml()) {
    wtype_.ggml_info().dequantize(in, v, kv_dim_);
    return;
  }
  QuantizedTensor& q = scratch_;
  std::memcpy(q.codes.data(), in, code_bytes_);
  std::memcpy(q.scales.data(), in + code_bytes_, q.scales.size() * 4);
  dequantize(q, std::span<float>(v, static_cast<size_t>(kv_dim_)));
}

}  // namespace vernier
