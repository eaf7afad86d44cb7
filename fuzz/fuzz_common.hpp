// Shared by the libFuzzer targets (fuzz/*.cpp, docs/reliability.md): a scratch folder of this process
// for inputs that parsers take by path, and the rule that decides a finding. A vernier::Error is the
// expected answer to bad input; any other exception (an "internal error" for a user), a crash, a
// sanitizer report, a timeout or an allocation past libFuzzer's limit is a finding.
#pragma once

#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/error.hpp"
#include "vernier/model.hpp"

namespace vernier::fuzz {

inline const std::filesystem::path& scratch() {
  static const std::filesystem::path dir = [] {
    std::filesystem::path d = std::filesystem::temp_directory_path() / ("vernier-fuzz-" + std::to_string(::getpid()));
    std::filesystem::create_directories(d);
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(std::filesystem::temp_directory_path() / ("vernier-fuzz-" + std::to_string(::getpid())), ec);
    });
    return d;
  }();
  return dir;
}

// Writes `n` bytes to scratch()/name and returns the path.
inline std::string put(const std::string& name, const void* data, size_t n) {
  const std::filesystem::path p = scratch() / name;
  std::ofstream out(p, std::ios::binary | std::ios::trunc);
  out.write(static_cast<const char*>(data), static_cast<std::streamsize>(n));
  return p.string();
}
inline std::string put(const std::string& name, std::string_view s) { return put(name, s.data(), s.size()); }

template <class F>
void expect_clean(F&& f) {
  try {
    f();
  } catch (const vernier::Error&) {
    // refused, with a message: what bad input should get
  } catch (const std::exception& e) {
    std::fprintf(stderr, "finding: an exception that is not a vernier::Error escaped: %s\n", e.what());
    std::abort();
  }
}

// Decodes every tensor of up to 16 MiB (the dequantizers and the layouts' unpacking run on the input).
inline void read_every_tensor(const vernier::Model& m) {
  std::vector<uint8_t> bytes;
  for (const auto& t : m.tensors) {
    if (t.nbytes == 0 || t.nbytes > (16u << 20) || !t.read) continue;
    bytes.assign(t.nbytes, 0);
    t.read(bytes);
  }
}

// Splits `data` into a part of the length its first 4 bytes say (clipped) and the rest.
inline void split(const uint8_t* data, size_t n, std::string_view& first, std::string_view& rest) {
  uint32_t len = 0;
  if (n >= 4) std::memcpy(&len, data, 4);
  const size_t body = n >= 4 ? n - 4 : 0;
  const size_t a = len < body ? len : body;
  first = std::string_view(reinterpret_cast<const char*>(data) + (n >= 4 ? 4 : n), a);
  rest = std::string_view(reinterpret_cast<const char*>(data) + (n >= 4 ? 4 : n) + a, body - a);
}

}  // namespace vernier::fuzz
