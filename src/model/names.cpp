// Hugging Face ↔ GGUF tensor names and the Q/K row permutation between RoPE layouts.
#include <cstring>
#include <string>

#include "vernier/error.hpp"
#include "vernier/model.hpp"

namespace vernier {

namespace {
struct Pair { const char* hf; const char* gguf; };
// per-layer suffixes
constexpr Pair kLayer[] = {
    {"self_attn.q_proj.weight", "attn_q.weight"},   {"self_attn.k_proj.weight", "attn_k.weight"},
    {"self_attn.v_proj.weight", "attn_v.weight"},   {"self_attn.o_proj.weight", "attn_output.weight"},
    {"mlp.gate_proj.weight", "ffn_gate.weight"},    {"mlp.up_proj.weight", "ffn_up.weight"},
    {"mlp.down_proj.weight", "ffn_down.weight"},    {"input_layernorm.weight", "attn_norm.weight"},
    {"post_attention_layernorm.weight", "ffn_norm.weight"},
};
constexpr Pair kGlobal[] = {
    {"model.embed_tokens.weight", "token_embd.weight"},
    {"model.norm.weight", "output_norm.weight"},
    {"lm_head.weight", "output.weight"},
};

bool parse_layer(std::string_view s, std::string_view prefix, int64_t& layer, std::string_view& rest) {
  if (s.substr(0, prefix.size()) != prefix) return false;
  s.remove_prefix(prefix.size());
  size_t i = 0;
  int64_t n = 0;
  while (i < s.size() && s[i] >= '0' && s[i] <= '9' && i < 9) n = n * 10 + (s[i++] - '0');
  if (i == 0 || i >= s.size() || s[i] != '.') return false;
  layer = n;
  rest = s.substr(i + 1);
  return true;
}
}  // namespace

std::optional<std::string> hf_to_gguf_name(std::string_view hf) {
  for (const auto& p : kGlobal) if (hf == p.hf) return std::string(p.gguf);
  int64_t layer;
  std::string_view rest;
  if (parse_layer(hf, "model.layers.", layer, rest)) {
    for (const auto& p : kLayer) if (rest == p.hf) return "blk." + std::to_string(layer) + "." + p.gguf;
  }
  return std::nullopt;
}

std::optional<std::string> gguf_to_hf_name(std::string_view gguf) {
  for (const auto& p : kGlobal) if (gguf == p.gguf) return std::string(p.hf);
  int64_t layer;
  std::string_view rest;
  if (parse_layer(gguf, "blk.", layer, rest)) {
    for (const auto& p : kLayer) if (rest == p.gguf) return "model.layers." + std::to_string(layer) + "." + p.hf;
  }
  return std::nullopt;
}

std::vector<int32_t> rope_row_order(int64_t n_head, int64_t rows, bool to_gguf) {
  std::vector<int32_t> index(static_cast<size_t>(rows)), order(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) index[static_cast<size_t>(r)] = static_cast<int32_t>(r);
  permute_rope_rows({reinterpret_cast<const uint8_t*>(index.data()), index.size() * 4},
                    {reinterpret_cast<uint8_t*>(order.data()), order.size() * 4}, n_head, rows, 4, to_gguf);
  return order;
}

void permute_rope_rows(std::span<const uint8_t> in, std::span<uint8_t> out, int64_t n_head, int64_t rows,
                       uint64_t row_bytes, bool to_gguf) {
  // HF keeps each head's rotary pairs as (first half, second half); GGUF interleaves them. For head h,
  // pair index i and half j: GGUF row h·hd + 2i + j holds HF row h·hd + j·hd/2 + i.
  if (n_head <= 0 || rows % n_head != 0 || (rows / n_head) % 2 != 0) {
    throw_bad_input("cannot permute " + std::to_string(rows) + " rows for RoPE across " + std::to_string(n_head) +
                    " heads (need an even head dimension)");
  }
  const int64_t hd = rows / n_head;
  for (int64_t h = 0; h < n_head; ++h) {
    for (int64_t i = 0; i < hd / 2; ++i) {
      for (int64_t j = 0; j < 2; ++j) {
        const int64_t g = h * hd + 2 * i + j;
        const int64_t f = h * hd + j * (hd / 2) + i;
        const int64_t src = to_gguf ? f : g, dst = to_gguf ? g : f;
        std::memcpy(out.data() + static_cast<uint64_t>(dst) * row_bytes, in.data() + static_cast<uint64_t>(src) * row_bytes, row_bytes);
      }
    }
  }
}

const ModelTensor* Model::find(std::string_view name) const {
  for (const auto& t : tensors) if (t.name == name) return &t;
  return nullptr;
}

int64_t ModelTensor::elements() const {
  int64_t n = 1;
  for (int64_t d : ne) n *= d;
  return n;
}

}  // namespace vernier
