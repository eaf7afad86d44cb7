// vernier/cuda_wo.hpp — weight-only products on the GPU for the byte-wide and NF4 formats: INT8 (per channel or
// in groups, symmetric or with zero points: W8A16), FP8 E4M3 with float32 scales per channel or group (FP8
// weight-only), and NF4 (QLoRA's blocks, with or without double quantization), times bfloat16 or FP16
// activations, float32 accumulation. The GEMV for decoding (m small); docs/kernels-cuda.md has the design.
//
// Two halves, as for W4A16 (cuda_w4.hpp). The layout (`pack_wo`, pure C++, built and tested everywhere) takes
// the plain form every checkpoint layout vernier reads decodes to and keeps the codes row-major — a row is
// already one stream — padded to whole 16-byte chunks (16 weights of 8 bits, 32 of NF4), symmetric INT8
// offset to unsigned codes with zero point 128, so the kernel has one integer path. The kernel (`WoMatrix`,
// CUDA only) multiplies.
//
// The layout on the device:
//   codes  [row][chunk of 16 bytes]: INT8 u (w = s·(u − z)), FP8 E4M3 bit patterns, NF4 two codes a byte
//          (element 2j the low nibble of byte j, as vernier's and bitsandbytes' unpacked order).
//   scales [row][group] float32 (NF4 without double quantization: the block absmax).
//   zeros  [row][group] uint8 (INT8 with zero points only).
//   NF4 with double quantization: absmax codes [row][group] uint8 (the 8-bit dynamic map), a float32 absmax
//          per `dq_block` consecutive codes (row-major over all groups) and one offset; the kernel decodes
//          absmax = map[code]·block_absmax + offset per chunk, from a table in shared memory.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "vernier/cuda_w4.hpp"  // Act

namespace vernier::cuda {

enum class WoFormat : uint8_t { int8, fp8_e4m3, nf4 };
const char* wo_format_name(WoFormat f);  // "int8", "fp8_e4m3", "nf4"

// A matrix plainly: what the repack reads. One code per weight (not packed).
struct WoSource {
  WoFormat format = WoFormat::int8;
  int64_t rows = 0, cols = 0;  // N outputs × K inputs
  int64_t group = 0;           // values per group along a row (a multiple of 16; NF4: of 32), 0: one per row
  bool symmetric = true;       // INT8: codes are signed q ∈ [-128, 127] (w = s·q); else unsigned with zeros
  std::vector<uint8_t> codes;  // rows × cols: INT8 q as its two's-complement byte or u; FP8 bits; NF4 0..15
  std::vector<float> scales;   // rows × groups (NF4 with double quantization: empty)
  std::vector<uint8_t> zeros;  // INT8 with zero points: rows × groups
  // NF4 double quantization (QLoRA): absmax of group i = dynamic8[dq_codes[i]]·dq_absmax[i / dq_block] + dq_offset
  std::vector<uint8_t> dq_codes;
  std::vector<float> dq_absmax;
  int64_t dq_block = 256;
  float dq_offset = 0;
  int64_t groups() const;  // per row
};

struct WoLayout {
  WoFormat format = WoFormat::int8;
  int64_t rows = 0, cols = 0, group = 0, groups = 0;  // group: values per group (cols when one per row)
  int64_t row_bytes = 0;      // a multiple of 16
  bool asym = false, dq = false;
  std::vector<uint8_t> codes;    // rows × row_bytes
  std::vector<float> scales;     // rows × groups (not with dq)
  std::vector<uint8_t> zeros;    // rows × groups (asym INT8)
  std::vector<uint8_t> dq_codes;
  std::vector<float> dq_absmax;
  int64_t dq_block = 256;
  float dq_offset = 0;
  size_t bytes() const;  // what a product reads: codes, scales or absmax codes and blocks, zeros
};

// Validates (sizes, code ranges, group a multiple of the chunk, dq blocks) and repacks. Throws
// std::invalid_argument naming `name` and what was expected.
WoLayout pack_wo(const WoSource& w, const std::string& name = "matrix");

// The value of weight (r, k), k < the padded row's length, as the kernel decodes it (double; the INT8 integer times the scale, the FP8 value
// times its scale, the NF4 level times the absmax, with the double-quantized absmax computed as float32 the
// way the kernel does).
double wo_weight(const WoLayout& l, int64_t r, int64_t k);
// The host reference: y[m][n] = Σ_k wo_weight(n, k)·x[m][k] in double over the activations' float values.
void wo_reference(const WoLayout& l, const float* x, int64_t m, double* y);

inline constexpr int kWoVersions = 7;  // kernel versions of the lab (wo_gemv.cu)
// the fastest measured on the H200 for each format (docs/kernels-cuda.md): what version 0 runs
constexpr int wo_default_version(WoFormat f) { return f == WoFormat::nf4 ? 3 : 5; }

// The layout on the device (CUDA builds only; wo_gemv.cu). Products are asynchronous on `stream`.
class WoMatrix {
 public:
  explicit WoMatrix(const WoLayout& l);
  ~WoMatrix();
  WoMatrix(const WoMatrix&) = delete;
  WoMatrix& operator=(const WoMatrix&) = delete;
  WoMatrix& operator=(WoMatrix&&) = delete;
  WoMatrix(WoMatrix&& o) noexcept;
  WoMatrix clone() const;  // another device copy (benchmarks rotate over copies larger than the L2)
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return bytes_; }
  WoFormat format() const { return format_; }
  // y (m × rows) = x (m × cols, 16-bit `act`) · Wᵀ, device pointers, x rows contiguous. y in float32 when
  // `f32_out`, else in the activations' type (rounded once from the float32 sum). Any m ≥ 1, in passes of
  // at most 4 activation rows (NF4: 2): the kernel is the GEMV of decoding. `version`: a kernel of the lab
  // (1…kWoVersions; 0: wo_default_version(format)).
  void multiply(const void* x, Act act, int64_t m, void* y, bool f32_out, void* stream = nullptr, int version = 0) const;

 private:
  WoMatrix() = default;
  WoFormat format_ = WoFormat::int8;
  int64_t rows_ = 0, cols_ = 0, groups_ = 0, group_ = 0, row_bytes_ = 0, dq_block_ = 256;
  bool asym_ = false, dq_ = false;
  float dq_offset_ = 0;
  size_t bytes_ = 0;
  int sms_ = 1;
  struct Buf {
    void* p = nullptr;
    size_t n = 0;
  };
  Buf codes_, scales_, zeros_, dq_codes_, dq_absmax_;
  void release();
};

}  // namespace vernier::cuda
