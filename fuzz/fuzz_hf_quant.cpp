// Quantized checkpoints (GPTQ, AWQ, compressed-tensors, bitsandbytes): config.json with its
// quantization_config and the safetensors of packed weights, scales, zero points and g_idx, both from
// the input (a 4-byte length, the config, then the safetensors file), loaded and dequantized.
#include "fuzz_common.hpp"
#include "vernier/model.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  std::string_view config, tensors;
  vernier::fuzz::split(data, n, config, tensors);
  std::filesystem::create_directories(vernier::fuzz::scratch() / "ckpt");
  vernier::fuzz::put("ckpt/config.json", config);
  vernier::fuzz::put("ckpt/model.safetensors", tensors);
  vernier::fuzz::expect_clean([&] {
    vernier::fuzz::read_every_tensor(vernier::load_model((vernier::fuzz::scratch() / "ckpt").string()));
  });
  return 0;
}
