// vernier/hf_layout.hpp — quantized linear layers in the safetensors layouts that the GPU serving stack
// loads: GPTQ, AWQ (GEMM), compressed-tensors (pack-quantized, float-quantized) and bitsandbytes NF4.
//
// A layout stores one linear layer (W: out × in, in vernier's orientation rows = out, cols = in) as a few
// named tensors beside the module's prefix ("model.layers.0.self_attn.q_proj.qweight", …). The codecs
// here are pure functions between a QuantizedTensor (quantize.hpp) and those tensors: encoding then
// decoding gives back the same codes, scales and zero points bit for bit (docs/layouts/*.md state the
// bytes of each layout, and which schemes each can hold).
//
// Every integer layout reduces to unsigned codes u in [0, 2^b) and a zero point z per group, with
// w = (u - z) · s. vernier's symmetric codes q (signed, zero point 0) map to u = q + 2^(b-1) with
// z = 2^(b-1); asymmetric codes already are (u, z).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json_fwd.hpp>

#include "vernier/quantize.hpp"
#include "vernier/safetensors.hpp"

namespace vernier {

enum class HfLayout { gptq, awq, compressed_tensors, bnb };
std::string_view hf_layout_name(HfLayout l);  // "gptq", "awq", "compressed-tensors", "bnb"
HfLayout parse_hf_layout(std::string_view name);  // throws a usage Error naming the layouts
std::string hf_layout_names();

// The scheme a layout stores for the one asked for: the same codes, with the scale precision the
// layout keeps (GPTQ and AWQ store FP16 scales, so their schemes quantize with FP16-rounded scales).
// Throws a usage Error that names the layout's limits when it cannot hold the scheme.
Scheme hf_layout_scheme(HfLayout l, const Scheme& requested);
// The shape limits (input a multiple of 32 for GPTQ's words, the group dividing the input, …): an
// explanation, or empty when a rows × cols matrix fits.
std::string hf_layout_shape_error(HfLayout l, const Scheme& s, int64_t rows, int64_t cols);

// A tensor of a layout, with its bytes (little-endian, row-major).
struct HfTensor {
  std::string suffix;  // appended to the module prefix: "qweight", "weight.absmax", …
  StDtype dtype = StDtype::I32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> data;
};
// The tensors a layout writes for a rows × cols matrix of scheme s (names, dtypes, shapes; no data), in
// the order encode_linear produces them.
struct HfQuantConfig;
std::vector<HfTensor> hf_layout_specs(const HfQuantConfig& c, const Scheme& s, int64_t rows, int64_t cols);
std::vector<HfTensor> encode_linear(const HfQuantConfig& c, const QuantizedLinear& w);

// What a checkpoint's quantization_config says (parse_hf_quant_config) or what vernier writes into it.
struct HfQuantConfig {
  HfLayout layout = HfLayout::gptq;
  Scheme scheme;                    // bits, granularity, group size, symmetry, scale precision
  bool desc_act = false;            // GPTQ act order (g_idx a permutation of the groups)
  bool gptq_v2 = false;             // GPTQ checkpoint_format "gptq_v2": true zeros; "gptq" (v1): zero − 1
  std::vector<std::string> ignore;  // modules left unquantized (compressed-tensors' ignore, bnb's skip list)
  std::string dtype = "float16";    // the dtype loaders dequantize to (bnb's quant_state "dtype")
};
nlohmann::json hf_quant_config_json(const HfQuantConfig& c);  // config.json's "quantization_config"
// Throws a bad_input Error naming `path` where the object is not one vernier can read (unknown
// quant_method, bits or strategy the layout does not define, …).
HfQuantConfig parse_hf_quant_config(const nlohmann::json& qc, const std::string& path);

// A stored tensor handed to a decoder.
struct HfTensorRef {
  std::string name;  // full name in the checkpoint, for errors
  StDtype dtype = StDtype::I32;
  std::vector<int64_t> shape;
  std::span<const uint8_t> data;
};
using HfTensorLookup = std::function<const HfTensorRef*(std::string_view suffix)>;
struct DecodeNotes {
  std::vector<std::string> warnings;  // e.g. zeros that contradict the declared GPTQ format
};
// Decodes the layer whose tensors `find` returns (rows = out features, cols = in features, as the
// model's config says). Throws a bad_input Error naming `file`, the tensor and what was expected for
// a shape, dtype, g_idx, zero point or scale that the layout does not allow.
QuantizedLinear decode_linear(const HfQuantConfig& c, const HfTensorLookup& find, int64_t rows, int64_t cols,
                              const std::string& file, DecodeNotes* notes = nullptr);
// The suffixes that mark a module as stored in this layout (GPTQ/AWQ "qweight", compressed-tensors
// "weight_packed" or "weight_scale", bnb "weight.quant_state.bitsandbytes__nf4").
bool hf_layout_owns(HfLayout l, std::string_view suffix);

}  // namespace vernier
