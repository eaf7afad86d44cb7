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
#include <stdexcept>
#include <thread>
#include <nlohmann/json.hpp>

#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/quant_method.hpp"
#include "vernier/weight_type.hpp"
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

// A layer quantized to `scheme` with rows in HF's order (RoPE rows permuted back for Q and K). A
// row-local scheme (per-channel or per-group scales, no double quantization) under round-to-nearest is
// quantized in slabs of 32 MiB of float32 rows on `threads` threads, each decoded from the stored bytes
// on its own: the codes are those of the whole matrix at once, and memory stays at the codes plus
// threads × a slab. Anything else (a per-tensor scale, NF4 double quantization, a calibrated method)
// is quantized whole, as before.
QuantizedTensor quantize_rows_streamed(const ModelTensor& t, const QuantMethod& method, const Scheme& scheme, int64_t heads, int threads,
                                       double& rmse) {
  const int64_t rows = t.ne[1], cols = t.ne[0];
  const bool row_local = scheme.granularity != Granularity::per_tensor && !scheme.double_quant && &method == &rtn_method();
  if (!row_local) {
    std::vector<float> w(static_cast<size_t>(t.elements()));
    read_f32(t, w);  // float types, and GGML blocks decoded
    if (heads) to_hf_rows(w, heads, rows);
    QuantizedLinear ql{method.quantize_scheme(TensorView{w.data(), rows, cols, t.name}, TensorStats{}, scheme), {}};
    rmse = error_stats(w, dequantize_linear(ql)).rmse;
    return std::move(ql.q);
  }
  const auto* info = ggml_type_info(t.type);
  if (!info) throw_bad_input(t.name + ": cannot decode its stored type");
  const uint64_t in_row_bytes = *ggml_row_bytes(*info, cols);
  std::vector<uint8_t> raw;  // the stored bytes, where the tensor cannot be used in place
  const std::span<const uint8_t> bytes = stored_bytes(t, raw);
  const std::vector<int32_t> order = heads ? rope_row_order(heads, rows, false) : std::vector<int32_t>{};
  const int64_t slab = std::max<int64_t>(1, static_cast<int64_t>((32ull << 20) / (static_cast<uint64_t>(cols) * 4)));
  const int64_t slabs = (rows + slab - 1) / slab;
  const auto quantize_slab = [&](int64_t k, std::vector<float>& x) {
    const int64_t r0 = k * slab, n = std::min(slab, rows - r0);
    x.resize(static_cast<size_t>(n * cols));
    for (int64_t r = 0; r < n; ++r) {
      const int64_t src = heads ? order[static_cast<size_t>(r0 + r)] : r0 + r;
      ggml_dequantize(t.type, bytes.data() + static_cast<uint64_t>(src) * in_row_bytes, x.data() + r * cols, cols);
    }
    return method.quantize_scheme(TensorView{x.data(), n, cols, t.name}, TensorStats{}, scheme);
  };
  QuantizedTensor q;
  std::vector<float> x0;
  QuantizedTensor first = quantize_slab(0, x0);
  q.scheme = first.scheme;
  q.rows = rows;
  q.cols = cols;
  q.row_bytes = first.row_bytes;
  const int64_t gpr = first.groups_per_row();
  q.codes.resize(static_cast<size_t>(rows * q.row_bytes));
  q.scales.resize(static_cast<size_t>(rows * gpr));
  if (!first.zero_points.empty()) q.zero_points.resize(static_cast<size_t>(rows * gpr));
  std::vector<ErrorAccumulator> acc(static_cast<size_t>(std::max(1, threads)));
  const auto place = [&](int64_t k, const QuantizedTensor& part, const std::vector<float>& x, int thread) {
    const int64_t r0 = k * slab;
    std::copy(part.codes.begin(), part.codes.end(), q.codes.begin() + r0 * q.row_bytes);
    std::copy(part.scales.begin(), part.scales.end(), q.scales.begin() + r0 * gpr);
    if (!part.zero_points.empty()) std::copy(part.zero_points.begin(), part.zero_points.end(), q.zero_points.begin() + r0 * gpr);
    acc[static_cast<size_t>(thread)].add(x, dequantize_linear(QuantizedLinear{part, {}}));
  };
  place(0, first, x0, 0);
  const int used = parallel_for(slabs - 1, threads, [&](int64_t k0, int64_t k1, int thread) {
    std::vector<float> x;
    for (int64_t k = k0 + 1; k < k1 + 1; ++k) place(k, quantize_slab(k, x), x, thread);
  });
  for (int i = 1; i < std::max(1, used); ++i) acc[0].merge(acc[static_cast<size_t>(i)]);
  if (t.release) t.release();
  rmse = acc[0].result().rmse;
  return q;
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
    // The shard's header from the plan, then one tensor at a time made and written: memory holds one
    // layer's codes and a slab of its float rows, whatever the shard's size
    std::vector<const Item*> mine;
    for (const Item& it : items) {
      if (it.shard == s) mine.push_back(&it);
    }
    const std::string file = shard_name(s);
    SafetensorsWriter w(staged, file);
    w.set_metadata({{"format", "pt"}});
    for (const Item* it : mine) {
      if (it->quantized) {
        for (const HfTensor& spec : it->specs) w.add_tensor(it->hf + "." + spec.suffix, spec.dtype, spec.shape);
      } else {
        w.add_tensor(it->hf, it->dtype, it->shape);
      }
    }
    w.write_header();
    for (const Item* it : mine) {
      const ModelTensor& t = *it->src;
      if (opt.progress) opt.progress(index++, items.size(), t.name);
      HfCheckpointTensor rep;
      rep.name = it->hf;
      rep.elements = t.elements();
      rep.bytes = it->bytes;
      rep.quantized = it->quantized;
      std::vector<std::pair<std::string, HfTensor>> out;
      if (it->quantized) {
        const int64_t rows = t.ne[1];
        const int64_t heads = rope_heads(m, t.name);
        QuantizedLinear ql;
        rep.stored = std::string(hf_layout_name(opt.layout)) + " " + scheme_name(scheme);
        if (t.held_as_scheme() && describe(t.weight_type().as_scheme()) == describe(scheme)) {
          // already quantized to this scheme (GPTQ, in memory or parked): its own codes, rows back in HF's order
          ql = {unpack(*t.packed()), t.input_perm ? *t.input_perm : std::vector<int32_t>{}};
          if (heads) ql.q = permute_rows(ql.q, rope_row_order(heads, rows, false));
          rep.stored += " (as held)";
        } else {
          double rmse = 0;
          ql = {quantize_rows_streamed(t, method, scheme, heads, threads, rmse), {}};
          rep.rmse = rmse;
        }
        for (HfTensor& h : encode_linear(qc, ql)) {
          std::string name = it->hf + "." + h.suffix;
          out.emplace_back(std::move(name), std::move(h));
        }
      } else {
        HfTensor h;
        h.dtype = it->dtype;
        h.shape = it->shape;
        if (it->dtype == StDtype::F32) {  // float types and GGML blocks, decoded straight into the tensor's bytes
          h.data.resize(static_cast<size_t>(t.elements()) * 4);
          read_f32(t, {reinterpret_cast<float*>(h.data.data()), static_cast<size_t>(t.elements())});
        } else {
          h.data.resize(t.nbytes);
          t.read(h.data);
        }
        if (const int64_t heads = rope_heads(m, t.name); heads && t.ne.size() == 2) to_hf_rows(h.data, heads, t.ne[1]);
        rep.stored = std::string(st_dtype_name(it->dtype));
        out.emplace_back(it->hf, std::move(h));
      }
      if (t.release) t.release();
      std::vector<std::string> declared;
      if (it->quantized) {
        for (const HfTensor& spec : it->specs) declared.push_back(it->hf + "." + spec.suffix);
      } else {
        declared.push_back(it->hf);
      }
      if (declared.size() != out.size()) throw std::logic_error(t.name + ": the layout made other tensors than its plan");
      for (size_t i = 0; i < out.size(); ++i) {
        if (out[i].first != declared[i]) throw std::logic_error(out[i].first + ": made where the plan declared " + declared[i]);
      }
      for (const auto& [name, h] : out) {
        w.write_tensor(h.data);  // checks the size against the declared shape and dtype
        weight_map[name] = file;
        total += h.data.size();
      }
      report.tensors.push_back(std::move(rep));
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
