// model.safetensors.index.json of a sharded checkpoint: weight_map entries naming missing, repeated,
// escaping ("../") or non-string files, tensors in two shards; the two shards are valid.
#include "fuzz_common.hpp"
#include "tiny_hf.hpp"
#include "vernier/safetensors.hpp"

namespace {
const std::string& folder() {
  static const std::string dir = [] {
    const std::string d = (vernier::fuzz::scratch() / "shards").string();
    std::filesystem::create_directories(d);
    vernier::fuzz::write_tiny_shards(d, 2);
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  const std::string dir = folder();
  vernier::fuzz::put("shards/model.safetensors.index.json", data, n);
  vernier::fuzz::expect_clean([&] {
    const vernier::SafetensorsCheckpoint ck = vernier::SafetensorsCheckpoint::open(dir);
    uint64_t sum = 0;
    for (const auto& e : ck.tensors()) sum += e.file->tensor_data(*e.info).size();
    (void)sum;
  });
  return 0;
}
