// vernier/kv_cache.hpp — the attention KV cache, stored in a chosen format and decoded when read.
//
// One row per (layer, position): the K (or V) vector of all KV heads, kv_dim = KV heads × head dim.
//   f32, f16, bf16     element casts (round to nearest even)
//   q8_0, q4_0         llama.cpp's 32-value blocks over the row (as its --cache-type-k/v)
//   int8               symmetric, one FP32 scale per token and head (absmax / 127)
//   int4               symmetric, one FP32 scale per token, head and group of 32 within the head
//   fp8_e4m3/e5m2      one FP32 scale per token and head (amax / max finite), saturating
// Each is a WeightType (kv_weight_type): the GGML rows are the registry's, the others vernier's schemes.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/quantize.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

enum class KvType { f32, f16, bf16, q8_0, q4_0, int8, int4, fp8_e4m3, fp8_e5m2 };
KvType parse_kv_type(std::string_view name);  // throws a usage Error listing the names
std::string_view kv_type_name(KvType t);
std::string kv_type_names();
// The weight type a KV cache row is stored in (kv_heads × head_dim values of one token).
WeightType kv_weight_type(KvType t, int64_t head_dim);

class KvStore {
 public:
  KvStore(KvType type, int64_t rows, int64_t kv_heads, int64_t head_dim);
  void write(int64_t row, const float* values);
  void read(int64_t row, float* values) const;
  // An f32 cache's stored rows, read in place (row r at r × kv_dim); nullptr for other types.
  const float* f32_rows() const { return type_ == KvType::f32 ? reinterpret_cast<const float*>(data_.data()) : nullptr; }
  uint64_t bytes_per_row() const { return row_bytes_; }  // codes and scales of one token's K (or V)
  KvType type() const { return type_; }
  const WeightType& weight_type() const { return wtype_; }

 private:
  KvType type_;
  WeightType wtype_;
  int64_t kv_heads_, head_dim_, kv_dim_;
  uint64_t row_bytes_ = 0;
  Scheme scheme_;                 // int8/int4/fp8: vernier's quantizer on a kv_heads × head_dim matrix
  uint64_t code_bytes_ = 0;       // of those, the packed codes (the rest is FP32 scales)
  std::vector<uint8_t> data_;
  mutable QuantizedTensor scratch_;  // int8/int4/fp8 reads: sized once, refilled per row (no allocation)
};

}  // namespace vernier
