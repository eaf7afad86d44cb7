#include "vernier/units.hpp"

#include <string>
#include <vector>
#include <cstdint>
#include <cctype>
#include <charconv>
#include <cmath>
#include <cstdio>

#include "vernier/error.hpp"

namespace vernier {

uint64_t parse_bytes(std::string_view text) {
  std::string_view s = text;
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  double value = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), value);
  if (ec != std::errc() || end == s.data() || !(value >= 0) || !std::isfinite(value)) {
    throw_usage("expected a byte size such as 24GiB or 80GB, got '" + std::string(text) + "'");
  }
  std::string unit;
  for (const char* p = end; p != s.data() + s.size(); ++p) {
    if (!std::isspace(static_cast<unsigned char>(*p))) unit += static_cast<char>(std::tolower(*p));
  }
  double mult = 0;
  if (unit.empty() || unit == "b") mult = 1;
  else if (unit == "kb" || unit == "k") mult = 1e3;
  else if (unit == "mb" || unit == "m") mult = 1e6;
  else if (unit == "gb" || unit == "g") mult = 1e9;
  else if (unit == "tb" || unit == "t") mult = 1e12;
  else if (unit == "kib") mult = 1024.0;
  else if (unit == "mib") mult = 1024.0 * 1024;
  else if (unit == "gib") mult = 1024.0 * 1024 * 1024;
  else if (unit == "tib") mult = 1024.0 * 1024 * 1024 * 1024;
  else {
    throw_usage("unknown size unit '" + unit + "' in '" + std::string(text) +
                "' (expected B, KB, MB, GB, TB, KiB, MiB, GiB or TiB)");
  }
  const double bytes = value * mult;
  // below 2^64 (the largest double under it is 2^64 - 2048, so rounding cannot reach it): the
  // conversion is defined; llround would go through a signed 64-bit value and overflow above 2^63
  if (!(bytes < 18446744073709551616.0)) throw_usage("byte size '" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::nearbyint(bytes));
}

std::string format_gib(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GiB", static_cast<double>(bytes) / (1024.0 * 1024 * 1024));
  return buf;
}

std::string format_gb(uint64_t bytes) {
  char buf[64];
  std::snprintf(buf, sizeof buf, "%.2f GB", static_cast<double>(bytes) / 1e9);
  return buf;
}

std::string format_bytes(uint64_t bytes) { return format_gb(bytes) + " (" + format_gib(bytes) + ")"; }

std::vector<float> parse_value_list(const std::string& text, const std::string& where) {
  std::vector<float> out;
  size_t i = 0;
  while (i < text.size()) {
    while (i < text.size() && (text[i] == ',' || std::isspace(static_cast<unsigned char>(text[i])))) ++i;
    if (i >= text.size()) break;
    size_t j = i;
    while (j < text.size() && text[j] != ',' && !std::isspace(static_cast<unsigned char>(text[j]))) ++j;
    const std::string tok = text.substr(i, j - i);
    float v = 0.0f;
    const char* begin = tok.data();
    if (*begin == '+') ++begin;
    auto [p, ec] = std::from_chars(begin, tok.data() + tok.size(), v);
    if (ec != std::errc() || p != tok.data() + tok.size()) {
      throw_usage("expected a number in " + where + ", got '" + tok + "'");
    }
    out.push_back(v);
    i = j;
  }
  if (out.empty()) throw_usage("expected at least one number in " + where);
  return out;
}


int64_t parse_param_count(const std::string& text) {
  // "6.74e9", "7B", "350M", "6738415616"
  double v = 0.0;
  auto [p, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
  if (ec != std::errc() || p == text.data()) throw_usage("expected a parameter count like 7e9 or 7B, got '" + text + "'");
  std::string suffix(p, text.data() + text.size());
  double mult = 1.0;
  if (suffix == "" ) mult = 1.0;
  else if (suffix == "k" || suffix == "K") mult = 1e3;
  else if (suffix == "m" || suffix == "M") mult = 1e6;
  else if (suffix == "b" || suffix == "B") mult = 1e9;
  else if (suffix == "t" || suffix == "T") mult = 1e12;
  else throw_usage("expected a parameter count like 7e9 or 7B, got '" + text + "'");
  const double n = v * mult;
  if (!(n >= 1.0) || n > 1e15) throw_usage("parameter count out of range: '" + text + "'");
  return static_cast<int64_t>(std::llround(n));
}

}  // namespace vernier
