// Replays the fuzz targets' inputs outside libFuzzer, in the ordinary test build (GCC, and the ASan
// preset): `vernier_fuzz_replay TARGET PATH...` runs TARGET's entry point on every file under each
// PATH. ctest runs it on tests/fuzz/seeds/ (hand-made seeds and the inputs of fixed findings), so a
// finding that comes back fails the suite without a fuzzing run. Each target's LLVMFuzzerTestOneInput
// is compiled under its own name (tests/CMakeLists.txt); a finding aborts, as under libFuzzer.
#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <map>
#include <string>
#include <vector>

// fuzz_targets.inc comes from the build: VERNIER_FUZZ_TARGET(name) for each name of fuzz/targets.cmake
#define VERNIER_FUZZ_TARGET(t) extern "C" int vernier_fuzz_##t(const uint8_t*, size_t);
#include "fuzz_targets.inc"
#undef VERNIER_FUZZ_TARGET

int main(int argc, char** argv) {
  using Entry = int (*)(const uint8_t*, size_t);
  const std::map<std::string, Entry> targets = {
#define VERNIER_FUZZ_TARGET(t) {#t, vernier_fuzz_##t},
#include "fuzz_targets.inc"
#undef VERNIER_FUZZ_TARGET
  };
  if (argc < 3 || !targets.count(argv[1])) {
    std::fprintf(stderr, "usage: vernier_fuzz_replay TARGET PATH...\ntargets:");
    for (const auto& [name, entry] : targets) std::fprintf(stderr, " %s", name.c_str());
    std::fprintf(stderr, "\n");
    return 2;
  }
  const Entry entry = targets.at(argv[1]);
  std::vector<std::filesystem::path> files;
  for (int i = 2; i < argc; ++i) {
    const std::filesystem::path p = argv[i];
    if (std::filesystem::is_directory(p)) {
      for (const auto& e : std::filesystem::recursive_directory_iterator(p)) {
        if (e.is_regular_file()) files.push_back(e.path());
      }
    } else if (std::filesystem::is_regular_file(p)) {
      files.push_back(p);
    } else {
      std::fprintf(stderr, "vernier_fuzz_replay: %s: no such file or folder\n", p.c_str());
      return 1;
    }
  }
  if (files.empty()) {
    std::fprintf(stderr, "vernier_fuzz_replay: no inputs under the paths given\n");
    return 1;
  }
  std::sort(files.begin(), files.end());
  for (const auto& f : files) {
    std::ifstream in(f, std::ios::binary);
    const std::vector<char> bytes((std::istreambuf_iterator<char>(in)), std::istreambuf_iterator<char>());
    std::printf("%s %s (%zu bytes)\n", argv[1], f.filename().c_str(), bytes.size());
    std::fflush(stdout);
    entry(reinterpret_cast<const uint8_t*>(bytes.data()), bytes.size());
  }
  std::printf("%s: %zu inputs, no finding\n", argv[1], files.size());
  return 0;
}
