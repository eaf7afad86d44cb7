// tokenizer.json (Hugging Face tokenizers): the model (BPE with byte fallback or byte-level, merges
// as strings or pairs), added tokens, pre-tokenizers; then a text encoded and decoded with it.
#include "fuzz_common.hpp"
#include "model/tokenizer_spec.hpp"
#include "vernier/tokenizer.hpp"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t n) {
  vernier::fuzz::put("tokenizer.json", data, n);
  vernier::fuzz::expect_clean([&] {
    const vernier::TokenizerSpec spec = vernier::tokenizer_from_hf(vernier::fuzz::scratch().string());
    if (spec.tokens.empty()) return;
    const vernier::Tokenizer t(spec);
    const auto ids = t.encode("Once upon a time, \xC3\xA9t\xC3\xA9 \xE2\x98\x83 42\n\t<s> </s>", true, true);
    std::string back;
    for (size_t i = 0; i < ids.size(); ++i) back += t.decode(i ? ids[i - 1] : -1, ids[i]);
  });
  return 0;
}
