// vernier/gptq.hpp — GPTQ (Frantar et al., 2022) on one linear layer: its weights W (out × in), the
// Hessian H = 2/N · Σ x xᵀ of its N calibration inputs (in × in), and an integer scheme → codes.
//
// As the authors' gptq.py does it: dead inputs (H_ii = 0) get H_ii = 1 and their weights 0; H is damped
// by damp · mean(diag H) (raised tenfold, and reported, when the Cholesky factorisation fails); the
// sweep uses the upper Cholesky factor U of H⁻¹; columns are quantized one at a time, each column's
// error (w − q)/U_ii spread over the columns after it in its block of `block` columns at once, and over
// the later blocks in one product per block (lazy batch updates). A group's scale and zero point are
// found when the sweep reaches the group's first column, from the weights as the previous blocks' updates
// left them (gptq.py reads its outer W there). act_order sweeps the columns by decreasing H_ii (the
// groups are then contiguous in that order: QuantizedLinear::perm, GPTQ's g_idx); static_groups fixes
// every group's parameters from the weights before the sweep (with act_order, groups stay in the
// input's order and no permutation is stored).
//
// The grid: asymmetric schemes use vernier's min/max rule (the same as GPTQ's Quantizer: min and max
// widened to include 0, zero = round(−min/s)); symmetric ones use GPTQ's full-range grid, s = 2·absmax /
// (2^b − 1) with codes −2^(b−1) … 2^(b−1) − 1 — one level more than vernier's RTN grid (absmax /
// (2^(b−1) − 1), codes ±(2^(b−1) − 1)), which vernier's symmetric formats store just the same. Scales are
// rounded to the scheme's scale precision before the codes are chosen. With H = I (no correlation)
// GPTQ reduces to round to nearest on its grid: the same codes as quantize() for asymmetric schemes.
#pragma once

#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <vector>

#include "vernier/quantize.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

struct GptqOptions {
  double damp = 0.01;         // fraction of mean(diag H) added to the diagonal (gptq.py's percdamp)
  int64_t block = 128;        // columns per lazy batch update (gptq.py's blocksize)
  bool act_order = false;     // sweep columns by decreasing H_ii (desc_act)
  bool static_groups = false; // group parameters from the weights before the sweep
  int threads = 1;            // for the BLAS products (OpenBLAS's own threads)
};

struct GptqResult {
  QuantizedLinear w;            // the codes; w.perm with act_order (and no static groups)
  std::vector<uint8_t> blocks;  // gptq_quantize_ggml: the GGML rows
  std::vector<float> values;    // the quantized weights as float32 (rows × cols, the input's order)
  double damp = 0;              // the damping fraction used (> options.damp when it was raised)
  int damp_raises = 0;
  int64_t dead_columns = 0;     // inputs that never fired (H_ii = 0): weights set to 0
  // tr((W − Ŵ) H (W − Ŵ)ᵀ) with the undamped H (dead columns included with H_ii = 0): N/2 times the
  // layer's output error ‖(W − Ŵ)·X‖² over the calibration set, for GPTQ's Ŵ and for round to nearest
  // with the same target (quantize(); for GGML types llama.cpp's quantizer with diag H as importance).
  double loss = 0, rtn_loss = 0;
};

// One input group's Hessian, factorised for every layer that reads that input (Q/K/V share one, as do
// gate/up). It lives in the caller's n × n buffer, which it takes over: the upper Cholesky factor U of
// the damped H⁻¹ (H⁻¹ = Uᵀ U, in the sweep's column order) in the strict upper triangle, H itself (in
// that order, undamped) in the lower triangle and diagonal, U's diagonal beside — one Hessian's memory
// for both. The factorisation works on the upper triangle only (LAPACK's column-major lower routines,
// which copy nothing), so H survives every damping raise.
struct GptqHessian {
  int64_t n = 0;
  std::span<float> buf;          // the caller's n × n buffer
  std::vector<float> u_diag;     // U's diagonal
  std::vector<float> h_diag;     // H's diagonal in the input's order (0 for dead inputs)
  std::vector<int32_t> perm;     // swept column k is input column perm[k] (act order), else the identity
  double damp = 0;
  int damp_raises = 0;
  int64_t dead_columns = 0;
};
// Factorises h (n × n, symmetric: hessian_symmetrize) in place, with opt's damping, act order and
// threads. Throws a bad_input Error naming `name` for a non-finite entry, a size mismatch, or an H
// that stays indefinite with the damping raised to 100 × mean(diag H).
GptqHessian gptq_factorise(std::span<float> h, int64_t n, const GptqOptions& opt, const std::string& name);

// Called with rows [r0, r1) of W once they have been read and will not be for a while: a pipeline
// whose W is a mapped file lets their pages go (W is read twice — copied into the sweep's working copy
// at the start, then a few rows at a time for the losses — and so resident once, beside the copy).
using GptqRowsRead = std::function<void(int64_t r0, int64_t r1)>;

// Throws a usage Error for a scheme GPTQ does not quantize (not an integer format, per tensor) and a
// bad_input Error naming the tensor for NaN/Inf in W, or an H of another width. opt must be the
// options h was factorised with.
GptqResult gptq_quantize(const TensorView& w, const GptqHessian& h, const Scheme& s, const GptqOptions& opt,
                         const GptqRowsRead& rows_read = {});
// The same, factorising a copy of `hessian` (n × n, symmetric) first.
GptqResult gptq_quantize(const TensorView& w, std::span<const float> hessian, const Scheme& s, const GptqOptions& opt);

// GPTQ into one of llama.cpp's GGML block types (Q4_0 … Q8_0, Q2_K … Q6_K, IQ4_NL, IQ4_XS: the types
// whose registry row has `codes`). A block is a group: when the sweep reaches its first column, its
// scales (and mins) come from llama.cpp's own rule for the type (its importance-weighted scale search,
// with diag H as the importance, as llama.cpp's imatrix — the same statistic up to a constant factor)
// applied to the row's error-updated values of the block; the block's codes then come from the sweep,
// each the nearest level under those stored scales. Result: `blocks` (rows × the type's row bytes,
// an ordinary llama.cpp row), w left empty; rtn_loss is that of llama.cpp's quantizer with the same
// importance (imatrix RTN). act_order needs static_groups (a GGUF row has no column permutation).
// Throws a usage Error for a type without codes or rows that are not whole blocks.
GptqResult gptq_quantize_ggml(const TensorView& w, const GptqHessian& h, GgmlType type, const GptqOptions& opt,
                              const GptqRowsRead& rows_read = {});
GptqResult gptq_quantize_ggml(const TensorView& w, std::span<const float> hessian, GgmlType type, const GptqOptions& opt);
bool gptq_can_make(GgmlType type);

// tr(D H Dᵀ) for D = a − b (rows × cols each), H cols × cols.
double hessian_loss(const float* a, const float* b, int64_t rows, int64_t cols, std::span<const float> hessian);

// H += 2/total · Xᵀ X for x (n × cols, row-major): one rank-n update (BLAS syrk) into the upper
// triangle; call hessian_symmetrize once all batches are in. `total` is the number of rows of every
// batch together.
void hessian_accumulate(std::span<float> hessian, const float* x, int64_t n, int64_t cols, int64_t total);
void hessian_symmetrize(std::span<float> hessian, int64_t cols);

}  // namespace vernier
