// compressed-tensors (llm-compressor's checkpoints, vLLM's CompressedTensorsWNA16 / W8A16Fp8),
// docs/layouts/compressed-tensors.md.
//
// pack-quantized (integers of b bits, b = 2, 4, 8):
//   weight_packed      int32 [out, ceil(in·b/32)]  row j: the codes q + 2^(b−1) of output j, one LSB-first
//                                                  bit stream over little-endian words, zero-padded
//   weight_scale       [out, in/g] (group), [out, 1] (channel), [1] (tensor); F16, BF16 or F32
//   weight_zero_point  int32 [ceil(out·b/32), groups]  asymmetric only: column g holds zero + 2^(b−1)
//                                                  of every output, the same stream down the outputs
//   weight_shape       int64 [2] = [out, in]
//   Codes and zero points are signed in [−2^(b−1), 2^(b−1)); stored with the 2^(b−1) offset they are
//   vernier's unsigned (u, z), and w = (q − zero)·s = (u − z)·s.
// float-quantized (FP8 E4M3):
//   weight        float8_e4m3fn [out, in]
//   weight_scale  [out, 1] (channel) or [1] (tensor); w = fp8(code)·s
#include <cstring>

#include "hf_layout_internal.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/pack.hpp"

namespace vernier::hf {

namespace {
bool is_fp8(const Scheme& s) { return s.format == FormatId::fp8_e4m3; }
int64_t ngroups(const Scheme& s, int64_t cols) { return s.granularity == Granularity::per_group ? cols / s.group_size : 1; }
std::vector<int64_t> scale_shape(const Scheme& s, int64_t rows, int64_t cols) {
  if (s.granularity == Granularity::per_tensor) return {1};
  return {rows, ngroups(s, cols)};
}
int64_t ceil_words(int64_t n, int b) { return (n * b + 31) / 32; }

std::vector<uint8_t> scale_bytes(const QuantizedTensor& q) {
  std::vector<uint8_t> b;
  if (q.scheme.scale_type == ScaleType::f16) {
    b.resize(q.scales.size() * 2);
    for (size_t i = 0; i < q.scales.size(); ++i) {
      const uint16_t h = fp16_from_float(q.scales[i]);
      std::memcpy(b.data() + 2 * i, &h, 2);
    }
  } else {
    b.resize(q.scales.size() * 4);
    std::memcpy(b.data(), q.scales.data(), b.size());
  }
  return b;
}
}  // namespace

std::vector<HfTensor> ct_specs(const Scheme& s, int64_t rows, int64_t cols) {
  const StDtype sd = s.scale_type == ScaleType::f16 ? StDtype::F16 : StDtype::F32;
  if (is_fp8(s)) return {{"weight", StDtype::F8_E4M3, {rows, cols}, {}}, {"weight_scale", sd, scale_shape(s, rows, cols), {}}};
  const int b = bits_of(s);
  std::vector<HfTensor> t = {{"weight_packed", StDtype::I32, {rows, ceil_words(cols, b)}, {}},
                             {"weight_scale", sd, scale_shape(s, rows, cols), {}}};
  if (s.mode == AffineMode::asymmetric) t.push_back({"weight_zero_point", StDtype::I32, {ceil_words(rows, b), ngroups(s, cols)}, {}});
  t.push_back({"weight_shape", StDtype::I64, {2}, {}});
  return t;
}

std::vector<HfTensor> ct_encode(const QuantizedLinear& w) {
  const QuantizedTensor& q = w.q;
  const int64_t rows = q.rows, cols = q.cols;
  std::vector<HfTensor> out = ct_specs(q.scheme, rows, cols);
  if (is_fp8(q.scheme)) {
    out[0].data = q.codes;  // one E4M3 byte per weight, rows of `cols` bytes
    out[1].data = scale_bytes(q);
    return out;
  }
  const int b = bits_of(q.scheme);
  const std::vector<uint8_t> u = unsigned_codes(q);
  const int64_t words = ceil_words(cols, b);
  std::vector<uint8_t> packed(static_cast<size_t>(rows * words * 4), 0);
  std::vector<int32_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) row[static_cast<size_t>(c)] = u[static_cast<size_t>(r * cols + c)];
    pack_codes(row.data(), cols, b, packed.data() + r * words * 4);
  }
  out[0].data = std::move(packed);
  out[1].data = scale_bytes(q);
  size_t next = 2;
  if (q.scheme.mode == AffineMode::asymmetric) {
    const int64_t G = ngroups(q.scheme, cols), zw = ceil_words(rows, b);
    std::vector<uint32_t> zp(static_cast<size_t>(zw * G), 0);
    std::vector<int32_t> col(static_cast<size_t>(rows));
    std::vector<uint32_t> stream(static_cast<size_t>(zw));
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t r = 0; r < rows; ++r) col[static_cast<size_t>(r)] = q.zero_points[static_cast<size_t>(r * G + g)];
      std::fill(stream.begin(), stream.end(), 0u);
      pack_codes(col.data(), rows, b, reinterpret_cast<uint8_t*>(stream.data()));
      for (int64_t k = 0; k < zw; ++k) zp[static_cast<size_t>(k * G + g)] = stream[static_cast<size_t>(k)];
    }
    out[next++].data = words_bytes(zp);
  }
  const int64_t shape[2] = {rows, cols};
  out[next].data.resize(16);
  std::memcpy(out[next].data.data(), shape, 16);
  return out;
}

QuantizedLinear ct_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                          const std::string& file, DecodeNotes* notes) {
  Scheme s = c.scheme;
  const HfTensorRef& scale_t = need_any(find, "weight_scale", file);
  const std::string err = hf_layout_shape_error(HfLayout::compressed_tensors, s, rows, cols);
  if (!err.empty()) refuse(file, scale_t, err);
  if (scale_t.shape != scale_shape(s, rows, cols) && !(s.granularity == Granularity::per_tensor && scale_t.shape.empty())) {
    refuse(file, scale_t, "shape " + shape_string(scale_t.shape) + ", expected " + shape_string(scale_shape(s, rows, cols)));
  }
  std::vector<float> scales = read_scales(scale_t, file);
  s.scale_type = scale_t.dtype == StDtype::F16 ? ScaleType::f16 : ScaleType::f32;
  QuantizedLinear out;
  if (is_fp8(s)) {
    const HfTensorRef& wt = need(find, "weight", StDtype::F8_E4M3, {rows, cols}, file);
    QuantizedTensor& q = out.q;
    q.scheme = s;
    q.rows = rows;
    q.cols = cols;
    q.row_bytes = cols;
    q.codes.assign(wt.data.begin(), wt.data.end());
    q.scales = std::move(scales);
    check_scales(q, scale_t, file);
    return out;
  }
  const int b = bits_of(s);
  if (const HfTensorRef* shp = find("weight_shape")) {
    if ((shp->dtype != StDtype::I64 && shp->dtype != StDtype::I32) || shp->shape != std::vector<int64_t>{2}) {
      refuse(file, *shp, "expected an integer [2] holding [out, in]");
    }
    int64_t v[2];
    for (int i = 0; i < 2; ++i) {
      if (shp->dtype == StDtype::I64) std::memcpy(&v[i], shp->data.data() + 8 * i, 8);
      else v[i] = static_cast<int32_t>(word_at(*shp, i));
    }
    if (v[0] != rows || v[1] != cols) {
      refuse(file, *shp, "says [" + std::to_string(v[0]) + ", " + std::to_string(v[1]) + "], the model's config [" +
                             std::to_string(rows) + ", " + std::to_string(cols) + "]");
    }
  }
  const int64_t words = ceil_words(cols, b);
  const HfTensorRef& packed = need(find, "weight_packed", StDtype::I32, {rows, words}, file);
  std::vector<uint8_t> u(static_cast<size_t>(rows * cols));
  std::vector<int32_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    unpack_codes(packed.data.data() + r * words * 4, cols, b, false, row.data());
    for (int64_t cc = 0; cc < cols; ++cc) u[static_cast<size_t>(r * cols + cc)] = static_cast<uint8_t>(row[static_cast<size_t>(cc)]);
  }
  const int64_t G = s.granularity == Granularity::per_tensor ? 1 : ngroups(s, cols);
  const int64_t groups = s.granularity == Granularity::per_tensor ? 1 : rows * G;
  std::vector<int32_t> z(static_cast<size_t>(groups), 1 << (b - 1));
  if (s.mode == AffineMode::asymmetric) {
    const int64_t zw = ceil_words(rows, b);
    const HfTensorRef& zp = need(find, "weight_zero_point", StDtype::I32, {zw, G}, file);
    std::vector<uint32_t> stream(static_cast<size_t>(zw));
    std::vector<int32_t> col(static_cast<size_t>(rows));
    for (int64_t g = 0; g < G; ++g) {
      for (int64_t k = 0; k < zw; ++k) stream[static_cast<size_t>(k)] = word_at(zp, k * G + g);
      unpack_codes(reinterpret_cast<const uint8_t*>(stream.data()), rows, b, false, col.data());
      for (int64_t r = 0; r < rows; ++r) z[static_cast<size_t>(r * G + g)] = col[static_cast<size_t>(r)];
    }
  } else if (find("weight_zero_point")) {
    if (notes) notes->warnings.push_back(file + ": " + find("weight_zero_point")->name + ": a zero point in a symmetric scheme, ignored");
  }
  out.q = from_unsigned(s, rows, cols, u, z, std::move(scales));
  check_scales(out.q, scale_t, file);
  return out;
}

}  // namespace vernier::hf
