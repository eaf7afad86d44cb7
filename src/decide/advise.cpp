// advise: the decision rule (advise.hpp) over plan's memory arithmetic.
#include "vernier/advise.hpp"

#include <fmt/format.h>

#include <cmath>
#include <thread>

#include "vernier/bench.hpp"
#include "vernier/compare.hpp"
#include "vernier/error.hpp"
#include "vernier/kernels.hpp"

namespace vernier {

namespace {
constexpr uint64_t GiB = 1ull << 30, MiB = 1ull << 20;
// Memory left free for activations, the CUDA context, the allocator's fragmentation: a fraction of
// the usable memory (vLLM's default --gpu-memory-utilization is 0.9 for the same reason).
constexpr double kReserve = 0.10;

double gib(double bytes) { return bytes / static_cast<double>(GiB); }

struct Rung {
  const char* rung;
  const char* format;       // plan_weight_formats() name
  const char* weight_type;
  const char* method;
  const char* file;
  QualityTier tier;
  bool gguf;                // llama.cpp's ladder (else the GPU serving engines')
  bool needs_fp8;           // FP8 tensor cores
  bool needs_calibration;
  bool without_calibration; // only when there is no calibration text
  const char* runtimes;     // which runtimes load it
};

// The ladders, best quality first (advise.hpp).
constexpr Rung kRungs[] = {
    {"16-bit", "bf16", "BF16", "-", "safetensors BF16, as released", QualityTier::baseline, false, false, false, false, "vllm, transformers"},
    {"8-bit", "fp8", "fp8_e4m3-channel", "rtn", "compressed-tensors FP8 W8A8 (vernier quantize --layout compressed-tensors)",
     QualityTier::high, false, true, false, false, "vllm"},
    {"8-bit", "int8", "int8-sym-channel", "rtn", "GPTQ 8-bit layout, weight-only W8A16 (vernier quantize --layout gptq)",
     QualityTier::high, false, false, false, false, "vllm, transformers"},
    {"4-bit", "int4_g128", "int4-sym-g128", "gptq or awq", "GPTQ or AWQ INT4 g128 (vernier quantize --layout gptq|awq --method gptq|awq)",
     QualityTier::balanced, false, false, true, false, "vllm, transformers"},
    {"4-bit", "nf4", "nf4-b64", "rtn", "bitsandbytes NF4 (vernier quantize --layout bnb)", QualityTier::balanced, false, false, false, true,
     "transformers, vllm"},
    {"16-bit", "fp16", "F16", "-", "GGUF F16 (vernier convert --outtype f16)", QualityTier::baseline, true, false, false, false, "llama.cpp"},
    {"8-bit", "q8_0", "Q8_0", "rtn", "GGUF Q8_0 (vernier quantize M Q8_0)", QualityTier::high, true, false, false, false, "llama.cpp"},
    {"8-bit", "q6_k", "Q6_K", "imatrix", "GGUF Q6_K (vernier quantize M Q6_K)", QualityTier::high, true, false, false, false, "llama.cpp"},
    {"4-bit", "q5_k", "Q5_K", "imatrix", "GGUF Q5_K_M (vernier quantize M Q5_K_M --imatrix)", QualityTier::balanced, true, false, false, false,
     "llama.cpp"},
    {"4-bit", "q4_k", "Q4_K", "imatrix", "GGUF Q4_K_M (vernier quantize M Q4_K_M --imatrix)", QualityTier::balanced, true, false, false, false,
     "llama.cpp"},
    {"3/2-bit", "q3_k", "Q3_K", "imatrix", "GGUF Q3_K_M (vernier quantize M Q3_K_M --imatrix)", QualityTier::low, true, false, false, false,
     "llama.cpp"},
    {"3/2-bit", "q2_k", "Q2_K", "imatrix", "GGUF Q2_K (vernier quantize M Q2_K --imatrix)", QualityTier::low, true, false, false, false,
     "llama.cpp"},
};

double plan_bits(std::string_view format) {
  for (const WeightFormat& f : plan_weight_formats())
    if (f.name == format) return f.bits_per_weight;
  throw_usage("advise: plan has no format '" + std::string(format) + "'");
}

std::string tps(double v) { return v >= 100 ? fmt::format("{:.0f}", v) : fmt::format("{:.1f}", v); }
}  // namespace

const std::vector<HardwarePreset>& hardware_presets() {
  static const std::vector<HardwarePreset> p = {
      {"h100", "NVIDIA H100 SXM5 80 GB (HBM3)", "gpu", 80 * GiB, 1.0, 3350, true, "NVIDIA H100 Tensor Core GPU datasheet: 80 GB, 3.35 TB/s"},
      {"h200", "NVIDIA H200 SXM 141 GB (HBM3e)", "gpu", 143771 * MiB, 1.0, 4800, true,
       "NVIDIA H200 datasheet: 141 GB, 4.8 TB/s; nvidia-smi shows 143771 MiB"},
      {"b200", "NVIDIA B200 180 GB (HBM3e)", "gpu", 180 * GiB, 1.0, 8000, true,
       "NVIDIA DGX B200 datasheet: 1,440 GB and 64 TB/s over 8 GPUs"},
      {"a100", "NVIDIA A100 SXM 80 GB (HBM2e)", "gpu", 80 * GiB, 1.0, 2039, false,
       "NVIDIA A100 datasheet: 80 GB, 2,039 GB/s; no FP8 tensor cores (Ampere)"},
      {"l40s", "NVIDIA L40S 48 GB (GDDR6)", "gpu", 48 * GiB, 1.0, 864, true, "NVIDIA L40S datasheet: 48 GB, 864 GB/s, FP8 tensor cores (Ada)"},
      {"rtx4090", "NVIDIA GeForce RTX 4090 24 GB (GDDR6X)", "gpu", 24 * GiB, 1.0, 1008, true,
       "NVIDIA Ada Lovelace architecture whitepaper: 24 GB, 1,008 GB/s, FP8 tensor cores"},
      {"m2-ultra", "Apple M2 Ultra 192 GB (unified)", "apple", 192 * GiB, 0.75, 800, false,
       "Apple M2 Ultra: 192 GB unified, 800 GB/s; macOS wires about 75% of it for the GPU by default"},
      {"m4-max", "Apple M4 Max 128 GB (unified)", "apple", 128 * GiB, 0.75, 546, false,
       "Apple M4 Max: 128 GB unified, 546 GB/s; macOS wires about 75% of it for the GPU by default"},
  };
  return p;
}

std::string hardware_names() {
  std::string s;
  for (const HardwarePreset& h : hardware_presets()) s += h.name + ", ";
  return s + "cpu";
}

const HardwarePreset* find_hardware(std::string_view name) {
  for (const HardwarePreset& h : hardware_presets())
    if (h.name == name) return &h;
  return nullptr;
}

HardwarePreset measure_cpu_hardware(int threads) {
  const int n = threads > 0 ? threads : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  HardwarePreset h;
  h.name = "cpu";
  h.kind = "cpu";
  const std::optional<Device> d = find_device("cpu");
  h.memory_bytes = d ? d->memory_bytes : 0;
  h.usable_fraction = 1.0;
  const std::vector<BandwidthResult> bw = measure_read_bandwidth({n}, 256 * MiB, 5);
  h.bandwidth_gbs = bw.empty() ? 0 : bw.front().gbs;
  h.fp8 = false;
  const std::string isa = make_kernel_context("auto", n).isa();
  h.label = fmt::format("this machine: {} threads, {} kernels, {:.1f} GiB RAM", n, isa, gib(static_cast<double>(h.memory_bytes)));
  h.source = fmt::format("measured now: MemTotal, read bandwidth {:.1f} GB/s (median of 5 passes over 256 MiB, {} threads)", h.bandwidth_gbs, n);
  return h;
}

QualityTier parse_quality_tier(std::string_view name) {
  if (name == "baseline") return QualityTier::baseline;
  if (name == "high") return QualityTier::high;
  if (name == "balanced") return QualityTier::balanced;
  if (name == "low") return QualityTier::low;
  throw_usage("unknown quality tier '" + std::string(name) + "' (expected baseline, high, balanced, low, or a KLD budget)");
}

std::string_view quality_tier_name(QualityTier t) {
  switch (t) {
    case QualityTier::baseline: return "baseline";
    case QualityTier::high: return "high";
    case QualityTier::balanced: return "balanced";
    case QualityTier::low: return "low";
  }
  return "?";
}

const ModelShape& nearest_preset(int64_t params) {
  const ModelShape* best = nullptr;
  for (const ModelShape& m : model_presets()) {
    if (!best || std::fabs(std::log(m.nominal_params / static_cast<double>(params))) <=
                     std::fabs(std::log(best->nominal_params / static_cast<double>(params)))) {
      best = &m;
    }
  }
  return *best;
}

Advice advise(const AdviseRequest& req) {
  Advice a;
  a.request = req;
  const HardwarePreset& hw = req.hardware;
  if (req.params <= 0) throw_usage("advise: the parameter count must be positive");
  if (req.batch < 1) throw_usage("--batch must be at least 1");
  if (req.runtime != "any" && req.runtime != "llama.cpp" && req.runtime != "vllm" && req.runtime != "transformers") {
    throw_usage("unknown --runtime '" + req.runtime + "' (expected llama.cpp, vllm, transformers or any)");
  }
  const KvFormat* kv = find_kv_format(req.kv);
  if (!kv) throw_usage("unknown --kv format '" + req.kv + "' (expected fp32, fp16, bf16, fp8, int8 or int4)");
  const int64_t context = req.context > 0 ? req.context : req.shape.context;
  a.usable_bytes = static_cast<uint64_t>(static_cast<double>(hw.memory_bytes) * hw.usable_fraction);
  const double budget = static_cast<double>(a.usable_bytes) * (1.0 - kReserve);
  const uint64_t kv_bytes = kv_cache_bytes(req.shape, context, req.batch, kv->bytes_per_element);

  // which ladder: GGUF under llama.cpp and on CPUs and Apple silicon; the serving engines' otherwise
  if (hw.kind != "gpu" && (req.runtime == "vllm" || req.runtime == "transformers")) {
    a.reasons.push_back(fmt::format("{} on {}: its CUDA kernels need an NVIDIA GPU; the GGUF ladder (llama.cpp) is the one that runs here", req.runtime,
                                    hw.label));
  }
  const bool gguf_ladder = req.runtime == "llama.cpp" || hw.kind != "gpu";
  a.reasons.push_back(gguf_ladder ? std::string("runtime ") + (req.runtime == "any" ? "any on " + hw.kind : req.runtime) +
                                        ": the GGUF ladder (llama.cpp runs GGUF on CPUs, Apple silicon and GPUs)"
                                  : "runtime " + req.runtime + " on a GPU: the serving engines' ladder (BF16, FP8/INT8, GPTQ/AWQ INT4)");
  a.reasons.push_back(fmt::format("memory: {:.2f} GiB usable{}, {:.0f}% kept free for activations and buffers: {:.2f} GiB for weights and KV cache",
                                  gib(static_cast<double>(a.usable_bytes)),
                                  hw.usable_fraction < 1 ? fmt::format(" ({:.0f}% of {:.0f} GiB)", 100 * hw.usable_fraction, gib(double(hw.memory_bytes))) : "",
                                  100 * kReserve, gib(budget)));
  a.reasons.push_back(fmt::format("KV cache ({}): {} context × batch {} = {:.2f} GiB (2 × {} layers × {} KV heads × {} head dim × {} bytes per token)",
                                  req.kv, context, req.batch, gib(double(kv_bytes)), req.shape.layers, req.shape.kv_heads, req.shape.head_dim(),
                                  kv->bytes_per_element));

  std::vector<const Rung*> rungs;  // each candidate's rung, in the same order
  for (const Rung& r : kRungs) {
    if (r.gguf != gguf_ladder) continue;
    if (!gguf_ladder && req.runtime == "transformers" && std::string_view(r.runtimes).find("transformers") == std::string_view::npos) continue;
    if (r.without_calibration && req.calibration) continue;
    AdviseCandidate c;
    c.rung = r.rung;
    c.format = r.format;
    c.weight_type = r.weight_type;
    c.method = r.method;
    c.runtime = r.runtimes;
    c.file = r.file;
    c.tier = r.tier;
    c.bits_per_weight = plan_bits(r.format);
    c.weight_bytes = weight_bytes(req.params, c.bits_per_weight);
    c.kv_bytes = kv_bytes;
    const double total = static_cast<double>(c.weight_bytes + c.kv_bytes);
    c.headroom_bytes = static_cast<double>(a.usable_bytes) - total;
    c.fits = total <= budget;
    const double bw = hw.bandwidth_gbs * 1e9;
    c.decode_tps = bw / (static_cast<double>(c.weight_bytes) + static_cast<double>(kv_bytes) / static_cast<double>(req.batch));
    c.decode_tps_batch = static_cast<double>(req.batch) * bw / total;
    a.candidates.push_back(c);
    rungs.push_back(&r);
  }
  // the descent
  int fallback = -1;  // a rung that fits within the tier but is slower than --min-tps
  for (size_t i = 0; i < a.candidates.size(); ++i) {
    AdviseCandidate& c = a.candidates[i];
    const Rung* r = rungs[i];
    if (a.chosen >= 0) {
      const AdviseCandidate& won = a.candidates[a.chosen];
      c.verdict = !c.fits                            ? "does not fit either"
                  : c.bits_per_weight >= won.bits_per_weight ? "fits too, same size; " + won.weight_type + " ranks first on this hardware"
                                                     : "fits, but " + won.weight_type + " fits with more bits (less error)";
      continue;
    }
    if (static_cast<int>(c.tier) > static_cast<int>(req.tier)) {
      c.verdict = fmt::format("below the quality tier '{}' (its tier: {})", quality_tier_name(req.tier), quality_tier_name(c.tier));
      continue;
    }
    if (r->needs_fp8 && !hw.fp8) {
      c.verdict = hw.label + " has no FP8 tensor cores: FP8 weights would run as W8A16, no faster than INT8";
      continue;
    }
    if (r->needs_fp8 && req.runtime == "transformers") {
      c.verdict = "transformers does not run FP8 W8A8 on tensor cores";
      continue;
    }
    if (!c.fits) {
      c.verdict = fmt::format("does not fit: weights {:.2f} GiB + KV {:.2f} GiB = {:.2f} GiB, over the {:.2f} GiB budget by {:.2f} GiB",
                              gib(double(c.weight_bytes)), gib(double(c.kv_bytes)), gib(double(c.weight_bytes + c.kv_bytes)), gib(budget),
                              gib(double(c.weight_bytes + c.kv_bytes) - budget));
      continue;
    }
    if (r->needs_calibration && !req.calibration) {
      c.verdict = "fits, but GPTQ and AWQ need calibration text (--calib); without it, NF4 below";
      continue;
    }
    if (c.decode_tps < req.min_tps) {
      if (fallback < 0 || a.candidates[fallback].decode_tps < c.decode_tps) fallback = static_cast<int>(i);
      c.verdict = fmt::format("fits, but its decode ceiling {} tokens/s is under --min-tps {}", tps(c.decode_tps), tps(req.min_tps));
      continue;
    }
    c.chosen = true;
    a.chosen = static_cast<int>(i);
    c.verdict = fmt::format("the highest rung that fits, {:.2f} GiB free ({:.0f}% of usable)", gib(c.headroom_bytes),
                            100 * c.headroom_bytes / static_cast<double>(a.usable_bytes));
  }
  if (a.chosen < 0 && fallback >= 0) {
    AdviseCandidate& c = a.candidates[fallback];
    c.chosen = true;
    a.chosen = fallback;
    c.verdict = fmt::format("the fastest rung that fits within the tier; still under --min-tps ({} tokens/s): a lower tier (--quality) or "
                            "faster memory would be needed for more",
                            tps(c.decode_tps));
  }
  if (a.chosen >= 0) {
    const AdviseCandidate& c = a.candidates[a.chosen];
    a.reasons.push_back(fmt::format("chosen: {} ({} bits per weight): weights {:.2f} GiB + KV {:.2f} GiB; decode ceiling {} tokens/s per sequence, "
                                    "{} tokens/s over the batch of {} (bandwidth {:.0f} GB/s ÷ bytes read per step)",
                                    c.weight_type, c.bits_per_weight, gib(double(c.weight_bytes)), gib(double(c.kv_bytes)), tps(c.decode_tps),
                                    tps(c.decode_tps_batch), req.batch, hw.bandwidth_gbs));
  } else {
    a.reasons.push_back(fmt::format("nothing within the quality tier '{}' fits {}: a lower tier, a shorter context or smaller batch, a smaller KV "
                                    "format (--kv), or more devices (tensor parallel) would be needed",
                                    quality_tier_name(req.tier), hw.label));
  }
  return a;
}

std::vector<std::string> measured_types(const Advice& a) {
  std::vector<std::string> out;
  for (const AdviseCandidate& c : a.candidates)
    if (c.fits) out.push_back(c.weight_type);
  return out;
}

void choose_by_measurement(Advice& a, const CompareResult& measured, double kld_budget) {
  if (a.chosen >= 0) a.candidates[a.chosen].chosen = false;
  a.chosen = -1;
  // ladder order is largest first: walk it from the bottom and keep the first within the budget
  for (int i = static_cast<int>(a.candidates.size()) - 1; i >= 0; --i) {
    AdviseCandidate& c = a.candidates[i];
    const std::string name = parse_weight_type(c.weight_type).name();
    const CompareRow* best = nullptr;
    for (const CompareRow& r : measured.rows)
      if (r.status == "ok" && r.type == name && (!best || r.kld.mean < best->kld.mean)) best = &r;
    if (!c.fits) continue;
    if (!best) {
      c.verdict = "fits; not measured (no method made it for this model)";
      continue;
    }
    const std::string what = fmt::format("measured: mean KLD {:.4g} with {} ({:.3f} bits/w on this model)", best->kld.mean, best->method, best->bits_per_weight);
    if (best->kld.mean > kld_budget) {
      c.verdict = what + fmt::format(", over the budget {:g}", kld_budget);
      continue;
    }
    if (a.chosen < 0) {
      a.chosen = i;
      c.chosen = true;
      c.method = best->method;
      c.verdict = what + fmt::format(": the smallest that fits within the budget {:g}", kld_budget);
    } else {
      c.verdict = what + ", within the budget, but a smaller rung is too";
    }
  }
  a.reasons.push_back(a.chosen >= 0 ? fmt::format("measured on the model: {} is the smallest candidate that fits with mean KLD ≤ {:g}",
                                                  a.candidates[a.chosen].weight_type, kld_budget)
                                    : fmt::format("measured on the model: no candidate that fits has mean KLD ≤ {:g}", kld_budget));
}

}  // namespace vernier
