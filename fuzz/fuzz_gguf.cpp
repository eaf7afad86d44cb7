// GGUF: header, metadata (every value type, nested arrays), tensor table, and the model built on it
// (hyperparameters, tokenizer.ggml.* keys, tensor shapes against the config).
#include "fuzz_common.hpp"
#include "vernier/gguf.hpp"
#include "vernier/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  const std::string path = vernier::fuzz::put("input.gguf", data, n);
  vernier::fuzz::expect_clean([&] {
    const vernier::GgufFile g = vernier::GgufFile::open(path);
    size_t chars = 0;
    for (const auto& [key, value] : g.metadata()) chars += key.size() + value.to_display().size();
    uint64_t sum = 0;
    for (const auto& t : g.tensors()) {
      const auto d = g.tensor_data(t);
      if (!d.empty()) sum += d.front() + d.back();
    }
    (void)chars;
    (void)sum;
  });
  vernier::fuzz::expect_clean([&] {
    vernier::fuzz::read_every_tensor(vernier::load_model(path));
  });
  return 0;
}
