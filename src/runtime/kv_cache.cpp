#include "vernier/kv_cache.hpp"

#include <cstring>

#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
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

KvStore::KvStore(KvType type, int64_t rows, int64_t kv_heads, int64_t head_dim)
    : type_(type), kv_heads_(kv_heads), head_dim_(head_dim), kv_dim_(kv_heads * head_dim) {
  switch (type) {
    case KvType::f32: row_bytes_ = static_cast<uint64_t>(kv_dim_) * 4; break;
    case KvType::f16: case KvType::bf16: row_bytes_ = static_cast<uint64_t>(kv_dim_) * 2; break;
    case KvType::q8_0: case KvType::q4_0: {
      const GgmlTypeInfo* ti = ggml_type_info(type == KvType::q8_0 ? ggml_type::Q8_0 : ggml_type::Q4_0);
      const auto rb = ggml_row_bytes(*ti, kv_dim_);
      if (!rb) throw_usage("a " + std::string(kv_type_name(type)) + " KV cache needs rows of a multiple of 32 values, not " + std::to_string(kv_dim_));
      row_bytes_ = static_cast<uint64_t>(*rb);
      break;
    }
    default: {
      scheme_.scale_type = ScaleType::f32;
      scheme_.saturation = Saturation::saturate;
      if (type == KvType::int8 || type == KvType::int4) {
        scheme_.format = type == KvType::int8 ? FormatId::int8 : FormatId::int4;
        scheme_.mode = AffineMode::symmetric;
      } else {
        scheme_.format = type == KvType::fp8_e4m3 ? FormatId::fp8_e4m3 : FormatId::fp8_e5m2;
      }
      if (type == KvType::int4) {
        scheme_.granularity = Granularity::per_group;
        scheme_.group_size = head_dim < 32 ? head_dim : 32;
      } else {
        scheme_.granularity = Granularity::per_channel;  // a row of the matrix is one head
      }
      const uint64_t total = static_cast<uint64_t>(scheme_bits_per_weight(scheme_, kv_heads, head_dim) *
                                                   static_cast<double>(kv_dim_) / 8.0 + 0.5);
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
  }
  data_.assign(static_cast<size_t>(row_bytes_ * static_cast<uint64_t>(rows)), 0);
}

void KvStore::write(int64_t row, const float* v) {
  uint8_t* out = data_.data() + static_cast<uint64_t>(row) * row_bytes_;
  switch (type_) {
    case KvType::f32: std::memcpy(out, v, row_bytes_); return;
    case KvType::f16: case KvType::bf16:
      for (int64_t i = 0; i < kv_dim_; ++i) {
        const uint16_t h = type_ == KvType::f16 ? fp16_from_float(v[i]) : bf16_from_float(v[i]);
        std::memcpy(out + 2 * i, &h, 2);
      }
      return;
    case KvType::q8_0: ggml_quantize(ggml_type::Q8_0, v, out, 1, kv_dim_, nullptr); return;
    case KvType::q4_0: ggml_quantize(ggml_type::Q4_0, v, out, 1, kv_dim_, nullptr); return;
    default: {
      const QuantizedTensor q = quantize(TensorView{v, kv_heads_, head_dim_, "kv"}, scheme_);
      std::memcpy(out, q.codes.data(), q.codes.size());
      std::memcpy(out + code_bytes_, q.scales.data(), q.scales.size() * 4);
    }
  }
}

void KvStore::read(int64_t row, float* v) const {
  const uint8_t* in = data_.data() + static_cast<uint64_t>(row) * row_bytes_;
  switch (type_) {
    case KvType::f32: std::memcpy(v, in, row_bytes_); return;
    case KvType::f16: case KvType::bf16:
      for (int64_t i = 0; i < kv_dim_; ++i) {
        uint16_t h;
        std::memcpy(&h, in + 2 * i, 2);
        v[i] = type_ == KvType::f16 ? fp16_to_float(h) : bf16_to_float(h);
      }
      return;
    case KvType::q8_0: ggml_dequantize(ggml_type::Q8_0, in, v, kv_dim_); return;
    case KvType::q4_0: ggml_dequantize(ggml_type::Q4_0, in, v, kv_dim_); return;
    default: {
      QuantizedTensor& q = scratch_;
      std::memcpy(q.codes.data(), in, code_bytes_);
      std::memcpy(q.scales.data(), in + code_bytes_, q.scales.size() * 4);
      dequantize(q, std::span<float>(v, static_cast<size_t>(kv_dim_)));
    }
  }
}

}  // namespace vernier
