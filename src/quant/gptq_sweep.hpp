// Internal to src/quant: GPTQ's preparation and sweep (gptq.hpp), shared by its two kinds of target —
// vernier's integer schemes (gptq.cpp: the grid is each group's scale and zero point) and llama.cpp's
// GGML block types (gptq_ggml.cpp: the grid is each block's stored scales, found by llama.cpp's rule).
//
// A Rule says how the sweep finds a group's parameters and quantizes one value:
//   int64_t len                                   columns per group (a GGML block, or the group size)
//   void find_static(Column)                      every group's parameters at once (static groups), from
//                                                 the weights in the input's order
//   void find(int64_t i, int64_t end, Column)     the group starting at swept column i (not static)
//   float quantize(int64_t i, int64_t c, int64_t r, float x)
//                                                 value r of swept column i (input column c): its code
//                                                 kept, the value returned (what the error update sees)
// where Column(k) points to column k's `rows` values (the weights are held transposed).
#pragma once

#include <cblas.h>

#include <algorithm>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "vernier/gptq.hpp"

namespace vernier::detail {

struct GptqPrepared {
  int64_t rows = 0, cols = 0;
  std::vector<float> wt;       // the weights transposed (column k at wt[k·rows …]); swept order once factorised
  std::vector<double> diag;    // H_ii in the input's order, dead inputs at 1
  std::vector<int32_t> perm;   // swept column k is input column perm[k]
  std::vector<float> u;        // upper Cholesky factor of H⁻¹ in the swept order (after gptq_factorise)
  double damp = 0;
  int damp_raises = 0;
  int64_t dead_columns = 0;
  const float* column(int64_t k) const { return wt.data() + k * rows; }
};

// Validates W and H (throws naming the tensor), transposes W, zeroes dead inputs and orders the columns
// (act order: by decreasing H_ii); wt stays in the input's order until gptq_factorise.
GptqPrepared gptq_prepare(const TensorView& w, std::span<const float> hessian, const GptqOptions& opt);
// Applies the column order to wt and factorises the damped H⁻¹, raising the damping tenfold while the
// factorisation fails (throws past 100 × mean(diag H)).
void gptq_factorise(GptqPrepared& p, std::span<const float> hessian, const GptqOptions& opt, const std::string& name);

template <class Rule>
void gptq_sweep(GptqPrepared& p, const GptqOptions& opt, Rule& rule) {
  const int64_t rows = p.rows, cols = p.cols, len = rule.len;
  std::vector<float>& wt = p.wt;
  const std::vector<float>& u = p.u;
  std::vector<float> err(static_cast<size_t>(opt.block * rows)), outer;
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block) {
    const int64_t i2 = std::min(cols, i1 + opt.block), count = i2 - i1;
    // gptq.py finds a group's parameters on its outer W, which this block's own updates do not reach
    // until the block ends (they go to its copy W1): the block's columns as they were at its start
    if (!opt.static_groups && len < cols) outer.assign(wt.begin() + i1 * rows, wt.begin() + i2 * rows);
    const auto outer_column = [&](int64_t c) { return c < i2 ? outer.data() + (c - i1) * rows : wt.data() + c * rows; };
    for (int64_t i = i1; i < i2; ++i) {
      if (!opt.static_groups && i % len == 0) {
        if (len < cols) {
          rule.find(i, std::min(cols, i + len), outer_column);
        } else {  // per channel: the one group is found at the first column, before any update
          rule.find(0, cols, [&](int64_t c) { return wt.data() + c * rows; });
        }
      }
      float* col = wt.data() + i * rows;
      const float d = u[static_cast<size_t>(i * cols + i)];
      const int64_t c = p.perm[static_cast<size_t>(i)];
      float* e = err.data() + (i - i1) * rows;
      for (int64_t r = 0; r < rows; ++r) e[r] = (col[r] - rule.quantize(i, c, r, col[r])) / d;
      for (int64_t j = i + 1; j < i2; ++j) {  // the rest of the block: W[:, j] -= e · U[i, j]
        cblas_saxpy(static_cast<int>(rows), -u[static_cast<size_t>(i * cols + j)], e, 1, wt.data() + j * rows, 1);
      }
    }
    if (i2 < cols) {  // later blocks at once: Wt[i2:, :] -= U[i1:i2, i2:]ᵀ · E
      cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(cols - i2), static_cast<int>(rows), static_cast<int>(count), -1.0f,
                  u.data() + i1 * cols + i2, static_cast<int>(cols), err.data(), static_cast<int>(rows), 1.0f, wt.data() + i2 * rows,
                  static_cast<int>(rows));
    }
  }
}

}  // namespace vernier::detail
