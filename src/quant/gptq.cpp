// GPTQ on one linear layer (gptq.hpp): the preparation and factorisation shared by every target, and
// the integer schemes' rule. The weights are held transposed (one input column contiguous over the
// outputs), so that each column's error update is an axpy and each lazy batch update one GEMM.
#include "vernier/gptq.hpp"

#include <cblas.h>
#include <lapacke.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>
#include <vector>

#include "gptq_sweep.hpp"
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

// The integer schemes' rule (gptq_sweep.hpp): a scale and zero point per row and group, found from
// the group's min and max; codes by swept column.
struct IntegerRule {
  Grid grid;
  int64_t len = 0, rows = 0, cols = 0, gpr = 0;
  bool is_static = false;
  std::vector<Params> fixed;    // static groups: by input group
  std::vector<Params> group;    // otherwise: by swept group
  std::vector<Params> current;  // the swept group's
  std::vector<int32_t> q;       // codes, swept column major

  template <class Column>
  void find_static(Column column) {
    fixed.resize(static_cast<size_t>(gpr * rows));
    for (int64_t g = 0; g < gpr; ++g) find_params(grid, rows, g * len, std::min(cols, (g + 1) * len), column, &fixed[static_cast<size_t>(g * rows)]);
  }
  template <class Column>
  void find(int64_t i, int64_t end, Column column) {
    find_params(grid, rows, i, end, column, current.data());
    std::copy(current.begin(), current.end(), group.begin() + (i / len) * rows);
  }
  float quantize(int64_t i, int64_t c, int64_t r, float x) {
    const Params& p = is_static ? fixed[static_cast<size_t>((c / len) * rows + r)] : current[static_cast<size_t>(r)];
    const int32_t code = code_of(grid, p, x);
    q[static_cast<size_t>(i * rows + r)] = code;
    return value_of(p, code);
  }
};
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

namespace detail {

GptqPrepared gptq_prepare(const TensorView& w, std::span<const float> hessian, const GptqOptions& opt) {
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
  GptqPrepared p;
  p.rows = rows;
  p.cols = cols;
  p.wt.resize(static_cast<size_t>(cols * rows));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t c = 0; c < cols; ++c) p.wt[static_cast<size_t>(c * rows + r)] = w.data[r * cols + c];
  }
  // the Hessian stays the caller's (float): its diagonal here, dead inputs at 1 and their weights 0
  p.diag.resize(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) {
    p.diag[static_cast<size_t>(c)] = hessian[static_cast<size_t>(c * cols + c)];
    if (p.diag[static_cast<size_t>(c)] == 0.0) {
      p.diag[static_cast<size_t>(c)] = 1.0;
      std::fill(p.wt.begin() + c * rows, p.wt.begin() + (c + 1) * rows, 0.0f);
      ++p.dead_columns;
    }
  }
  p.perm.resize(static_cast<size_t>(cols));
  std::iota(p.perm.begin(), p.perm.end(), 0);
  if (opt.act_order) {  // columns by decreasing H_ii
    std::stable_sort(p.perm.begin(), p.perm.end(),
                     [&](int32_t a, int32_t b) { return p.diag[static_cast<size_t>(a)] > p.diag[static_cast<size_t>(b)]; });
  }
  return p;
}

void gptq_factorise(GptqPrepared& p, std::span<const float> hessian, const GptqOptions& opt, const std::string& name) {
  const int64_t rows = p.rows, cols = p.cols;
  if (opt.act_order) {
    std::vector<float> pw(p.wt.size());
    for (int64_t k = 0; k < cols; ++k) std::copy_n(p.wt.begin() + p.perm[static_cast<size_t>(k)] * rows, rows, pw.begin() + k * rows);
    p.wt = std::move(pw);
  }
  double damp = opt.damp;
  while (!inverse_cholesky_upper(hessian, p.perm, p.diag, cols, damp, p.u)) {
    damp = damp > 0 ? damp * 10 : 0.01;
    ++p.damp_raises;
    if (damp > 100) throw_bad_input("tensor '" + name + "': its calibration Hessian stays indefinite with damping 100 × mean(diag H)");
  }
  p.damp = damp;
}

}  // namespace detail

GptqResult gptq_quantize(const TensorView& w, std::span<const float> hessian, const Scheme& s, const GptqOptions& opt) {
  validate(s);
  const FormatInfo& f = format_info(s.format);
  if (f.kind != FormatKind::integer || s.granularity == Granularity::per_tensor) {
    throw_usage("GPTQ quantizes integer schemes per channel or per group; " + describe(s) + " is not one");
  }
  const int64_t rows = w.rows, cols = w.cols;
  detail::GptqPrepared p = detail::gptq_prepare(w, hessian, opt);
  IntegerRule rule;
  rule.grid = grid_of(s);
  rule.len = s.granularity == Granularity::per_group ? s.group_size : cols;
  rule.rows = rows;
  rule.cols = cols;
  rule.gpr = (cols + rule.len - 1) / rule.len;
  rule.is_static = opt.static_groups;
  rule.group.resize(static_cast<size_t>(rule.gpr * rows));
  rule.current.resize(static_cast<size_t>(rows));
  rule.q.resize(static_cast<size_t>(cols * rows));
  // static groups: every group's parameters from the weights as they are, in the input's order
  if (opt.static_groups) rule.find_static([&](int64_t c) { return p.column(c); });
  detail::gptq_factorise(p, hessian, opt, std::string(w.name));
  detail::gptq_sweep(p, opt, rule);

  GptqResult res;
  res.damp = p.damp;
  res.damp_raises = p.damp_raises;
  res.dead_columns = p.dead_columns;
  // the QuantizedTensor: permuted order with contiguous groups, or the input's order
  const bool keep_perm = opt.act_order && !opt.static_groups;
  std::vector<int32_t> where(static_cast<size_t>(cols));  // output column k ← swept column where[k]
  if (keep_perm) {
    std::iota(where.begin(), where.end(), 0);
  } else {
    for (int64_t k = 0; k < cols; ++k) where[static_cast<size_t>(p.perm[static_cast<size_t>(k)])] = static_cast<int32_t>(k);
  }
  QuantizedTensor& out = res.w.q;
  out.scheme = s;
  out.rows = rows;
  out.cols = cols;
  out.row_bytes = packed_bytes(cols, f.bits);
  out.codes.assign(static_cast<size_t>(rows * out.row_bytes), 0);
  const int64_t gpr = rule.gpr;
  const int64_t groups = s.granularity == Granularity::per_group ? rows * gpr : rows;
  out.scales.resize(static_cast<size_t>(groups));
  if (!rule.grid.sym) out.zero_points.resize(static_cast<size_t>(groups));
  const int32_t offset = rule.grid.sym && !f.is_signed ? (1 << (f.bits - 1)) : 0;  // a uintB symmetric store
  std::vector<int32_t> row(static_cast<size_t>(cols));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t k = 0; k < cols; ++k) {
      row[static_cast<size_t>(k)] = rule.q[static_cast<size_t>(where[static_cast<size_t>(k)]) * static_cast<size_t>(rows) + static_cast<size_t>(r)] + offset;
    }
    pack_codes(row.data(), cols, f.bits, out.codes.data() + r * out.row_bytes);
    for (int64_t g = 0; g < gpr; ++g) {
      const Params& pr = opt.static_groups ? rule.fixed[static_cast<size_t>(g * rows + r)] : rule.group[static_cast<size_t>(g * rows + r)];
      const size_t idx = static_cast<size_t>(s.granularity == Granularity::per_group ? r * gpr + g : r);
      out.scales[idx] = pr.scale;
      if (!rule.grid.sym) out.zero_points[idx] = pr.zero;
    }
  }
  if (keep_perm) res.w.perm = p.perm;

  const std::vector<float> mine = dequantize_linear(res.w);
  res.loss = hessian_loss(w.data, mine.data(), rows, cols, hessian);
  const std::vector<float> rtn = dequantize(quantize(w, s));
  res.rtn_loss = hessian_loss(w.data, rtn.data(), rows, cols, hessian);
  return res;
}

}  // namespace vernier
