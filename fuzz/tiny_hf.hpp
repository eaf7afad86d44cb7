// A tiny valid LLaMA checkpoint in Hugging Face layout (width 64, one block, vocabulary 300) for the
// targets that fuzz one file of a checkpoint folder and need the others to be right.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "vernier/safetensors.hpp"

namespace vernier::fuzz {

inline const char* tiny_config() {
  return R"({"architectures": ["LlamaForCausalLM"], "model_type": "llama", "hidden_size": 64, "intermediate_size": 128,
"num_hidden_layers": 1, "num_attention_heads": 4, "num_key_value_heads": 4, "vocab_size": 300,
"max_position_embeddings": 128, "rms_norm_eps": 1e-05, "rope_theta": 10000.0, "torch_dtype": "float32"})";
}

struct TinyTensor {
  std::string name;
  std::vector<int64_t> shape;
};

inline std::vector<TinyTensor> tiny_tensors() {
  const std::string l = "model.layers.0.";
  return {{"model.embed_tokens.weight", {300, 64}}, {l + "input_layernorm.weight", {64}},  {l + "self_attn.q_proj.weight", {64, 64}},
          {l + "self_attn.k_proj.weight", {64, 64}}, {l + "self_attn.v_proj.weight", {64, 64}}, {l + "self_attn.o_proj.weight", {64, 64}},
          {l + "post_attention_layernorm.weight", {64}}, {l + "mlp.gate_proj.weight", {128, 64}}, {l + "mlp.up_proj.weight", {128, 64}},
          {l + "mlp.down_proj.weight", {64, 128}}, {"model.norm.weight", {64}}, {"lm_head.weight", {300, 64}}};
}

// Writes the tensors into `files` shards named model-0000K-of-0000N.safetensors in `dir` (or
// model.safetensors for one); returns tensor name → file name.
inline std::map<std::string, std::string> write_tiny_shards(const std::string& dir, int files) {
  const auto all = tiny_tensors();
  std::map<std::string, std::string> where;
  for (int f = 0; f < files; ++f) {
    const std::string name = files == 1 ? "model.safetensors"
                                        : "model-0000" + std::to_string(f + 1) + "-of-0000" + std::to_string(files) + ".safetensors";
    SafetensorsWriter w(dir + "/" + name, true);
    std::vector<const TinyTensor*> mine;
    for (size_t i = 0; i < all.size(); ++i) {
      if (static_cast<int>(i % files) == f) mine.push_back(&all[i]);
    }
    for (const TinyTensor* t : mine) w.add_tensor(t->name, StDtype::F32, t->shape);
    w.write_header();
    for (const TinyTensor* t : mine) {
      int64_t n = 1;
      for (int64_t d : t->shape) n *= d;
      std::vector<float> v(static_cast<size_t>(n));
      for (size_t i = 0; i < v.size(); ++i) v[i] = t->shape.size() == 1 ? 1.0f : 0.02f * static_cast<float>((i * 7919) % 101) / 101.0f - 0.01f;
      w.write_tensor({reinterpret_cast<const uint8_t*>(v.data()), v.size() * 4});
      where[t->name] = name;
    }
    w.finish();
  }
  return where;
}

}  // namespace vernier::fuzz
