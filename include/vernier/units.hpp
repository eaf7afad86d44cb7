// vernier/units.hpp — byte sizes as people write them ("24GiB", "80 GB", "512MiB").
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace vernier {

// Parses a byte size: a non-negative number followed by an optional unit B, KB, MB, GB, TB (powers of
// 1000) or KiB, MiB, GiB, TiB (powers of 1024), case-insensitive, spaces allowed between. Throws a
// usage Error naming the text on anything else.
uint64_t parse_bytes(std::string_view text);

// Numbers separated by commas or whitespace ("0.1,-0.3 0.7"), as explain --values takes them; a
// usage Error naming `where` on anything else or on none.
std::vector<float> parse_value_list(const std::string& text, const std::string& where);

// A parameter count: "6.74e9", "7B", "350M", "6738415616" (k, M, B, T suffixes), 1 to 1e15.
int64_t parse_param_count(const std::string& text);

// "6.74 GB (6.28 GiB)"-style rendering with both decimal and binary units.
std::string format_bytes(uint64_t bytes);
std::string format_gib(uint64_t bytes);  // "6.28 GiB"
std::string format_gb(uint64_t bytes);   // "6.74 GB"

}  // namespace vernier
