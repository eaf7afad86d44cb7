// held_tensor(): a quantized layer as a ModelTensor whose codes the runtime multiplies.
#include <algorithm>
#include <cstring>

#include "vernier/model.hpp"

namespace vernier {

ModelTensor held_tensor(std::string name, QuantizedLinear w, std::vector<int32_t> output_order) {
  ModelTensor t;
  t.name = std::move(name);
  const int64_t rows = w.q.rows, cols = w.q.cols;
  t.ne = {cols, rows};
  t.type = GgmlType::F32;  // read() gives the dequantized values
  t.nbytes = static_cast<uint64_t>(rows * cols) * 4;
  auto packed = std::make_shared<const PackedTensor>(pack(std::move(w.q)));  // kept as stored: nothing widened
  std::shared_ptr<const std::vector<int32_t>> perm, rows_order;
  if (!w.perm.empty()) perm = std::make_shared<const std::vector<int32_t>>(std::move(w.perm));
  if (!output_order.empty()) rows_order = std::make_shared<const std::vector<int32_t>>(std::move(output_order));
  t.scheme = packed;
  t.input_perm = perm;
  t.output_perm = rows_order;
  t.read = [packed, perm, rows_order](std::span<uint8_t> dst) {
    const std::vector<float> d = dequantize_linear(QuantizedLinear{unpack(*packed), perm ? *perm : std::vector<int32_t>{}});
    const auto cols = static_cast<size_t>(packed->cols), rows = static_cast<size_t>(packed->rows);
    const size_t row_bytes = cols * 4;
    if (dst.size() < rows * row_bytes) return;
    for (size_t g = 0; g < rows; ++g) {
      const size_t src = rows_order ? static_cast<size_t>((*rows_order)[g]) : g;
      std::memcpy(dst.data() + g * row_bytes, d.data() + src * cols, row_bytes);
    }
  };
  return t;
}

ModelTensor held_ggml_tensor(std::string name, std::vector<int64_t> ne, GgmlType type, std::vector<uint8_t> bytes) {
  auto held = std::make_shared<const std::vector<uint8_t>>(std::move(bytes));
  ModelTensor t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type = type;
  t.nbytes = held->size();
  t.read = [held](std::span<uint8_t> dst) { std::memcpy(dst.data(), held->data(), std::min(dst.size(), held->size())); };
  t.view = [held]() { return std::span<const uint8_t>(*held); };
  return t;
}

}  // namespace vernier
