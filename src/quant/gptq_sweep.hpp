// Internal to src/quant: GPTQ's sweep (gptq.hpp), shared by its two kinds of target — vernier's
// integer schemes (gptq.cpp: the grid is each group's scale and zero point) and llama.cpp's GGML block
// types (gptq_ggml.cpp: the grid is each block's stored scales, found by llama.cpp's rule).
//
// A Rule says how the sweep finds a group's parameters and quantizes one value:
//   int64_t len                                   columns per group (a GGML block, or the group size)
//   void find_static(Value)                       every group's parameters at once (static groups);
//                                                 Value(r, c) is weight (r, input column c) before the sweep
//   void find(int64_t i, int64_t end, Value)      the group of swept columns [i, end) (not static);
//                                                 Value(r, k) is weight (r, swept column k) as gptq.py's
//                                                 outer W holds it then
//   float quantize(int64_t i, int64_t c, int64_t r, float x)
//                                                 value r of swept column i (input column c): its code
//                                                 kept, the value returned (what the error update sees)
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <vector>

#include "vernier/gptq.hpp"

namespace vernier::detail {

// One matrix being swept: rows × cols, row-major, columns in the sweep's order, dead inputs zeroed.
// The swept columns become the quantized values, so that at the end it is the layer's new weights.
struct GptqWork {
  int64_t rows = 0, cols = 0;
  std::vector<float> w;
};
// Throws a bad_input Error naming the tensor for NaN/Inf in W or a width other than H's. W is read
// once, a few rows at a time, each chunk given to rows_read once copied (and each row to row_fn,
// when given, before).
GptqWork gptq_work(const TensorView& w, const GptqHessian& h, const GptqRowsRead& rows_read,
                   const std::function<void(int64_t r, const float* row)>& row_fn = {});
// Weight (r, input column c) of the working copy before the sweep: what static groups are found from.
struct InputOrder {
  const GptqWork& wk;
  std::vector<int32_t> at;  // input column c is swept column at[c]
  InputOrder(const GptqWork& w, const GptqHessian& h) : wk(w), at(h.perm.size()) {
    for (size_t k = 0; k < h.perm.size(); ++k) at[static_cast<size_t>(h.perm[k])] = static_cast<int32_t>(k);
  }
  float operator()(int64_t r, int64_t c) const { return wk.w[static_cast<size_t>(r * wk.cols + at[static_cast<size_t>(c)])]; }
};
// The quantized values in the input's order (the permutation undone in place).
std::vector<float> gptq_values(GptqWork&& wk, const GptqHessian& h);
// tr(D H Dᵀ) for D = a − b (rows × n each, the input's order) with h's undamped H, a few rows at a time.
double gptq_loss(const float* a, const float* b, int64_t rows, const GptqHessian& h);

// res.loss (W against res.values) and res.rtn_loss (W against rtn(r0, m, out): rows [r0, r0 + m) by
// round to nearest, into out), one pass over W a few rows at a time, each chunk then given to rows_read.
template <class Rtn>
void gptq_losses(const TensorView& w, const GptqHessian& h, Rtn rtn, const GptqRowsRead& rows_read, GptqResult& res) {
  const int64_t chunk = 256, n = w.cols;
  std::vector<float> back(static_cast<size_t>(std::min(chunk, w.rows) * n));
  for (int64_t r0 = 0; r0 < w.rows; r0 += chunk) {
    const int64_t m = std::min(chunk, w.rows - r0);
    res.loss += gptq_loss(w.data + r0 * n, res.values.data() + r0 * n, m, h);
    rtn(r0, m, back.data());
    res.rtn_loss += gptq_loss(w.data + r0 * n, back.data(), m, h);
    if (rows_read) rows_read(r0, r0 + m);
  }
}

template <class Rule>
void gptq_sweep(GptqWork& wk, const GptqHessian& h, const GptqOptions& opt, Rule& rule) {
  const int64_t rows = wk.rows, n = wk.cols, len = rule.len;
  float* W = wk.w.data();
  const float* U = h.buf.data();
  const auto outer = [W, n](int64_t r, int64_t k) { return W[r * n + k]; };
  std::vector<float> tile(static_cast<size_t>(opt.block * rows)), err(static_cast<size_t>(opt.block * rows));
  for (int64_t i1 = 0; i1 < n; i1 += opt.block) {
    const int64_t i2 = std::min(n, i1 + opt.block), count = i2 - i1;
    // The block's columns one after another (gptq.py's W1): the in-block updates go here, while W keeps
    // them as they were at the block's start — where gptq.py finds a group's parameters (its outer W).
    for (int64_t r = 0; r < rows; ++r) {
      for (int64_t k = 0; k < count; ++k) tile[static_cast<size_t>(k * rows + r)] = W[r * n + i1 + k];
    }
    for (int64_t i = i1; i < i2; ++i) {
      if (!opt.static_groups && i % len == 0) rule.find(i, std::min(n, i + len), outer);
      float* col = tile.data() + (i - i1) * rows;
      float* e = err.data() + (i - i1) * rows;
      const float d = h.u_diag[static_cast<size_t>(i)];
      const int64_t c = h.perm[static_cast<size_t>(i)];
      for (int64_t r = 0; r < rows; ++r) {
        const float v = rule.quantize(i, c, r, col[r]);
        e[r] = (col[r] - v) / d;
        W[r * n + i] = v;  // no later group reads a column the sweep has passed
      }
      for (int64_t j = i + 1; j < i2; ++j) {  // the rest of the block: W1[:, j] -= e · U[i, j]
        cblas_saxpy(static_cast<int>(rows), -U[i * n + j], e, 1, tile.data() + (j - i1) * rows, 1);
      }
    }
    if (i2 < n) {  // later blocks at once: W[:, i2:] -= E · U[i1:i2, i2:]
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(n - i2), static_cast<int>(count), -1.0f,
                  err.data(), static_cast<int>(rows), U + i1 * n + i2, static_cast<int>(n), 1.0f, W + i2, static_cast<int>(n));
    }
  }
}

}  // namespace vernier::detail
