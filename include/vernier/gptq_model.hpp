// vernier/gptq_model.hpp — calibration windows, and GPTQ over a whole model one block at a time.
//
// Calibration: a text tokenized once with the model's own tokenizer and its defaults (or a file of
// token ids), cut into consecutive windows of `ctx` tokens, the first `windows` of them (or that many
// drawn at random with a seed). The block pipeline runs the windows through the runtime's per-layer
// entry points: block l sees the outputs of blocks < l after they were quantized (GPTQ's default;
// propagate_float: the float outputs). Inside a block the order is true-sequential — Q/K/V, then O,
// then gate/up, then down — each group's Hessian taken from inputs computed with the sub-layers before
// it already quantized. Memory: the windows' hidden states (windows × ctx × dim floats), one block's
// matrices in float while they are quantized, one Hessian at a time, the runtime's buffers for
// `batch` tokens and one layer's KV cache, and the codes made so far unless they are parked.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "vernier/gptq.hpp"
#include "vernier/model.hpp"

namespace vernier {

struct CalibrationOptions {
  std::string text_path;    // a text file, tokenized with the model's tokenizer
  std::string tokens_path;  // or a file of token ids (whitespace-separated integers)
  int64_t ctx = 256;        // tokens per window
  int64_t windows = 128;    // the first N windows (or N random ones)
  bool random = false;
  uint64_t seed = 0;
};
// Throws a bad_input Error naming the file for a text shorter than one window, ids outside the
// vocabulary or not integers; a usage Error for ctx or windows < 1. Fewer windows than asked for
// when the text is short (at least one).
std::vector<std::vector<int32_t>> calibration_windows(const Model& m, const CalibrationOptions& opt);

struct GptqModelOptions {
  Scheme scheme;  // the target of every block linear layer, unless `ggml`
  // GGUF targets (ggml set): each block linear layer's GGML type — a file type's mixture, or one type
  // for all (gptq_quantize_ggml); a layer not named keeps its float weights.
  bool ggml = false;
  std::map<std::string, GgmlType> ggml_types;
  GptqOptions gptq;
  bool propagate_float = false;
  int threads = 0;  // the runtime's and the BLAS products' (0: every hardware thread)
  // Tokens per pass through the runtime (a window runs in chunks of this many): its buffers scale
  // with it (~ batch × (4·dim + 2·ffn) floats), the products' efficiency too, down to ~128.
  int64_t batch = 128;
  // Non-empty: each layer's codes are parked in an unnamed scratch file in this folder as soon as they
  // are made (ModelTensor::load_scheme / read() fetch them back), so the finished blocks take no
  // memory while the rest is quantized; the result then reads from the file (quantize's output
  // writers, one tensor at a time). Empty: held in memory.
  std::string park_dir;
  std::function<void(int64_t layer, int64_t layers, const std::string& what)> progress;
};

struct GptqLayerReport {
  std::string name;
  std::string target;             // the scheme's or the GGML type's name
  double loss = 0, rtn_loss = 0;  // tr(ΔW H ΔWᵀ), GPTQ's and round to nearest's (gptq.hpp)
  double damp = 0;
  int damp_raises = 0;
  int64_t dead_columns = 0;
};
struct GptqModelReport {
  std::vector<GptqLayerReport> layers;
  std::vector<double> block_seconds;
  double seconds = 0;
  int64_t windows = 0, tokens = 0;
};

// The model with every block linear layer quantized by GPTQ to opt.scheme (held as codes,
// ModelTensor::scheme, with input_perm under act order) or to its GGML type (held as GGML blocks); the
// other tensors are the source's. The source must outlive the result.
Model gptq_quantize_model(const Model& m, const std::vector<std::vector<int32_t>>& windows, const GptqModelOptions& opt,
                          GptqModelReport* report = nullptr);

}  // namespace vernier
