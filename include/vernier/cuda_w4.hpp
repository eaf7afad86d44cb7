// vernier/cuda_w4.hpp — W4A16 on the GPU: 4-bit integer weights (symmetric or with zero points, groups of
// 32k values or one per row, act order) times 16-bit activations (bfloat16 or FP16), float32 accumulation.
//
// Two halves. The layout (pure C++, no CUDA: `pack_w4_tiles`, built and tested everywhere) takes a matrix in
// the plain form every checkpoint layout vernier reads decodes to — one code u ∈ [0, 15] per weight, the
// weight being scale · (u − zero) — and reorders it once into the kernel's own tiles, so that the hot loop
// reads the codes as one stream of 16-byte loads, each lane's load already in the order the tensor cores
// want its fragments (as Marlin does for its kernel). The kernel (`W4Matrix`, CUDA only) multiplies.
//
// The tiles (docs/kernels-cuda.md has the picture):
//   codes  [row tile of 16 rows][chunk of 64 columns][lane 0..31][4 words]: word t of lane l = 4g + i holds
//          the 8 codes of lane l's A fragment of mma.m16n8k16 step t, for rows g and g + 8 and the physical
//          columns 64c + 32(t >> 1) + 8i + 4(t & 1) + {0, 1, 2, 3} (the fragment's logical k order is a
//          permutation of those; the activations are read in the same permutation, so each lane reads its
//          x as two 16-byte vectors per chunk). Nibble r of a word is fragment element 2r, nibble r + 4
//          element 2r + 1, so that (word >> 4r) & 0x000F000F | magic is the r-th register's pair.
//   scales [row tile][group][8 words]: word g = FP16 pair (scale of row g, scale of row g + 8).
//   zeros  [row tile][group]: 64 bits, nibble p = zero point of row p of the tile (absent when symmetric).
// Rows are padded to a multiple of 16 and columns to a multiple of 64 with weights of value zero.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace vernier::cuda {

// A 4-bit matrix, plainly: what the repack reads.
struct W4Source {
  int64_t rows = 0, cols = 0;   // N outputs × K inputs
  int64_t group = 0;            // values per group along a row (a multiple of 32), or 0 for one group per row
  std::vector<uint8_t> codes;   // rows × cols, each u ∈ [0, 15]
  std::vector<float> scales;    // rows × groups; each exactly representable in FP16 (checkpoints store FP16)
  std::vector<uint8_t> zeros;   // rows × groups, each ∈ [0, 15]; empty: symmetric, zero point 8
  std::vector<int32_t> perm;    // act order: column k of codes multiplies input x[perm[k]]; empty: identity
};

struct W4Tiles {
  int64_t rows = 0, cols = 0;       // the source's N and K
  int64_t row_tiles = 0, chunks = 0;  // ⌈N / 16⌉, ⌈K / 64⌉
  int64_t group = 0, groups = 0;    // values per group (K for one per row), groups per row
  bool asym = false;
  std::vector<uint32_t> codes;      // row_tiles × chunks × 32 lanes × 4 words
  std::vector<uint32_t> scales;     // row_tiles × groups × 8 words (FP16 pairs)
  std::vector<uint64_t> zeros;      // row_tiles × groups (asym only)
  std::vector<int32_t> perm;        // as the source's
  size_t bytes() const;             // what the kernel reads per product: codes, scales and zeros
};

// Validates (sizes, code and zero ranges, FP16-exact scales, perm a permutation) and repacks. Throws
// std::invalid_argument naming `name` and what was expected.
W4Tiles pack_w4_tiles(const W4Source& w, const std::string& name = "matrix");

// What the tiles hold for row r and code column k (k in the codes' order): the code, the scale and the
// zero point, read back through the layout's index arithmetic (the tests' inverse of the repack).
struct W4Entry {
  uint8_t code, zero;
  float scale;
};
W4Entry w4_tiles_entry(const W4Tiles& t, int64_t r, int64_t k);

// The host reference: y[m][n] = Σ_k scale·(u − zero)·x[m][perm[k]] in double, x given as float (the
// 16-bit activations' values). The tests compare the kernel with it.
void w4_reference(const W4Source& w, const float* x, int64_t m, double* y);

enum class Act : uint8_t { bf16, f16 };
inline constexpr int kW4Versions = 6;  // the small-m kernel's versions (w4a16_v1.cu, w4a16_v2.cu, w4a16_v3v4.cu)
inline constexpr int kW4Default = 5;   // the fastest measured on the H200 per shape (docs/kernels-cuda.md)

// The tiles on the device (CUDA builds only; w4a16.cu). Products are asynchronous on `stream` (a
// cudaStream_t; nullptr: the default stream).
class W4Matrix {
 public:
  explicit W4Matrix(const W4Tiles& t);
  ~W4Matrix();
  W4Matrix(const W4Matrix&) = delete;
  W4Matrix& operator=(const W4Matrix&) = delete;
  W4Matrix& operator=(W4Matrix&&) = delete;
  // Another copy of the same tiles on the device (benchmarks rotate over copies larger than the L2).
  W4Matrix clone() const;
  W4Matrix(W4Matrix&& o) noexcept;
  int64_t rows() const { return rows_; }
  int64_t cols() const { return cols_; }
  size_t bytes() const { return bytes_; }
  // y (m × rows, row-major) = x (m × cols, row-major, 16-bit `act`) · Wᵀ; y in float32 when `f32_out`, else
  // in the activations' type (rounded to nearest once, from the float32 sum). m ≥ 1; any m runs (in passes
  // of 32 activation rows; the small-m kernel is meant for m ≤ 32). Device pointers. Act order gathers each
  // pass's rows of x into the matrix's scratch first (not safe to call concurrently on one W4Matrix). `version` picks a kernel
  // of the lab (1…kW4Versions; 0: kW4Default); docs/kernels-cuda.md says what each taught.
  void multiply(const void* x, Act act, int64_t m, void* y, bool f32_out, void* stream = nullptr, int version = 0);
  // Version 4's blocks per row tile, planned at construction from the chip's resident slots; tests force
  // other counts (1…64) to cover the split-K path on small matrices. Not while a graph is being captured.
  void force_splits(int splits);

 private:
  W4Matrix() = default;
  int64_t rows_ = 0, cols_ = 0, row_tiles_ = 0, chunks_ = 0, group_ = 0, groups_ = 0;
  bool asym_ = false;
  size_t bytes_ = 0, codes_bytes_ = 0, scales_bytes_ = 0, zeros_bytes_ = 0, perm_bytes_ = 0;
  void* codes_ = nullptr;
  void* scales_ = nullptr;
  void* zeros_ = nullptr;
  void* perm_ = nullptr;
  void* xperm_ = nullptr;  // the gathered activations under act order
  size_t xperm_bytes_ = 0;
  // version 4's split-K: blocks per row tile for [act][f32_out][n-tiles − 1], its workspace and counters
  int splits_[2][2][4] = {};
  void* ws_ = nullptr;
  void* counters_ = nullptr;
  void plan_splits();
  void alloc_splits(int most);
  void alloc_scratch();
  static constexpr int64_t kPassRows = 32;  // activation rows per kernel launch (4 n-tiles of 8)
};

}  // namespace vernier::cuda
