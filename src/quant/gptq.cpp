// GPTQ on one linear layer (gptq.hpp). The weights are held transposed (one input column contiguous
// over the outputs), so that each column's error update is an axpy and each lazy batch update one GEMM.
#include "vernier/gptq.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "internal.hpp"
#include "vernier/error.hpp"
#include "vernier/pack.hpp"

namespace vernier {

namespace {
struct Grid {
  int bits = 4;
  bool sym = false;
  int32_t qmin = 0, qmax = 15;
  ScaleType scale_type = ScaleType::f32;
};
struct Params {
  float scale = 0, inv = 0;
  int32_t zero = 0;
};

Grid grid_of(const Scheme& s) {
  const FormatInfo& f = format_info(s.format);
  Grid g;
  g.bits = f.bits;
  g.sym = s.mode == AffineMode::symmetric;
  g.qmin = g.sym ? -(1 << (f.bits - 1)) : 0;
  g.qmax = g.sym ? (1 << (f.bits - 1)) - 1 : (1 << f.bits) - 1;
  g.scale_type = s.scale_type;
  return g;
}

// One row's parameters over [lo, hi] (its group's min and max).
Params params_of(const Grid& g, float lo, float hi) {
  lo = std::min(lo, 0.0f);
  hi = std::max(hi, 0.0f);
  Params p;
  if (g.sym) {  // GPTQ's full-range symmetric grid: s = 2·absmax / (2^b − 1)
    const float amax = std::max(-lo, hi);
    p.scale = detail::store_scale(2.0f * amax / static_cast<float>((1 << g.bits) - 1), g.scale_type);
    p.inv = detail::inverse_scale(p.scale);
    p.zero = 0;
  } else {  // vernier's (and GPTQ's) min/max rule, computed as quantize_affine computes it
    p.scale = detail::store_scale((hi - lo) / static_cast<float>(g.qmax), g.scale_type);
    p.inv = detail::inverse_scale(p.scale);
    p.zero = std::clamp(detail::round_to_int(-lo * p.inv, Rounding::nearest_even), 0, g.qmax);
  }
  return p;
}

int32_t code_of(const Grid& g, const Params& p, float x) {
  return std::clamp(detail::round_to_int(x * p.inv, Rounding::nearest_even) + p.zero, g.qmin, g.qmax);
}
float value_of(const Params& p, int32_t q) { return static_cast<float>(q - p.zero) * p.scale; }

// Parameters of every row for the columns [c0, c1), column c at column(c) (rows values).
template <class Column>
void find_params(const Grid& g, int64_t rows, int64_t c0, int64_t c1, Column column, Params* out) {
  std::vector<float> lo(column(c0), column(c0) + rows), hi(lo);
  for (int64_t c = c0 + 1; c < c1; ++c) {
    const float* col = column(c);
    for (int64_t r = 0; r < rows; ++r) {
      lo[static_cast<size_t>(r)] = std::min(lo[static_cast<size_t>(r)], col[r]);
      hi[static_cast<size_t>(r)] = std::max(hi[static_cast<size_t>(r)], col[r]);
    }
  }
  for (int64_t r = 0; r < rows; ++r) out[r] = params_of(g, lo[static_cast<size_t>(r)], hi[static_cast<size_t>(r)]);
}

// U with H⁻¹ = Uᵀ U (upper, row-major) for the Hessian in the sweep's column order (row k is input
// perm[k]), its diagonal replaced by `diag` (dead inputs at 1) plus damp·mean(diag), factorised in
// float32 in u itself (gptq.py factorises in float32 too; one n × n buffer besides the caller's H).
// Returns false where a factorisation fails (not positive definite at this damping).
bool inverse_cholesky_upper(std::span<const float> h, const std::vector<int32_t>& perm, const std::vector<double>& diag, int64_t n,
                            double damp, std::vector<float>& u) {
  double mean = 0;
  for (double d : diag) mean += d;
  mean /= static_cast<double>(n);
  u.assign(static_cast<size_t>(n * n), 0.0f);
  for (int64_t k = 0; k < n; ++k) {
    const auto pk = static_cast<size_t>(perm[static_cast<size_t>(k)]);
    for (int64_t j = 0; j <= k; ++j) u[static_cast<size_t>(k * n + j)] = h[pk * static_cast<size_t>(n) + static_cast<size_t>(perm[static_cast<size_t>(j)])];
    u[static_cast<size_t>(k * n + k)] = static_cast<float>(diag[pk] + damp * mean);
  }
  const auto N = static_cast<lapack_int>(n);
  if (LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'L', N, u.data(), N) != 0) return false;
  if (LAPACKE_spotri(LAPACK_ROW_MAJOR, 'L', N, u.data(), N) != 0) return false;  // H⁻¹, lower triangle
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) u[static_cast<size_t>(i * n + j)] = u[static_cast<size_t>(j * n + i)];
  }
  if (LAPACKE_spotrf(LAPACK_ROW_MAJOR, 'U', N, u.data(), N) != 0) return false;
  for (int64_t i = 1; i < n; ++i) std::fill_n(u.begin() + i * n, i, 0.0f);  // the strict lower part
  return std::all_of(u.begin(), u.end(), [](float v) { return std::isfinite(v); });
}
}  // namespace

double hessian_loss(const float* a, const float* b, int64_t rows, int64_t cols, std::span<const float> h) {
  std::vector<float> d(static_cast<size_t>(rows * cols)), dh(static_cast<size_t>(rows * cols));
  for (size_t i = 0; i < d.size(); ++i) d[i] = a[i] - b[i];
  cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(cols), 1.0f,
              d.data(), static_cast<int>(cols), h.data(), static_cast<int>(cols), 0.0f, dh.data(), static_cast<int>(cols));
  double loss = 0;
  for (size_t i = 0; i < d.size(); ++i) loss += static_cast<double>(d[i]) * dh[i];
  return loss;
}

void hessian_accumulate(std::span<float> h, const float* x, int64_t n, int64_t cols, int64_t total) {
  if (n <= 0) return;
  if (h.size() != static_cast<size_t>(cols * cols)) throw_usage("hessian_accumulate: a Hessian of the wrong size");
  cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(cols), static_cast<int>(n), 2.0f / static_cast<float>(total), x,
              static_cast<int>(cols), 1.0f, h.data(), static_cast<int>(cols));
}

void hessian_symmetrize(std::span<float> h, int64_t cols) {
  for (int64_t i = 0; i < cols; ++i) {
    for (int64_t j = i + 1; j < cols; ++j) h[static_cast<size_t>(j * cols + i)] = h[static_cast<size_t>(i * cols + j)];
  }
}

GptqResult gptq_quantize(const TensorView& w, std::span<const float> hessian, const Scheme& s, const GptqOptions& opt) {
  validate(s);
  const FormatInfo& f = format_info(s.format);
  if (f.kind != FormatKind::integer || s.granularity == Granularity::per_tensor) {
    throw_usage("GPTQ quantizes integer schemes per channel or per group; " + describe(s) + " is not one");
  }
  const int64_t rows = w.rows, cols = w.cols;
  const std::string name(w.name);
  if (hessian.size() != static_cast<size_t>(cols * cols)) {
    throw_bad_input("tensor '" + name + "': a Hessian of " + std::to_string(hessian.size()) + " values, expected " +
                    std::to_string(cols) + " × " + std::to_string(cols));
  }
  for (int64_t i = 0; i < rows * cols; ++i) {
    if (!std::isfinite(w.data[i])) throw_bad_input("tensor '" + name + "': weight " + std::to_string(i) + " is not finite");
  }
  for (size_t i = 0; i < hessian.size(); ++i) {
    if (!std::isfinite(hessian[i])) {
      throw_bad_input("tensor '" + name + "': its calibration Hessian has a non-finite entry (NaN or Inf in the activations?)");
    }
  }
  if (opt.block < 1) throw_usage("GPTQ block size must be at least 1");
  openblas_set_num_threads(std::max(1, opt.threads));
  const Grid grid = grid_of(s);
  const int64_t len = s.granularity == Granularity::per_group ? s.group_size : cols;  // columns per group
  const int64_t gpr = (cols + len - 1) / len;
  GptqResult res;

  // transposed weights (column c at wt[c·rows …]) and H in double; dead inputs
  std::vector<float> wt(static_cast<size_t>(cols * rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) wt[static_cast<size_t>(c * rows + r)] = w.data[r * cols + c];
  }
  // the Hessian stays the caller's (float): its diagonal here, dead inputs at 1
  std::vector<double> diag(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    diag[static_cast<size_t>(c)] = hessian[static_cast<size_t>(c * cols + c)];
    if (diag[static_cast<size_t>(c)] == 0.0) {
      diag[static_cast<size_t>(c)] = 1.0;
      std::fill(wt.begin() + c * rows, wt.begin() + (c + 1) * rows, 0.0f);
      ++res.dead_columns;
    }
  }
  // static groups: every group's parameters from the weights as they are, in the input's order
  std::vector<Params> fixed;
  if (opt.static_groups) {
    fixed.resize(static_cast<size_t>(gpr * rows));
    const auto column = [&](int64_t c) { return wt.data() + c * rows; };
    for (int64_t g = 0; g < gpr; ++g) find_params(grid, rows, g * len, std::min(cols, (g + 1) * len), column, &fixed[static_cast<size_t>(g * rows)]);
  }
  // act order: columns by decreasing H_ii
  std::vector<int32_t> perm(static_cast<size_t>(cols));
  std::iota(perm.begin(), perm.end(), 0);
  if (opt.act_order) {
    std::stable_sort(perm.begin(), perm.end(), [&](int32_t a, int32_t b) { return diag[static_cast<size_t>(a)] > diag[static_cast<size_t>(b)]; });
    std::vector<float> pw(wt.size());
    for (int64_t k = 0; k < cols; ++k) std::copy_n(wt.begin() + perm[static_cast<size_t>(k)] * rows, rows, pw.begin() + k * rows);
    wt = std::move(pw);
  }
  std::vector<float> u;
  double damp = opt.damp;
  while (!inverse_cholesky_upper(hessian, perm, diag, cols, damp, u)) {
    damp = damp > 0 ? damp * 10 : 0.01;
    ++res.damp_raises;
    if (damp > 100) throw_bad_input("tensor '" + name + "': its calibration Hessian stays indefinite with damping 100 × mean(diag H)");
  }
  res.damp = damp;

  // the sweep, in blocks of opt.block columns (in the permuted order)
  std::vector<int32_t> q(static_cast<size_t>(cols * rows));                     // codes, permuted order
  std::vector<Params> group(static_cast<size_t>(gpr * rows));                    // non-static: by permuted group
  std::vector<Params> current(static_cast<size_t>(rows));
  std::vector<float> err(static_cast<size_t>(opt.block * rows)), outer;
  for (int64_t i1 = 0; i1 < cols; i1 += opt.block) {
    const int64_t i2 = std::min(cols, i1 + opt.block), count = i2 - i1;
    // gptq.py finds a group's parameters on its outer W, which this block's own updates do not reach
    // until the block ends (they go to its copy W1): the block's columns as they were at its start
    if (!opt.static_groups && len < cols) outer.assign(wt.begin() + i1 * rows, wt.begin() + i2 * rows);
    const auto outer_column = [&](int64_t c) { return c < i2 ? outer.data() + (c - i1) * rows : wt.data() + c * rows; };
    for (int64_t i = i1; i < i2; ++i) {
      if (opt.static_groups) {
        const int64_t g = perm[static_cast<size_t>(i)] / len;
        std::copy_n(fixed.begin() + g * rows, rows, current.begin());
      } else if (i % len == 0) {
        if (len < cols) {
          find_params(grid, rows, i, std::min(cols, i + len), outer_column, current.data());
        } else {  // per channel: the one group is found at the first column, before any update
          find_params(grid, rows, 0, cols, [&](int64_t c) { return wt.data() + c * rows; }, current.data());
        }
        std::copy(current.begin(), current.end(), group.begin() + (i / len) * rows);
      }
      float* col = wt.data() + i * rows;
      const float d = u[static_cast<size_t>(i * cols + i)];
      float* e = err.data() + (i - i1) * rows;
      for (int64_t r = 0; r < rows; ++r) {
        const int32_t c = code_of(grid, current[static_cast<size_t>(r)], col[r]);
        q[static_cast<size_t>(i * rows + r)] = c;
        e[r] = (col[r] - value_of(current[static_cast<size_t>(r)], c)) / d;
      }
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

  // the QuantizedTensor: permuted order with contiguous groups, or the input's order
  const bool keep_perm = opt.act_order && !opt.static_groups;
  std::vector<int32_t> where(static_cast<size_t>(cols));  // output column k ← swept column where[k]
  if (keep_perm) {
    std::iota(where.begin(), where.end(), 0);
  } else {
    for (int64_t k = 0; k < cols; ++k) where[static_cast<size_t>(perm[static_cast<size_t>(k)])] = static_cast<int32_t>(k);
  }
  QuantizedTensor& out = res.w.q;
  out.scheme = s;
  out.rows = rows;
  out.cols = cols;
  out.row_bytes = packed_bytes(cols, f.bits);
  out.codes.assign(static_cast<size_t>(rows * out.row_bytes), 0);
  const int64_t groups = s.granularity == Granularity::per_group ? rows * gpr : rows;
  out.scales.resize(static_cast<size_t>(groups));
  if (!grid.sym) out.zero_points.resize(static_cast<size_t>(groups));
  const int32_t offset = grid.sym && !f.is_signed ? (1 << (f.bits - 1)) : 0;  // a uintB symmetric store
  std::vector<int32_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) row[static_cast<size_t>(k)] = q[static_cast<size_t>(where[static_cast<size_t>(k)]) * static_cast<size_t>(rows) + static_cast<size_t>(r)] + offset;
    pack_codes(row.data(), cols, f.bits, out.codes.data() + r * out.row_bytes);
    for (int64_t g = 0; g < gpr; ++g) {
      const Params& p = opt.static_groups ? fixed[static_cast<size_t>(g * rows + r)] : group[static_cast<size_t>(g * rows + r)];
      const size_t idx = static_cast<size_t>(s.granularity == Granularity::per_group ? r * gpr + g : r);
      out.scales[idx] = p.scale;
      if (!grid.sym) out.zero_points[idx] = p.zero;
    }
  }
  if (keep_perm) res.w.perm = perm;

  const std::vector<float> mine = dequantize_linear(res.w);
  res.loss = hessian_loss(w.data, mine.data(), rows, cols, hessian);
  const std::vector<float> rtn = dequantize(quantize(w, s));
  res.rtn_loss = hessian_loss(w.data, rtn.data(), rows, cols, hessian);
  return res;
}

}  // namespace vernier
