// Scheme names, validation and storage arithmetic.
#include <cctype>
#include <charconv>
#include <string>
#include <vector>

#include "internal.hpp"
#include "vernier/error.hpp"
#include "vernier/pack.hpp"

namespace vernier {

namespace {
bool is_cast(FormatId f) { return f == FormatId::f32 || f == FormatId::f16 || f == FormatId::bf16; }

int64_t ceil_div(int64_t a, int64_t b) { return (a + b - 1) / b; }

int64_t num_groups_of(const Scheme& s, int64_t rows, int64_t cols) {
  if (is_cast(s.format)) return 0;
  switch (s.granularity) {
    case Granularity::per_tensor: return 1;
    case Granularity::per_channel: return rows;
    case Granularity::per_group: return rows * ceil_div(cols, s.group_size);
  }
  return 0;
}

uint64_t storage_bytes_of(const Scheme& s, int64_t rows, int64_t cols) {
  const FormatInfo& f = format_info(s.format);
  const uint64_t codes = static_cast<uint64_t>(rows) * static_cast<uint64_t>(packed_bytes(cols, f.bits));
  const int64_t groups = num_groups_of(s, rows, cols);
  uint64_t scales = 0;
  if (groups > 0) {
    if (s.format == FormatId::nf4 && s.double_quant) {
      // one 8-bit code per absmax, one float32 per 256 codes, one float32 offset
      scales = static_cast<uint64_t>(groups) + 4 * static_cast<uint64_t>(ceil_div(groups, 256)) + 4;
    } else {
      scales = static_cast<uint64_t>(groups) * (s.scale_type == ScaleType::f16 ? 2 : 4);
    }
  }
  uint64_t zeros = 0;
  if (f.kind == FormatKind::integer && s.mode == AffineMode::asymmetric) {
    zeros = static_cast<uint64_t>(packed_bytes(groups, f.bits));  // zero points packed at b bits
  }
  return codes + scales + zeros;
}
}  // namespace

std::string describe(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  std::string out(f.name);
  if (is_cast(s.format)) return out;
  if (f.kind == FormatKind::integer) out += s.mode == AffineMode::symmetric ? " sym" : " asym";
  switch (s.granularity) {
    case Granularity::per_tensor: out += " per-tensor"; break;
    case Granularity::per_channel: out += " per-channel"; break;
    case Granularity::per_group:
      out += (f.kind == FormatKind::lookup ? " b" : " g") + std::to_string(s.group_size);
      break;
  }
  if (s.double_quant) out += " dq";
  if (s.scale_type == ScaleType::f16) out += " f16-scales";
  return out;
}

void validate(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  if (s.granularity == Granularity::per_group && s.group_size < 1) {
    throw_usage("group size must be at least 1, got " + std::to_string(s.group_size));
  }
  if (s.double_quant && s.format != FormatId::nf4) {
    throw_usage("double quantization applies to nf4 only, not " + std::string(f.name));
  }
  if (!(s.fixed_scale >= 0.0f) || s.fixed_scale > 3.4e38f) {
    throw_usage("a fixed scale must be a positive finite number");
  }
}

Scheme parse_scheme(std::string_view text) {
  std::vector<std::string> tokens;
  std::string cur;
  for (char c : text) {
    if (c == '-' || c == ' ' || c == ':' || c == ',') {
      if (!cur.empty()) tokens.push_back(cur);
      cur.clear();
    } else {
      cur += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    }
  }
  if (!cur.empty()) tokens.push_back(cur);
  if (tokens.empty()) throw_usage("empty scheme name (expected e.g. int4-asym-g128, nf4-b64-dq, fp8_e4m3-channel)");
  Scheme s;
  s.format = require_format(tokens[0]).id;
  const FormatInfo& f = format_info(s.format);
  s.granularity = f.kind == FormatKind::lookup ? Granularity::per_group : Granularity::per_channel;
  s.group_size = f.kind == FormatKind::lookup ? 64 : 0;
  for (size_t i = 1; i < tokens.size(); ++i) {
    const std::string& t = tokens[i];
    auto number = [&](size_t from) {
      int64_t v = 0;
      auto [p, ec] = std::from_chars(t.data() + from, t.data() + t.size(), v);
      if (ec != std::errc() || p != t.data() + t.size() || v < 1) {
        throw_usage("bad group size in scheme '" + std::string(text) + "': '" + t + "' (expected e.g. g128)");
      }
      return v;
    };
    if (t == "per" || t == "scales") continue;  // "per-channel", "f16-scales" as describe() writes them
    if (t == "sym") s.mode = AffineMode::symmetric;
    else if (t == "asym") s.mode = AffineMode::asymmetric;
    else if (t == "tensor" || t == "per_tensor") s.granularity = Granularity::per_tensor;
    else if (t == "channel" || t == "per_channel") s.granularity = Granularity::per_channel;
    else if (t == "dq") s.double_quant = true;
    else if (t == "f16" || t == "f16s") s.scale_type = ScaleType::f16;
    else if ((t[0] == 'g' || t[0] == 'b') && t.size() > 1) {
      s.granularity = Granularity::per_group;
      s.group_size = number(1);
    } else {
      throw_usage("unknown part '" + t + "' in scheme '" + std::string(text) +
                  "' (expected sym, asym, tensor, channel, gN, bN, dq or f16)");
    }
  }
  validate(s);
  return s;
}

int64_t QuantizedTensor::group_len() const {
  switch (scheme.granularity) {
    case Granularity::per_tensor: return cols;
    case Granularity::per_channel: return cols;
    case Granularity::per_group: return scheme.group_size;
  }
  return cols;
}

int64_t QuantizedTensor::groups_per_row() const {
  switch (scheme.granularity) {
    case Granularity::per_tensor: return 0;
    case Granularity::per_channel: return 1;
    case Granularity::per_group: return ceil_div(cols, scheme.group_size);
  }
  return 0;
}

int64_t QuantizedTensor::num_groups() const { return num_groups_of(scheme, rows, cols); }

int64_t QuantizedTensor::group_index(int64_t row, int64_t col) const {
  switch (scheme.granularity) {
    case Granularity::per_tensor: return 0;
    case Granularity::per_channel: return row;
    case Granularity::per_group: return row * groups_per_row() + col / scheme.group_size;
  }
  return 0;
}

uint64_t QuantizedTensor::storage_bytes() const { return storage_bytes_of(scheme, rows, cols); }

double QuantizedTensor::bits_per_weight() const {
  return scheme_bits_per_weight(scheme, rows, cols);
}

uint64_t scheme_storage_bytes(const Scheme& scheme, int64_t rows, int64_t cols) {
  return rows <= 0 || cols <= 0 ? 0 : storage_bytes_of(scheme, rows, cols);
}

double scheme_bits_per_weight(const Scheme& scheme, int64_t rows, int64_t cols) {
  if (rows <= 0 || cols <= 0) return 0.0;
  return static_cast<double>(storage_bytes_of(scheme, rows, cols)) * 8.0 /
         (static_cast<double>(rows) * static_cast<double>(cols));
}

int32_t QuantizedTensor::code(int64_t row, int64_t col) const {
  const FormatInfo& f = format_info(scheme.format);
  const uint8_t* r = codes.data() + row * row_bytes;
  if (f.bits == 16) return r[2 * col] | (r[2 * col + 1] << 8);
  if (f.bits == 32) {
    return static_cast<int32_t>(r[4 * col] | (r[4 * col + 1] << 8) | (r[4 * col + 2] << 16) |
                                (static_cast<uint32_t>(r[4 * col + 3]) << 24));
  }
  const bool sign_extend = f.kind == FormatKind::integer && f.is_signed &&
                           scheme.mode == AffineMode::symmetric;
  return unpack_code(r, col, f.bits, sign_extend);
}

}  // namespace vernier
