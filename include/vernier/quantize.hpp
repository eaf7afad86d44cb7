// vernier/quantize.hpp — quantizing a 2-D weight matrix with one scheme, and the exact way back.
//
// A Scheme names the format, the granularity of its scales and the numerics; quantize() returns a
// QuantizedTensor (codes, scales, zero points, shape, scheme) that every later stage reuses, and
// dequantize() is the exact inverse mapping of what was stored:
//
//   integer, symmetric   : q = clamp(round(x / s), -(2^(b-1)-1), 2^(b-1)-1),  x' = q * s,
//                          s = absmax / (2^(b-1)-1). Codes are signed b-bit fields (for a uintB format
//                          they are stored offset by 2^(b-1), which is then the fixed zero point).
//   integer, asymmetric  : lo = min(min x, 0), hi = max(max x, 0), s = (hi - lo) / (2^b - 1),
//                          z = clamp(round(-lo / s), 0, 2^b-1), q = clamp(round(x / s) + z, 0, 2^b-1),
//                          x' = (q - z) * s. Codes are unsigned whatever the format's name (an int8
//                          store of them is q - 128, an offset a kernel folds into z). Including 0 in
//                          [lo, hi] keeps 0.0 exact, which zero padding and ReLU outputs rely on.
//                          AsymRange::min_max (AWQ's quantizer): lo = min x, hi = max x as they are,
//                          s = max(hi - lo, 1e-5) / (2^b - 1); a group that does not straddle 0
//                          then saturates at one end (z clamps to the code range), as AWQ's does.
//   NF4                  : s = absmax, q = nearest level of x / s, x' = level[q] * s.
//   FP8 (E4M3, E5M2)     : s = amax / max_finite, q = fp8(x / s) with saturation, x' = fp8value(q) * s.
//   FP16, BF16, FP32     : a cast; no scales.
// "round" is round-half-to-even (Scheme::rounding). Division by s is done as a multiplication by
// 1/s, computed once per group in float32: that is what a vectorized kernel does, so scalar and SIMD
// paths give the same codes. An all-zero group gets s = 0 and codes that decode to exactly 0 (no NaN).
//
// Granularity: per_tensor (one scale), per_channel (one per output row), per_group (one per
// group_size consecutive elements of a row; a row's last group may be shorter: the "ragged" group
// has its own scale from its own elements).
//
// Code layout: each row of codes starts on a byte boundary. Codes of b < 8 bits form an LSB-first bit
// stream: element i of a row occupies bits [i*b, i*b + b) of the row, bit k being bit (k mod 8) of
// byte k / 8. For 4 bits: element 2j is the low nibble of byte j, element 2j+1 the high nibble.
// 16-bit codes (FP16, BF16) are little-endian pairs of bytes, FP32 four.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "vernier/float_codecs.hpp"
#include "vernier/format.hpp"

namespace vernier {

enum class Granularity { per_tensor, per_channel, per_group };
enum class AffineMode { asymmetric, symmetric };
enum class ScaleType { f32, f16 };  // how scales (and NF4 absmax values) are stored
// The range an asymmetric integer group's scale spans: widened to include 0 (vernier's and GPTQ's
// rule) or its min and max as they are (AWQ's). The stored layout is the same; only the numbers differ.
enum class AsymRange { with_zero, min_max };

struct Scheme {
  FormatId format = FormatId::int8;
  Granularity granularity = Granularity::per_channel;
  int64_t group_size = 0;                        // per_group: elements per group, >= 1
  AffineMode mode = AffineMode::asymmetric;      // integer formats only
  ScaleType scale_type = ScaleType::f32;
  bool double_quant = false;                     // NF4: 8-bit absmax in blocks of 256 (QLoRA)
  Saturation saturation = Saturation::saturate;  // FP8 overflow handling
  Rounding rounding = Rounding::nearest_even;
  float fixed_scale = 0.0f;                      // > 0: use this scale everywhere instead of deriving it
  AsymRange range = AsymRange::with_zero;        // asymmetric integer schemes (not part of the name)
};

// "int4 asym g128", "nf4 b64 dq", "fp8_e4m3 per-channel", "fp16".
std::string describe(const Scheme& scheme);
// Parses the same names back: FORMAT[-|_| ](sym|asym)? (tensor|channel|gN|bN)? (dq)? (f16)?, e.g.
// "int4-asym-g128", "nf4-b64-dq", "fp8_e4m3-channel". Throws a usage Error on anything else.
Scheme parse_scheme(std::string_view text);
// Throws a usage Error if the scheme is inconsistent (group size 0, double_quant on a non-NF4 format…).
void validate(const Scheme& scheme);

struct TensorView {
  const float* data = nullptr;  // row-major rows × cols
  int64_t rows = 0;
  int64_t cols = 0;
  std::string_view name = "tensor";
};

// QLoRA double quantization of NF4 block absmax values.
struct DoubleQuantState {
  float offset = 0.0f;                 // mean of the absmax values, subtracted before quantizing
  int64_t block = 256;                 // absmax values per second-level block
  std::vector<uint8_t> codes;          // one dynamic8 code per absmax value
  std::vector<float> block_absmax;     // one float32 per block of `block` codes
};

struct QuantizedTensor {
  Scheme scheme;
  int64_t rows = 0;
  int64_t cols = 0;
  int64_t row_bytes = 0;               // bytes per packed row of codes
  std::vector<uint8_t> codes;          // rows × row_bytes
  std::vector<float> scales;           // one per group, as used by dequantize (already rounded to
                                       // scale_type; with double_quant, the reconstructed absmax)
  std::vector<int32_t> zero_points;    // one per group for asymmetric integer schemes, else empty
  DoubleQuantState double_quant;       // NF4 with scheme.double_quant only

  int64_t group_len() const;           // elements per group along a row (per_tensor: cols)
  int64_t groups_per_row() const;      // 0 for per_tensor (one group for the whole tensor)
  int64_t num_groups() const;
  int64_t group_index(int64_t row, int64_t col) const;
  // Storage as a runtime would keep it: packed codes + scales at scale_type + zero points at the
  // code's bit width + double-quantization state.
  uint64_t storage_bytes() const;
  double bits_per_weight() const;      // storage_bytes * 8 / (rows * cols), scale overhead included
  int32_t code(int64_t row, int64_t col) const;  // one code, sign-extended for signed fields
};

// A QuantizedTensor as it is stored, nothing widened: the codes; the scales at their stored precision
// (scale_type f32: float32, f16: FP16 bit patterns; NF4 with double quantization: its 8-bit codes,
// with the per-256 block absmax values and the offset in `double_quant`); the zero points of an
// asymmetric integer scheme packed at the code width, LSB-first (pack.hpp). bytes() ==
// QuantizedTensor::storage_bytes(): this is what a runtime keeps resident, and what the kernels
// read (their scale and zero of a group are decoded per group, in registers).
struct PackedTensor {
  Scheme scheme;
  int64_t rows = 0, cols = 0, row_bytes = 0;
  std::vector<uint8_t> codes;     // rows × row_bytes
  std::vector<uint8_t> scales;    // num_groups × 4 (f32) or × 2 (f16), or × 1 (NF4 dq codes)
  std::vector<uint8_t> zeros;     // packed_bytes(num_groups, bits), asymmetric integer schemes only
  DoubleQuantState double_quant;  // NF4 dq: offset, block size, block absmax (its codes are `scales`)
  uint64_t bytes() const;
};
PackedTensor pack(QuantizedTensor q);
QuantizedTensor unpack(const PackedTensor& p);  // the exact inverse

// Quantizes a matrix. Throws a bad_input Error naming the tensor and the first element if a value is
// NaN or Inf and the format needs a scale (a single Inf would make its whole group's scale Inf);
// plain casts (FP32/FP16/BF16) carry NaN and Inf through as the codecs document.
QuantizedTensor quantize(const TensorView& input, const Scheme& scheme);
void dequantize(const QuantizedTensor& q, std::span<float> out);  // out.size() == rows * cols
std::vector<float> dequantize(const QuantizedTensor& q);

// One quantized linear layer. Act order (GPTQ's desc_act): the columns of `q` are the input columns in
// the order perm gives (column k of q is input column perm[k]), so that groups are contiguous in q;
// empty perm: the identity.
struct QuantizedLinear {
  QuantizedTensor q;
  std::vector<int32_t> perm;
};
// Dequantized weights in the input's own column order (act order undone): rows × cols.
std::vector<float> dequantize_linear(const QuantizedLinear& w);

// Rows in another order: row r of the result is row order[r] of q (codes, and the row's scales and zero
// points). Exact for per-channel and per-group schemes; throws a usage Error under NF4 double
// quantization, whose second-level blocks span rows.
QuantizedTensor permute_rows(const QuantizedTensor& q, const std::vector<int32_t>& order);

// Bits per weight of a scheme on a rows × cols matrix, without quantizing it.
double scheme_bits_per_weight(const Scheme& scheme, int64_t rows, int64_t cols);
uint64_t scheme_storage_bytes(const Scheme& scheme, int64_t rows, int64_t cols);  // QuantizedTensor::storage_bytes()

}  // namespace vernier
