// Byte-level BPE (GGUF "gpt2", Hugging Face ByteLevel): the Tokenizer's second kind.
//
// Text is split into pre-tokens by the model's pre-tokenizer regex — GPT-2's ("gpt2", "default") or
// LLaMA 3's ("llama-bpe", "llama3") — implemented as hand-written scanners over code points; each
// pre-token's UTF-8 bytes map to printable characters with GPT-2's bytes_to_unicode table, and the
// adjacent pair of lowest merge rank is merged (leftmost first) until no pair has a rank. Letters,
// numbers and white space are classified by the C library's Unicode tables (the C.UTF-8 locale);
// glibc counts non-ASCII decimal digits as letters, the one place this can differ from \p{N}.
#include <clocale>
#include <cwctype>
#include <locale.h>

#include "vernier/error.hpp"
#include "vernier/tokenizer.hpp"

namespace vernier {

namespace {
// GPT-2's bytes_to_unicode: printable Latin-1 bytes map to themselves, the other 68 to U+0100….
std::array<uint32_t, 256> make_byte_to_cp() {
  std::array<uint32_t, 256> t{};
  uint32_t next = 256;
  for (uint32_t b = 0; b < 256; ++b) {
    const bool printable = (b >= 0x21 && b <= 0x7E) || (b >= 0xA1 && b <= 0xAC) || (b >= 0xAE);
    t[b] = printable ? b : next++;
  }
  return t;
}
const std::array<uint32_t, 256> kByteToCp = make_byte_to_cp();

void append_utf8(std::string& s, uint32_t cp) {
  if (cp < 0x80) {
    s += static_cast<char>(cp);
  } else if (cp < 0x800) {
    s += static_cast<char>(0xC0 | (cp >> 6));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else if (cp < 0x10000) {
    s += static_cast<char>(0xE0 | (cp >> 12));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  } else {
    s += static_cast<char>(0xF0 | (cp >> 18));
    s += static_cast<char>(0x80 | ((cp >> 12) & 0x3F));
    s += static_cast<char>(0x80 | ((cp >> 6) & 0x3F));
    s += static_cast<char>(0x80 | (cp & 0x3F));
  }
}

// Decodes UTF-8 into code points with their byte offsets; an invalid byte is taken as U+FFFD of length 1.
struct Cp {
  uint32_t cp;
  size_t offset;
};
std::vector<Cp> decode_utf8(std::string_view s) {
  std::vector<Cp> out;
  for (size_t i = 0; i < s.size();) {
    const auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    uint32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    bool ok = len > 0 && i + static_cast<size_t>(len) <= s.size();
    for (int k = 1; ok && k < len; ++k) {
      const auto cc = static_cast<unsigned char>(s[i + static_cast<size_t>(k)]);
      if ((cc & 0xC0) != 0x80) ok = false;
      cp = (cp << 6) | (cc & 0x3F);
    }
    if (!ok) {
      cp = 0xFFFD;
      len = 1;
    }
    out.push_back({cp, i});
    i += static_cast<size_t>(len);
  }
  return out;
}

struct Classes {
  locale_t loc = nullptr;
  Classes() { loc = newlocale(LC_CTYPE_MASK, "C.UTF-8", nullptr); }
  bool letter(uint32_t c) const {
    if (c < 0x80) return (c | 0x20) >= 'a' && (c | 0x20) <= 'z';
    return loc ? iswalpha_l(static_cast<wint_t>(c), loc) != 0 : true;
  }
  bool number(uint32_t c) const { return c >= '0' && c <= '9'; }
  bool space(uint32_t c) const {
    if (c < 0x80) return c == ' ' || (c >= 9 && c <= 13);
    return loc ? iswspace_l(static_cast<wint_t>(c), loc) != 0 : c == 0x85 || c == 0xA0;
  }
};
const Classes& classes() {
  static const Classes c;
  return c;
}

// Pre-token boundaries (code point indices) of one regex over a text.
std::vector<std::pair<size_t, size_t>> split_gpt2(const std::vector<Cp>& t, bool llama3) {
  const Classes& C = classes();
  const size_t n = t.size();
  std::vector<std::pair<size_t, size_t>> out;
  const auto cp = [&](size_t i) { return i < n ? t[i].cp : 0u; };
  const auto other = [&](uint32_t c) { return !C.space(c) && !C.letter(c) && !C.number(c); };
  const auto lower = [](uint32_t c) { return c < 0x80 ? (c | 0x20) : c; };
  size_t i = 0;
  while (i < n) {
    const uint32_t c = cp(i);
    size_t e = i;
    // contractions: 's 't 're 've 'm 'll 'd (LLaMA 3: any case)
    if (c == '\'' && i + 1 < n) {
      const auto a = llama3 ? lower(cp(i + 1)) : cp(i + 1), b = llama3 ? lower(cp(i + 2)) : cp(i + 2);
      if (a == 's' || a == 't' || a == 'm' || a == 'd') e = i + 2;
      else if ((a == 'r' && b == 'e') || (a == 'v' && b == 'e') || (a == 'l' && b == 'l')) e = i + 3;
    }
    if (e == i) {
      if (llama3) {
        // [^\r\n\p{L}\p{N}]?\p{L}+ | \p{N}{1,3} | ' '?[^\s\p{L}\p{N}]+[\r\n]*
        const bool lead = c != '\r' && c != '\n' && !C.letter(c) && !C.number(c) && C.letter(cp(i + 1)) && i + 1 < n;
        if (C.letter(c) || lead) {
          e = lead ? i + 1 : i;
          while (e < n && C.letter(cp(e))) ++e;
        } else if (C.number(c)) {
          e = i;
          while (e < n && e < i + 3 && C.number(cp(e))) ++e;
        } else if (other(c) || (c == ' ' && i + 1 < n && other(cp(i + 1)))) {
          e = c == ' ' ? i + 1 : i;
          while (e < n && other(cp(e))) ++e;
          while (e < n && (cp(e) == '\r' || cp(e) == '\n')) ++e;
        }
      } else {
        // ' '?\p{L}+ | ' '?\p{N}+ | ' '?[^\s\p{L}\p{N}]+
        const size_t s = (c == ' ' && i + 1 < n) ? i + 1 : i;
        const uint32_t d = cp(s);
        if (s < n && (C.letter(d) || C.number(d) || other(d))) {
          const bool L = C.letter(d), N = C.number(d);
          e = s;
          while (e < n && (L ? C.letter(cp(e)) : N ? C.number(cp(e)) : other(cp(e)))) ++e;
        }
      }
    }
    if (e == i) {  // white space: (LLaMA 3: \s*[\r\n]+ |) \s+(?!\S) | \s+
      size_t k = i;
      while (k < n && C.space(cp(k))) ++k;
      if (llama3) {
        size_t last_nl = n;
        for (size_t p = i; p < k; ++p)
          if (cp(p) == '\r' || cp(p) == '\n') last_nl = p;
        if (last_nl < n) e = last_nl + 1;
      }
      if (e == i) e = (k == n || k - i == 1) ? k : k - 1;
    }
    if (e == i) e = i + 1;  // cannot happen with the classes above; never loop forever
    out.emplace_back(i, e);
    i = e;
  }
  return out;
}
}  // namespace

void Tokenizer::init_byte_level(const TokenizerSpec& spec) {
  byte_level_ = true;
  pre_ = spec.pre;
  if (pre_ == "llama-bpe" || pre_ == "llama3") {
    llama3_pre_ = true;
  } else if (pre_ != "gpt2" && pre_ != "default" && !pre_.empty()) {
    throw_bad_input("the model's byte-level BPE pre-tokenizer '" + pre_ + "' is not supported (gpt2, default, llama-bpe)");
  }
  for (size_t r = 0; r < spec.merges.size(); ++r) merge_rank_.emplace(spec.merges[r], static_cast<int32_t>(r));
  for (uint32_t b = 0; b < 256; ++b) {
    std::string s;
    append_utf8(s, kByteToCp[b]);
    cp_to_byte_.emplace(kByteToCp[b], static_cast<uint8_t>(b));
    byte_symbol_[b] = s;
  }
}

void Tokenizer::encode_byte_level(std::string_view text, std::vector<int32_t>& out) const {
  const std::vector<Cp> cps = decode_utf8(text);
  for (const auto& [b, e] : split_gpt2(cps, llama3_pre_)) {
    const size_t ob = cps[b].offset, oe = e < cps.size() ? cps[e].offset : text.size();
    const std::string_view word = text.substr(ob, oe - ob);
    if (const auto it = word_cache_.find(std::string(word)); it != word_cache_.end()) {
      out.insert(out.end(), it->second.begin(), it->second.end());
      continue;
    }
    std::vector<std::string> sym;
    for (char ch : word) sym.push_back(byte_symbol_[static_cast<unsigned char>(ch)]);
    for (;;) {  // merge the lowest-ranked adjacent pair, leftmost first
      int32_t best = -1;
      size_t at = 0;
      for (size_t k = 0; k + 1 < sym.size(); ++k) {
        const auto it = merge_rank_.find(sym[k] + " " + sym[k + 1]);
        if (it != merge_rank_.end() && (best < 0 || it->second < best)) {
          best = it->second;
          at = k;
        }
      }
      if (best < 0) break;
      sym[at] += sym[at + 1];
      sym.erase(sym.begin() + static_cast<std::ptrdiff_t>(at) + 1);
    }
    std::vector<int32_t> ids;
    for (const std::string& s : sym) {
      const int32_t id = lookup(s);
      if (id >= 0) {
        ids.push_back(id);
      } else if (unk_ >= 0) {
        ids.push_back(unk_);
      } else {
        throw_bad_input("byte-level BPE: the symbol '" + s + "' has no token and the vocabulary has no unknown token");
      }
    }
    out.insert(out.end(), ids.begin(), ids.end());
    word_cache_.emplace(std::string(word), std::move(ids));
  }
}

std::string Tokenizer::decode_byte_level(int32_t token) const {
  const std::string& p = pieces_[static_cast<size_t>(token)];
  if (static_cast<size_t>(token) < types_.size() && types_[static_cast<size_t>(token)] == 3) return "";  // control
  std::string out;
  for (const Cp& c : decode_utf8(p)) {
    const auto it = cp_to_byte_.find(c.cp);
    if (it != cp_to_byte_.end()) out += static_cast<char>(it->second);
    else append_utf8(out, c.cp);  // user-defined tokens keep their text
  }
  return out;
}

}  // namespace vernier
