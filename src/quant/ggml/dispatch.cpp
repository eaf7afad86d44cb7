// ggml_quantize / ggml_dequantize: one row of the table per GGML type vernier implements.
#include <array>
#include <cstring>

#include "types.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/parallel.hpp"

namespace vernier {

namespace {
using QuantizeRow = void (*)(const float*, void*, int64_t, const float*);
using DequantizeRow = void (*)(const void*, float*, int64_t);

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

struct Row {
  uint32_t type;
  QuantizeRow quantize;
  DequantizeRow dequantize;
};
constexpr std::array<Row, 16> kRows = {{
    {ggml_type::F32, quantize_f32, dequantize_f32},
    {ggml_type::F16, quantize_f16, dequantize_f16},
    {ggml_type::BF16, quantize_bf16, dequantize_bf16},
    {ggml_type::Q4_0, ggml::quantize_q4_0, ggml::dequantize_q4_0},
    {ggml_type::Q4_1, ggml::quantize_q4_1, ggml::dequantize_q4_1},
    {ggml_type::Q5_0, ggml::quantize_q5_0, ggml::dequantize_q5_0},
    {ggml_type::Q5_1, ggml::quantize_q5_1, ggml::dequantize_q5_1},
    {ggml_type::Q8_0, ggml::quantize_q8_0, ggml::dequantize_q8_0},
    {ggml_type::Q2_K, ggml::quantize_q2_k, ggml::dequantize_q2_k},
    {ggml_type::Q3_K, ggml::quantize_q3_k, ggml::dequantize_q3_k},
    {ggml_type::Q4_K, ggml::quantize_q4_k, ggml::dequantize_q4_k},
    {ggml_type::Q5_K, ggml::quantize_q5_k, ggml::dequantize_q5_k},
    {ggml_type::Q6_K, ggml::quantize_q6_k, ggml::dequantize_q6_k},
    {ggml_type::Q8_K, ggml::quantize_q8_k, ggml::dequantize_q8_k},
    {ggml_type::IQ4_NL, ggml::quantize_iq4_nl, ggml::dequantize_iq4_nl},
    {ggml_type::IQ4_XS, ggml::quantize_iq4_xs, ggml::dequantize_iq4_xs},
}};

const Row* find_row(uint32_t type) {
  for (const auto& r : kRows) {
    if (r.type == type) return &r;
  }
  return nullptr;
}
}  // namespace

bool ggml_can_quantize(uint32_t type) { return find_row(type) != nullptr; }
bool ggml_can_dequantize(uint32_t type) { return find_row(type) != nullptr; }

size_t ggml_quantize(uint32_t type, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
  const Row* r = find_row(type);
  const GgmlTypeInfo* ti = ggml_type_info(type);
  if (!r || !ti) throw_usage("quantizing to GGML type " + std::to_string(type) + " is not supported");
  const auto row_bytes = ggml_row_bytes(*ti, n_per_row);
  if (!row_bytes) {
    throw_usage(std::string(ti->name) + " needs rows that are a multiple of " + std::to_string(ti->block_size) +
                " values, not " + std::to_string(n_per_row));
  }
  // Q8_0 and the float types have no importance path in llama.cpp
  const bool use_imatrix = imatrix && type != ggml_type::Q8_0 && type != ggml_type::Q8_K && !ti->is_float;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t row = 0; row < nrow; ++row) {
    r->quantize(src + row * n_per_row, out + row * *row_bytes, n_per_row, use_imatrix ? imatrix : nullptr);
  }
  return static_cast<size_t>(nrow * *row_bytes);
}

size_t ggml_quantize_threads(uint32_t type, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                             const float* imatrix, int threads) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  const auto row_bytes = ti ? ggml_row_bytes(*ti, n_per_row) : std::nullopt;
  if (!row_bytes) return ggml_quantize(type, src, dst, nrow, n_per_row, imatrix);  // reports the error
  parallel_for(nrow, threads, [&](int64_t r0, int64_t r1, int) {
    ggml_quantize(type, src + r0 * n_per_row, static_cast<uint8_t*>(dst) + r0 * *row_bytes, r1 - r0, n_per_row, imatrix);
  });
  return static_cast<size_t>(nrow * *row_bytes);
}

void ggml_dequantize(uint32_t type, const void* src, float* dst, int64_t n) {
  const Row* r = find_row(type);
  const GgmlTypeInfo* ti = ggml_type_info(type);
  if (!r || !ti) throw_usage("dequantizing GGML type " + std::to_string(type) + " is not supported");
  if (n % ti->block_size != 0) throw_usage(std::string(ti->name) + ": " + std::to_string(n) + " values is not whole blocks");
  r->dequantize(src, dst, n);
}

}  // namespace vernier
