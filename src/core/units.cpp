#include "vernier/units.hpp"

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
  if (bytes > 1.8e19) throw_usage("byte size '" + std::string(text) + "' is too large");
  return static_cast<uint64_t>(std::llround(bytes));
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

}  // namespace vernier
