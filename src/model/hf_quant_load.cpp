// Reading GPTQ, AWQ, compressed-tensors and bitsandbytes checkpoints into a Model.
#include "hf_quant_load.hpp"

#include <algorithm>
#include <cstring>
#include <map>
#include <nlohmann/json.hpp>

#include "vernier/error.hpp"
#include "vernier/hf_layout.hpp"

namespace vernier {

std::pair<int64_t, int64_t> llama_matrix_shape(const LlamaConfig& c, std::string_view n) {
  const int64_t D = c.dim, Q = c.heads * c.head_dim(), KV = c.kv_heads * c.head_dim(), F = c.ffn;
  if (n == "output.weight" || n == "token_embd.weight") return {c.vocab, D};
  if (n.ends_with(".attn_q.weight")) return {Q, D};
  if (n.ends_with(".attn_k.weight") || n.ends_with(".attn_v.weight")) return {KV, D};
  if (n.ends_with(".attn_output.weight")) return {D, Q};
  if (n.ends_with(".ffn_gate.weight") || n.ends_with(".ffn_up.weight")) return {F, D};
  if (n.ends_with(".ffn_down.weight")) return {D, F};
  return {0, 0};
}

namespace {
// The suffix after a module prefix that marks the module as quantized in this layout.
bool owner_suffix(HfLayout l, const std::string& name, std::string* prefix) {
  static const char* kOwners[] = {"qweight", "weight_packed", "weight_scale", "weight.quant_state.bitsandbytes__nf4"};
  for (const char* o : kOwners) {
    const std::string suf = std::string(".") + o;
    if (name.size() > suf.size() && name.ends_with(suf) && hf_layout_owns(l, o)) {
      *prefix = name.substr(0, name.size() - suf.size());
      return true;
    }
  }
  return false;
}

}  // namespace

std::set<std::string> load_hf_quantized(Model& m, const SafetensorsCheckpoint& ck, const nlohmann::json& qcj, const std::string& cfg_path) {
  const HfQuantConfig qc = parse_hf_quant_config(qcj, cfg_path);
  m.layout = std::string(hf_layout_name(qc.layout));
  std::map<std::string, std::vector<const SafetensorsCheckpoint::Entry*>> modules;
  for (const auto& e : ck.tensors()) {
    std::string prefix;
    if (owner_suffix(qc.layout, e.info->name, &prefix)) modules[prefix];
  }
  // each tensor to the module it belongs to: the one whose prefix sorts last before it (if it is one)
  for (const auto& e : ck.tensors()) {
    const std::string& n = e.info->name;
    auto it = modules.upper_bound(n);
    if (it == modules.begin()) continue;
    --it;
    const std::string& prefix = it->first;
    if (n.size() > prefix.size() + 1 && n.compare(0, prefix.size(), prefix) == 0 && n[prefix.size()] == '.') it->second.push_back(&e);
  }
  std::set<std::string> consumed;
  for (const auto& [prefix, list] : modules) {
    const std::optional<std::string> g = hf_to_gguf_name(prefix + ".weight");
    const auto [rows, cols] = g ? llama_matrix_shape(m.config, *g) : std::pair<int64_t, int64_t>{0, 0};
    if (!g || rows == 0) throw_bad_input(cfg_path + ": quantized module '" + prefix + "' is not a LLaMA linear layer");
    std::map<std::string, HfTensorRef> refs;
    std::string file;
    for (const auto* e : list) {
      if (e->info->name == prefix + ".bias") {
        // AutoGPTQ's QuantLinear saves a bias buffer even for layers without one (zeros): LLaMA's
        // linear layers have none, and neither does vernier's runtime, so only zeros are accepted
        const auto d = e->file->tensor_data(*e->info);
        const size_t width = st_dtype_size(e->info->dtype);
        bool zero = e->info->dtype == StDtype::F16 || e->info->dtype == StDtype::BF16 || e->info->dtype == StDtype::F32;
        for (size_t i = 0; zero && i + width <= d.size(); i += width) {
          uint32_t v = 0;
          std::memcpy(&v, d.data() + i, width);
          zero = (v & (width == 2 ? 0x7fffu : 0x7fffffffu)) == 0;  // +0 or -0
        }
        if (!zero) throw_bad_input(e->file->path() + ": tensor '" + e->info->name + "': a non-zero bias (LLaMA's linear layers have none)");
        consumed.insert(e->info->name);
        continue;
      }
      HfTensorRef r;
      r.name = e->info->name;
      r.dtype = e->info->dtype;
      r.shape = e->info->shape;
      r.data = e->file->tensor_data(*e->info);
      refs[e->info->name.substr(prefix.size() + 1)] = std::move(r);
      file = e->file->path();
      consumed.insert(e->info->name);
    }
    const HfTensorLookup find = [&refs](std::string_view s) -> const HfTensorRef* {
      const auto it = refs.find(std::string(s));
      return it == refs.end() ? nullptr : &it->second;
    };
    DecodeNotes notes;
    QuantizedLinear w = decode_linear(qc, find, rows, cols, file, &notes);
    for (auto& s : notes.warnings) m.warnings.push_back(std::move(s));
    for (const auto* e : list) e->file->release(*e->info);
    int64_t heads = 0;
    if (g->ends_with(".attn_q.weight")) heads = m.config.heads;
    if (g->ends_with(".attn_k.weight")) heads = m.config.kv_heads;
    // Q and K keep their stored (rotate-half) rows, so that the runtime multiplies the checkpoint's own
    // codes (NF4 double quantization spans rows); the runtime puts the products' rows in GGUF's order.
    ModelTensor t = held_tensor(*g, std::move(w), heads > 0 ? rope_row_order(heads, rows, true) : std::vector<int32_t>{});
    m.tensors.push_back(std::move(t));
  }
  if (modules.empty()) m.warnings.push_back(cfg_path + ": quantization_config says " + m.layout + ", but no tensor is stored in that layout");
  return consumed;
}

}  // namespace vernier
