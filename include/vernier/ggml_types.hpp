// vernier/ggml_types.hpp — the tensor type ids of GGUF/GGML: block size and bytes per block.
//
// The ids and sizes are those of ggml's type_traits (ggml.h enum ggml_type). vernier can read and
// copy every type listed, and knows the row arithmetic of each; which types it can quantize or
// compute with is a separate question answered by src/quant and src/kernels.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace vernier {

struct GgmlTypeInfo {
  uint32_t id;
  std::string_view name;
  int64_t block_size;   // elements per block (1 for plain types)
  int64_t block_bytes;  // bytes per block
  bool is_float;        // F32, F16, BF16, F64: plain IEEE-style elements
};

// nullptr for an id ggml does not define (or that was removed, e.g. 4 and 5).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const GgmlTypeInfo* ggml_type_by_name(std::string_view name);  // case-insensitive "Q4_K", "f16"

namespace ggml_type {
inline constexpr uint32_t F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9,
                          Q2_K = 10, Q3_K = 11, Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ4_NL = 20,
                          IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28, BF16 = 30;
}

// Bytes of a row of n elements; nullopt if n is not a multiple of the block size.
std::optional<int64_t> ggml_row_bytes(const GgmlTypeInfo& t, int64_t n);

}  // namespace vernier
