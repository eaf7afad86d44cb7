// Where the tests find ../shared (real models, texts and golden files made by others): the
// VERNIER_SHARED_DIR environment variable, else the shared/ folder beside the checkout. Tests that
// need it skip with a message when it is absent.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <string>
#include <unistd.h>

namespace vernier::testdata {

inline std::string shared_dir() {
  if (const char* env = std::getenv("VERNIER_SHARED_DIR")) return env;
  return VERNIER_DEFAULT_SHARED_DIR;
}

inline std::string shared(const std::string& rel) { return shared_dir() + "/" + rel; }
inline bool have(const std::string& rel) { return std::filesystem::exists(shared(rel)); }

inline std::string temp_path(const std::string& name) {
  const auto dir = std::filesystem::temp_directory_path() / ("vernier-test-" + std::to_string(::getpid()));
  std::filesystem::create_directories(dir);
  return (dir / name).string();
}

}  // namespace vernier::testdata

#define VERNIER_REQUIRE_SHARED(rel)                                                                  \
  do {                                                                                               \
    if (!vernier::testdata::have(rel)) {                                                             \
      GTEST_SKIP() << "shared data " << vernier::testdata::shared(rel)                               \
                   << " not found; set VERNIER_SHARED_DIR to the shared/ folder to run this test";   \
    }                                                                                                \
  } while (0)
