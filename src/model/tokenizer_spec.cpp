// Tokenizer descriptions from llama2.c vocabularies and Hugging Face tokenizer.json, and their GGUF keys.
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "tokenizer_spec.hpp"
#include "vernier/error.hpp"

namespace vernier {

namespace {
bool is_byte_token(const std::string& t) {
  return t.size() == 6 && t.compare(0, 3, "<0x") == 0 && t[5] == '>' && std::isxdigit(static_cast<unsigned char>(t[3])) &&
         std::isxdigit(static_cast<unsigned char>(t[4]));
}
std::string replace_spaces(const std::string& s) {
  std::string out;
  for (char c : s) {
    if (c == ' ') out += "\xe2\x96\x81";  // U+2581, SentencePiece's word-boundary mark
    else out += c;
  }
  return out;
}
}  // namespace

TokenizerSpec tokenizer_from_llama2c(const Llama2cVocab& v) {
  // As llama.cpp's llama2.c converter: spaces become U+2581, the "\n<s>\n" / "\n</s>\n" specials lose
  // their newlines, ids 0/1/2 are unknown/BOS/EOS, "<0xXX>" tokens are bytes.
  TokenizerSpec t;
  t.model = "llama";
  for (size_t i = 0; i < v.tokens.size(); ++i) {
    std::string s = v.tokens[i];
    if (s == "\n<s>\n") s = "<s>";
    else if (s == "\n</s>\n") s = "</s>";
    s = replace_spaces(s);
    int32_t type = 1;
    if (i == 0) type = 2;
    else if (i == 1 || i == 2) type = 3;
    else if (is_byte_token(s)) type = 6;
    t.tokens.push_back(std::move(s));
    t.scores.push_back(v.scores[i]);
    t.types.push_back(type);
  }
  t.unk = 0;
  t.bos = 1;
  t.eos = 2;
  t.sep = 0xffffffffu;
  t.pad = 0xffffffffu;
  return t;
}

namespace {
TokenizerSpec read_hf_tokenizer(const std::string& dir) {
  TokenizerSpec t;
  const std::string path = dir + "/tokenizer.json";
  std::ifstream in(path);
  if (!in) return t;  // no tokenizer: the GGUF gets none
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(path + ": not valid JSON: " + e.what());
  }
  const auto& model = j.value("model", nlohmann::json::object());
  if (model.value("type", "") != "BPE" || !model.contains("vocab") || !model["vocab"].is_object()) {
    throw_bad_input(path + ": tokenizer model '" + model.value("type", std::string("?")) +
                    "' is not supported (expected BPE with a vocab)");
  }
  const auto has_type = [](const nlohmann::json& node, const std::string& type) {
    if (!node.is_object()) return false;
    if (node.value("type", "") == type) return true;
    for (const char* list : {"pretokenizers", "normalizers", "decoders"}) {
      if (node.contains(list) && node[list].is_array()) {
        for (const auto& n : node[list]) if (n.is_object() && n.value("type", "") == type) return true;
      }
    }
    return false;
  };
  const bool byte_level = has_type(j.value("pre_tokenizer", nlohmann::json()), "ByteLevel") ||
                          has_type(j.value("decoder", nlohmann::json()), "ByteLevel");
  const auto& vocab = model["vocab"];
  t.tokens.assign(vocab.size(), "");
  for (auto it = vocab.begin(); it != vocab.end(); ++it) {
    // an integer literal: 0.5 would truncate to another token's id, 3e30 past int64 is no id at all
    if (!it.value().is_number_integer()) throw_bad_input(path + ": token '" + it.key() + "' has an id that is not an integer");
    const int64_t id = it.value().get<int64_t>();
    if (id < 0 || id >= static_cast<int64_t>(vocab.size())) throw_bad_input(path + ": token id " + std::to_string(id) + " out of range");
    t.tokens[static_cast<size_t>(id)] = it.key();
  }
  std::vector<bool> special(t.tokens.size(), false);
  for (const auto& a : j.value("added_tokens", nlohmann::json::array())) {
    if (!a.is_object() || (a.contains("id") && !a["id"].is_number_integer()))
      throw_bad_input(path + ": an added token's id is not an integer");
    const int64_t id = a.value("id", int64_t{-1});
    if (id >= static_cast<int64_t>(t.tokens.size())) {
      t.tokens.resize(static_cast<size_t>(id) + 1);
      special.resize(t.tokens.size(), false);
    }
    if (id >= 0) {
      t.tokens[static_cast<size_t>(id)] = a.value("content", "");
      special[static_cast<size_t>(id)] = a.value("special", false);
    }
  }
  for (size_t i = 0; i < t.tokens.size(); ++i) {
    t.types.push_back(special[i] ? 3 : (!byte_level && is_byte_token(t.tokens[i]) ? 6 : 1));
  }
  if (byte_level) {
    t.model = "gpt2";
    // The pre-tokenizer: ByteLevel's own regex (GPT-2's) or a Split with LLaMA 3's pattern, the two
    // the runtime implements; anything else is named so that the runtime can refuse it clearly.
    t.pre = "gpt2";
    const nlohmann::json pre = j.value("pre_tokenizer", nlohmann::json());
    std::vector<nlohmann::json> parts;
    if (pre.is_object() && pre.contains("pretokenizers") && pre["pretokenizers"].is_array()) {
      for (const auto& p : pre["pretokenizers"]) parts.push_back(p);
    } else if (pre.is_object()) {
      parts.push_back(pre);
    }
    for (const auto& p : parts) {
      if (!p.is_object() || p.value("type", "") != "Split") continue;
      const auto pat = p.value("pattern", nlohmann::json::object());
      const std::string re = pat.is_object() ? pat.value("Regex", pat.value("String", "")) : "";
      static const std::string kLlama3 =
          "(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\\r\\n\\p{L}\\p{N}]?\\p{L}+|\\p{N}{1,3}| ?[^\\s\\p{L}\\p{N}]+[\\r\\n]*|\\s*[\\r\\n]+|\\s+(?!\\S)|\\s+";
      t.pre = re == kLlama3 ? "llama-bpe" : "split:" + re;
    }
  } else {
    // SentencePiece-style BPE with byte fallback. The runtime merges by the ranks of tokenizer.json's
    // merges, as Hugging Face's BPE model does (the model was trained on that tokenization); a GGUF
    // written from it gets what llama.cpp's Hugging Face vocab path writes — every score -1000, no
    // merges — so that llama.cpp reads the file as it would its own.
    t.model = "llama";
    t.scores.assign(t.tokens.size(), -1000.0f);
  }
  t.fuse_unk = model.value("fuse_unk", false);
  for (const auto& m : model.value("merges", nlohmann::json::array())) {
    if (m.is_string()) t.merges.push_back(m.get<std::string>());
    else if (m.is_array() && m.size() == 2) t.merges.push_back(m[0].get<std::string>() + " " + m[1].get<std::string>());
  }
  std::ifstream cfg_in(dir + "/tokenizer_config.json");
  nlohmann::json cfg = nlohmann::json::object();
  if (cfg_in) {
    try { cfg = nlohmann::json::parse(cfg_in); } catch (const nlohmann::json::exception&) { cfg = nlohmann::json::object(); }
  }
  const auto id_of = [&](const char* key) -> std::optional<uint32_t> {
    if (!cfg.contains(key)) return std::nullopt;
    const auto& v = cfg[key];
    const std::string s = v.is_string() ? v.get<std::string>() : (v.is_object() ? v.value("content", "") : "");
    for (size_t i = 0; i < t.tokens.size(); ++i) if (t.tokens[i] == s) return static_cast<uint32_t>(i);
    return std::nullopt;
  };
  t.bos = id_of("bos_token");
  t.eos = id_of("eos_token");
  t.unk = id_of("unk_token");
  t.pad = id_of("pad_token");
  if (cfg.contains("add_bos_token") && cfg["add_bos_token"].is_boolean()) t.add_bos = cfg["add_bos_token"].get<bool>();
  if (cfg.contains("add_eos_token") && cfg["add_eos_token"].is_boolean()) t.add_eos = cfg["add_eos_token"].get<bool>();
  return t;
}
}  // namespace

TokenizerSpec tokenizer_from_hf(const std::string& dir) {
  try {
    return read_hf_tokenizer(dir);
  } catch (const nlohmann::json::exception& e) {
    // a value of another JSON type than the format's (a number where an object or a string belongs,
    // found by fuzz_tokenizer_json): bad input naming the file, not an internal error
    throw_bad_input(dir + "/tokenizer.json (or tokenizer_config.json): a value of the wrong JSON type: " + e.what());
  }
}

void append_tokenizer_metadata(const TokenizerSpec& t, GgufMetadata& kv) {
  if (t.model.empty()) return;
  kv.emplace_back("tokenizer.ggml.model", GgufValue::string(t.model));
  kv.emplace_back("tokenizer.ggml.pre", GgufValue::string(t.pre));
  kv.emplace_back("tokenizer.ggml.tokens", GgufValue::string_array(t.tokens));
  if (!t.scores.empty()) kv.emplace_back("tokenizer.ggml.scores", GgufValue::f32_array(t.scores));
  kv.emplace_back("tokenizer.ggml.token_type", GgufValue::i32_array(t.types));
  // merges belong to byte-level BPE vocabularies in GGUF; llama.cpp's SentencePiece vocabularies have none
  if (!t.merges.empty() && t.model == "gpt2") kv.emplace_back("tokenizer.ggml.merges", GgufValue::string_array(t.merges));
  if (t.bos) kv.emplace_back("tokenizer.ggml.bos_token_id", GgufValue::u32(*t.bos));
  if (t.eos) kv.emplace_back("tokenizer.ggml.eos_token_id", GgufValue::u32(*t.eos));
  if (t.unk) kv.emplace_back("tokenizer.ggml.unknown_token_id", GgufValue::u32(*t.unk));
  if (t.sep) kv.emplace_back("tokenizer.ggml.seperator_token_id", GgufValue::u32(*t.sep));  // llama.cpp's spelling
  if (t.pad) kv.emplace_back("tokenizer.ggml.padding_token_id", GgufValue::u32(*t.pad));
  if (t.add_bos) kv.emplace_back("tokenizer.ggml.add_bos_token", GgufValue::boolean(*t.add_bos));
  if (t.add_eos) kv.emplace_back("tokenizer.ggml.add_eos_token", GgufValue::boolean(*t.add_eos));
}

TokenizerSpec tokenizer_from_gguf(const GgufFile& file) {
  TokenizerSpec tk;
  if (const GgufValue* t = file.find("tokenizer.ggml.model"); t && t->type == GgufType::string) tk.model = t->str;
  if (const GgufValue* t = file.find("tokenizer.ggml.pre"); t && t->type == GgufType::string) tk.pre = t->str;
  if (const GgufValue* t = file.find("tokenizer.ggml.tokens"); t && t->type == GgufType::array && t->elem_type == GgufType::string) {
    tk.tokens = t->strings;
  }
  const auto floats = [&](const char* key, std::vector<float>& out) {
    const GgufValue* t = file.find(key);
    if (t && t->type == GgufType::array && t->elem_type == GgufType::f32) {
      out.resize(static_cast<size_t>(t->count));
      std::memcpy(out.data(), t->raw.data(), out.size() * 4);
    }
  };
  floats("tokenizer.ggml.scores", tk.scores);
  if (const GgufValue* t = file.find("tokenizer.ggml.token_type"); t && t->type == GgufType::array && t->elem_type == GgufType::i32) {
    tk.types.resize(static_cast<size_t>(t->count));
    std::memcpy(tk.types.data(), t->raw.data(), tk.types.size() * 4);
  }
  if (const GgufValue* t = file.find("tokenizer.ggml.merges"); t && t->type == GgufType::array && t->elem_type == GgufType::string) {
    tk.merges = t->strings;
  }
  const auto id = [&](const char* key) -> std::optional<uint32_t> {
    const GgufValue* t = file.find(key);
    if (t && t->is_integer()) return static_cast<uint32_t>(t->as_u64());
    return std::nullopt;
  };
  tk.bos = id("tokenizer.ggml.bos_token_id");
  tk.eos = id("tokenizer.ggml.eos_token_id");
  tk.unk = id("tokenizer.ggml.unknown_token_id");
  tk.pad = id("tokenizer.ggml.padding_token_id");
  tk.sep = id("tokenizer.ggml.seperator_token_id");
  if (const GgufValue* t = file.find("tokenizer.ggml.add_bos_token"); t && t->type == GgufType::boolean) tk.add_bos = t->bits != 0;
  if (const GgufValue* t = file.find("tokenizer.ggml.add_eos_token"); t && t->type == GgufType::boolean) tk.add_eos = t->bits != 0;
  return tk;
}

}  // namespace vernier
