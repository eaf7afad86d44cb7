// vernier/advise.hpp — the field's decision rule applied to one model on one piece of hardware.
//
// The ladder, tried from the top; the first rung that fits (weights + KV cache at the context and
// batch, with 10% of the usable memory left for activations and the runtime's own buffers) and that
// the runtime runs is chosen, unless the quality tier stops the descent first:
//   16-bit  BF16 (F16 GGUF under llama.cpp)                     tier baseline
//   8-bit   FP8 W8A8 where the hardware has FP8 tensor cores and the engine uses them, else INT8
//           weight-only (W8A16); GGUF Q8_0, then Q6_K                    tier high
//   4-bit   GPTQ or AWQ INT4 g128 (with calibration data; NF4 through bitsandbytes without);
//           GGUF Q5_K, Q4_K                                               tier balanced
//   3/2-bit GGUF Q3_K, Q2_K                                               tier low
// Under llama.cpp, on a CPU and on Apple silicon the ladder is GGUF's. On bandwidth-bound hardware a
// rung whose decode ceiling (bandwidth ÷ bytes read per token) is under --min-tps is passed over for the
// next rung within the tier. Each candidate's memory figures are `vernier plan`'s (plan.hpp: every
// parameter at the format's bits per weight; the KV cache at fp16 unless told).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "vernier/plan.hpp"

namespace vernier {

struct HardwarePreset {
  std::string name;          // "h200"
  std::string label;         // "NVIDIA H200 SXM (141 GB HBM3e)"
  std::string kind;          // "gpu", "apple", "cpu"
  uint64_t memory_bytes = 0;
  double usable_fraction = 1;  // of memory_bytes a model may take (Apple: the GPU's wired limit)
  double bandwidth_gbs = 0;    // memory read bandwidth, 1e9 bytes/s
  bool fp8 = false;            // FP8 tensor cores (Hopper, Ada, Blackwell)
  std::string source;          // where the figures come from
};

const std::vector<HardwarePreset>& hardware_presets();  // every preset but "cpu"
std::string hardware_names();                           // "h100, h200, …, cpu"
// This machine: MemTotal, the read bandwidth measured now over `threads` (0: all), the kernels' ISA.
HardwarePreset measure_cpu_hardware(int threads);
const HardwarePreset* find_hardware(std::string_view name);  // a preset (not "cpu"), or nullptr

enum class QualityTier { baseline, high, balanced, low };
QualityTier parse_quality_tier(std::string_view name);  // throws a usage Error
std::string_view quality_tier_name(QualityTier t);

struct AdviseRequest {
  HardwarePreset hardware;
  ModelShape shape;              // the architecture (a preset, the model's own config, or the nearest preset)
  std::string shape_note;        // how the shape was chosen, when it was assumed
  int64_t params = 0;            // the parameter count the weights are counted with (plan's)
  int64_t context = 0, batch = 1;
  std::string kv = "fp16";       // plan's KV format names
  std::string runtime = "any";   // llama.cpp, vllm, transformers, any
  QualityTier tier = QualityTier::high;
  bool calibration = false;      // calibration text exists (GPTQ/AWQ possible)
  double min_tps = 10;           // the decode ceiling wanted per sequence on bandwidth-bound hardware
};

struct AdviseCandidate {
  std::string rung;         // "16-bit", "8-bit", "4-bit", "3/2-bit"
  std::string format;       // plan's format name ("fp8", "q4_k", …): the memory figures
  std::string weight_type;  // vernier's weight type (`vernier quantize --type` / --scheme)
  std::string method;       // "rtn", "gptq or awq", "imatrix"
  std::string runtime;      // which runtime serves it
  std::string file;         // what to make: "GGUF Q4_K_M", "compressed-tensors FP8", …
  QualityTier tier = QualityTier::high;
  double bits_per_weight = 0;
  uint64_t weight_bytes = 0, kv_bytes = 0;
  bool fits = false;
  double headroom_bytes = 0;      // usable memory − weights − KV (negative: short)
  double decode_tps = 0;          // per-sequence ceiling: bandwidth ÷ (weights + one sequence's KV)
  double decode_tps_batch = 0;    // every sequence together: batch × bandwidth ÷ (weights + all KV)
  bool chosen = false;
  std::string verdict;            // why chosen or passed over
};

struct Advice {
  AdviseRequest request;
  std::vector<AdviseCandidate> candidates;  // in ladder order
  int chosen = -1;                          // index, or -1 when nothing fits within the tier
  std::vector<std::string> reasons;         // the rule's steps, in words
  uint64_t usable_bytes = 0;
};

Advice advise(const AdviseRequest& req);

// The weight types compare should measure for the candidates that fit (advise --text): each with the
// methods it is made with (GPTQ and AWQ for the INT4 rung, imatrix for GGUF's K-quants where calibration exists).
std::vector<std::string> measured_types(const Advice& a);

// With measurements (compare rows of the candidates' weight types): the chosen candidate becomes the
// smallest that fits whose best measured mean KLD is within `kld_budget`; every candidate's verdict
// says what was measured. Nothing chosen when none is within it.
struct CompareResult;
void choose_by_measurement(Advice& a, const CompareResult& measured, double kld_budget);

// The preset whose size is nearest `params` (ties: the later, newer one), for --params without a shape.
const ModelShape& nearest_preset(int64_t params);

}  // namespace vernier
