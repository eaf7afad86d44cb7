// llama.c files: the checkpoint header and weights (first byte even), or a tokenizer.bin read for the
// vocabulary size in the next two bytes and used to encode and decode a text (first byte odd).
#include "fuzz_common.hpp"
#include "model/tokenizer_spec.hpp"
#include "vernier/llama2c.hpp"
#include "vernier/model.hpp"
#include "vernier/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  if (n < 3) return 0;
  if ((data[0] & 1) == 0) {
    const std::string path = vernier::fuzz::put("model.bin", data + 1, n - 1);
    vernier::fuzz::expect_clean([&] { (void)vernier::load_model(path); });
    return 0;
  }
  const int64_t vocab = static_cast<int64_t>(data[1] | (data[2] << 8));
  const std::string path = vernier::fuzz::put("tokenizer.bin", data + 3, n - 3);
  vernier::fuzz::expect_clean([&] {
    const vernier::Llama2cVocab v = vernier::Llama2cVocab::read(path, vocab);
    const vernier::Tokenizer t(vernier::tokenizer_from_llama2c(v));
    const auto ids = t.encode("Once upon a time, \xC3\xA9t\xC3\xA9 \xE2\x98\x83 42\n", true, false);
    std::string back;
    for (size_t i = 0; i < ids.size(); ++i) back += t.decode(i ? ids[i - 1] : -1, ids[i]);
  });
  return 0;
}
