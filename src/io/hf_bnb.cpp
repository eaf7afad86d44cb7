// bitsandbytes NF4 as transformers saves a Linear4bit (Params4bit + QuantState.as_dict(packed=True)),
// docs/layouts/bnb.md.
//
//   weight                                uint8 [n/2, 1]  the weight flattened row-major (n = out·in), two
//                                         4-bit NF4 indices a byte, the first in the HIGH nibble
//   weight.absmax                         float32 [n/block]; with double quantization uint8 codes of
//                                         (absmax − offset) in the 8-bit dynamic map, per 256 absmax values
//   weight.quant_map                      float32 [16]  the NF4 levels
//   weight.nested_absmax                  float32 [ceil(n/block/256)]   (double quantization)
//   weight.nested_quant_map               float32 [256] the dynamic map  (double quantization)
//   weight.quant_state.bitsandbytes__nf4  uint8: JSON {"quant_type", "blocksize", "dtype", "shape",
//                                         and "nested_blocksize", "nested_dtype", "nested_offset"}
// w = quant_map[index] · absmax[block]; absmax = nested_quant_map[code] · nested_absmax[code / 256] + offset.
#include <cmath>
#include <cstring>
#include <nlohmann/json.hpp>

#include "hf_layout_internal.hpp"
#include "vernier/error.hpp"
#include "vernier/nf4.hpp"
#include "vernier/pack.hpp"

namespace vernier::hf {

namespace {
constexpr const char* kState = "weight.quant_state.bitsandbytes__nf4";

std::string state_json(const HfQuantConfig& c, const QuantizedTensor* q, const Scheme& s, int64_t rows, int64_t cols) {
  // json.dumps' separators and key order, so that the bytes are the ones bitsandbytes writes
  std::string j = "{\"quant_type\": \"nf4\", \"blocksize\": " + std::to_string(s.group_size) + ", \"dtype\": \"" + c.dtype +
                  "\", \"shape\": [" + std::to_string(rows) + ", " + std::to_string(cols) + "]";
  if (s.double_quant) {
    char off[40] = "";  // no tensor: the planned length, the offset's width added by the caller
    // %.9g round-trips a float32 exactly (bitsandbytes prints the shortest repr of the same value)
    if (q) std::snprintf(off, sizeof off, "%.9g", static_cast<double>(q->double_quant.offset));
    j += ", \"nested_blocksize\": 256, \"nested_dtype\": \"float32\", \"nested_offset\": " + std::string(off);
  }
  return j + "}";
}
constexpr size_t kOffsetWidth = 16;  // the widest %.9g of a float32 ("-1.17549435e-38")

std::vector<uint8_t> floats_bytes(const float* v, size_t n) {
  std::vector<uint8_t> b(n * 4);
  if (n) std::memcpy(b.data(), v, b.size());
  return b;
}
}  // namespace

std::vector<HfTensor> bnb_specs(const HfQuantConfig& c, const Scheme& s, int64_t rows, int64_t cols) {
  const int64_t n = rows * cols, blocks = n / s.group_size;
  std::vector<HfTensor> t = {{"weight", StDtype::U8, {n / 2, 1}, {}},
                             {"weight.absmax", s.double_quant ? StDtype::U8 : StDtype::F32, {blocks}, {}},
                             {"weight.quant_map", StDtype::F32, {16}, {}}};
  if (s.double_quant) {
    t.push_back({"weight.nested_absmax", StDtype::F32, {(blocks + 255) / 256}, {}});
    t.push_back({"weight.nested_quant_map", StDtype::F32, {256}, {}});
  }
  // the state's length: its JSON with the offset at its widest, padded with spaces (valid JSON)
  const auto len = static_cast<int64_t>(state_json(c, nullptr, s, rows, cols).size() + (s.double_quant ? kOffsetWidth : 0));
  t.push_back({kState, StDtype::U8, {len}, {}});
  return t;
}

std::vector<HfTensor> bnb_encode(const HfQuantConfig& c, const QuantizedLinear& w) {
  const QuantizedTensor& q = w.q;
  const int64_t rows = q.rows, cols = q.cols, n = rows * cols;
  std::vector<HfTensor> out = bnb_specs(c, q.scheme, rows, cols);
  std::vector<int32_t> idx(static_cast<size_t>(cols));
  std::vector<uint8_t> packed(static_cast<size_t>(n / 2));
  for (int64_t r = 0; r < rows; ++r) {
    unpack_codes(q.codes.data() + r * q.row_bytes, cols, 4, false, idx.data());
    for (int64_t k = 0; k < cols; k += 2) {
      packed[static_cast<size_t>((r * cols + k) / 2)] =
          static_cast<uint8_t>((idx[static_cast<size_t>(k)] << 4) | idx[static_cast<size_t>(k + 1)]);
    }
  }
  out[0].data = std::move(packed);
  out[2].data = floats_bytes(kNf4Levels.data(), 16);
  size_t next = 3;
  if (q.scheme.double_quant) {
    out[1].data = q.double_quant.codes;
    out[next++].data = floats_bytes(q.double_quant.block_absmax.data(), q.double_quant.block_absmax.size());
    out[next++].data = floats_bytes(dynamic8_map().data(), 256);
  } else {
    out[1].data = floats_bytes(q.scales.data(), q.scales.size());
  }
  std::string j = state_json(c, &q, q.scheme, rows, cols);
  j.resize(static_cast<size_t>(out[next].shape[0]), ' ');
  out[next].data.assign(j.begin(), j.end());
  return out;
}

QuantizedLinear bnb_decode(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                           const std::string& file, DecodeNotes* notes) {
  const HfTensorRef& st = need_any(find, kState, file);
  if (st.dtype != StDtype::U8) refuse(file, st, "dtype " + std::string(st_dtype_name(st.dtype)) + ", expected U8 (JSON bytes)");
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(std::string(st.data.begin(), st.data.end()));
  } catch (const nlohmann::json::exception& e) {
    refuse(file, st, std::string("not valid JSON: ") + e.what());
  }
  if (!j.is_object() || j.value("quant_type", "") != "nf4") refuse(file, st, "expected quant_type \"nf4\"");
  if (!j.contains("blocksize") || !j["blocksize"].is_number_integer() || j["blocksize"].get<int64_t>() <= 0) {
    refuse(file, st, "expected a positive integer blocksize");
  }
  const int64_t block = j["blocksize"].get<int64_t>();
  if (!j.contains("shape") || j["shape"] != nlohmann::json::array({rows, cols})) {
    refuse(file, st, "shape " + (j.contains("shape") ? j["shape"].dump() : std::string("missing")) + ", expected [" +
                         std::to_string(rows) + ", " + std::to_string(cols) + "] from the model's config");
  }
  if (cols % 2 != 0) refuse(file, st, "an odd input size " + std::to_string(cols) + " (two codes a byte, row by row)");
  if (cols % block != 0) {
    refuse(file, st, "blocksize " + std::to_string(block) + " does not divide the input size " + std::to_string(cols) +
                         " (blocks would span rows, which vernier's row-wise NF4 does not hold)");
  }
  Scheme s = c.scheme;
  s.format = FormatId::nf4;
  s.granularity = Granularity::per_group;
  s.group_size = block;
  s.scale_type = ScaleType::f32;
  const int64_t n = rows * cols, blocks = n / block;
  const HfTensorRef& wt = need_any(find, "weight", file);
  if (wt.dtype != StDtype::U8 || (wt.shape != std::vector<int64_t>{n / 2, 1} && wt.shape != std::vector<int64_t>{n / 2})) {
    refuse(file, wt, "dtype " + std::string(st_dtype_name(wt.dtype)) + " shape " + shape_string(wt.shape) + ", expected U8 " +
                         shape_string({n / 2, 1}));
  }
  const HfTensorRef& qm = need(find, "weight.quant_map", StDtype::F32, {16}, file);
  if (std::memcmp(qm.data.data(), kNf4Levels.data(), 64) != 0 && notes) {
    notes->warnings.push_back(qm.name + ": not bitsandbytes' NF4 levels; its 4-bit kernels decode with the NF4 levels, and so does vernier");
  }
  const bool nested = j.contains("nested_offset");
  QuantizedTensor q;
  q.rows = rows;
  q.cols = cols;
  q.row_bytes = packed_bytes(cols, 4);
  q.codes.assign(static_cast<size_t>(rows * q.row_bytes), 0);
  std::vector<int32_t> idx(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; k += 2) {
      const uint8_t byte = wt.data[static_cast<size_t>((r * cols + k) / 2)];
      idx[static_cast<size_t>(k)] = byte >> 4;
      idx[static_cast<size_t>(k + 1)] = byte & 15;
    }
    pack_codes(idx.data(), cols, 4, q.codes.data() + r * q.row_bytes);
  }
  q.scales.resize(static_cast<size_t>(blocks));
  if (!nested) {
    s.double_quant = false;
    const HfTensorRef& am = need(find, "weight.absmax", StDtype::F32, {blocks}, file);
    q.scales = read_scales(am, file);
    for (int64_t b = 0; b < blocks; ++b) {
      if (q.scales[static_cast<size_t>(b)] < 0) refuse(file, am, "absmax " + std::to_string(b) + " is negative");
    }
  } else {
    if (!j["nested_offset"].is_number()) refuse(file, st, "nested_offset is not a number");
    if (j.contains("nested_blocksize") && !j["nested_blocksize"].is_number_integer()) refuse(file, st, "nested_blocksize is not an integer");
    const int64_t nb = j.value("nested_blocksize", int64_t{256});
    if (nb <= 0) refuse(file, st, "nested_blocksize must be positive");
    const auto offset = static_cast<float>(j["nested_offset"].get<double>());
    if (!std::isfinite(offset)) refuse(file, st, "nested_offset is not finite");
    const HfTensorRef& am = need(find, "weight.absmax", StDtype::U8, {blocks}, file);
    const HfTensorRef& nabs = need(find, "weight.nested_absmax", StDtype::F32, {(blocks + nb - 1) / nb}, file);
    const HfTensorRef& nmap = need(find, "weight.nested_quant_map", StDtype::F32, {256}, file);
    const std::vector<float> block_absmax = read_scales(nabs, file);
    const std::vector<float> map = read_scales(nmap, file);
    for (int64_t b = 0; b < blocks; ++b) {
      q.scales[static_cast<size_t>(b)] = map[am.data[static_cast<size_t>(b)]] * block_absmax[static_cast<size_t>(b / nb)] + offset;
      if (!(q.scales[static_cast<size_t>(b)] >= 0)) refuse(file, am, "absmax " + std::to_string(b) + " decodes to a negative value");
    }
    // vernier's double quantization is this one when the map and the block are bitsandbytes' defaults;
    // otherwise the decoded absmax values are kept as float32 (the same weights, 3 more bytes a block)
    if (nb == 256 && std::memcmp(nmap.data.data(), dynamic8_map().data(), 1024) == 0) {
      s.double_quant = true;
      q.double_quant.offset = offset;
      q.double_quant.block = 256;
      q.double_quant.codes.assign(am.data.begin(), am.data.end());
      q.double_quant.block_absmax = block_absmax;
    } else {
      s.double_quant = false;
    }
  }
  q.scheme = s;
  QuantizedLinear out;
  out.q = std::move(q);
  return out;
}

}  // namespace vernier::hf
