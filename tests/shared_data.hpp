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

inline std::filesystem::path temp_dir() {
  return std::filesystem::temp_directory_path() / ("vernier-test-" + std::to_string(::getpid()));
}
inline std::string temp_path(const std::string& name) {
  std::filesystem::create_directories(temp_dir());
  return (temp_dir() / name).string();
}
// Removes this test process's temporary directory when the process exits.
struct TempDirCleanup {
  ~TempDirCleanup() {
    std::error_code ec;
    std::filesystem::remove_all(temp_dir(), ec);
  }
};
inline TempDirCleanup temp_dir_cleanup;

}  // namespace vernier::testdata

#define VERNIER_REQUIRE_SHARED(rel)                                                                  \
  do {                                                                                               \
    if (!vernier::testdata::have(rel)) {                                                             \
      GTEST_SKIP() << "shared data " << vernier::testdata::shared(rel)                               \
                   << " not found; set VERNIER_SHARED_DIR to the shared/ folder to run this test";   \
    }                                                                                                \
  } while (0)
