// GPTQ (AutoGPTQ / GPTQModel "gptq" and "gptq_v2" checkpoints), docs/layouts/gptq.md.
//
//   qweight  int32 [in·b/32, out]  column j: the codes of output j down the input dimension, one
//                                  LSB-first bit stream over little-endian words (3 bits: 32 codes
//                                  span 3 words, a code may straddle two)
//   qzeros   int32 [groups, out·b/32]  row g: the zero points of group g across the outputs, the same
//                                  stream; v1 ("gptq") stores zero − 1 (masked to b bits), v2 the zero
//   scales   fp16  [groups, out]
//   g_idx    int32 [in]            the group of each input column (act order: not i / group_size)
// w[j][i] = (code − zero[g_idx[i]][j]) · scales[g_idx[i]][j].
#include <algorithm>
#include <cstring>
#include <numeric>

#include "hf_layout_internal.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/pack.hpp"

namespace vernier::hf {

namespace {
// n codes as an LSB-first stream of `words` little-endian 32-bit words.
std::vector<uint32_t> stream_words(const std::vector<int32_t>& codes, int bits, int64_t words) {
  std::vector<uint8_t> bytes(static_cast<size_t>(words * 4), 0);
  pack_codes(codes.data(), static_cast<int64_t>(codes.size()), bits, bytes.data());
  std::vector<uint32_t> w(static_cast<size_t>(words));
  std::memcpy(w.data(), bytes.data(), bytes.size());
  return w;
}
std::vector<int32_t> words_stream(const std::vector<uint32_t>& w, int bits, int64_t n) {
  std::vector<int32_t> codes(static_cast<size_t>(n));
  unpack_codes(reinterpret_cast<const uint8_t*>(w.data()), n, bits, false, codes.data());
  return codes;
}
int64_t ngroups(const Scheme& s, int64_t cols) { return s.granularity == Granularity::per_group ? cols / s.group_size : 1; }
}  // namespace

std::vector<HfTensor> gptq_specs(const Scheme& s, int64_t rows, int64_t cols) {
  const int b = bits_of(s);
  const int64_t G = ngroups(s, cols);
  return {{"qweight", StDtype::I32, {cols * b / 32, rows}, {}},
          {"qzeros", StDtype::I32, {G, rows * b / 32}, {}},
          {"scales", StDtype::F16, {G, rows}, {}},
          {"g_idx", StDtype::I32, {cols}, {}}};
}

std::vector<HfTensor> gptq_encode(const QuantizedLinear& w, bool v2) {
  const QuantizedTensor& q = w.q;
  const int b = bits_of(q.scheme);
  const int64_t rows = q.rows, cols = q.cols, G = ngroups(q.scheme, cols), len = group_len(q.scheme, cols);
  const std::vector<uint8_t> u = unsigned_codes(q);
  const std::vector<int32_t> z = unsigned_zeros(q);
  std::vector<int32_t> where(static_cast<size_t>(cols));  // input column → column of q
  std::iota(where.begin(), where.end(), 0);
  for (size_t k = 0; k < w.perm.size(); ++k) where[static_cast<size_t>(w.perm[k])] = static_cast<int32_t>(k);

  std::vector<HfTensor> out = gptq_specs(q.scheme, rows, cols);
  const int64_t qw_words = cols * b / 32, qz_words = rows * b / 32;
  std::vector<uint32_t> qweight(static_cast<size_t>(qw_words * rows));
  std::vector<int32_t> col(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t i = 0; i < cols; ++i) col[static_cast<size_t>(i)] = u[static_cast<size_t>(r * cols + where[static_cast<size_t>(i)])];
    const std::vector<uint32_t> words = stream_words(col, b, qw_words);
    for (int64_t k = 0; k < qw_words; ++k) qweight[static_cast<size_t>(k * rows + r)] = words[static_cast<size_t>(k)];
  }
  std::vector<uint32_t> qzeros(static_cast<size_t>(G * qz_words));
  std::vector<uint16_t> scales(static_cast<size_t>(G * rows));
  std::vector<int32_t> zrow(static_cast<size_t>(rows));
  const int32_t mask = (1 << b) - 1;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t r = 0; r < rows; ++r) {
      const int32_t zero = z[static_cast<size_t>(r * G + g)];
      zrow[static_cast<size_t>(r)] = v2 ? zero : (zero - 1) & mask;  // v1's zero − 1 wraps a zero of 0 to 2^b − 1
      scales[static_cast<size_t>(g * rows + r)] = fp16_from_float(q.scales[static_cast<size_t>(r * G + g)]);
    }
    const std::vector<uint32_t> words = stream_words(zrow, b, qz_words);
    std::copy(words.begin(), words.end(), qzeros.begin() + g * qz_words);
  }
  std::vector<uint32_t> g_idx(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) g_idx[static_cast<size_t>(i)] = static_cast<uint32_t>(where[static_cast<size_t>(i)] / len);
  out[0].data = words_bytes(qweight);
  out[1].data = words_bytes(qzeros);
  out[2].data.resize(scales.size() * 2);
  std::memcpy(out[2].data.data(), scales.data(), out[2].data.size());
  out[3].data = words_bytes(g_idx);
  return out;
}

QuantizedLinear gptq_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                            const std::string& file, DecodeNotes* notes) {
  Scheme s = c.scheme;
  const int b = bits_of(s);
  const std::string err = hf_layout_shape_error(HfLayout::gptq, s, rows, cols);
  const HfTensorRef& qw_t = need_any(find, "qweight", file);
  if (!err.empty()) refuse(file, qw_t, err + " (the layer is " + std::to_string(rows) + " × " + std::to_string(cols) + ")");
  const int64_t G = ngroups(s, cols), len = group_len(s, cols);
  const int64_t qw_words = cols * b / 32, qz_words = rows * b / 32;
  const HfTensorRef& qweight = need(find, "qweight", StDtype::I32, {qw_words, rows}, file);
  const HfTensorRef& qzeros = need(find, "qzeros", StDtype::I32, {G, qz_words}, file);
  const HfTensorRef& scales_t = need_any(find, "scales", file);
  if (scales_t.shape != std::vector<int64_t>{G, rows}) {
    refuse(file, scales_t, "shape " + shape_string(scales_t.shape) + ", expected " + shape_string({G, rows}));
  }
  const std::vector<float> st = read_scales(scales_t, file);
  s.scale_type = scales_t.dtype == StDtype::F16 ? ScaleType::f16 : ScaleType::f32;

  // g_idx: the group of each input column; act order when it is not i / group_size
  std::vector<int32_t> g_idx(static_cast<size_t>(cols));
  for (int64_t i = 0; i < cols; ++i) g_idx[static_cast<size_t>(i)] = static_cast<int32_t>(i / len);
  if (const HfTensorRef* gi = find("g_idx")) {
    if (gi->dtype != StDtype::I32 || gi->shape != std::vector<int64_t>{cols}) {
      refuse(file, *gi, "dtype " + std::string(st_dtype_name(gi->dtype)) + " shape " + shape_string(gi->shape) + ", expected I32 [" +
                            std::to_string(cols) + "]");
    }
    for (int64_t i = 0; i < cols; ++i) {
      const auto v = static_cast<int32_t>(word_at(*gi, i));
      if (v < 0 || v >= G) {
        refuse(file, *gi, "g_idx[" + std::to_string(i) + "] = " + std::to_string(v) + ", expected a group in [0, " + std::to_string(G) + ")");
      }
      g_idx[static_cast<size_t>(i)] = v;
    }
  }
  std::vector<int32_t> perm;
  bool identity = true;
  for (int64_t i = 0; i < cols; ++i) identity = identity && g_idx[static_cast<size_t>(i)] == i / len;
  if (!identity) {
    perm.resize(static_cast<size_t>(cols));
    std::iota(perm.begin(), perm.end(), 0);
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t bb) { return g_idx[static_cast<size_t>(a)] < g_idx[static_cast<size_t>(bb)]; });
    std::vector<int64_t> count(static_cast<size_t>(G), 0);
    for (int32_t v : g_idx) ++count[static_cast<size_t>(v)];
    for (int64_t g = 0; g < G; ++g) {
      if (count[static_cast<size_t>(g)] != len) {
        refuse(file, *find("g_idx"), "g_idx puts " + std::to_string(count[static_cast<size_t>(g)]) + " input columns in group " +
                                         std::to_string(g) + ", expected group_size " + std::to_string(len));
      }
    }
  }

  // codes: input column i of output r is at position where(i) in q's column order
  std::vector<int32_t> where(static_cast<size_t>(cols));
  std::iota(where.begin(), where.end(), 0);
  for (size_t k = 0; k < perm.size(); ++k) where[static_cast<size_t>(perm[k])] = static_cast<int32_t>(k);
  std::vector<uint8_t> u(static_cast<size_t>(rows * cols));
  std::vector<uint32_t> words(static_cast<size_t>(qw_words));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < qw_words; ++k) words[static_cast<size_t>(k)] = word_at(qweight, k * rows + r);
    const std::vector<int32_t> codes = words_stream(words, b, cols);
    for (int64_t i = 0; i < cols; ++i) u[static_cast<size_t>(r * cols + where[static_cast<size_t>(i)])] = static_cast<uint8_t>(codes[static_cast<size_t>(i)]);
  }
  std::vector<int32_t> z(static_cast<size_t>(rows * G));
  std::vector<float> scales(static_cast<size_t>(rows * G));
  std::vector<uint32_t> zw(static_cast<size_t>(qz_words));
  const int32_t mid = 1 << (b - 1);
  int64_t wrapped = 0, stored_mid = 0, stored_mid_minus_1 = 0;
  for (int64_t g = 0; g < G; ++g) {
    for (int64_t k = 0; k < qz_words; ++k) zw[static_cast<size_t>(k)] = word_at(qzeros, g * qz_words + k);
    const std::vector<int32_t> stored = words_stream(zw, b, rows);
    for (int64_t r = 0; r < rows; ++r) {
      int32_t zero = stored[static_cast<size_t>(r)];
      stored_mid += zero == mid;
      stored_mid_minus_1 += zero == mid - 1;
      if (!c.gptq_v2) {
        zero += 1;
        if (zero == (1 << b)) {  // v1's zero − 1 of a zero of 0, wrapped to 2^b − 1
          zero = 0;
          ++wrapped;
        }
      }
      z[static_cast<size_t>(r * G + g)] = zero;
      scales[static_cast<size_t>(r * G + g)] = st[static_cast<size_t>(g * rows + r)];
    }
  }
  const int64_t n = rows * G;
  if (notes) {
    if (wrapped > 0) {
      notes->warnings.push_back(qzeros.name + ": " + std::to_string(wrapped) + " stored zeros of " + std::to_string((1 << b) - 1) +
                                " in a v1 (gptq) checkpoint: read as zero points of 0 (v1's zero − 1 underflow)");
    }
    if (!c.gptq_v2 && c.scheme.mode == AffineMode::symmetric && stored_mid == n) {
      notes->warnings.push_back(qzeros.name + ": checkpoint_format says gptq (v1, zero − 1), but every stored zero is " + std::to_string(mid) +
                                ", the true symmetric zero: this looks like a gptq_v2 checkpoint mislabelled as v1");
    }
    if (c.gptq_v2 && c.scheme.mode == AffineMode::symmetric && stored_mid_minus_1 == n) {
      notes->warnings.push_back(qzeros.name + ": checkpoint_format says gptq_v2 (true zeros), but every stored zero is " + std::to_string(mid - 1) +
                                ", v1's symmetric zero − 1: this looks like a v1 checkpoint mislabelled as gptq_v2");
    }
  }
  s = symmetric_or_not(s, z, qzeros.name, notes);
  QuantizedLinear out;
  out.q = from_unsigned(s, rows, cols, u, z, std::move(scales));
  out.perm = std::move(perm);
  check_scales(out.q, scales_t, file);
  return out;
}

}  // namespace vernier::hf
