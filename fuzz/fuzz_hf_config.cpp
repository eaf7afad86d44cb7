// config.json of a Hugging Face checkpoint: every key of the wrong JSON type, absurd or inconsistent
// sizes, rope_scaling, quantization_config; the tensors beside it are a tiny valid model.
#include "fuzz_common.hpp"
#include "tiny_hf.hpp"
#include "vernier/model.hpp"

namespace {
const std::string& folder() {
  static const std::string dir = [] {
    const std::string d = (vernier::fuzz::scratch() / "hf").string();
    std::filesystem::create_directories(d);
    vernier::fuzz::write_tiny_shards(d, 1);
    return d;
  }();
  return dir;
}
}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  const std::string dir = folder();
  vernier::fuzz::put("hf/config.json", data, n);
  vernier::fuzz::expect_clean([&] { (void)vernier::load_model(dir); });
  return 0;
}
