// vernier/ggml_mixture.hpp — which GGML type each tensor gets in a llama.cpp file type (Q4_K_M, …).
//
// The rules are llama.cpp's (llama-quant.cpp, llama_tensor_get_type): 1-D tensors and norms stay as
// they are; output.weight (and a tied token embedding) gets Q6_K, or Q8_0 when its rows do not fit;
// attn_v and ffn_down get more bits in the layers use_more_bits() picks for the _M mixtures; a row
// length the chosen type cannot split falls back to a 32-block type (Q4_K → Q5_0, Q5_K → Q5_1,
// Q6_K → Q8_0, Q2_K/Q3_K → Q4_0, IQ4_XS → IQ4_NL), and to F16 when no 32-value block fits
// either (rows of 172 in stories260K). Tensors are visited in llama.cpp's order
// (non-layer tensors, then by layer, by name within each), because the layer counters depend on it.
#pragma once

#include <cstdint>
#include <optional>
#include <regex>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/ggml_types.hpp"

namespace vernier {

struct GgufFileType {
  std::string_view name;   // "Q4_K_M"
  uint32_t ftype;          // llama_ftype, written as general.file_type
  GgmlType default_type;   // GGML type of most tensors
};
const std::vector<GgufFileType>& gguf_file_types();
const GgufFileType* find_gguf_file_type(std::string_view name);  // case-insensitive, or llama_ftype's number
std::string gguf_file_type_names();

struct MixtureOptions {
  bool pure = false;                                 // every quantizable tensor in the default type
  std::vector<std::pair<std::string, GgmlType>> tensor_types;  // --tensor-type REGEX=TYPE, first match wins
  std::optional<GgmlType> output_tensor_type;
  std::optional<GgmlType> token_embedding_type;
  bool leave_output_tensor = false;                  // do not quantize output.weight
  bool has_imatrix = false;
};

struct MixtureHparams {
  int64_t layers = 0, heads = 0, kv_heads = 0, experts = 0;
};

struct MixtureTensor {
  std::string name;
  std::vector<int64_t> ne;
  GgmlType source_type = GgmlType::F32;
};

struct MixtureChoice {
  std::string name;
  GgmlType type = GgmlType::F32;
  bool quantized = false;  // false: copied as it is
  std::string reason;      // why this type, for the report
  GgmlType planned = GgmlType::F32;  // the type the file type's rules chose, before a row that is not whole blocks made it fall back
  bool fell_back() const { return quantized && planned != type; }
};

// llama.cpp's processing order of tensor names: layer index (−1 for non-layer tensors), then name.
std::vector<size_t> llama_tensor_order(const std::vector<std::string>& names);

// The type of each tensor, in the order given (call with the tensors in llama_tensor_order).
// Throws a usage Error for a --tensor-type regex that does not compile.
std::vector<MixtureChoice> plan_mixture(const std::vector<MixtureTensor>& tensors, const GgufFileType& ft,
                                        const MixtureOptions& opt, const MixtureHparams& hp);

}  // namespace vernier
