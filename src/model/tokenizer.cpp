#include "vernier/tokenizer.hpp"

#include <cstdio>
#include <queue>

#include "vernier/error.hpp"

namespace vernier {

namespace {
const std::string kSpace = "\xe2\x96\x81";  // U+2581

std::string to_vocab(std::string_view s) {
  std::string out;
  for (char c : s) {
    if (c == ' ') out += kSpace;
    else out += c;
  }
  return out;
}

std::string from_vocab(const std::string& s) {
  std::string out;
  for (size_t i = 0; i < s.size();) {
    if (s.compare(i, 3, kSpace) == 0) {
      out += ' ';
      i += 3;
    } else {
      out += s[i++];
    }
  }
  return out;
}
}  // namespace

Tokenizer::Tokenizer(const TokenizerSpec& spec) : pieces_(spec.tokens), types_(spec.types), scores_(spec.scores) {
  for (size_t i = 0; i < pieces_.size(); ++i) index_.emplace(pieces_[i], static_cast<int32_t>(i));
  if (spec.unk) unk_ = static_cast<int32_t>(*spec.unk);
  if (spec.model == "gpt2") {
    if (spec.merges.empty()) throw_bad_input("the model's gpt2 (byte-level BPE) tokenizer has no merges");
    init_byte_level(spec);
    bos_ = spec.bos ? static_cast<int32_t>(*spec.bos) : -1;
    eos_ = spec.eos ? static_cast<int32_t>(*spec.eos) : -1;
    add_bos_ = spec.add_bos.value_or(false);
    return;
  }
  // the model's data, not the command line, is at fault in each of these (exit status 1, not 2)
  if (spec.model.empty()) throw_bad_input("the model has no tokenizer (pass one with --tokenizer)");
  if (spec.model != "llama") {
    throw_bad_input("the model's tokenizer model '" + spec.model + "' is not one vernier runs (llama: SentencePiece-style; gpt2: byte-level BPE)");
  }
  if (scores_.size() != pieces_.size()) {
    throw_bad_input("the model's llama tokenizer has " + std::to_string(pieces_.size()) + " tokens but " + std::to_string(scores_.size()) +
                    " scores (tokenizer.ggml.scores must have one per token)");
  }
  for (auto& b : byte_token_) b = -1;
  for (size_t i = 0; i < pieces_.size(); ++i) {
    const std::string& p = pieces_[i];
    unsigned v;
    if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%02X>", &v) == 1 && v < 256) byte_token_[v] = static_cast<int32_t>(i);
  }
  // Hugging Face's SentencePiece-style BPE (tokenizer.json with merges): merge by rank, not by score
  for (size_t r = 0; r < spec.merges.size(); ++r) merge_rank_.emplace(spec.merges[r], static_cast<int32_t>(r));
  fuse_unk_ = spec.fuse_unk;
  if (spec.bos) bos_ = static_cast<int32_t>(*spec.bos);
  if (spec.eos) eos_ = static_cast<int32_t>(*spec.eos);
  add_bos_ = spec.add_bos.value_or(true);
}

int32_t Tokenizer::lookup(const std::string& piece) const {
  const auto it = index_.find(piece);
  return it == index_.end() ? -1 : it->second;
}

std::vector<int32_t> Tokenizer::encode(std::string_view text, bool bos, bool eos) const {
  std::vector<int32_t> tokens;
  if (byte_level_) {
    if (bos && adds_bos()) tokens.push_back(bos_);
    encode_byte_level(text, tokens);
    if (eos && eos_ >= 0) tokens.push_back(eos_);
    return tokens;
  }
  if (bos && adds_bos()) tokens.push_back(bos_);
  // The dummy prefix: a space before the text. A vocabulary without a U+2581 token (byte-only
  // vocabularies) gets it as its three byte tokens, as llama.cpp does (it prefixes the text itself);
  // run.c would push an invalid id there.
  std::string v = to_vocab(text);
  if (!text.empty()) {
    const int32_t prefix = lookup(kSpace);
    if (prefix >= 0) tokens.push_back(prefix);
    else v = kSpace + v;
  }
  bool prev_unknown = false;
  for (size_t i = 0; i < v.size();) {
    size_t len = 1;  // one UTF-8 character: a lead byte and its continuation bytes (at most 4)
    while (i + len < v.size() && (static_cast<unsigned char>(v[i + len]) & 0xC0) == 0x80 && len < 4) ++len;
    const int32_t id = lookup(v.substr(i, len));
    bool bytes = true;  // every byte of the character has a byte token
    for (size_t k = 0; k < len && id < 0; ++k) bytes = bytes && byte_token_[static_cast<unsigned char>(v[i + k])] >= 0;
    const bool was_unknown = prev_unknown;
    prev_unknown = false;
    if (id >= 0) {
      tokens.push_back(id);
    } else if (!bytes && !merge_rank_.empty() && unk_ >= 0) {
      // Hugging Face's BPE: a character with neither a token nor byte tokens for all its bytes becomes
      // the unknown token, consecutive ones fused into one where the tokenizer says fuse_unk
      if (!(fuse_unk_ && was_unknown)) tokens.push_back(unk_);
      prev_unknown = true;
    } else {
      for (size_t k = 0; k < len; ++k) {
        const auto byte = static_cast<unsigned char>(v[i + k]);
        const int32_t b = byte_token_[byte];
        if (b < 0) {
          char hex[8];
          std::snprintf(hex, sizeof hex, "0x%02X", byte);
          throw_bad_input(std::string("the vocabulary has neither the character nor a byte token for ") + hex);
        }
        tokens.push_back(b);
      }
    }
    i += len;
  }
  // Merge the best-scoring adjacent pair (the leftmost among equals) until none merges: run.c's loop,
  // done with a priority queue over a linked list so long texts stay O(n log n). With Hugging Face
  // merges the candidates are the pairs that are a merge, best the lowest rank (its BPE model).
  const size_t first = bos && adds_bos() ? 1 : 0;
  const bool by_rank = !merge_rank_.empty();
  const size_t n = tokens.size();
  std::vector<int64_t> prev(n), next(n);
  std::vector<bool> alive(n, true);
  for (size_t i = 0; i < n; ++i) {
    prev[i] = static_cast<int64_t>(i) - 1;
    next[i] = i + 1 < n ? static_cast<int64_t>(i) + 1 : -1;
  }
  struct Cand {
    float score;
    int64_t left;
    int32_t id;
    int32_t left_tok, right_tok;  // the pair it was made from, to detect stale entries
  };
  const auto worse = [](const Cand& a, const Cand& b) { return a.score < b.score || (a.score == b.score && a.left > b.left); };
  std::priority_queue<Cand, std::vector<Cand>, decltype(worse)> queue(worse);
  const auto push = [&](int64_t l) {
    if (l < static_cast<int64_t>(first) || next[static_cast<size_t>(l)] < 0) return;
    const int64_t r = next[static_cast<size_t>(l)];
    const std::string& a = pieces_[static_cast<size_t>(tokens[static_cast<size_t>(l)])];
    const std::string& b = pieces_[static_cast<size_t>(tokens[static_cast<size_t>(r)])];
    float score = 0.0f;
    if (by_rank) {
      const auto it = merge_rank_.find(a + " " + b);
      if (it == merge_rank_.end()) return;
      score = -static_cast<float>(it->second);  // ranks < 2^24: exact in float
    }
    const int32_t id = lookup(a + b);
    if (id < 0) return;
    if (!by_rank) score = scores_[static_cast<size_t>(id)];
    queue.push({score, l, id, tokens[static_cast<size_t>(l)], tokens[static_cast<size_t>(r)]});
  };
  for (size_t i = first; i + 1 < n; ++i) push(static_cast<int64_t>(i));
  while (!queue.empty()) {
    const Cand c = queue.top();
    queue.pop();
    const size_t l = static_cast<size_t>(c.left);
    if (!alive[l] || next[l] < 0) continue;
    const size_t r = static_cast<size_t>(next[l]);
    if (tokens[l] != c.left_tok || tokens[r] != c.right_tok) continue;  // the pair has changed since
    tokens[l] = c.id;
    alive[r] = false;
    next[l] = next[r];
    if (next[r] >= 0) prev[static_cast<size_t>(next[r])] = static_cast<int64_t>(l);
    if (prev[l] >= static_cast<int64_t>(first)) push(prev[l]);
    push(static_cast<int64_t>(l));
  }
  std::vector<int32_t> merged;
  merged.reserve(n);
  for (size_t i = 0; i < n; ++i) {
    if (alive[i]) merged.push_back(tokens[i]);
  }
  tokens = std::move(merged);
  if (eos) tokens.push_back(eos_);
  return tokens;
}

std::string Tokenizer::decode(int32_t prev, int32_t token) const {
  if (token < 0 || static_cast<size_t>(token) >= pieces_.size()) return "";
  if (byte_level_) return decode_byte_level(token);
  const std::string& p = pieces_[static_cast<size_t>(token)];
  unsigned v;
  if (p.size() == 6 && std::sscanf(p.c_str(), "<0x%02X>", &v) == 1) return std::string(1, static_cast<char>(v));
  std::string s = from_vocab(p);
  if (prev == bos_ && !s.empty() && s[0] == ' ') s.erase(0, 1);
  return s;
}

}  // namespace vernier
