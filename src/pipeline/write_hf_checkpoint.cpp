// write_hf_checkpoint(): a Model → a quantized Hugging Face checkpoint directory (hf_checkpoint.hpp).
#include "vernier/hf_checkpoint.hpp"

#include <algorithm>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <mutex>
#include <thread>
#include <nlohmann/json.hpp>

#include "vernier/error.hpp"
#include "vernier/metrics.hpp"
#include "vernier/parallel.hpp"
#include "vernier/quantize_in_memory.hpp"
#include "vernier/safetensors.hpp"

namespace fs = std::filesystem;

namespace vernier {

uint64_t parse_shard_size(const std::string& text) {
  size_t pos = 0;
  double v = 0;
  try {
    v = std::stod(text, &pos);
  } catch (const std::exception&) {
    throw_usage("--max-shard-size '" + text + "': expected a size such as 5GB, 500MB or 2GiB");
  }
  std::string unit = text.substr(pos);
  for (auto& ch : unit) ch = static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  double mult = 0;
  if (unit.empty() || unit == "B") mult = 1;
  else if (unit == "KB") mult = 1e3;
  else if (unit == "MB") mult = 1e6;
  else if (unit == "GB") mult = 1e9;
  else if (unit == "KIB") mult = 1024.0;
  else if (unit == "MIB") mult = 1024.0 * 1024;
  else if (unit == "GIB") mult = 1024.0 * 1024 * 1024;
  if (mult == 0 || !(v > 0)) throw_usage("--max-shard-size '" + text + "': expected a size such as 5GB, 500MB or 2GiB");
  // a double past 2^64 does not convert to uint64_t (undefined behaviour): refuse it (found by fuzz_values)
  if (!(v * mult < 18446744073709551616.0)) throw_usage("--max-shard-size '" + text + "': too large");
  return std::max<uint64_t>(1, static_cast<uint64_t>(v * mult));
}

namespace {
struct Item {
  const ModelTensor* src = nullptr;
  std::string hf;                // module prefix (quantized) or tensor name
  bool quantized = false;
  StDtype dtype = StDtype::F32;  // plain tensors
  std::vector<int64_t> shape;    // plain tensors, PyTorch order
  std::vector<HfTensor> specs;   // quantized layers
  uint64_t bytes = 0;
  int shard = 0;
};

int64_t rope_heads(const Model& m, const std::string& name) {
  if (name.ends_with(".attn_q.weight")) return m.config.heads;
  if (name.ends_with(".attn_k.weight")) return m.config.kv_heads;
  return 0;
}

template <class T>
void to_hf_rows(std::vector<T>& v, int64_t heads, int64_t rows) {
  std::vector<T> out(v.size());
  const uint64_t row_bytes = v.size() / static_cast<size_t>(rows) * sizeof(T);
  permute_rope_rows({reinterpret_cast<const uint8_t*>(v.data()), v.size() * sizeof(T)},
                    {reinterpret_cast<uint8_t*>(out.data()), out.size() * sizeof(T)}, heads, rows, row_bytes, false);
  v = std::move(out);
}

std::string torch_dtype_of(StDtype d) {
  return d == StDtype::F16 ? "float16" : d == StDtype::BF16 ? "bfloat16" : "float32";
}

nlohmann::json synth_config(const Model& m, const std::string& dtype) {
  const LlamaConfig& c = m.config;
  nlohmann::json j = {{"architectures", {"LlamaForCausalLM"}}, {"model_type", "llama"}, {"hidden_act", "silu"},
                      {"hidden_size", c.dim}, {"intermediate_size", c.ffn}, {"num_hidden_layers", c.layers},
                      {"num_attention_heads", c.heads}, {"num_key_value_heads", c.kv_heads}, {"head_dim", c.head_dim()},
                      {"vocab_size", c.vocab}, {"max_position_embeddings", c.context > 0 ? c.context : 2048},
                      {"rms_norm_eps", c.rms_eps}, {"rope_theta", c.rope_theta}, {"tie_word_embeddings", c.tied_embeddings},
                      {"attention_bias", false}, {"mlp_bias", false}, {"torch_dtype", dtype}, {"use_cache", true}};
  if (m.tokenizer.bos) j["bos_token_id"] = *m.tokenizer.bos;
  if (m.tokenizer.eos) j["eos_token_id"] = *m.tokenizer.eos;
  return j;
}

void write_json(StagedDir& dir, const std::string& name, const nlohmann::json& j) {
  AtomicFile out(dir, name);
  const std::string text = j.dump(2) + "\n";
  out.write(text.data(), text.size());
  out.commit();
}

void copy_into(StagedDir& dir, const fs::path& src, const std::string& name) {
  const MappedFile in(src.string());
  AtomicFile out(dir, name);
  out.write(in.bytes());
  out.commit();
}
}  // namespace

HfCheckpointReport write_hf_checkpoint(const Model& m, const std::string& dir, const HfCheckpointOptions& opt) {
  const auto t0 = std::chrono::steady_clock::now();
  HfCheckpointReport report;
  validate_llama_config(m);  // no checkpoint vernier would then refuse to run
  const Scheme scheme = hf_layout_scheme(opt.layout, opt.scheme);
  report.scheme = scheme;
  const QuantMethod& method = opt.method ? *opt.method : rtn_method();
  const int threads = opt.threads > 0 ? opt.threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::error_code ec;
  const fs::path dest = fs::absolute(fs::path(dir)).lexically_normal();
  if (fs::exists(dest, ec)) {
    if (!opt.overwrite) throw_usage(dir + ": exists (pass --force to replace it)");
    const std::string input = fs::absolute(fs::path(m.path)).lexically_normal().string();
    if (fs::equivalent(dest, fs::path(m.path), ec) || input.rfind(dest.string() + "/", 0) == 0) {
      throw_usage(dir + ": is the input model; write the checkpoint somewhere else");
    }
  }
  HfQuantConfig qc;
  qc.layout = opt.layout;
  qc.scheme = scheme;
  qc.gptq_v2 = opt.layout == HfLayout::gptq && scheme.mode == AffineMode::asymmetric;
  if (!opt.quantize_output) qc.ignore = {"lm_head"};

  // Plan: what each tensor becomes and its bytes, so that shards can be named before writing.
  std::vector<Item> items;
  StDtype plain_dtype = StDtype::F32;
  bool plain_dtype_set = false;
  for (const ModelTensor& t : m.tensors) {
    Item it;
    it.src = &t;
    const auto hf = gguf_to_hf_name(t.name);
    if (!hf) throw_bad_input(m.path + ": tensor '" + t.name + "' has no Hugging Face name (not a LLaMA tensor)");
    const bool quantize = t.ne.size() == 2 && (is_block_linear(t.name) || (opt.quantize_output && t.name == "output.weight"));
    if (quantize) {
      const int64_t rows = t.ne[1], cols = t.ne[0];
      const std::string err = hf_layout_shape_error(opt.layout, scheme, rows, cols);
      if (!err.empty()) {
        throw_usage(m.path + ": tensor '" + t.name + "' (" + std::to_string(rows) + " × " + std::to_string(cols) + ") does not fit layout " +
                    std::string(hf_layout_name(opt.layout)) + ": " + err);
      }
      it.quantized = true;
      qc.desc_act = qc.desc_act || (t.input_perm && t.held_as_scheme() && describe(t.weight_type().as_scheme()) == describe(scheme));  // GPTQ act order
      it.hf = hf->substr(0, hf->size() - std::string(".weight").size());
      it.specs = hf_layout_specs(qc, scheme, rows, cols);
      for (const auto& s : it.specs) {
        int64_t n = 1;
        for (int64_t d : s.shape) n *= d;
        it.bytes += static_cast<uint64_t>(n) * st_dtype_size(s.dtype);
      }
    } else {
      it.hf = *hf;
      it.dtype = t.held_as_scheme() || (t.type != GgmlType::F16 && t.type != GgmlType::BF16) ? StDtype::F32
                 : t.type == GgmlType::F16                                        ? StDtype::F16
                                                                                  : StDtype::BF16;
      if (!plain_dtype_set && t.ne.size() == 2) {
        plain_dtype = it.dtype;
        plain_dtype_set = true;
      }
      it.shape.assign(t.ne.rbegin(), t.ne.rend());
      it.bytes = static_cast<uint64_t>(t.elements()) * st_dtype_size(it.dtype);
    }
    items.push_back(std::move(it));
  }
  qc.dtype = torch_dtype_of(plain_dtype);
  int shards = 1;
  uint64_t in_shard = 0;
  for (Item& it : items) {
    if (in_shard > 0 && in_shard + it.bytes > opt.max_shard_bytes) {
      ++shards;
      in_shard = 0;
    }
    it.shard = shards - 1;
    in_shard += it.bytes;
  }
  const auto shard_name = [&](int s) {
    if (shards == 1) return std::string("model.safetensors");
    char buf[64];
    std::snprintf(buf, sizeof buf, "model-%05d-of-%05d.safetensors", s + 1, shards);
    return std::string(buf);
  };

  StagedDir staged(dest.string());  // nothing appears at dest until every file is complete

  nlohmann::json weight_map = nlohmann::json::object();
  uint64_t total = 0;
  size_t index = 0;
  for (int s = 0; s < shards; ++s) {
    // one shard's tensors in memory at a time (at most max_shard_bytes, or one layer past it); its
    // layers quantized on `threads` threads, each taking the next layer, written in plan order
    std::vector<const Item*> mine;
    for (const Item& it : items) {
      if (it.shard == s) mine.push_back(&it);
    }
    std::vector<std::vector<std::pair<std::string, HfTensor>>> made(mine.size());
    std::vector<HfCheckpointTensor> reps(mine.size());
    std::atomic<size_t> next{0};
    std::mutex progress_mutex;
    const auto produce = [&](size_t k) {
      const Item& it = *mine[k];
      const ModelTensor& t = *it.src;
      if (opt.progress) {
        std::lock_guard<std::mutex> lock(progress_mutex);
        opt.progress(index++, items.size(), t.name);
      }
      HfCheckpointTensor& rep = reps[k];
      rep.name = it.hf;
      rep.elements = t.elements();
      rep.bytes = it.bytes;
      rep.quantized = it.quantized;
      auto& out = made[k];
      if (it.quantized) {
        const int64_t rows = t.ne[1], cols = t.ne[0];
        const int64_t heads = rope_heads(m, t.name);
        QuantizedLinear ql;
        rep.stored = std::string(hf_layout_name(opt.layout)) + " " + scheme_name(scheme);
        if (t.held_as_scheme() && describe(t.weight_type().as_scheme()) == describe(scheme)) {
          // already quantized to this scheme (GPTQ, in memory or parked): its own codes, rows back in HF's order
          ql = {unpack(*t.packed()), t.input_perm ? *t.input_perm : std::vector<int32_t>{}};
          if (heads) ql.q = permute_rows(ql.q, rope_row_order(heads, rows, false));
          rep.stored += " (as held)";
        } else {
          std::vector<float> w(static_cast<size_t>(t.elements()));
          read_f32(t, w);  // float types, and GGML blocks decoded
          if (heads) to_hf_rows(w, heads, rows);
          ql = {method.quantize_scheme(TensorView{w.data(), rows, cols, t.name}, TensorStats{}, scheme), {}};
          rep.rmse = error_stats(w, dequantize_linear(ql)).rmse;
        }
        for (HfTensor& h : encode_linear(qc, ql)) {
          std::string name = it.hf + "." + h.suffix;
          out.emplace_back(std::move(name), std::move(h));
        }
      } else {
        HfTensor h;
        h.dtype = it.dtype;
        h.shape = it.shape;
        if (it.dtype == StDtype::F32) {  // float types and GGML blocks, decoded straight into the tensor's bytes
          h.data.resize(static_cast<size_t>(t.elements()) * 4);
          read_f32(t, {reinterpret_cast<float*>(h.data.data()), static_cast<size_t>(t.elements())});
        } else {
          h.data.resize(t.nbytes);
          t.read(h.data);
        }
        if (const int64_t heads = rope_heads(m, t.name); heads && t.ne.size() == 2) to_hf_rows(h.data, heads, t.ne[1]);
        rep.stored = std::string(st_dtype_name(it.dtype));
        out.emplace_back(it.hf, std::move(h));
      }
      if (t.release) t.release();
    };
    parallel_for(threads, threads, [&](int64_t, int64_t, int) {
      for (size_t k; (k = next.fetch_add(1)) < mine.size();) produce(k);
    });
    std::vector<std::pair<std::string, HfTensor>> out;
    for (size_t k = 0; k < mine.size(); ++k) {
      for (auto& e : made[k]) out.push_back(std::move(e));
      report.tensors.push_back(std::move(reps[k]));
    }
    const std::string file = shard_name(s);
    SafetensorsWriter w(staged, file);
    w.set_metadata({{"format", "pt"}});
    for (const auto& [name, h] : out) w.add_tensor(name, h.dtype, h.shape);
    w.write_header();
    for (const auto& [name, h] : out) {
      w.write_tensor(h.data);
      weight_map[name] = file;
      total += h.data.size();
    }
    w.finish();
    report.files.push_back(file);
  }
  if (shards > 1) {
    write_json(staged, "model.safetensors.index.json", {{"metadata", {{"total_size", total}}}, {"weight_map", weight_map}});
    report.files.push_back("model.safetensors.index.json");
  }

  nlohmann::json cfg;
  const bool hf_source = m.source_format == "safetensors";
  const fs::path src_dir = hf_source ? fs::path(m.path) : fs::path();
  if (hf_source) {
    std::ifstream in(src_dir / "config.json");
    cfg = nlohmann::json::parse(in, nullptr, false);
    if (cfg.is_discarded() || !cfg.is_object()) throw_bad_input((src_dir / "config.json").string() + ": not valid JSON");
  } else {
    cfg = synth_config(m, qc.dtype);
  }
  cfg["quantization_config"] = hf_quant_config_json(qc);
  write_json(staged, "config.json", cfg);
  report.files.push_back("config.json");
  if (opt.layout == HfLayout::gptq) {
    write_json(staged, "quantize_config.json", cfg["quantization_config"]);
    report.files.push_back("quantize_config.json");
  }
  static const char* kCarried[] = {"tokenizer.json", "tokenizer_config.json", "tokenizer.model", "special_tokens_map.json",
                                   "generation_config.json", "added_tokens.json", "vocab.json", "merges.txt", "chat_template.jinja",
                                   "chat_template.json"};
  bool tokenizer = false;
  if (hf_source) {
    for (const char* f : kCarried) {
      if (!fs::exists(src_dir / f)) continue;
      copy_into(staged, src_dir / f, f);
      report.files.push_back(f);
      tokenizer = tokenizer || std::string(f).rfind("tokenizer", 0) == 0;
    }
  }
  if (!tokenizer) {
    report.notes.push_back("no Hugging Face tokenizer files to carry over (the source is " + m.source_format +
                           "): add tokenizer.json before loading the checkpoint with transformers");
  }

  staged.commit();  // with --force, swapped with the old folder in one step, which is then removed
  report.bytes = total;
  report.shards = shards;
  report.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  return report;
}

}  // namespace vernier
