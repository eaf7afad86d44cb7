// load_model(): detect the source format and present it as one Model with GGUF names.
#include <cstring>
#include <filesystem>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "hf_quant_load.hpp"
#include "tokenizer_spec.hpp"
#include "vernier/error.hpp"
#include "vernier/llama2c.hpp"
#include "vernier/model.hpp"
#include "vernier/safetensors.hpp"

namespace fs = std::filesystem;

namespace vernier {

namespace {

uint64_t nbytes_of(GgmlType type, const std::vector<int64_t>& ne, const std::string& name) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  const auto row = ti ? ggml_row_bytes(*ti, ne.empty() ? 0 : ne[0]) : std::nullopt;
  if (!row) throw_bad_input("tensor '" + name + "': row length does not fit its type");
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  return static_cast<uint64_t>(*row) * static_cast<uint64_t>(rows);
}

// ---- GGUF -------------------------------------------------------------------------------------
Model load_gguf(const std::string& path) {
  auto file = std::make_shared<GgufFile>(GgufFile::open(path));
  Model m;
  m.path = path;
  m.source_format = "gguf";
  m.gguf_metadata = file->metadata();
  LlamaConfig& c = m.config;
  if (const GgufValue* a = file->find("general.architecture"); a && a->type == GgufType::string) c.architecture = a->str;
  if (const GgufValue* n = file->find("general.name"); n && n->type == GgufType::string) c.name = n->str;
  const auto key_i = [&](const std::string& k) -> int64_t {
    const GgufValue* v = file->find(c.architecture + "." + k);
    return v && v->is_integer() ? v->as_i64() : 0;
  };
  const auto key_f = [&](const std::string& k, double dflt) -> double {
    const GgufValue* v = file->find(c.architecture + "." + k);
    return v && (v->is_integer() || v->type == GgufType::f32 || v->type == GgufType::f64) ? v->as_f64() : dflt;
  };
  c.dim = key_i("embedding_length");
  c.ffn = key_i("feed_forward_length");
  c.layers = key_i("block_count");
  c.heads = key_i("attention.head_count");
  c.kv_heads = key_i("attention.head_count_kv");
  if (c.kv_heads == 0) c.kv_heads = c.heads;
  c.context = key_i("context_length");
  c.rope_dim = key_i("rope.dimension_count");
  c.rms_eps = key_f("attention.layer_norm_rms_epsilon", 1e-5);
  c.rope_theta = key_f("rope.freq_base", 10000.0);
  if (const GgufValue* t = file->find("tokenizer.ggml.tokens"); t && t->type == GgufType::array) c.vocab = static_cast<int64_t>(t->count);
  if (c.vocab == 0) c.vocab = key_i("vocab_size");
  c.tied_embeddings = file->find_tensor("output.weight") == nullptr;
  m.tokenizer = tokenizer_from_gguf(*file);
  for (const auto& ti : file->tensors()) {
    ModelTensor t;
    t.name = ti.name;
    t.ne = ti.ne;
    t.type = ti.type;
    t.nbytes = ti.nbytes;
    const GgufFile* f = file.get();
    const GgufTensorInfo* info = &ti;
    t.read = [f, info](std::span<uint8_t> out) {
      const auto src = f->tensor_data(*info);
      std::memcpy(out.data(), src.data(), src.size());
      f->release(*info);
    };
    t.view = [f, info] { return f->tensor_data(*info); };
    t.release = [f, info] { f->release(*info); };
    t.release_part = [f, info](uint64_t offset, uint64_t n) { f->release(*info, offset, n); };
    m.tensors.push_back(std::move(t));
  }
  m.keep_alive = file;
  return m;
}

// ---- llama2.c ---------------------------------------------------------------------------------
std::string find_llama2c_tokenizer(const std::string& model_path) {
  const fs::path dir = fs::path(model_path).parent_path();
  if (fs::exists(dir / "tokenizer.bin")) return (dir / "tokenizer.bin").string();
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(dir.empty() ? "." : dir, ec)) {
    const std::string n = e.path().filename().string();
    if (n.rfind("tok", 0) == 0 && e.path().extension() == ".bin" && e.path() != fs::path(model_path)) return e.path().string();
  }
  return "";
}

Model load_llama2c(const std::string& path, const std::string& tokenizer_path) {
  auto ck = std::make_shared<Llama2cCheckpoint>(Llama2cCheckpoint::open(path));
  const Llama2cConfig& k = ck->config();
  Model m;
  m.path = path;
  m.source_format = "llama2c";
  LlamaConfig& c = m.config;
  c.name = "llama";
  c.dim = k.dim;
  c.ffn = k.hidden_dim;
  c.layers = k.n_layers;
  c.heads = k.n_heads;
  c.kv_heads = k.n_kv_heads;
  c.vocab = k.vocab_size;
  c.context = k.seq_len;
  c.rope_dim = k.head_size();
  c.rms_eps = 1e-5;  // llama2.c's RMSNorm epsilon
  c.rope_theta = 10000.0;
  c.tied_embeddings = k.shared_classifier;
  for (const auto& lt : ck->tensors()) {
    ModelTensor t;
    t.name = lt.name;
    t.ne = lt.ne;
    t.type = ggml_type::F32;
    t.nbytes = static_cast<uint64_t>(lt.elements()) * 4;
    const Llama2cCheckpoint* p = ck.get();
    const Llama2cTensor* info = &lt;
    t.read = [p, info](std::span<uint8_t> out) {
      p->read_f32(*info, {reinterpret_cast<float*>(out.data()), out.size() / 4});
    };
    m.tensors.push_back(std::move(t));
  }
  const std::string tok = tokenizer_path.empty() ? find_llama2c_tokenizer(path) : tokenizer_path;
  if (!tok.empty()) m.tokenizer = tokenizer_from_llama2c(Llama2cVocab::read(tok, k.vocab_size));
  m.keep_alive = ck;
  return m;
}

// ---- Hugging Face -----------------------------------------------------------------------------
Model load_hf(const std::string& dir) {
  const std::string cfg_path = dir + "/config.json";
  std::ifstream in(cfg_path);
  if (!in) throw Error(ErrorKind::io, cfg_path + ": cannot open");
  nlohmann::json cfg;
  try {
    cfg = nlohmann::json::parse(in);
  } catch (const nlohmann::json::exception& e) {
    throw_bad_input(cfg_path + ": not valid JSON: " + e.what());
  }
  std::string arch = "?";
  if (cfg.contains("architectures") && cfg["architectures"].is_array() && !cfg["architectures"].empty() &&
      cfg["architectures"][0].is_string()) {
    arch = cfg["architectures"][0].get<std::string>();
  }
  if (arch != "LlamaForCausalLM" && arch != "MistralForCausalLM") {
    throw_bad_input(cfg_path + ": architecture " + arch + " is not supported (expected LlamaForCausalLM or MistralForCausalLM)");
  }
  const auto need = [&](const char* key) -> int64_t {
    if (!cfg.contains(key) || !cfg[key].is_number_integer() || cfg[key].get<int64_t>() <= 0) {
      throw_bad_input(cfg_path + ": expected a positive integer '" + key + "'");
    }
    return cfg[key].get<int64_t>();
  };
  Model m;
  m.path = dir;
  m.source_format = "safetensors";
  LlamaConfig& c = m.config;
  c.name = fs::path(dir).filename().string();
  if (c.name.empty()) c.name = fs::path(dir).parent_path().filename().string();
  c.dim = need("hidden_size");
  c.ffn = need("intermediate_size");
  c.layers = need("num_hidden_layers");
  c.heads = need("num_attention_heads");
  c.kv_heads = cfg.contains("num_key_value_heads") ? need("num_key_value_heads") : c.heads;
  c.vocab = need("vocab_size");
  c.context = cfg.contains("max_position_embeddings") ? need("max_position_embeddings") : 2048;
  // optional values: absent or null take the default; any other JSON type is the file's fault
  const auto number = [&](const char* key, double fallback) -> double {
    if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
    if (!cfg[key].is_number()) throw_bad_input(cfg_path + ": '" + key + "' must be a number");
    return cfg[key].get<double>();
  };
  const auto flag = [&](const char* key, bool fallback) -> bool {
    if (!cfg.contains(key) || cfg[key].is_null()) return fallback;
    if (!cfg[key].is_boolean()) throw_bad_input(cfg_path + ": '" + key + "' must be true or false");
    return cfg[key].get<bool>();
  };
  c.rms_eps = number("rms_norm_eps", 1e-6);
  c.rope_theta = number("rope_theta", 10000.0);
  c.tied_embeddings = flag("tie_word_embeddings", false);
  c.rope_dim = cfg.contains("head_dim") ? need("head_dim") : c.dim / c.heads;
  if (c.dim % c.heads != 0 || c.heads % c.kv_heads != 0) {
    throw_bad_input(cfg_path + ": hidden_size must divide into the heads and the heads into the KV heads");
  }

  auto ck = std::make_shared<SafetensorsCheckpoint>(SafetensorsCheckpoint::open(dir));
  // Tied checkpoints may store only one of embed_tokens / lm_head (shared/TinyStories-656K keeps
  // lm_head.weight); either becomes token_embd and no output.weight is written, as llama.cpp does.
  const std::string embed_src = ck->find("model.embed_tokens.weight") ? "model.embed_tokens.weight" : "lm_head.weight";
  std::set<std::string> quantized;  // tensors of quantized layers (GPTQ, AWQ, compressed-tensors, bnb)
  if (cfg.contains("quantization_config") && !cfg["quantization_config"].is_null()) {
    quantized = load_hf_quantized(m, *ck, cfg["quantization_config"], cfg_path);
  }
  for (const auto& e : ck->tensors()) {
    const std::string& hf = e.info->name;
    if (quantized.count(hf)) continue;
    if (hf.find("rotary_emb.inv_freq") != std::string::npos) continue;  // recomputed, not a weight
    std::optional<std::string> g;
    if (c.tied_embeddings && (hf == "model.embed_tokens.weight" || hf == "lm_head.weight")) {
      if (hf != embed_src) continue;
      g = "token_embd.weight";
    } else {
      g = hf_to_gguf_name(hf);
    }
    if (!g) throw_bad_input(e.file->path() + ": tensor '" + hf + "' has no GGUF name (not a LLaMA tensor)");
    ModelTensor t;
    t.name = *g;
    for (auto it = e.info->shape.rbegin(); it != e.info->shape.rend(); ++it) t.ne.push_back(*it);
    switch (e.info->dtype) {
      case StDtype::F32: case StDtype::F64: t.type = ggml_type::F32; break;
      case StDtype::F16: t.type = ggml_type::F16; break;
      case StDtype::BF16: t.type = ggml_type::BF16; break;
      default:
        throw_bad_input(e.file->path() + ": tensor '" + hf + "' has dtype " + std::string(st_dtype_name(e.info->dtype)) +
                        " (expected F32, F16, BF16 or F64)");
    }
    t.nbytes = nbytes_of(t.type, t.ne, t.name);
    int64_t permute_heads = 0;
    if (t.name.ends_with(".attn_q.weight")) permute_heads = c.heads;
    if (t.name.ends_with(".attn_k.weight")) permute_heads = c.kv_heads;
    const SafetensorsFile* file = e.file;
    const StTensorInfo* info = e.info;
    const int64_t rows = t.ne.size() > 1 ? t.ne[1] : 1;
    const uint64_t nbytes = t.nbytes;
    t.read = [file, info, permute_heads, rows, nbytes](std::span<uint8_t> out) {
      const auto src = file->tensor_data(*info);
      std::vector<uint8_t> converted;
      std::span<const uint8_t> data = src;
      if (info->dtype == StDtype::F64) {  // narrowed to float32
        converted.resize(nbytes);
        for (size_t i = 0; i < nbytes / 4; ++i) {
          double d;
          std::memcpy(&d, src.data() + 8 * i, 8);
          const float f = static_cast<float>(d);
          std::memcpy(converted.data() + 4 * i, &f, 4);
        }
        data = converted;
      }
      if (permute_heads > 0) permute_rope_rows(data, out, permute_heads, rows, nbytes / static_cast<uint64_t>(rows), true);
      else std::memcpy(out.data(), data.data(), nbytes);
      file->release(*info);
    };
    if (permute_heads == 0 && info->dtype != StDtype::F64) {
      t.view = [file, info] { return file->tensor_data(*info); };
      t.release = [file, info] { file->release(*info); };
      t.release_part = [file, info](uint64_t offset, uint64_t n) { file->release(*info, offset, n); };
    }
    m.tensors.push_back(std::move(t));
  }
  m.tokenizer = tokenizer_from_hf(dir);
  m.keep_alive = ck;
  return m;
}

bool has_magic(const std::string& path, const char* magic, size_t n) {
  std::ifstream in(path, std::ios::binary);
  char buf[8] = {};
  in.read(buf, static_cast<std::streamsize>(n));
  return in.gcount() == static_cast<std::streamsize>(n) && std::memcmp(buf, magic, n) == 0;
}

// --tokenizer for a GGUF or Hugging Face model: a Hugging Face tokenizer (its directory or its
// tokenizer.json) or a llama2.c tokenizer .bin in place of the model's own, with as many tokens.
Model with_tokenizer(Model m, const std::string& tokenizer_path) {
  if (tokenizer_path.empty()) return m;
  std::error_code ec;
  if (!fs::exists(tokenizer_path, ec)) throw Error(ErrorKind::io, tokenizer_path + ": no such file or directory");
  const fs::path p(tokenizer_path);
  TokenizerSpec t;
  if (fs::is_directory(p, ec) || p.extension() == ".json") {
    const fs::path dir = fs::is_directory(p, ec) ? p : p.parent_path();
    t = tokenizer_from_hf(dir.string());
    if (t.tokens.empty()) throw_bad_input(tokenizer_path + ": no Hugging Face tokenizer.json there");
  } else {
    t = tokenizer_from_llama2c(Llama2cVocab::read(tokenizer_path, m.config.vocab));
  }
  if (static_cast<int64_t>(t.tokens.size()) != m.config.vocab) {
    throw_bad_input(tokenizer_path + ": a tokenizer of " + std::to_string(t.tokens.size()) + " tokens; " + m.path + " has a vocabulary of " +
                    std::to_string(m.config.vocab));
  }
  m.tokenizer = std::move(t);
  return m;
}

}  // namespace

Model load_model(const std::string& path, const std::string& tokenizer_path) {
  std::error_code ec;
  if (!fs::exists(path, ec)) throw Error(ErrorKind::io, path + ": no such file or directory");
  if (fs::is_directory(path, ec)) {
    if (fs::exists(fs::path(path) / "config.json")) return with_tokenizer(load_hf(path), tokenizer_path);
    throw_bad_input(path + ": a directory without config.json (expected a Hugging Face checkpoint)");
  }
  if (has_magic(path, "GGUF", 4)) return with_tokenizer(load_gguf(path), tokenizer_path);
  const fs::path p(path);
  if (p.extension() == ".safetensors" || p.filename() == "model.safetensors.index.json") {
    if (fs::exists(p.parent_path() / "config.json")) return with_tokenizer(load_hf(p.parent_path().string()), tokenizer_path);
    throw_bad_input(path + ": no config.json beside this safetensors file (needed for the model's shape)");
  }
  if (p.extension() == ".gguf") throw_bad_input(path + ": not a GGUF file (the first 4 bytes are not \"GGUF\")");
  return load_llama2c(path, tokenizer_path);
}

}  // namespace vernier
