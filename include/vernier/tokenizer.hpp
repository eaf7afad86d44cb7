// vernier/tokenizer.hpp — SentencePiece-style tokenization over a vocabulary with scores, as
// llama2.c's run.c does it: a dummy-prefix space, one token per UTF-8 character (bytes as <0xXX>
// tokens when the character is not in the vocabulary), then repeated merging of the adjacent pair
// whose merged token has the highest score. Spaces are the U+2581 mark in the vocabulary.
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
  // Needs a "llama" tokenizer with scores; throws a usage Error otherwise.
  explicit Tokenizer(const TokenizerSpec& spec);
  std::vector<int32_t> encode(std::string_view text, bool bos, bool eos) const;
  // The text of `token` after `prev`, as run.c prints it: the leading space after BOS is dropped,
  // byte tokens become their byte.
  std::string decode(int32_t prev, int32_t token) const;
  int32_t bos() const { return bos_; }
  int32_t eos() const { return eos_; }
  size_t size() const { return pieces_.size(); }

 private:
  int32_t lookup(const std::string& piece) const;
  std::vector<std::string> pieces_;  // with spaces as U+2581
  std::vector<float> scores_;
  std::unordered_map<std::string, int32_t> index_;
  int32_t byte_token_[256];
  int32_t bos_ = 1, eos_ = 2;
};

}  // namespace vernier
