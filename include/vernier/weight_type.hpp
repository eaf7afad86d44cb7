// vernier/weight_type.hpp — the one vocabulary of stored weight formats.
//
// A WeightType names any format a weight matrix can be kept in: one of llama.cpp's GGML types
// (GgmlType: Q4_K, Q8_0, F16, …, their blocks in ggml_blocks.hpp) or one of vernier's own schemes
// (integer codes of 2–8 bits, symmetric or asymmetric, per tensor / channel / group, NF4 with or
// without double quantization, FP8 E4M3/E5M2 with their scale granularity; quantize.hpp). Each has
// one canonical name, printed by name() and read back by parse_weight_type():
//
//   GGML types        upper case, as llama.cpp spells them:  Q4_K  Q8_0  IQ4_XS  F16  BF16  F32
//   vernier schemes   FORMAT[-sym|-asym]-(tensor|channel|gN|bN)[-dq][-f16]:
//                     int4-asym-g128  int8-sym-channel  nf4-b64-dq  fp8_e4m3-channel
//
// The facts of each family sit in one constexpr row (kGgmlTypes for the GGML types, kSchemeFamilies
// for vernier's families): block or group, bytes, the activation format its products multiply
// against, the reference quantizer, dequantizer and dot product (always built, the ground truth of
// every kernel), and its docs page. Every list a user or a test sees — `vernier formats`, the CLI's
// choices and error texts, `vernier bench`, bench/, the tests' type loops, the demo, `plan` — iterates
// these rows or weight_types(); a backend keeps its own kernel table keyed by the same types
// (kernels.hpp for the CPU). docs/design.md lists the places a new type touches.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/quantize.hpp"

namespace vernier {

// GGML tensor type ids (ggml.h enum ggml_type). Ids 4 and 5 were removed from ggml and are not types.
enum class GgmlType : uint32_t {
  F32 = 0, F16 = 1, Q4_0 = 2, Q4_1 = 3, Q5_0 = 6, Q5_1 = 7, Q8_0 = 8, Q8_1 = 9, Q2_K = 10, Q3_K = 11,
  Q4_K = 12, Q5_K = 13, Q6_K = 14, Q8_K = 15, IQ2_XXS = 16, IQ2_XS = 17, IQ3_XXS = 18, IQ1_S = 19,
  IQ4_NL = 20, IQ3_S = 21, IQ2_S = 22, IQ4_XS = 23, I8 = 24, I16 = 25, I32 = 26, I64 = 27, F64 = 28,
  IQ1_M = 29, BF16 = 30, TQ1_0 = 34, TQ2_0 = 35, MXFP4 = 39,
};
constexpr uint32_t id_of(GgmlType t) { return static_cast<uint32_t>(t); }

// The reference functions of a GGML type. A row of n values (a multiple of the block size) is
// n / block consecutive blocks. QuantizeRowFn: imatrix (n importance weights) may be null.
// DotFn: one weight row against one activation row already in the type's activation format.
using QuantizeRowFn = void (*)(const float* x, void* y, int64_t n, const float* imatrix);
using DequantizeRowFn = void (*)(const void* x, float* y, int64_t n);
using DotFn = float (*)(const void* w, const void* x, int64_t n);
// A block type as per-element grids under its stored scales, and a code writer: what a method that
// chooses the codes itself (GPTQ) needs (defined in src/quant/ggml/codes.hpp).
struct GgmlBlockCodes;

struct GgmlTypeInfo {
  GgmlType type;
  std::string_view name;
  int64_t block_size;        // elements per block (1 for plain types)
  int64_t block_bytes;       // bytes per block
  bool is_float;             // F32, F16, BF16, F64: plain IEEE-style elements
  GgmlType activations;      // what products with it quantize the activations to (itself if none)
  QuantizeRowFn quantize;    // nullptr: vernier reads and copies the type, but does not make it
  DequantizeRowFn dequantize;
  DotFn reference_dot;       // nullptr: no product (the type is storage only, or an activation format)
  bool importance;           // the quantizer uses an importance matrix (llama.cpp's imatrix path)
  const GgmlBlockCodes* codes;  // per-element grids and a code writer (GPTQ's sweep); nullptr: none
  std::string_view doc;      // docs page that describes it
  double bits_per_weight() const { return 8.0 * static_cast<double>(block_bytes) / static_cast<double>(block_size); }
};

// Every GGML type, in id order (defined in src/quant/registry.cpp).
std::span<const GgmlTypeInfo> ggml_types();
// nullptr for an id ggml does not define (or that was removed, e.g. 4 and 5).
const GgmlTypeInfo* ggml_type_info(uint32_t id);
const GgmlTypeInfo* ggml_type_info(GgmlType t);
const GgmlTypeInfo& ggml_info(GgmlType t);  // throws a usage Error for a value that is no type
const GgmlTypeInfo* ggml_type_by_name(std::string_view name);  // case-insensitive "Q4_K", "f16"
// Bytes of a row of n elements; nullopt if n is not a multiple of the block size.
std::optional<int64_t> ggml_row_bytes(const GgmlTypeInfo& t, int64_t n);

// vernier's own families: integer codes (int2–8 signed or uint2–8), NF4, FP8 E4M3, FP8 E5M2.
enum class SchemeFamily : uint8_t { integer, nf4, fp8_e4m3, fp8_e5m2 };
using SchemeDotFn = float (*)(const QuantizedTensor& w, int64_t row, const float* x);
struct SchemeFamilyInfo {
  SchemeFamily family;
  std::string_view name;                 // "int", "nf4", "fp8_e4m3", "fp8_e5m2"
  std::string_view granularities;        // the scale granularities it takes
  std::string_view activations;          // what its products multiply against: float32 (or bf16 / q8_0 by choice)
  QuantizedTensor (*quantize)(const TensorView&, const Scheme&);
  void (*dequantize)(const QuantizedTensor&, std::span<float>);
  SchemeDotFn reference_dot;
  std::string_view doc;
};
std::span<const SchemeFamilyInfo> scheme_families();
const SchemeFamilyInfo* scheme_family_of(const Scheme& s);  // nullptr for the plain casts (fp32/fp16/bf16)

// A stored weight format: a GGML type, or a vernier scheme.
class WeightType {
 public:
  WeightType() = default;
  WeightType(GgmlType t) : ggml_(t) {}  // NOLINT: every GGML type is a weight type
  // A scheme; the plain casts fp32/fp16/bf16 are the GGML types F32/F16/BF16. Validates it.
  static WeightType scheme(const Scheme& s);

  bool is_ggml() const { return !is_scheme_; }
  bool is_scheme() const { return is_scheme_; }
  GgmlType ggml() const { return ggml_; }          // is_ggml()
  const Scheme& as_scheme() const { return scheme_; }  // is_scheme()
  const GgmlTypeInfo& ggml_info() const { return vernier::ggml_info(ggml_); }
  const SchemeFamilyInfo& family() const;          // is_scheme()

  std::string name() const;  // the canonical name
  // Bytes of a rows × cols matrix as a runtime keeps it (codes, scales, zero points), and bits per
  // weight; nullopt where cols does not fit the type's blocks.
  std::optional<uint64_t> storage_bytes(int64_t rows, int64_t cols) const;
  double bits_per_weight(int64_t rows, int64_t cols) const;
  // The limit for large matrices: the code bits plus what each group adds per weight (scale, zero
  // point, NF4's double-quantization code and its share of a block absmax); per-tensor and per-channel
  // scales, which vanish per weight, count 0. GGML types: block bytes · 8 / block size. For `plan`.
  double nominal_bits_per_weight() const;
  std::string activations() const;  // "Q8_K", "Q8_0", "F32", "f32", …
  std::string_view doc() const;
  bool operator==(const WeightType& o) const;

 private:
  GgmlType ggml_ = GgmlType::F32;
  bool is_scheme_ = false;
  Scheme scheme_;
};

// Canonical scheme name: int4-asym-g128, int8-sym-channel, nf4-b64-dq, fp8_e4m3-tensor, int4-asym-g128-f16.
std::string scheme_name(const Scheme& s);
// Reads any canonical name (a GGML type, case-insensitive, or a scheme); throws a usage Error that
// names the choices.
WeightType parse_weight_type(std::string_view text);

// The weight types vernier lists (`vernier formats`, the demo, bench, the tests): every GGML type it
// quantizes, then a canonical set of schemes of every family and granularity.
const std::vector<WeightType>& weight_types();
std::string weight_type_names(bool ggml, bool schemes);  // comma-separated, for help and error texts

}  // namespace vernier
