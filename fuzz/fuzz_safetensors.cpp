// One safetensors file: the header length, the header JSON (dtypes, shapes, offsets, __metadata__).
#include "fuzz_common.hpp"
#include "vernier/safetensors.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  const std::string path = vernier::fuzz::put("model.safetensors", data, n);
  vernier::fuzz::expect_clean([&] {
    const vernier::SafetensorsFile f = vernier::SafetensorsFile::open(path);
    uint64_t sum = 0;
    for (const auto& t : f.tensors()) {
      const auto d = f.tensor_data(t);
      if (!d.empty()) sum += d.front() + d.back();
    }
    (void)sum;
  });
  return 0;
}
