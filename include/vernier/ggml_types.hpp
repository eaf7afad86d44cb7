// vernier/ggml_types.hpp — the GGML tensor types: their ids, block sizes and bytes (weight_type.hpp
// holds the registry), and short names for the enumerators.
//
// The ids and sizes are those of ggml's type_traits (ggml.h enum ggml_type). vernier can read and
// copy every type listed, and knows the row arithmetic of each; which types it can quantize or
// compute with is in each type's registry row (quantize, reference_dot) and in a backend's kernels.
#pragma once

#include "vernier/weight_type.hpp"

namespace vernier {

namespace ggml_type {
inline constexpr GgmlType F32 = GgmlType::F32, F16 = GgmlType::F16, Q4_0 = GgmlType::Q4_0, Q4_1 = GgmlType::Q4_1,
                          Q5_0 = GgmlType::Q5_0, Q5_1 = GgmlType::Q5_1, Q8_0 = GgmlType::Q8_0, Q8_1 = GgmlType::Q8_1,
                          Q2_K = GgmlType::Q2_K, Q3_K = GgmlType::Q3_K, Q4_K = GgmlType::Q4_K, Q5_K = GgmlType::Q5_K,
                          Q6_K = GgmlType::Q6_K, Q8_K = GgmlType::Q8_K, IQ4_NL = GgmlType::IQ4_NL,
                          IQ4_XS = GgmlType::IQ4_XS, I8 = GgmlType::I8, I16 = GgmlType::I16, I32 = GgmlType::I32,
                          I64 = GgmlType::I64, F64 = GgmlType::F64, BF16 = GgmlType::BF16;
}  // namespace ggml_type

}  // namespace vernier
