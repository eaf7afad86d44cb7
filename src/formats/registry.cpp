#include <algorithm>
#include <cctype>

#include "vernier/error.hpp"
#include "vernier/format.hpp"

namespace vernier {

static_assert([] {
  for (size_t i = 0; i < kFormats.size(); ++i) {
    if (static_cast<size_t>(kFormats[i].id) != i) return false;
  }
  return true;
}(), "kFormats rows must be in FormatId order");

const FormatInfo& format_info(FormatId id) { return kFormats[static_cast<size_t>(id)]; }

const FormatInfo* find_format(std::string_view name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  static constexpr std::pair<std::string_view, std::string_view> kAliases[] = {
      {"f32", "fp32"},     {"float32", "fp32"},   {"f16", "fp16"},     {"half", "fp16"},
      {"float16", "fp16"}, {"bfloat16", "bf16"},  {"e4m3", "fp8_e4m3"}, {"fp8", "fp8_e4m3"},
      {"e4m3fn", "fp8_e4m3"}, {"fp8_e4m3fn", "fp8_e4m3"}, {"e5m2", "fp8_e5m2"},
  };
  for (const auto& [alias, canonical] : kAliases) {
    if (n == alias) n = canonical;
  }
  for (const auto& f : kFormats) {
    if (f.name == n) return &f;
  }
  return nullptr;
}

std::string format_names() {
  std::string s;
  for (const auto& f : kFormats) {
    if (!s.empty()) s += ", ";
    s += f.name;
  }
  return s;
}

const FormatInfo& require_format(std::string_view name) {
  if (const FormatInfo* f = find_format(name)) return *f;
  throw_usage("unknown format '" + std::string(name) + "' (expected one of: " + format_names() + ")");
}

}  // namespace vernier
