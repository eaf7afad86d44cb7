#include "vernier/llama2c.hpp"

#include <cstring>

#include "vernier/error.hpp"

namespace vernier {

int64_t Llama2cTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

namespace {
constexpr uint32_t kMagic = 0x616b3432;  // "ak42"

int32_t read_i32(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return v;
}
}  // namespace

Llama2cCheckpoint Llama2cCheckpoint::open(const std::string& path) {
  Llama2cCheckpoint c;
  c.file_ = MappedFile(path);
  const uint8_t* d = c.file_.data();
  const uint64_t size = c.file_.size();
  const auto fail = [&](const std::string& what) { throw_bad_input(path + ": " + what); };
  if (size < 28) fail("too short for a llama2.c header (" + std::to_string(size) + " bytes)");
  Llama2cConfig& k = c.config_;
  uint64_t pos;
  uint32_t magic;
  std::memcpy(&magic, d, 4);
  if (magic == kMagic) {
    if (size < 256) fail("too short for a llama2.c version header (256 bytes)");
    k.version = read_i32(d + 4);
    if (k.version != 1 && k.version != 2) fail("llama2.c export version " + std::to_string(k.version) + " is not supported (expected 1 or 2)");
    const uint8_t* h = d + 8;
    k.dim = read_i32(h); k.hidden_dim = read_i32(h + 4); k.n_layers = read_i32(h + 8); k.n_heads = read_i32(h + 12);
    k.n_kv_heads = read_i32(h + 16); k.vocab_size = read_i32(h + 20); k.seq_len = read_i32(h + 24);
    k.shared_classifier = d[36] != 0;
    if (k.version == 2) {
      k.group_size = read_i32(d + 37);
      if (k.group_size <= 0) fail("group size " + std::to_string(k.group_size) + " (expected a positive number)");
    }
    pos = 256;
  } else {
    k.version = 0;
    k.dim = read_i32(d); k.hidden_dim = read_i32(d + 4); k.n_layers = read_i32(d + 8); k.n_heads = read_i32(d + 12);
    k.n_kv_heads = read_i32(d + 16); k.vocab_size = read_i32(d + 20); k.seq_len = read_i32(d + 24);
    k.shared_classifier = k.vocab_size > 0;
    if (k.vocab_size < 0) k.vocab_size = -k.vocab_size;
    pos = 28;
  }
  if (k.dim <= 0 || k.hidden_dim <= 0 || k.n_layers <= 0 || k.n_heads <= 0 || k.n_kv_heads <= 0 || k.vocab_size <= 0 ||
      k.seq_len <= 0 || k.dim > (1 << 20) || k.hidden_dim > (1 << 22) || k.n_layers > 4096 || k.vocab_size > (1 << 24) ||
      k.seq_len > (1 << 24)) {
    fail("implausible header: dim " + std::to_string(k.dim) + ", hidden " + std::to_string(k.hidden_dim) + ", layers " +
         std::to_string(k.n_layers) + ", heads " + std::to_string(k.n_heads) + ", kv heads " + std::to_string(k.n_kv_heads) +
         ", vocab " + std::to_string(k.vocab_size) + ", seq_len " + std::to_string(k.seq_len));
  }
  if (k.dim % k.n_heads != 0 || k.n_heads % k.n_kv_heads != 0) {
    fail("dim " + std::to_string(k.dim) + " must divide into " + std::to_string(k.n_heads) +
         " heads, and heads into " + std::to_string(k.n_kv_heads) + " KV heads");
  }
  const int64_t L = k.n_layers, D = k.dim, H = k.hidden_dim, KV = k.kv_dim(), V = k.vocab_size;

  struct Block { std::string name; std::vector<int64_t> ne; int64_t count; };  // count: layers (or 1)
  const auto per_layer = [&](const char* n) { return std::string("blk.%d.") + n + ".weight"; };
  // tensors by role: name pattern, ne, layer count
  const Block emb{"token_embd.weight", {D, V}, 1}, att_norm{per_layer("attn_norm"), {D}, L},
      wq{per_layer("attn_q"), {D, D}, L}, wk{per_layer("attn_k"), {D, KV}, L}, wv{per_layer("attn_v"), {D, KV}, L},
      wo{per_layer("attn_output"), {D, D}, L}, ffn_norm{per_layer("ffn_norm"), {D}, L},
      w1{per_layer("ffn_gate"), {D, H}, L}, w2{per_layer("ffn_down"), {H, D}, L}, w3{per_layer("ffn_up"), {D, H}, L},
      final_norm{"output_norm.weight", {D}, 1}, cls{"output.weight", {D, V}, 1};

  std::vector<Llama2cTensor> laid;  // in file order
  const auto lay = [&](const Block& b, bool quantized) {
    int64_t n = 1;
    for (int64_t x : b.ne) n *= x;
    for (int64_t l = 0; l < b.count; ++l) {
      Llama2cTensor t;
      char name[128];
      std::snprintf(name, sizeof name, b.name.c_str(), static_cast<int>(l));
      t.name = b.count == 1 ? b.name : name;
      t.ne = b.ne;
      t.offset = pos;
      if (quantized) {
        if (n % k.group_size != 0) fail("tensor '" + t.name + "' has " + std::to_string(n) + " values, not a multiple of the group size " + std::to_string(k.group_size));
        pos += static_cast<uint64_t>(n);
        t.scale_offset = pos;
        pos += static_cast<uint64_t>(n / k.group_size) * 4;
      } else {
        pos += static_cast<uint64_t>(n) * 4;
      }
      laid.push_back(std::move(t));
    }
  };
  if (k.version == 0) {
    lay(emb, false); lay(att_norm, false); lay(wq, false); lay(wk, false); lay(wv, false); lay(wo, false);
    lay(ffn_norm, false); lay(w1, false); lay(w2, false); lay(w3, false); lay(final_norm, false);
    pos += static_cast<uint64_t>(k.seq_len) * static_cast<uint64_t>(k.head_size() / 2) * 4 * 2;  // freq_cis
    if (!k.shared_classifier) lay(cls, false);
  } else {
    const bool q = k.version == 2;
    lay(att_norm, false); lay(ffn_norm, false); lay(final_norm, false);
    lay(emb, q); lay(wq, q); lay(wk, q); lay(wv, q); lay(wo, q); lay(w1, q); lay(w2, q); lay(w3, q);
    if (!k.shared_classifier) lay(cls, q);
  }
  if (pos != size) {
    fail("file is " + std::to_string(size) + " bytes, but its header (version " + std::to_string(k.version) + ", dim " +
         std::to_string(D) + ", " + std::to_string(L) + " layers, vocab " + std::to_string(V) + (k.shared_classifier ? ", shared" : ", separate") +
         " classifier) implies " + std::to_string(pos));
  }
  // llama.cpp converter order
  const auto find = [&](const std::string& n) -> const Llama2cTensor& {
    for (const auto& t : laid) if (t.name == n) return t;
    return laid.front();
  };
  c.tensors_.push_back(find("token_embd.weight"));
  c.tensors_.push_back(find("output_norm.weight"));
  Llama2cTensor out = find(k.shared_classifier ? "token_embd.weight" : "output.weight");
  out.name = "output.weight";
  c.tensors_.push_back(out);
  for (int64_t l = 0; l < L; ++l) {
    for (const char* role : {"attn_q", "attn_k", "attn_v", "attn_output", "attn_norm", "ffn_gate", "ffn_down", "ffn_up", "ffn_norm"}) {
      c.tensors_.push_back(find("blk." + std::to_string(l) + "." + role + ".weight"));
    }
  }
  return c;
}

void Llama2cCheckpoint::read_f32(const Llama2cTensor& t, std::span<float> out) const {
  const int64_t n = t.elements();
  if (static_cast<int64_t>(out.size()) != n) throw_usage("read_f32: wrong output size for '" + t.name + "'");
  const uint8_t* d = file_.data();
  const bool quantized = config_.version == 2 && t.ne.size() > 1;
  if (!quantized) {
    std::memcpy(out.data(), d + t.offset, static_cast<size_t>(n) * 4);
    file_.release(d + t.offset, static_cast<size_t>(n) * 4);
    return;
  }
  const int8_t* q = reinterpret_cast<const int8_t*>(d + t.offset);
  const int64_t gs = config_.group_size;
  for (int64_t g = 0; g < n / gs; ++g) {
    float s;
    std::memcpy(&s, d + t.scale_offset + static_cast<uint64_t>(g) * 4, 4);
    for (int64_t i = 0; i < gs; ++i) out[static_cast<size_t>(g * gs + i)] = static_cast<float>(q[g * gs + i]) * s;
  }
  file_.release(d + t.offset, static_cast<size_t>(t.scale_offset - t.offset) + static_cast<size_t>(n / gs) * 4);
}

Llama2cVocab Llama2cVocab::read(const std::string& path, int64_t vocab_size) {
  const MappedFile f(path);
  const uint8_t* d = f.data();
  const uint64_t size = f.size();
  uint64_t pos = 0;
  const auto fail = [&](const std::string& what) { throw_bad_input(path + ": at byte " + std::to_string(pos) + ": " + what); };
  Llama2cVocab v;
  if (size < 4) fail("too short for a llama2.c tokenizer");
  v.max_token_length = read_i32(d);
  pos = 4;
  for (int64_t i = 0; i < vocab_size; ++i) {
    if (size - pos < 8) fail("truncated at token " + std::to_string(i) + " of " + std::to_string(vocab_size));
    float score;
    std::memcpy(&score, d + pos, 4);
    const int32_t len = read_i32(d + pos + 4);
    pos += 8;
    if (len < 0 || static_cast<uint64_t>(len) > size - pos) fail("token " + std::to_string(i) + " has length " + std::to_string(len));
    v.tokens.emplace_back(reinterpret_cast<const char*>(d + pos), static_cast<size_t>(len));
    v.scores.push_back(score);
    pos += static_cast<uint64_t>(len);
  }
  return v;
}

}  // namespace vernier
