// GgufValue construction, conversion and display.
#include <cstring>
#include <sstream>

#include "vernier/error.hpp"
#include "vernier/gguf.hpp"

namespace vernier {

std::string_view gguf_type_name(GgufType t) {
  switch (t) {
    case GgufType::u8: return "u8";
    case GgufType::i8: return "i8";
    case GgufType::u16: return "u16";
    case GgufType::i16: return "i16";
    case GgufType::u32: return "u32";
    case GgufType::i32: return "i32";
    case GgufType::f32: return "f32";
    case GgufType::boolean: return "bool";
    case GgufType::string: return "string";
    case GgufType::array: return "array";
    case GgufType::u64: return "u64";
    case GgufType::i64: return "i64";
    case GgufType::f64: return "f64";
  }
  return "?";
}

size_t gguf_scalar_size(GgufType t) {
  switch (t) {
    case GgufType::u8: case GgufType::i8: case GgufType::boolean: return 1;
    case GgufType::u16: case GgufType::i16: return 2;
    case GgufType::u32: case GgufType::i32: case GgufType::f32: return 4;
    case GgufType::u64: case GgufType::i64: case GgufType::f64: return 8;
    case GgufType::string: case GgufType::array: return 0;
  }
  return 0;
}

GgufValue GgufValue::u32(uint32_t v) { GgufValue g; g.type = GgufType::u32; g.bits = v; return g; }
GgufValue GgufValue::i32(int32_t v) { GgufValue g; g.type = GgufType::i32; g.bits = static_cast<uint32_t>(v); return g; }
GgufValue GgufValue::u64(uint64_t v) { GgufValue g; g.type = GgufType::u64; g.bits = v; return g; }
GgufValue GgufValue::f32(float v) {
  GgufValue g;
  g.type = GgufType::f32;
  uint32_t b;
  std::memcpy(&b, &v, 4);
  g.bits = b;
  return g;
}
GgufValue GgufValue::boolean(bool v) { GgufValue g; g.type = GgufType::boolean; g.bits = v ? 1 : 0; return g; }
GgufValue GgufValue::string(std::string v) { GgufValue g; g.type = GgufType::string; g.str = std::move(v); return g; }
GgufValue GgufValue::string_array(std::vector<std::string> v) {
  GgufValue g;
  g.type = GgufType::array;
  g.elem_type = GgufType::string;
  g.count = v.size();
  g.strings = std::move(v);
  return g;
}
GgufValue GgufValue::f32_array(std::span<const float> v) {
  GgufValue g;
  g.type = GgufType::array;
  g.elem_type = GgufType::f32;
  g.count = v.size();
  g.raw.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(g.raw.data(), v.data(), g.raw.size());
  return g;
}
GgufValue GgufValue::i32_array(std::span<const int32_t> v) {
  GgufValue g;
  g.type = GgufType::array;
  g.elem_type = GgufType::i32;
  g.count = v.size();
  g.raw.resize(v.size() * 4);
  if (!v.empty()) std::memcpy(g.raw.data(), v.data(), g.raw.size());
  return g;
}

bool GgufValue::is_integer() const {
  switch (type) {
    case GgufType::u8: case GgufType::i8: case GgufType::u16: case GgufType::i16: case GgufType::u32:
    case GgufType::i32: case GgufType::u64: case GgufType::i64: case GgufType::boolean: return true;
    default: return false;
  }
}

int64_t GgufValue::as_i64() const {
  switch (type) {
    case GgufType::u8: case GgufType::u16: case GgufType::u32: case GgufType::boolean: return static_cast<int64_t>(bits);
    case GgufType::u64:
      if (bits > static_cast<uint64_t>(INT64_MAX)) throw_bad_input("metadata value out of range");
      return static_cast<int64_t>(bits);
    case GgufType::i8: return static_cast<int8_t>(bits);
    case GgufType::i16: return static_cast<int16_t>(bits);
    case GgufType::i32: return static_cast<int32_t>(bits);
    case GgufType::i64: return static_cast<int64_t>(bits);
    default: throw_bad_input(std::string("expected an integer metadata value, found ") + std::string(gguf_type_name(type)));
  }
}

uint64_t GgufValue::as_u64() const {
  if (type == GgufType::u64) return bits;
  const int64_t v = as_i64();
  if (v < 0) throw_bad_input("expected a non-negative metadata value, found " + std::to_string(v));
  return static_cast<uint64_t>(v);
}

double GgufValue::as_f64() const {
  if (type == GgufType::f32) {
    float f;
    const uint32_t b = static_cast<uint32_t>(bits);
    std::memcpy(&f, &b, 4);
    return f;
  }
  if (type == GgufType::f64) {
    double d;
    std::memcpy(&d, &bits, 8);
    return d;
  }
  return static_cast<double>(as_i64());
}

const std::string& GgufValue::as_string() const {
  if (type != GgufType::string) {
    throw_bad_input(std::string("expected a string metadata value, found ") + std::string(gguf_type_name(type)));
  }
  return str;
}

std::string GgufValue::to_display(size_t max_items) const {
  std::ostringstream o;
  switch (type) {
    case GgufType::string: o << '"' << str << '"'; break;
    case GgufType::boolean: o << (bits ? "true" : "false"); break;
    case GgufType::f32: case GgufType::f64: o << as_f64(); break;
    case GgufType::array: {
      o << "[" << gguf_type_name(elem_type) << " × " << count << "]";
      if (elem_type == GgufType::string) {
        o << " ";
        for (size_t i = 0; i < strings.size() && i < max_items; ++i) o << (i ? ", " : "") << '"' << strings[i] << '"';
        if (strings.size() > max_items) o << ", …";
      }
      break;
    }
    default: o << as_i64();
  }
  return o.str();
}

const GgufValue* find_key(const GgufMetadata& kv, std::string_view key) {
  for (const auto& [k, v] : kv) {
    if (k == key) return &v;
  }
  return nullptr;
}

int64_t GgufTensorInfo::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

}  // namespace vernier
