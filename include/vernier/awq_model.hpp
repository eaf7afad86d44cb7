// vernier/awq_model.hpp — AWQ over a whole model, one block at a time: the scales searched and
// folded, the clipping searched and applied, giving the float model that is then quantized (round to
// nearest with AWQ's quantizer, or GPTQ).
//
// Per LLaMA block, with the calibration windows (gptq_model.hpp's) run through the block in float:
//   Q/K/V      s from mean |x| of the normed input; the loss is the attention's output (after O, in
//              float); s is folded into attn_norm (÷ s) and Q/K/V's columns (× s)
//   O          s from mean |x| of the attention output; the loss is O's output; folded into V's rows
//              (÷ s) and O's columns — only where V's rows are O's inputs (no grouped-query attention)
//   gate/up    s from mean |x| of the normed residual; the loss is the FFN's output (down in float);
//              folded into ffn_norm and gate/up's columns
//   down       s from mean |x| of SiLU(gate)·up; the loss is down's output; folded into up's rows
// All four are searched on the block's unscaled weights before any is applied (the authors' order).
// The single-matrix losses (O, down) are the quadratic form tr(ΔW·H·ΔWᵀ) of the inputs' XᵀX — the
// same sum of squared output errors without keeping the inputs. Then the clip search on every matrix
// but Q and K, with a strided sample of the tokens' inputs divided by the scales. Block l+1 sees the
// float block's outputs (the authors' choice; propagate_quantized: the scaled block quantized to
// nearest).
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "vernier/awq.hpp"
#include "vernier/gptq.hpp"
#include "vernier/gptq_model.hpp"
#include "vernier/imatrix.hpp"
#include "vernier/model.hpp"

namespace vernier {

struct AwqModelOptions {
  Scheme scheme;  // the target: its quantizer is the searches' (AsymRange::min_max is AWQ's own)
  // GGUF targets (ggml set): each block linear layer's GGML type, whose llama.cpp quantizer — weighted
  // by the scaled inputs' mean squares, as an imatrix — the searches use; a layer not named stays float.
  bool ggml = false;
  std::map<std::string, GgmlType> ggml_types;
  AwqOptions awq;
  // Set (awq+gptq): each scale candidate is judged by the weights GPTQ makes of it (with the scaled
  // inputs' Hessian) instead of round to nearest's, so the scales chosen are the ones GPTQ does best with.
  std::optional<GptqOptions> gptq;
  bool propagate_quantized = false;
  int threads = 0;      // the runtime's and the BLAS products' (0: every hardware thread)
  int64_t batch = 128;  // tokens per pass through the runtime (gptq_model.hpp)
  std::string park_dir; // non-empty: the scaled float matrices wait in a scratch file there
  std::function<void(int64_t layer, int64_t layers, const std::string& what)> progress;
};

struct AwqScaleReport {
  std::string group;        // "blk.0.attn_q/k/v", …
  std::string folded_into;  // "blk.0.attn_norm.weight", "blk.0.attn_v.weight" (rows), …
  double alpha = 0;
  double loss_before = 0, loss_after = 0;  // mean squared output error at s = 1 (round to nearest) and the chosen s
};
struct AwqClipReport {
  std::string name;
  double mean_ratio = 1;
  double loss_before = 0, loss_after = 0;  // the sample's squared group-output error, unclipped and clipped
};
struct AwqModelReport {
  std::vector<AwqScaleReport> scales;
  std::vector<AwqClipReport> clips;
  std::vector<std::string> skipped;  // groups not searched, and why (e.g. O under grouped-query attention)
  // Per block linear layer of the result, its inputs' mean squares (x / s)²: an importance matrix for
  // llama.cpp's quantizers on the scaled model (what quantize --type … --method awq uses).
  ImportanceMatrix importance;
  std::vector<double> block_seconds;
  double seconds = 0;
  int64_t windows = 0, tokens = 0;
};

// The model with AWQ's scales folded in and its clipping applied: every block linear layer and norm a
// float32 tensor (held, or parked), the rest the source's. The float model computes the same function
// as the source up to the clipping. The source must outlive the result.
Model awq_scale_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const AwqModelOptions& opt,
                      AwqModelReport* report = nullptr);

// AWQ+GPTQ in one pass over the blocks: GPTQ's pipeline (gptq_model.hpp: true-sequential, the quantized
// blocks' outputs feeding the next unless propagate_float), where each block's attention half (Q/K/V,
// O) is searched just before GPTQ quantizes its Q/K/V, and its FFN half (gate/up, down) just before
// gate/up — on the inputs GPTQ then sees (the blocks before, and the block's attention, quantized),
// every candidate judged by the weights GPTQ makes of it with the scaled inputs' Hessian. The Q/K/V and
// gate/up GPTQ then quantizes are the chosen candidates' own; O and down are quantized on the inputs of
// the quantized Q/K/V and gate/up (their scales were searched on the float ones: V's and up's rows carry
// them, and are quantized first). awq.clip: each half clipped after its scales, before GPTQ. The result
// is gptq_quantize_model's (codes, or GGML blocks), with the scaled norms; the AWQ report's
// block_seconds are the searches' share of each block.
Model awq_gptq_quantize_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt,
                              const AwqOptions& awq, AwqModelReport* awq_report = nullptr, GptqModelReport* gptq_report = nullptr);

}  // namespace vernier
