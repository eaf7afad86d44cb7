// Writing a Model as GGUF or safetensors, one tensor in memory at a time.
#include <cstring>

#include "tokenizer_spec.hpp"
#include "vernier/error.hpp"
#include "vernier/float_codecs.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/model.hpp"
#include "vernier/safetensors.hpp"

namespace vernier {

std::span<const uint8_t> stored_bytes(const ModelTensor& t, std::vector<uint8_t>& buf) {
  if (t.view) return t.view();
  buf.resize(t.nbytes);
  t.read(buf);
  return buf;
}

void read_f32(const ModelTensor& t, std::span<float> out) {
  const int64_t n = t.elements();
  if (static_cast<int64_t>(out.size()) != n) throw_usage("read_f32: '" + t.name + "' has " + std::to_string(n) + " elements");
  if (t.type == ggml_type::F32) {
    t.read({reinterpret_cast<uint8_t*>(out.data()), out.size() * 4});
    return;
  }
  std::vector<uint8_t> raw(t.nbytes);
  t.read(raw);
  if (t.type == ggml_type::F16 || t.type == ggml_type::BF16) {
    for (int64_t i = 0; i < n; ++i) {
      uint16_t h;
      std::memcpy(&h, raw.data() + 2 * i, 2);
      out[static_cast<size_t>(i)] = t.type == ggml_type::F16 ? fp16_to_float(h) : bf16_to_float(h);
    }
    return;
  }
  if (t.type == ggml_type::F64) {
    for (int64_t i = 0; i < n; ++i) {
      double d;
      std::memcpy(&d, raw.data() + 8 * i, 8);
      out[static_cast<size_t>(i)] = static_cast<float>(d);
    }
    return;
  }
  if (ggml_can_dequantize(t.type)) {
    ggml_dequantize(t.type, raw.data(), out.data(), n);
    return;
  }
  const GgmlTypeInfo* ti = ggml_type_info(t.type);
  throw_bad_input("tensor '" + t.name + "' is " + std::string(ti ? ti->name : "?") + ", which vernier cannot decode");
}

namespace {

GgmlType parse_out_type(const std::string& s) {
  if (s == "f32") return ggml_type::F32;
  if (s == "f16") return ggml_type::F16;
  if (s == "bf16") return ggml_type::BF16;
  throw_usage("unknown output type '" + s + "' (expected f32, f16 or bf16)");
}

GgmlType target_type(const ModelTensor& t, const ConvertOptions& opt) {
  if (opt.out_type.empty()) return t.type;
  if (t.ne.size() < 2) return ggml_type::F32;  // norms stay float32, as llama.cpp's converter keeps them
  return parse_out_type(opt.out_type);
}

uint32_t file_type_of(const std::vector<GgmlType>& types) {
  // llama_ftype: ALL_F32 0, MOSTLY_F16 1, MOSTLY_Q8_0 7, MOSTLY_BF16 32; the most common 2-D type decides
  uint32_t f16 = 0, bf16 = 0, q8 = 0, other = 0;
  for (GgmlType t : types) {
    if (t == ggml_type::F16) ++f16;
    else if (t == ggml_type::BF16) ++bf16;
    else if (t == ggml_type::Q8_0) ++q8;
    else if (t != ggml_type::F32) ++other;
  }
  if (bf16) return 32;
  if (f16) return 1;
  if (q8) return 7;
  return 0;
}

// Converts `in` (source type) into `out` (target type), element by element: both are float formats
// here, and no third buffer is needed.
void convert_bytes(const ModelTensor& t, GgmlType to, std::span<const uint8_t> in, std::span<uint8_t> out) {
  const int64_t n = t.elements();
  std::vector<float> decoded;
  if (t.type != ggml_type::F32 && t.type != ggml_type::F16 && t.type != ggml_type::BF16) {
    if (!ggml_can_dequantize(t.type)) {
      const GgmlTypeInfo* ti = ggml_type_info(t.type);
      throw_bad_input("tensor '" + t.name + "' is " + std::string(ti ? ti->name : "?") + ", which vernier cannot decode");
    }
    decoded.resize(static_cast<size_t>(n));
    ggml_dequantize(t.type, in.data(), decoded.data(), n);  // then written below as float32
  }
  for (int64_t i = 0; i < n; ++i) {
    float x;
    if (!decoded.empty()) {
      x = decoded[static_cast<size_t>(i)];
    } else if (t.type == ggml_type::F32) {
      std::memcpy(&x, in.data() + 4 * i, 4);
    } else {
      uint16_t h;
      std::memcpy(&h, in.data() + 2 * i, 2);
      x = t.type == ggml_type::F16 ? fp16_to_float(h) : bf16_to_float(h);
    }
    if (to == ggml_type::F32) {
      std::memcpy(out.data() + 4 * i, &x, 4);
    } else {
      const uint16_t h = to == ggml_type::F16 ? fp16_from_float(x) : bf16_from_float(x);
      std::memcpy(out.data() + 2 * i, &h, 2);
    }
  }
}

uint64_t bytes_for(GgmlType type, const std::vector<int64_t>& ne) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  int64_t rows = 1;
  for (size_t i = 1; i < ne.size(); ++i) rows *= ne[i];
  return static_cast<uint64_t>(*ggml_row_bytes(*ti, ne[0])) * static_cast<uint64_t>(rows);
}

void refuse_overwriting_input(const Model& m, const std::string& path) {
  if (same_file(path, m.path)) throw_usage(path + ": is the input; write the output to another path");
}

}  // namespace

GgufMetadata build_gguf_metadata(const Model& m, uint32_t file_type) {
  const LlamaConfig& c = m.config;
  GgufMetadata kv;
  const auto u32 = [](int64_t v) { return GgufValue::u32(static_cast<uint32_t>(v)); };
  kv.emplace_back("general.architecture", GgufValue::string("llama"));
  kv.emplace_back("general.name", GgufValue::string(c.name.empty() ? "llama" : c.name));
  kv.emplace_back("llama.context_length", u32(c.context));
  kv.emplace_back("llama.embedding_length", u32(c.dim));
  kv.emplace_back("llama.feed_forward_length", u32(c.ffn));
  kv.emplace_back("llama.block_count", u32(c.layers));
  kv.emplace_back("llama.attention.head_count", u32(c.heads));
  kv.emplace_back("llama.attention.head_count_kv", u32(c.kv_heads));
  kv.emplace_back("llama.rope.dimension_count", u32(c.rope_dim));
  kv.emplace_back("llama.rope.freq_base", GgufValue::f32(static_cast<float>(c.rope_theta)));
  kv.emplace_back("llama.attention.layer_norm_rms_epsilon", GgufValue::f32(static_cast<float>(c.rms_eps)));
  kv.emplace_back("llama.vocab_size", u32(c.vocab));
  kv.emplace_back("general.file_type", GgufValue::u32(file_type));
  if (file_type != 0 && file_type != 1 && file_type != 32) kv.emplace_back("general.quantization_version", GgufValue::u32(2));
  append_tokenizer_metadata(m.tokenizer, kv);
  return kv;
}

ConvertReport write_gguf(const Model& m, const std::string& path, const ConvertOptions& opt) {
  refuse_overwriting_input(m, path);
  validate_llama_config(m);  // no file vernier would then refuse to run
  std::vector<GgmlType> types;
  for (const auto& t : m.tensors) types.push_back(target_type(t, opt));
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    if (types[i] != m.tensors[i].type && !ggml_type_info(m.tensors[i].type)->is_float && !ggml_can_dequantize(m.tensors[i].type)) {
      throw_bad_input(m.path + ": tensor '" + m.tensors[i].name + "' is " + std::string(ggml_type_info(m.tensors[i].type)->name) +
                      ", which vernier cannot decode");
    }
  }
  GgufWriter w(path, opt.overwrite);
  GgufMetadata kv;
  const uint32_t ftype = file_type_of(types);
  if (m.source_format == "gguf") {
    kv = m.gguf_metadata;  // carried over as is; only the file type follows a type change
    if (!opt.out_type.empty()) {
      bool found = false;
      for (auto& [k, v] : kv) {
        if (k == "general.file_type") { v = GgufValue::u32(ftype); found = true; }
      }
      if (!found) kv.emplace_back("general.file_type", GgufValue::u32(ftype));
    }
  } else {
    kv = build_gguf_metadata(m, ftype);
  }
  w.set_metadata(std::move(kv));
  for (size_t i = 0; i < m.tensors.size(); ++i) w.add_tensor(m.tensors[i].name, m.tensors[i].ne, types[i]);
  w.write_header();
  std::vector<uint8_t> src, dst;
  ConvertReport r;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const ModelTensor& t = m.tensors[i];
    if (opt.progress) opt.progress(i, m.tensors.size(), t);
    std::span<const uint8_t> in;
    if (t.view) {
      in = t.view();  // straight from the mapped input
    } else {
      src.resize(t.nbytes);
      t.read(src);
      in = src;
    }
    if (types[i] == t.type) {
      w.write_tensor(in);
    } else {
      dst.resize(bytes_for(types[i], t.ne));
      convert_bytes(t, types[i], in, dst);
      w.write_tensor(dst);
    }
    if (t.release) t.release();
    r.bytes_written += w.tensors()[i].nbytes;
    ++r.tensors;
  }
  w.finish();
  return r;
}

ConvertReport write_safetensors(const Model& m, const std::string& path, const ConvertOptions& opt) {
  refuse_overwriting_input(m, path);
  validate_llama_config(m);  // no file vernier would then refuse to run
  SafetensorsWriter w(path, opt.overwrite);
  w.set_metadata({{"format", "pt"}});
  std::vector<GgmlType> types;
  for (const auto& t : m.tensors) {
    const GgmlType to = opt.out_type.empty() ? t.type : parse_out_type(opt.out_type);
    if (to != ggml_type::F32 && to != ggml_type::F16 && to != ggml_type::BF16) {
      throw_bad_input(m.path + ": tensor '" + t.name + "' is " + std::string(ggml_type_info(t.type)->name) +
                      "; safetensors output needs F32, F16 or BF16 (pass --type)");
    }
    types.push_back(to);
    const auto hf = gguf_to_hf_name(t.name);
    std::vector<int64_t> shape(t.ne.rbegin(), t.ne.rend());
    w.add_tensor(hf ? *hf : t.name, to == ggml_type::F32 ? StDtype::F32 : (to == ggml_type::F16 ? StDtype::F16 : StDtype::BF16), shape);
  }
  w.write_header();
  std::vector<uint8_t> src, dst, perm;
  ConvertReport r;
  for (size_t i = 0; i < m.tensors.size(); ++i) {
    const ModelTensor& t = m.tensors[i];
    if (opt.progress) opt.progress(i, m.tensors.size(), t);
    std::span<const uint8_t> data = stored_bytes(t, src);
    if (types[i] != t.type) {
      dst.resize(bytes_for(types[i], t.ne));
      convert_bytes(t, types[i], data, dst);  // data: the mapped bytes or the read copy (src is empty with a view)
      data = dst;
    }
    int64_t heads = 0;
    if (t.name.ends_with(".attn_q.weight")) heads = m.config.heads;
    if (t.name.ends_with(".attn_k.weight")) heads = m.config.kv_heads;
    if (heads > 0 && t.ne.size() == 2) {  // back to Hugging Face's rotate-half layout
      perm.resize(data.size());
      permute_rope_rows(data, perm, heads, t.ne[1], data.size() / static_cast<uint64_t>(t.ne[1]), false);
      data = perm;
    }
    w.write_tensor(data);
    if (t.release) t.release();
    r.bytes_written += data.size();
    ++r.tensors;
  }
  w.finish();
  return r;
}

}  // namespace vernier
