// held_tensor(): a quantized layer as a ModelTensor whose codes the runtime multiplies.
#include <algorithm>
#include <cstring>

#include "vernier/file.hpp"
#include "vernier/model.hpp"

namespace vernier {

namespace {
// The float32 values of held codes in the tensor's own order (act order undone, rows put back).
void read_held(const PackedTensor& packed, const std::vector<int32_t>* perm, const std::vector<int32_t>* rows_order, std::span<uint8_t> dst) {
  const std::vector<float> d = dequantize_linear(QuantizedLinear{unpack(packed), perm ? *perm : std::vector<int32_t>{}});
  const auto cols = static_cast<size_t>(packed.cols), rows = static_cast<size_t>(packed.rows);
  const size_t row_bytes = cols * 4;
  if (dst.size() < rows * row_bytes) return;
  for (size_t g = 0; g < rows; ++g) {
    const size_t src = rows_order ? static_cast<size_t>((*rows_order)[g]) : g;
    std::memcpy(dst.data() + g * row_bytes, d.data() + src * cols, row_bytes);
  }
}
}  // namespace

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
  t.read = [packed, perm, rows_order](std::span<uint8_t> dst) { read_held(*packed, perm.get(), rows_order.get(), dst); };
  return t;
}

ModelTensor parked_tensor(const ModelTensor& t, const std::shared_ptr<ScratchFile>& file) {
  ModelTensor p = t;
  p.view = nullptr;
  p.release = nullptr;
  p.release_part = nullptr;
  if (t.scheme) {
    if (t.scheme->scheme.double_quant) return t;  // its second-level state is not parked: kept as it is
    const PackedTensor& h = *t.scheme;
    struct At {
      Scheme scheme;
      int64_t rows, cols, row_bytes;
      uint64_t codes, scales, zeros;
      size_t ncodes, nscales, nzeros;
    };
    const At at{h.scheme, h.rows, h.cols, h.row_bytes, file->append(h.codes), file->append(h.scales), file->append(h.zeros),
                h.codes.size(), h.scales.size(), h.zeros.size()};
    p.scheme = nullptr;
    p.spilled = h.scheme;
    p.load_scheme = [file, at] {
      auto back = std::make_shared<PackedTensor>();
      back->scheme = at.scheme;
      back->rows = at.rows;
      back->cols = at.cols;
      back->row_bytes = at.row_bytes;
      back->codes.resize(at.ncodes);
      back->scales.resize(at.nscales);
      back->zeros.resize(at.nzeros);
      file->read(at.codes, back->codes);
      file->read(at.scales, back->scales);
      file->read(at.zeros, back->zeros);
      return std::shared_ptr<const PackedTensor>(std::move(back));
    };
    p.read = [load = p.load_scheme, perm = t.input_perm, rows_order = t.output_perm](std::span<uint8_t> dst) {
      read_held(*load(), perm.get(), rows_order.get(), dst);
    };
    return p;
  }
  std::vector<uint8_t> bytes(t.nbytes);
  if (t.view) {
    const std::span<const uint8_t> v = t.view();
    std::copy_n(v.begin(), std::min(v.size(), bytes.size()), bytes.begin());
  } else {
    t.read(bytes);
  }
  const uint64_t at = file->append(bytes);
  p.read = [file, at, n = t.nbytes](std::span<uint8_t> dst) { file->read(at, dst.first(std::min<size_t>(dst.size(), n))); };
  return p;
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

namespace vernier {

ModelTensor held_f32_tensor(std::string name, std::vector<int64_t> ne, std::shared_ptr<const std::vector<float>> values) {
  ModelTensor t;
  t.name = std::move(name);
  t.ne = std::move(ne);
  t.type = GgmlType::F32;
  t.nbytes = values->size() * 4;
  t.read = [values](std::span<uint8_t> o) { std::memcpy(o.data(), values->data(), std::min(o.size(), values->size() * 4)); };
  t.view = [values] { return std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(values->data()), values->size() * 4); };
  return t;
}

}  // namespace vernier
