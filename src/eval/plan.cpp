#include "vernier/plan.hpp"

#include <cctype>
#include <cmath>
#include <fstream>
#include <iterator>
#include <sstream>

#include "vernier/weight_type.hpp"

namespace vernier {

const std::vector<ModelShape>& model_presets() {
  // name, nominal, dim, layers, heads, kv heads, ffn, vocab, context, tied
  static const std::vector<ModelShape> presets = {
      {"llama2-7b", 7e9, 4096, 32, 32, 32, 11008, 32000, 4096, false},
      {"llama2-13b", 13e9, 5120, 40, 40, 40, 13824, 32000, 4096, false},
      {"llama2-70b", 70e9, 8192, 80, 64, 8, 28672, 32000, 4096, false},
      {"llama3-8b", 8e9, 4096, 32, 32, 8, 14336, 128256, 8192, false},
      {"llama3-70b", 70e9, 8192, 80, 64, 8, 28672, 128256, 8192, false},
      {"mistral-7b", 7e9, 4096, 32, 32, 8, 14336, 32000, 32768, false},
  };
  return presets;
}

const ModelShape* find_preset(std::string_view name) {
  std::string n;
  for (char c : name) n += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  for (const auto& m : model_presets()) {
    if (m.name == n) return &m;
  }
  return nullptr;
}

std::string preset_names() {
  std::string s;
  for (const auto& m : model_presets()) s += (s.empty() ? "" : ", ") + m.name;
  return s;
}

ParamCount parameter_count(const ModelShape& m) {
  const int64_t kv_dim = m.kv_heads * m.head_dim();
  const int64_t attn = m.dim * m.dim * 2 + m.dim * kv_dim * 2;  // q, o; k, v
  const int64_t ffn = 3 * m.dim * m.ffn;                          // gate, up, down
  ParamCount p;
  p.matrices = m.layers * (attn + ffn) + m.vocab * m.dim * (m.tied_embeddings ? 1 : 2);
  p.norms = m.layers * 2 * m.dim + m.dim;  // attention and FFN norm per layer, final norm
  return p;
}

const std::vector<WeightFormat>& plan_weight_formats() {
  // plan's names for the weight types it compares; the bits per weight come from the registry
  static const std::vector<WeightFormat> formats = [] {
    const std::pair<const char*, const char*> rows[] = {
        {"fp32", "F32"}, {"fp16", "F16"}, {"bf16", "BF16"}, {"fp8", "fp8_e4m3-tensor"}, {"int8", "int8-sym-channel"},
        {"int4_g32", "int4-sym-g32-f16"}, {"int4_g64", "int4-sym-g64-f16"}, {"int4_g128", "int4-sym-g128-f16"},
        {"nf4", "nf4-b64"}, {"nf4_dq", "nf4-b64-dq"}, {"q8_0", "Q8_0"}, {"q6_k", "Q6_K"}, {"q5_k", "Q5_K"},
        {"q4_k", "Q4_K"}, {"q3_k", "Q3_K"}, {"q2_k", "Q2_K"},
    };
    const char* notes[] = {"IEEE single", "IEEE half", "bfloat16", "E4M3/E5M2, one scale per tensor (negligible)",
                           "per-channel scales (negligible)", "FP16 scale per 32 weights", "FP16 scale per 64 weights",
                           "FP16 scale per 128 weights", "FP32 absmax per 64 weights",
                           "8-bit absmax per 64, FP32 per 256 absmax (QLoRA)", "GGUF: 32 int8 + FP16 scale",
                           "GGUF K-quant, 256-weight super-blocks", "GGUF K-quant", "GGUF K-quant", "GGUF K-quant", "GGUF K-quant"};
    std::vector<WeightFormat> out;
    for (size_t i = 0; i < std::size(rows); ++i) {
      out.push_back({rows[i].first, parse_weight_type(rows[i].second).nominal_bits_per_weight(), notes[i]});
    }
    return out;
  }();
  return formats;
}

uint64_t weight_bytes(int64_t params, double bits_per_weight) {
  // params < 2^40 and bits_per_weight has at most 14 fractional bits here: the product is exact.
  return static_cast<uint64_t>(std::ceil(static_cast<double>(params) * bits_per_weight / 8.0));
}

const std::vector<KvFormat>& plan_kv_formats() {
  static const std::vector<KvFormat> formats = {
      {"fp32", 4.0}, {"fp16", 2.0}, {"bf16", 2.0}, {"fp8", 1.0}, {"int8", 1.0}, {"int4", 0.5},
  };
  return formats;
}

const KvFormat* find_kv_format(std::string_view name) {
  for (const auto& f : plan_kv_formats()) {
    if (f.name == name) return &f;
  }
  return nullptr;
}

uint64_t kv_cache_bytes(const ModelShape& m, int64_t context, int64_t batch, double bytes_per_element) {
  const double elements = 2.0 * static_cast<double>(m.layers) * static_cast<double>(m.kv_heads) *
                          static_cast<double>(m.head_dim()) * static_cast<double>(context) *
                          static_cast<double>(batch);
  return static_cast<uint64_t>(std::ceil(elements * bytes_per_element));
}

namespace {
uint64_t machine_memory_bytes() {
  std::ifstream in("/proc/meminfo");
  std::string key;
  uint64_t kib = 0;
  std::string unit;
  while (in >> key >> kib >> unit) {
    if (key == "MemTotal:") return kib * 1024;
  }
  return 0;
}
}  // namespace

std::vector<Device> plan_devices() {
  constexpr uint64_t GiB = 1024ull * 1024 * 1024;
  return {
      {"rtx4090", 24 * GiB, "NVIDIA GeForce RTX 4090, 24 GiB GDDR6X"},
      {"a100-40gb", 40 * GiB, "NVIDIA A100 40GB"},
      {"a100-80gb", 80 * GiB, "NVIDIA A100 80GB"},
      {"h100-80gb", 80 * GiB, "NVIDIA H100 80GB"},
      {"cpu", machine_memory_bytes(), "this machine's RAM (MemTotal)"},
  };
}

std::optional<Device> find_device(std::string_view name) {
  for (auto& d : plan_devices()) {
    if (d.name == name) return d;
  }
  return std::nullopt;
}

}  // namespace vernier
