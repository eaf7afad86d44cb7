// Internal to src/model: building TokenizerSpec from each source, and writing it as GGUF metadata.
#pragma once

#include <string>

#include "vernier/llama2c.hpp"
#include "vernier/model.hpp"

namespace vernier {

TokenizerSpec tokenizer_from_llama2c(const Llama2cVocab& v);
TokenizerSpec tokenizer_from_hf(const std::string& dir);  // empty spec if there is no tokenizer.json
void append_tokenizer_metadata(const TokenizerSpec& t, GgufMetadata& kv);
TokenizerSpec tokenizer_from_gguf(const GgufFile& file);  // tokenizer.ggml.* keys

}  // namespace vernier
