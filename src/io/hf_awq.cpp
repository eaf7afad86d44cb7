// AWQ GEMM (AutoAWQ's WQLinear_GEMM, llm-awq), docs/layouts/awq.md.
//
//   qweight  int32 [in, out/8]       word w of input row i: the 4-bit codes of outputs 8w … 8w+7, in
//                                    AWQ's nibble order: nibble n holds output 8w + kOrder[n]
//   qzeros   int32 [in/g, out/8]     the zero points of group g, the same packing (unsigned, no shift)
//   scales   fp16  [in/g, out]
// w[j][i] = (code − zero[i/g][j]) · scales[i/g][j].
#include <cstring>

#include "hf_layout_internal.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"

namespace vernier::hf {

namespace {
// nibble n of a word ↔ output 8w + kOrder[n] (AutoAWQ packs [0, 2, 4, 6, 1, 3, 5, 7])
constexpr int kOrder[8] = {0, 2, 4, 6, 1, 3, 5, 7};
}  // namespace

std::vector<HfTensor> awq_specs(const Scheme& s, int64_t rows, int64_t cols) {
  const int64_t G = cols / s.group_size;
  return {{"qweight", StDtype::I32, {cols, rows / 8}, {}},
          {"qzeros", StDtype::I32, {G, rows / 8}, {}},
          {"scales", StDtype::F16, {G, rows}, {}}};
}

std::vector<HfTensor> awq_encode(const QuantizedLinear& w) {
  const QuantizedTensor& q = w.q;
  const int64_t rows = q.rows, cols = q.cols, g = q.scheme.group_size, G = cols / g, W = rows / 8;
  const std::vector<uint8_t> u = unsigned_codes(q);
  const std::vector<int32_t> z = unsigned_zeros(q);
  std::vector<uint32_t> qweight(static_cast<size_t>(cols * W), 0), qzeros(static_cast<size_t>(G * W), 0);
  std::vector<uint16_t> scales(static_cast<size_t>(G * rows));
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t wi = 0; wi < W; ++wi) {
      uint32_t word = 0;
      for (int n = 0; n < 8; ++n) word |= static_cast<uint32_t>(u[static_cast<size_t>((8 * wi + kOrder[n]) * cols + i)]) << (4 * n);
      qweight[static_cast<size_t>(i * W + wi)] = word;
    }
  }
  for (int64_t j = 0; j < G; ++j) {
    for (int64_t wi = 0; wi < W; ++wi) {
      uint32_t word = 0;
      for (int n = 0; n < 8; ++n) word |= static_cast<uint32_t>(z[static_cast<size_t>((8 * wi + kOrder[n]) * G + j)]) << (4 * n);
      qzeros[static_cast<size_t>(j * W + wi)] = word;
    }
    for (int64_t r = 0; r < rows; ++r) scales[static_cast<size_t>(j * rows + r)] = fp16_from_float(q.scales[static_cast<size_t>(r * G + j)]);
  }
  std::vector<HfTensor> out = awq_specs(q.scheme, rows, cols);
  out[0].data = words_bytes(qweight);
  out[1].data = words_bytes(qzeros);
  out[2].data.resize(scales.size() * 2);
  std::memcpy(out[2].data.data(), scales.data(), out[2].data.size());
  return out;
}

QuantizedLinear awq_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                           const std::string& file, DecodeNotes* notes) {
  (void)notes;
  Scheme s = c.scheme;
  const HfTensorRef& first = need_any(find, "qweight", file);
  const std::string err = hf_layout_shape_error(HfLayout::awq, s, rows, cols);
  if (!err.empty()) refuse(file, first, err + " (the layer is " + std::to_string(rows) + " × " + std::to_string(cols) + ")");
  const int64_t g = s.group_size, G = cols / g, W = rows / 8;
  const HfTensorRef& qweight = need(find, "qweight", StDtype::I32, {cols, W}, file);
  const HfTensorRef& qzeros = need(find, "qzeros", StDtype::I32, {G, W}, file);
  const HfTensorRef& scales_t = need_any(find, "scales", file);
  if (scales_t.shape != std::vector<int64_t>{G, rows}) {
    refuse(file, scales_t, "shape " + shape_string(scales_t.shape) + ", expected " + shape_string({G, rows}));
  }
  const std::vector<float> st = read_scales(scales_t, file);
  s.scale_type = scales_t.dtype == StDtype::F16 ? ScaleType::f16 : ScaleType::f32;
  std::vector<uint8_t> u(static_cast<size_t>(rows * cols));
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t wi = 0; wi < W; ++wi) {
      const uint32_t word = word_at(qweight, i * W + wi);
      for (int n = 0; n < 8; ++n) u[static_cast<size_t>((8 * wi + kOrder[n]) * cols + i)] = static_cast<uint8_t>((word >> (4 * n)) & 15);
    }
  }
  std::vector<int32_t> z(static_cast<size_t>(rows * G));
  std::vector<float> scales(static_cast<size_t>(rows * G));
  for (int64_t j = 0; j < G; ++j) {
    for (int64_t wi = 0; wi < W; ++wi) {
      const uint32_t word = word_at(qzeros, j * W + wi);
      for (int n = 0; n < 8; ++n) z[static_cast<size_t>((8 * wi + kOrder[n]) * G + j)] = static_cast<int32_t>((word >> (4 * n)) & 15);
    }
    for (int64_t r = 0; r < rows; ++r) scales[static_cast<size_t>(r * G + j)] = st[static_cast<size_t>(j * rows + r)];
  }
  QuantizedLinear out;
  out.q = from_unsigned(s, rows, cols, u, z, std::move(scales));
  check_scales(out.q, scales_t, file);
  return out;
}

}  // namespace vernier::hf
