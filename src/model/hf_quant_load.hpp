// Internal to src/model: the quantized layers of a Hugging Face checkpoint with a quantization_config.
#pragma once

#include <set>
#include <string>

#include <nlohmann/json_fwd.hpp>

#include "vernier/model.hpp"
#include "vernier/safetensors.hpp"

namespace vernier {

// Decodes every quantized linear layer of `ck` (GPTQ, AWQ, compressed-tensors, bnb, as `qc` says) into
// m.tensors: GGUF names, Q/K rows in GGUF's order, the codes held as a PackedTensor (ModelTensor::scheme)
// for the weight-only kernels. Returns the checkpoint's tensor names it consumed. Warnings go to
// m.warnings; malformed layers throw a bad_input Error naming the file and the tensor.
std::set<std::string> load_hf_quantized(Model& m, const SafetensorsCheckpoint& ck, const nlohmann::json& qc, const std::string& cfg_path);

// Rows × cols of a LLaMA matrix by its GGUF name (attn_q: heads·head_dim × dim, …); {0, 0} if not one.
std::pair<int64_t, int64_t> llama_matrix_shape(const LlamaConfig& c, std::string_view gguf_name);

}  // namespace vernier
