// vernier/tokenizer.hpp — the runtime's tokenizers.
//
// "llama" (SentencePiece-style, llama2.c and GGUF): tokenization over a vocabulary with scores as
// llama2.c's run.c and llama.cpp do it: a dummy-prefix space, one token per UTF-8 character (bytes
// as <0xXX> tokens when the character is not in the vocabulary), then repeated merging of the
// adjacent pair whose merged token has the highest score. Spaces are the U+2581 mark.
// "gpt2" (byte-level BPE with merges, GGUF and Hugging Face ByteLevel tokenizer.json): see
// src/model/bpe_tokenizer.cpp.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "vernier/model.hpp"

namespace vernier {

class Tokenizer {
 public:
  // Needs a "llama" tokenizer with scores or a "gpt2" one with merges; throws a usage Error otherwise.
  explicit Tokenizer(const TokenizerSpec& spec);
  // bos: put the BOS token first if the vocabulary has one and wants it (tokenizer.ggml.add_bos_token,
  // or tokenizer_config.json's add_bos_token; "llama" vocabularies default to yes, "gpt2" to no).
  std::vector<int32_t> encode(std::string_view text, bool bos, bool eos) const;
  bool adds_bos() const { return add_bos_ && bos_ >= 0; }
  bool byte_level() const { return byte_level_; }
  // The text of `token` after `prev`, as run.c prints it: the leading space after BOS is dropped,
  // byte tokens become their byte.
  std::string decode(int32_t prev, int32_t token) const;
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  size_t size() const { return pieces_.size(); }

 private:
  int32_t lookup(const std::string& piece) const;
  void init_byte_level(const TokenizerSpec& spec);
  void encode_byte_level(std::string_view text, std::vector<int32_t>& out) const;
  std::string decode_byte_level(int32_t token) const;
  std::vector<std::string> pieces_;  // "llama": spaces as U+2581; "gpt2": bytes as GPT-2's characters
  std::vector<int32_t> types_;
  bool byte_level_ = false, llama3_pre_ = false;
  std::string pre_;
  std::unordered_map<std::string, int32_t> merge_rank_;
  std::unordered_map<uint32_t, uint8_t> cp_to_byte_;
  std::string byte_symbol_[256];
  mutable std::unordered_map<std::string, std::vector<int32_t>> word_cache_;
  int32_t unk_ = -1;
  bool fuse_unk_ = false;
  bool add_bos_ = true;
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> index_;
  int32_t byte_token_[256];
  int32_t bos_ = 1, eos_ = 2;
};

}  // namespace vernier
