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
    const vernier::Model m = vernier::load_model((vernier::fuzz::scratch() / "ckpt").string());
    std::vector<uint8_t> bytes;
    for (const auto& t : m.tensors) {
      if (t.nbytes == 0 || t.nbytes > (16u << 20) || !t.read) continue;
      bytes.assign(t.nbytes, 0);
      t.read(bytes);
    }
  });
  return 0;
}
