// vernier/plan.hpp — memory arithmetic: weight bytes per format, KV-cache bytes, and what fits where.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace vernier {

// A LLaMA-family decoder with exact shapes (from each model's published config.json).
struct ModelShape {
  std::string name;
  double nominal_params;  // the size in the name, 7e9 for a "7B": what back-of-envelope tables use
  int64_t dim, layers, heads, kv_heads, ffn, vocab, context;
  bool tied_embeddings;
  int64_t head_dim() const { return dim / heads; }
};

const std::vector<ModelShape>& model_presets();
const ModelShape* find_preset(std::string_view name);
std::string preset_names();

struct ParamCount {
  int64_t matrices = 0;  // 2-D weights: embeddings, attention, feed-forward, output
  int64_t norms = 0;     // 1-D RMSNorm gains
  int64_t total() const { return matrices + norms; }
};
ParamCount parameter_count(const ModelShape& m);

// Storage formats the planner knows, with their bits per weight including scale overhead.
struct WeightFormat {
  std::string_view name;
  double bits_per_weight;
  std::string_view note;
};
const std::vector<WeightFormat>& plan_weight_formats();

// Every parameter stored at the format's bits per weight, rounded up to a whole byte.
uint64_t weight_bytes(int64_t params, double bits_per_weight);

struct KvFormat {
  std::string_view name;
  double bytes_per_element;
};
const std::vector<KvFormat>& plan_kv_formats();
const KvFormat* find_kv_format(std::string_view name);
// 2 (K and V) × layers × KV heads × head dim × context × batch × bytes per element.
uint64_t kv_cache_bytes(const ModelShape& m, int64_t context, int64_t batch, double bytes_per_element);

struct Device {
  std::string name;
  uint64_t memory_bytes;
  std::string note;
};
// rtx4090, a100-40gb, a100-80gb, h100-80gb, and cpu (this machine's MemTotal).
std::vector<Device> plan_devices();
std::optional<Device> find_device(std::string_view name);

}  // namespace vernier
