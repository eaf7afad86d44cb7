// ggml_quantize / ggml_dequantize over the registry rows (registry.cpp) of the GGML types.
#include <cstring>

#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/parallel.hpp"

namespace vernier {

namespace {
const GgmlTypeInfo* find_row(GgmlType type) {
  const GgmlTypeInfo* ti = ggml_type_info(id_of(type));
  return ti && ti->quantize && ti->dequantize ? ti : nullptr;
}
}  // namespace

bool ggml_can_quantize(GgmlType type) { return find_row(type) != nullptr; }
bool ggml_can_dequantize(GgmlType type) { return find_row(type) != nullptr; }

size_t ggml_quantize(GgmlType type, const float* src, void* dst, int64_t nrow, int64_t n_per_row, const float* imatrix) {
  const GgmlTypeInfo* ti = find_row(type);
  if (!ti) throw_usage("quantizing to GGML type " + std::to_string(id_of(type)) + " is not supported");
  const auto row_bytes = ggml_row_bytes(*ti, n_per_row);
  if (!row_bytes) {
    throw_usage(std::string(ti->name) + " needs rows that are a multiple of " + std::to_string(ti->block_size) +
                " values, not " + std::to_string(n_per_row));
  }
  // Q8_0 and the float types have no importance path in llama.cpp (the registry's `importance`)
  const bool use_imatrix = imatrix && ti->importance;
  auto* out = static_cast<uint8_t*>(dst);
  for (int64_t row = 0; row < nrow; ++row) {
    ti->quantize(src + row * n_per_row, out + row * *row_bytes, n_per_row, use_imatrix ? imatrix : nullptr);
  }
  return static_cast<size_t>(nrow * *row_bytes);
}

size_t ggml_quantize_threads(GgmlType type, const float* src, void* dst, int64_t nrow, int64_t n_per_row,
                             const float* imatrix, int threads) {
  const GgmlTypeInfo* ti = ggml_type_info(id_of(type));
  const auto row_bytes = ti ? ggml_row_bytes(*ti, n_per_row) : std::nullopt;
  if (!row_bytes) return ggml_quantize(type, src, dst, nrow, n_per_row, imatrix);  // reports the error
  parallel_for(nrow, threads, [&](int64_t r0, int64_t r1, int) {
    ggml_quantize(type, src + r0 * n_per_row, static_cast<uint8_t*>(dst) + r0 * *row_bytes, r1 - r0, n_per_row, imatrix);
  });
  return static_cast<size_t>(nrow * *row_bytes);
}

void ggml_dequantize(GgmlType type, const void* src, float* dst, int64_t n) {
  const GgmlTypeInfo* ti = find_row(type);
  if (!ti) throw_usage("dequantizing GGML type " + std::to_string(id_of(type)) + " is not supported");
  if (n % ti->block_size != 0) throw_usage(std::string(ti->name) + ": " + std::to_string(n) + " values is not whole blocks");
  ti->dequantize(src, dst, n);
}

}  // namespace vernier
