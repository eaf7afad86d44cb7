// Test tool: tokenizes a text file with vernier's runtime tokenizer and prints the ids, one line,
// space-separated. The tokenizer comes from a Hugging Face directory's tokenizer.json ("hf DIR"), or
// from that directory's tokenizer written to a GGUF file and read back ("gguf DIR OUT.gguf"), so the
// GGUF "gpt2" path is the one exercised. No BOS/EOS are added.
#include <fstream>
#include <iostream>
#include <iterator>

#include "model/tokenizer_spec.hpp"
#include "vernier/error.hpp"
#include "vernier/gguf.hpp"
#include "vernier/tokenizer.hpp"

int main(int argc, char** argv) {
  using namespace vernier;
  try {
    const std::string mode = argc > 1 ? argv[1] : "";
    if ((mode != "hf" || argc != 4) && (mode != "gguf" || argc != 5)) {
      std::cerr << "usage: tokenize_dump hf DIR TEXT | gguf DIR OUT.gguf TEXT\n";
      return 2;
    }
    TokenizerSpec spec = tokenizer_from_hf(argv[2]);
    if (mode == "gguf") {
      GgufMetadata kv;
      kv.emplace_back("general.architecture", GgufValue::string("llama"));
      append_tokenizer_metadata(spec, kv);
      GgufWriter w(argv[3], true);
      w.set_metadata(std::move(kv));
      w.write_header();
      w.finish();
      spec = tokenizer_from_gguf(GgufFile::open(argv[3]));
    }
    std::ifstream in(argv[argc - 1], std::ios::binary);
    if (!in) throw Error(ErrorKind::io, std::string(argv[argc - 1]) + ": cannot open");
    const std::string text{std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
    const Tokenizer tok(spec);
    const auto ids = tok.encode(text, false, false);
    for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
    std::cout << '\n';
    // decode round trip to stderr's check: the bytes must come back (after the first token as after
    // BOS, which drops a SentencePiece vocabulary's dummy-prefix space; not where a character had to
    // become the unknown token)
    std::string back;
    bool unknown = false;
    for (size_t i = 0; i < ids.size(); ++i) {
      back += tok.decode(i ? ids[i - 1] : (tok.byte_level() ? -1 : tok.bos()), ids[i]);
      unknown = unknown || (spec.unk && ids[i] == static_cast<int32_t>(*spec.unk));
    }
    if (!unknown && back != text) {
      std::cerr << "decode(encode(text)) != text\n";
      return 3;
    }
  } catch (const std::exception& e) {
    std::cerr << "tokenize_dump: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
