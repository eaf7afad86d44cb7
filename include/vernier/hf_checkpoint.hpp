// vernier/hf_checkpoint.hpp — a model written as a quantized Hugging Face checkpoint (GPTQ, AWQ,
// compressed-tensors or bitsandbytes layout, hf_layout.hpp) that vLLM, SGLang, TGI and transformers load.
//
// The blocks' linear layers (q/k/v/o, gate/up/down) are quantized one at a time by a method (rtn unless
// told) into the layout's tensors; embeddings, norms and lm_head stay in their stored precision (lm_head
// is quantized with quantize_output). Tensors get Hugging Face names, and Q/K rows go back to Hugging
// Face's rotate-half order when the source is a GGUF or llama2.c file (they are quantized in that
// order, so the file holds exactly what its loaders will multiply). Shards of at most max_shard_bytes
// with model.safetensors.index.json; config.json with quantization_config (and quantize_config.json
// for GPTQ); a Hugging Face source's tokenizer and generation files are copied. The directory is
// written beside the destination and renamed into place: it appears complete or not at all.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/hf_layout.hpp"
#include "vernier/model.hpp"
#include "vernier/quant_method.hpp"

namespace vernier {

struct HfCheckpointOptions {
  HfLayout layout = HfLayout::gptq;
  Scheme scheme;                       // as asked; stored as hf_layout_scheme(layout, scheme)
  const QuantMethod* method = nullptr; // nullptr: rtn
  bool quantize_output = false;        // lm_head too (an untied output matrix)
  uint64_t max_shard_bytes = 5'000'000'000ull;  // transformers' default "5GB"
  bool overwrite = false;
  int threads = 0;                     // layers quantized at once (0: every hardware thread); the bytes do not depend on it
  std::function<void(size_t index, size_t count, const std::string& name)> progress;  // called from any thread, one at a time
};

struct HfCheckpointTensor {
  std::string name;     // Hugging Face module or tensor name
  std::string stored;   // "gptq int4-sym-g128-f16" for a quantized layer, else the dtype ("F32")
  bool quantized = false;
  int64_t elements = 0;
  uint64_t bytes = 0;   // of every tensor the layer wrote
  double rmse = 0;      // quantized here: of the dequantized weights against the source (0 for codes written as held)
};
struct HfCheckpointReport {
  Scheme scheme;        // what the layers hold
  std::vector<HfCheckpointTensor> tensors;
  std::vector<std::string> files;  // written, relative to the directory
  std::vector<std::string> notes;  // e.g. no tokenizer to carry over
  uint64_t bytes = 0;
  int shards = 0;
  double seconds = 0;
};

// Parses a Hugging Face size: "5GB", "500MB", "2GiB", or a number of bytes.
uint64_t parse_shard_size(const std::string& text);

HfCheckpointReport write_hf_checkpoint(const Model& m, const std::string& dir, const HfCheckpointOptions& opt);

}  // namespace vernier
