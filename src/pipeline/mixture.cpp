// The per-tensor type rules of llama.cpp's file types (see ggml_mixture.hpp).
#include <algorithm>
#include <cctype>
#include <cstdio>

#include "vernier/error.hpp"
#include "vernier/ggml_mixture.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier {

namespace {
namespace t = ggml_type;
// llama_ftype values
enum Ftype : uint32_t {
  ALL_F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q8_0 = 7, Q5_0 = 8, Q5_1 = 9, Q2_K = 10, Q3_K_S = 11, Q3_K_M = 12,
  Q3_K_L = 13, Q4_K_S = 14, Q4_K_M = 15, Q5_K_S = 16, Q5_K_M = 17, Q6_K = 18, Q2_K_S = 21, IQ4_NL = 25, IQ4_XS = 30,
  BF16 = 32,
};

enum class Category { token_embd, attn_q, attn_v, attn_k, attn_qkv, attn_kv_b, attn_output, ffn_up, ffn_gate, ffn_down, output, other };

Category category_of(const std::string& n) {
  if (n == "output.weight") return Category::output;
  if (n == "token_embd.weight" || n == "per_layer_token_embd.weight") return Category::token_embd;
  if (n.find("attn_qkv.weight") != std::string::npos) return Category::attn_qkv;
  if (n.find("attn_kv_b.weight") != std::string::npos) return Category::attn_kv_b;
  if (n.find("attn_v.weight") != std::string::npos) return Category::attn_v;
  if (n.find("attn_k.weight") != std::string::npos) return Category::attn_k;
  if (n.find("attn_q.weight") != std::string::npos) return Category::attn_q;
  if (n.find("attn_output.weight") != std::string::npos) return Category::attn_output;
  if (n.find("ffn_up") != std::string::npos) return Category::ffn_up;
  if (n.find("ffn_gate") != std::string::npos) return Category::ffn_gate;
  if (n.find("ffn_down") != std::string::npos) return Category::ffn_down;
  return Category::other;
}
bool is_attn_v(Category c) { return c == Category::attn_v || c == Category::attn_qkv || c == Category::attn_kv_b; }

bool is_quantized(GgmlType type) {
  const GgmlTypeInfo* ti = ggml_type_info(type);
  return ti && !ti->is_float && type != t::I8 && type != t::I16 && type != t::I32 && type != t::I64;
}

bool allows_quantization(const MixtureTensor& x, const MixtureOptions& opt) {
  if (x.ne.size() < 2) return false;
  const std::string& n = x.name;
  bool q = n.size() >= 6 && n.rfind("weight") == n.size() - 6;
  q = q && n.find("_norm.weight") == std::string::npos;
  q = q && (!opt.leave_output_tensor || n != "output.weight");
  q = q && n.find("ffn_gate_inp.weight") == std::string::npos;
  q = q && n != "position_embd.weight" && n != "token_types.weight";
  return q;
}

// use_more_bits: the first and last eighth of the layers, and every third layer between
bool use_more_bits(int i, int n) { return i < n / 8 || i >= 7 * n / 8 || (i - n / 8) % 3 == 2; }

struct State {
  int n_attention_wv = 0, n_ffn_down = 0, n_ffn_gate = 0, n_ffn_up = 0;
  int i_attention_wv = 0, i_ffn_down = 0, i_ffn_gate = 0, i_ffn_up = 0;
  bool has_tied_embeddings = true;
};

GgmlType mixture_rule(State& s, GgmlType new_type, const MixtureTensor& x, uint32_t ftype, Category c,
                      const MixtureOptions& opt, const MixtureHparams& hp, std::string& why) {
  const int64_t gqa = hp.kv_heads > 0 ? hp.heads / hp.kv_heads : 1;
  const bool is_70b = hp.layers == 80 && hp.heads != hp.kv_heads;
  const GgmlType before = new_type;
  if (c == Category::output || (s.has_tied_embeddings && c == Category::token_embd)) {
    if (opt.output_tensor_type) {
      new_type = *opt.output_tensor_type;
      why = "--output-tensor-type";
    } else {
      const int64_t nx = x.ne[0];
      if (nx % ggml_type_info(new_type)->block_size != 0) new_type = t::Q8_0;
      else if (new_type != t::Q8_0) new_type = t::Q6_K;
      why = c == Category::output ? "output tensor: more bits" : "tied embedding doubles as output: more bits";
    }
  } else if (c == Category::token_embd) {
    if (opt.token_embedding_type) {
      new_type = *opt.token_embedding_type;
      why = "--token-embedding-type";
    }
  } else if (is_attn_v(c)) {
    if (ftype == Q2_K) new_type = gqa >= 4 ? t::Q4_K : t::Q3_K;
    else if (ftype == Q2_K_S && gqa >= 4) new_type = t::Q4_K;
    else if (ftype == Q3_K_M) new_type = s.i_attention_wv < 2 ? t::Q5_K : t::Q4_K;
    else if (ftype == Q3_K_L) new_type = t::Q5_K;
    else if ((ftype == IQ4_NL || ftype == IQ4_XS) && gqa >= 4) new_type = t::Q5_K;
    else if ((ftype == Q4_K_M || ftype == Q5_K_M) && use_more_bits(s.i_attention_wv, s.n_attention_wv)) new_type = t::Q6_K;
    else if (ftype == Q4_K_S && s.i_attention_wv < 4) new_type = t::Q5_K;
    if (is_70b && (new_type == t::Q3_K || new_type == t::Q4_K)) new_type = t::Q5_K;
    if (hp.experts == 8) new_type = t::Q8_0;
    if (new_type != before) why = "attn_v: more bits (layer " + std::to_string(s.i_attention_wv) + " of " + std::to_string(s.n_attention_wv) + ")";
    ++s.i_attention_wv;
  } else if (c == Category::attn_k) {
    if (hp.experts == 8) new_type = t::Q8_0;
  } else if (c == Category::ffn_down) {
    const int i_layer = s.i_ffn_down, n_layer = s.n_ffn_down;
    if (ftype == Q2_K) new_type = t::Q3_K;
    else if (ftype == Q2_K_S) { if (i_layer < n_layer / 8) new_type = t::Q4_K; }
    else if (ftype == Q3_K_M) new_type = i_layer < n_layer / 16 ? t::Q5_K : t::Q4_K;  // (arch != falcon)
    else if (ftype == Q3_K_L) new_type = t::Q5_K;
    else if (ftype == Q4_K_M) { if (use_more_bits(i_layer, n_layer)) new_type = t::Q6_K; }
    else if (i_layer < n_layer / 8 && (ftype == IQ4_NL || ftype == IQ4_XS) && !opt.has_imatrix) new_type = t::Q5_K;
    else if (ftype == Q5_K_M && use_more_bits(i_layer, n_layer)) new_type = t::Q6_K;
    else if (ftype == Q4_K_S && i_layer < n_layer / 8) new_type = t::Q5_K;
    else if ((ftype == Q4_0 || ftype == Q5_0) && opt.has_imatrix && i_layer < n_layer / 8) new_type = ftype == Q4_0 ? t::Q4_1 : t::Q5_1;
    if (new_type != before) why = "ffn_down: more bits (layer " + std::to_string(i_layer) + " of " + std::to_string(n_layer) + ")";
    ++s.i_ffn_down;
  } else if (c == Category::attn_output) {
    if (hp.experts == 8) {
      if (ftype == Q2_K || ftype == Q3_K_S || ftype == Q3_K_M || ftype == IQ4_NL || ftype == Q4_K_S || ftype == Q4_K_M || ftype == IQ4_XS) new_type = t::Q5_K;
    } else {
      if (ftype == Q2_K) new_type = t::Q3_K;
      else if (ftype == Q3_K_M) new_type = t::Q4_K;
      else if (ftype == Q3_K_L) new_type = t::Q5_K;
    }
    if (new_type != before) why = "attn_output: more bits";
  } else if (c == Category::attn_qkv) {
    if (ftype == Q3_K_M || ftype == Q3_K_L) new_type = t::Q4_K;
    else if (ftype == Q4_K_M) new_type = t::Q5_K;
    else if (ftype == Q5_K_M) new_type = t::Q6_K;
  } else if (c == Category::ffn_gate) {
    ++s.i_ffn_gate;
  } else if (c == Category::ffn_up) {
    ++s.i_ffn_up;
  }
  return new_type;
}

GgmlType fallback(const MixtureTensor& x, GgmlType type, std::string& why) {
  const int64_t ncols = x.ne[0];
  const GgmlTypeInfo* ti = ggml_type_info(type);
  if (ncols % ti->block_size == 0) return type;
  GgmlType r;
  switch (type) {
    case t::IQ4_XS: r = t::IQ4_NL; break;
    case t::Q2_K: case t::Q3_K: r = t::Q4_0; break;
    case t::Q4_K: r = t::Q5_0; break;
    case t::Q5_K: r = t::Q5_1; break;
    case t::Q6_K: r = t::Q8_0; break;
    default: r = t::F16; break;  // a 32-value block type whose block does not fit either
  }
  if (ncols % ggml_type_info(r)->block_size != 0) r = t::F16;
  why = "fallback: rows of " + std::to_string(ncols) + " are not a multiple of " + std::to_string(ti->block_size) +
        " (" + std::string(ti->name) + ") -> " + std::string(ggml_type_info(r)->name);
  return r;
}
}  // namespace

const std::vector<GgufFileType>& gguf_file_types() {
  static const std::vector<GgufFileType> types = {
      {"F32", ALL_F32, t::F32},    {"F16", F16, t::F16},        {"BF16", BF16, t::BF16},
      {"Q4_0", Q4_0, t::Q4_0},     {"Q4_1", Q4_1, t::Q4_1},     {"Q5_0", Q5_0, t::Q5_0},
      {"Q5_1", Q5_1, t::Q5_1},     {"Q8_0", Q8_0, t::Q8_0},     {"Q2_K", Q2_K, t::Q2_K},
      {"Q3_K_S", Q3_K_S, t::Q3_K}, {"Q3_K_M", Q3_K_M, t::Q3_K}, {"Q3_K_L", Q3_K_L, t::Q3_K},
      {"Q4_K_S", Q4_K_S, t::Q4_K}, {"Q4_K_M", Q4_K_M, t::Q4_K}, {"Q5_K_S", Q5_K_S, t::Q5_K},
      {"Q5_K_M", Q5_K_M, t::Q5_K}, {"Q6_K", Q6_K, t::Q6_K},     {"IQ4_NL", IQ4_NL, t::IQ4_NL},
      {"IQ4_XS", IQ4_XS, t::IQ4_XS},
  };
  return types;
}

const GgufFileType* find_gguf_file_type(std::string_view name) {
  std::string n;
  for (char ch : name) n += static_cast<char>(std::toupper(static_cast<unsigned char>(ch)));
  if (n == "Q3_K") n = "Q3_K_M";  // as llama-quantize's aliases
  if (n == "Q4_K") n = "Q4_K_M";
  if (n == "Q5_K") n = "Q5_K_M";
  for (const auto& f : gguf_file_types()) {
    if (f.name == n) return &f;
  }
  // llama-quantize also takes the llama_ftype number ("15" for Q4_K_M)
  if (!n.empty() && n.size() < 4 && std::all_of(n.begin(), n.end(), [](unsigned char c) { return std::isdigit(c) != 0; })) {
    const auto id = static_cast<uint32_t>(std::stoul(n));
    for (const auto& f : gguf_file_types()) {
      if (f.ftype == id) return &f;
    }
  }
  return nullptr;
}

std::string gguf_file_type_names() {
  std::string s;
  for (const auto& f : gguf_file_types()) s += (s.empty() ? "" : ", ") + std::string(f.name);
  return s;
}

std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names) {
  const auto layer = [](const std::string& n) {
    int l = -1;
    if (std::sscanf(n.c_str(), "blk.%d.", &l) != 1) l = -1;
    return l;
  };
  std::vector<size_t> idx(names.size());
  for (size_t i = 0; i < idx.size(); ++i) idx[i] = i;
  std::sort(idx.begin(), idx.end(), [&](size_t a, size_t b) {
    const int la = layer(names[a]), lb = layer(names[b]);
    if (la != lb) return la < lb;
    return names[a] < names[b];
  });
  return idx;
}

std::vector<MixtureChoice> plan_mixture(const std::vector<MixtureTensor>& tensors, const GgufFileType& ft,
                                        const MixtureOptions& opt, const MixtureHparams& hp) {
  std::vector<std::pair<std::regex, GgmlType>> patterns;
  for (const auto& [re, type] : opt.tensor_types) {
    try {
      patterns.emplace_back(std::regex(re), type);
    } catch (const std::regex_error& e) {
      throw_usage("bad --tensor-type pattern '" + re + "': " + e.what());
    }
  }
  State s;
  for (const auto& x : tensors) {
    const Category c = category_of(x.name);
    if (is_attn_v(c)) ++s.n_attention_wv;
    if (c == Category::output) s.has_tied_embeddings = false;
  }
  s.n_ffn_down = s.n_ffn_gate = s.n_ffn_up = static_cast<int>(hp.layers);

  std::vector<MixtureChoice> out;
  for (const auto& x : tensors) {
    MixtureChoice ch;
    ch.name = x.name;
    ch.type = x.source_type;
    bool planned_set = false;  // where the fallback rule was consulted
    if (!allows_quantization(x, opt)) {
      ch.reason = x.ne.size() < 2 ? "1-D: kept" : (x.name == "output.weight" ? "--leave-output-tensor" : "norm: kept");
      out.push_back(ch);
      continue;
    }
    const Category c = category_of(x.name);
    if (opt.token_embedding_type && c == Category::token_embd) {
      ch.type = *opt.token_embedding_type;
      ch.reason = "--token-embedding-type";
    } else if (opt.output_tensor_type && c == Category::output) {
      ch.type = *opt.output_tensor_type;
      ch.reason = "--output-tensor-type";
    } else {
      GgmlType type = ft.default_type;
      ch.reason = "file type default";
      if (is_quantized(type)) {
        bool manual = false;
        for (const auto& [re, qtype] : patterns) {
          if (std::regex_search(x.name, re)) {
            type = qtype;
            ch.reason = "--tensor-type override";
            manual = true;
            break;
          }
        }
        if (!manual && !opt.pure) type = mixture_rule(s, type, x, ft.ftype, c, opt, hp, ch.reason);
        if (opt.pure && !manual) ch.reason = "--pure";
        planned_set = true;
        ch.planned = type;
        type = fallback(x, type, ch.reason);
      }
      ch.type = type;
    }
    ch.quantized = ch.type != x.source_type;
    if (!planned_set) ch.planned = ch.type;
    out.push_back(ch);
  }
  return out;
}

}  // namespace vernier
