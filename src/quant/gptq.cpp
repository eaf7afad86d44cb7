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
  AsymRange range = AsymRange::with_zero;
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
  g.range = s.range;
  return g;
}

// One row's parameters over [lo, hi] (its group's min and max).
Params params_of(const Grid& g, float lo, float hi) {
  const bool min_max = !g.sym && g.range == AsymRange::min_max;  // AWQ's rule (quantize.hpp)
  if (!min_max) {
    lo = std::min(lo, 0.0f);
    hi = std::max(hi, 0.0f);
  }
  Params p;
  if (g.sym) {  // GPTQ's full-range symmetric grid: s = 2·absmax / (2^b − 1)
    const float amax = std::max(-lo, hi);
    p.scale = detail::store_scale(2.0f * amax / static_cast<float>((1 << g.bits) - 1), g.scale_type);
    p.inv = detail::inverse_scale(p.scale);
    p.zero = 0;
  } else {  // vernier's (and GPTQ's) min/max rule, computed as quantize_affine computes it
    p.scale = detail::store_scale((min_max ? std::max(hi - lo, 1e-5f) : hi - lo) / static_cast<float>(g.qmax), g.scale_type);
    p.inv = detail::inverse_scale(p.scale);
    p.zero = std::clamp(detail::round_to_int(-lo * p.inv, Rounding::nearest_even), 0, g.qmax);
  }
  return p;
}

int32_t code_of(const Grid& g, const Params& p, float x) {
  return std::clamp(detail::round_to_int(x * p.inv, Rounding::nearest_even) + p.zero, g.qmin, g.qmax);
}
float value_of(const Params& p, int32_t q) { return static_cast<float>(q - p.zero) * p.scale; }

// Parameters of every row for the columns [c0, c1), weight (r, k) at value(r, k).
template <class Value>
void find_params(const Grid& g, int64_t rows, int64_t c0, int64_t c1, Value value, Params* out) {
  for (int64_t r = 0; r < rows; ++r) {
    float lo = value(r, c0), hi = lo;
    for (int64_t c = c0 + 1; c < c1; ++c) {
      const float v = value(r, c);
      lo = std::min(lo, v);
      hi = std::max(hi, v);
    }
    out[r] = params_of(g, lo, hi);
  }
}

// The integer schemes' rule (gptq_sweep.hpp): a scale and zero point per row and group, found from
// the group's min and max; each code written straight into its packed row (pack.hpp's LSB-first
// stream), at its swept column under act order (held with the permutation), else at its input column.
struct IntegerRule {
  Grid grid;
  int64_t len = 0, rows = 0, cols = 0, gpr = 0;
  bool is_static = false, keep_perm = false;
  std::vector<Params> fixed;    // static groups: by input group
  std::vector<Params> group;    // otherwise: by swept group
  std::vector<Params> current;  // the swept group's
  uint8_t* codes = nullptr;     // rows × row_bytes, zeroed
  int64_t row_bytes = 0;
  int32_t store_offset = 0;     // a uintB symmetric store holds code + 2^(b−1)

  void put(int64_t r, int64_t k, int32_t code) const {
    const auto v = static_cast<uint32_t>(code + store_offset) & ((1u << grid.bits) - 1);
    uint8_t* row = codes + r * row_bytes;
    if (grid.bits == 8) {
      row[k] = static_cast<uint8_t>(v);
      return;
    }
    const int64_t bit = k * grid.bits, byte = bit / 8;
    const int shift = static_cast<int>(bit % 8);
    row[byte] = static_cast<uint8_t>(row[byte] | (v << shift));
    if (shift + grid.bits > 8) row[byte + 1] = static_cast<uint8_t>(row[byte + 1] | (v >> (8 - shift)));
  }

  template <class Value>
  void find_static(Value value) {
    fixed.resize(static_cast<size_t>(gpr * rows));
    for (int64_t g = 0; g < gpr; ++g) find_params(grid, rows, g * len, std::min(cols, (g + 1) * len), value, &fixed[static_cast<size_t>(g * rows)]);
  }
  template <class Value>
  void find(int64_t i, int64_t end, Value value) {
    find_params(grid, rows, i, end, value, current.data());
    std::copy(current.begin(), current.end(), group.begin() + (i / len) * rows);
  }
  float quantize(int64_t i, int64_t c, int64_t r, float x) {
    const Params& p = is_static ? fixed[static_cast<size_t>((c / len) * rows + r)] : current[static_cast<size_t>(r)];
    const int32_t code = code_of(grid, p, x);
    put(r, keep_perm ? i : c, code);
    return value_of(p, code);
  }
};

// H with its diagonal replaced by `diag` (+ damp · mean) into the row-major upper triangle, from the
// lower one (which the factorisation never touches), then U with H⁻¹ = Uᵀ U in the upper triangle:
// row-major upper is column-major lower, so LAPACK's 'L' routines work on it in place without the
// transposed copy LAPACKE makes of a row-major matrix (gptq.py factorises in float32 too). Returns
// false where a factorisation fails (not positive definite at this damping).
bool factorise_upper(float* h, int64_t n, const std::vector<double>& diag, double damp) {
  double mean = 0;
  for (double d : diag) mean += d;
  mean /= static_cast<double>(n);
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i + 1; j < n; ++j) h[i * n + j] = h[j * n + i];
    h[i * n + i] = static_cast<float>(diag[static_cast<size_t>(i)] + damp * mean);
  }
  const auto N = static_cast<lapack_int>(n);
  if (LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', N, h, N) != 0) return false;  // H = Lᵀ-upper factor
  if (LAPACKE_spotri(LAPACK_COL_MAJOR, 'L', N, h, N) != 0) return false;  // H⁻¹
  if (LAPACKE_spotrf(LAPACK_COL_MAJOR, 'L', N, h, N) != 0) return false;  // H⁻¹ = Uᵀ U
  for (int64_t i = 0; i < n; ++i) {
    for (int64_t j = i; j < n; ++j) {
      if (!std::isfinite(h[i * n + j])) return false;
    }
  }
  return true;
}

// Rows, then columns, of the square matrix h in the order perm (row k ← row perm[k]), in place.
void permute_symmetric(float* h, int64_t n, const std::vector<int32_t>& perm) {
  std::vector<float> row(static_cast<size_t>(n));
  std::vector<bool> done(static_cast<size_t>(n), false);
  for (int64_t s = 0; s < n; ++s) {  // rows, one cycle of the permutation at a time
    if (done[static_cast<size_t>(s)]) continue;
    std::copy_n(h + s * n, n, row.begin());
    int64_t k = s;
    for (;;) {
      done[static_cast<size_t>(k)] = true;
      const int64_t next = perm[static_cast<size_t>(k)];
      if (next == s) {
        std::copy_n(row.begin(), n, h + k * n);
        break;
      }
      std::copy_n(h + next * n, n, h + k * n);
      k = next;
    }
  }
  for (int64_t r = 0; r < n; ++r) {
    float* x = h + r * n;
    for (int64_t k = 0; k < n; ++k) row[static_cast<size_t>(k)] = x[perm[static_cast<size_t>(k)]];
    std::copy_n(row.begin(), n, x);
  }
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

GptqHessian gptq_factorise(std::span<float> h, int64_t n, const GptqOptions& opt, const std::string& name) {
  if (n < 1 || h.size() != static_cast<size_t>(n * n)) {
    throw_bad_input("tensor '" + name + "': a Hessian of " + std::to_string(h.size()) + " values, expected " + std::to_string(n) + " × " +
                    std::to_string(n));
  }
  for (float v : h) {
    if (!std::isfinite(v)) throw_bad_input("tensor '" + name + "': its calibration Hessian has a non-finite entry (NaN or Inf in the activations?)");
  }
  if (opt.block < 1) throw_usage("GPTQ block size must be at least 1");
  openblas_set_num_threads(std::max(1, opt.threads));
  GptqHessian f;
  f.n = n;
  f.buf = h;
  f.h_diag.resize(static_cast<size_t>(n));
  std::vector<double> diag(static_cast<size_t>(n));  // dead inputs (H_ii = 0) at 1
  for (int64_t c = 0; c < n; ++c) {
    f.h_diag[static_cast<size_t>(c)] = h[static_cast<size_t>(c * n + c)];
    diag[static_cast<size_t>(c)] = f.h_diag[static_cast<size_t>(c)] == 0.0f ? 1.0 : f.h_diag[static_cast<size_t>(c)];
    f.dead_columns += f.h_diag[static_cast<size_t>(c)] == 0.0f;
  }
  f.perm.resize(static_cast<size_t>(n));
  std::iota(f.perm.begin(), f.perm.end(), 0);
  if (opt.act_order) {  // columns by decreasing H_ii
    std::stable_sort(f.perm.begin(), f.perm.end(),
                     [&](int32_t a, int32_t b) { return diag[static_cast<size_t>(a)] > diag[static_cast<size_t>(b)]; });
    permute_symmetric(h.data(), n, f.perm);
  }
  std::vector<double> swept(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) swept[static_cast<size_t>(k)] = diag[static_cast<size_t>(f.perm[static_cast<size_t>(k)])];
  double damp = opt.damp;
  while (!factorise_upper(h.data(), n, swept, damp)) {
    damp = damp > 0 ? damp * 10 : 0.01;
    ++f.damp_raises;
    if (damp > 100) throw_bad_input("tensor '" + name + "': its calibration Hessian stays indefinite with damping 100 × mean(diag H)");
  }
  f.damp = damp;
  // U's diagonal beside, H's own diagonal back in place: the lower triangle is H again (undamped)
  f.u_diag.resize(static_cast<size_t>(n));
  for (int64_t k = 0; k < n; ++k) {
    f.u_diag[static_cast<size_t>(k)] = h[static_cast<size_t>(k * n + k)];
    h[static_cast<size_t>(k * n + k)] = f.h_diag[static_cast<size_t>(f.perm[static_cast<size_t>(k)])];
  }
  return f;
}

namespace detail {

GptqWork gptq_work(const TensorView& w, const GptqHessian& h, const GptqRowsRead& rows_read,
                   const std::function<void(int64_t r, const float* row)>& row_fn) {
  const std::string name(w.name);
  if (w.cols != h.n) {
    throw_bad_input("tensor '" + name + "': rows of " + std::to_string(w.cols) + " inputs, its calibration Hessian is " + std::to_string(h.n) +
                    " wide");
  }
  GptqWork wk;
  wk.rows = w.rows;
  wk.cols = w.cols;
  wk.w.resize(static_cast<size_t>(w.rows * w.cols));
  const int64_t chunk = 256;
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* src = w.data + r * w.cols;
    float* dst = wk.w.data() + r * w.cols;
    if (row_fn) row_fn(r, src);
    for (int64_t k = 0; k < w.cols; ++k) {
      const int32_t c = h.perm[static_cast<size_t>(k)];
      if (!std::isfinite(src[c])) throw_bad_input("tensor '" + name + "': weight " + std::to_string(r * w.cols + c) + " is not finite");
      dst[k] = h.h_diag[static_cast<size_t>(c)] == 0.0f ? 0.0f : src[c];  // a dead input's weights are 0
    }
    if (rows_read && ((r + 1) % chunk == 0 || r + 1 == w.rows)) rows_read(r / chunk * chunk, r + 1);
  }
  return wk;
}

std::vector<float> gptq_values(GptqWork&& wk, const GptqHessian& h) {
  std::vector<float> v = std::move(wk.w);
  bool identity = true;
  for (int64_t k = 0; k < wk.cols; ++k) identity = identity && h.perm[static_cast<size_t>(k)] == k;
  if (identity) return v;
  std::vector<float> row(static_cast<size_t>(wk.cols));
  for (int64_t r = 0; r < wk.rows; ++r) {
    float* x = v.data() + r * wk.cols;
    for (int64_t k = 0; k < wk.cols; ++k) row[static_cast<size_t>(h.perm[static_cast<size_t>(k)])] = x[k];
    std::copy(row.begin(), row.end(), x);
  }
  return v;
}

double gptq_loss(const float* a, const float* b, int64_t rows, const GptqHessian& h) {
  const int64_t n = h.n, chunk = 64;
  std::vector<float> d(static_cast<size_t>(chunk * n)), dh(static_cast<size_t>(chunk * n));
  double loss = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += chunk) {
    const int64_t m = std::min(chunk, rows - r0);
    for (int64_t r = 0; r < m; ++r) {
      for (int64_t k = 0; k < n; ++k) {
        const size_t at = static_cast<size_t>((r0 + r) * n + h.perm[static_cast<size_t>(k)]);
        d[static_cast<size_t>(r * n + k)] = a[at] - b[at];
      }
    }
    // D·H from H's lower triangle (the upper one holds U)
    cblas_ssymm(CblasRowMajor, CblasRight, CblasLower, static_cast<int>(m), static_cast<int>(n), 1.0f, h.buf.data(), static_cast<int>(n),
                d.data(), static_cast<int>(n), 0.0f, dh.data(), static_cast<int>(n));
    for (int64_t i = 0; i < m * n; ++i) loss += static_cast<double>(d[static_cast<size_t>(i)]) * dh[static_cast<size_t>(i)];
  }
  return loss;
}

}  // namespace detail

GptqResult gptq_quantize(const TensorView& w, std::span<const float> hessian, const Scheme& s, const GptqOptions& opt) {
  std::vector<float> h(hessian.begin(), hessian.end());
  const GptqHessian f = gptq_factorise(h, w.cols, opt, std::string(w.name));
  return gptq_quantize(w, f, s, opt);
}

GptqResult gptq_quantize(const TensorView& w, const GptqHessian& h, const Scheme& s, const GptqOptions& opt, const GptqRowsRead& rows_read) {
  validate(s);
  const FormatInfo& f = format_info(s.format);
  if (f.kind != FormatKind::integer || s.granularity == Granularity::per_tensor) {
    throw_usage("GPTQ quantizes integer schemes per channel or per group; " + describe(s) + " is not one");
  }
  const int64_t rows = w.rows, cols = w.cols;
  detail::GptqWork wk = detail::gptq_work(w, h, rows_read);
  GptqResult res;
  QuantizedTensor& out = res.w.q;
  out.scheme = s;
  out.rows = rows;
  out.cols = cols;
  out.row_bytes = packed_bytes(cols, f.bits);
  out.codes.assign(static_cast<size_t>(rows * out.row_bytes), 0);
  IntegerRule rule;
  rule.grid = grid_of(s);
  rule.len = s.granularity == Granularity::per_group ? s.group_size : cols;
  rule.rows = rows;
  rule.cols = cols;
  rule.gpr = (cols + rule.len - 1) / rule.len;
  rule.is_static = opt.static_groups;
  // act order without static groups: the codes stay in the swept order, groups contiguous in it
  const bool keep_perm = opt.act_order && !opt.static_groups;
  rule.keep_perm = keep_perm;
  rule.group.resize(static_cast<size_t>(rule.gpr * rows));
  rule.current.resize(static_cast<size_t>(rows));
  rule.codes = out.codes.data();
  rule.row_bytes = out.row_bytes;
  rule.store_offset = rule.grid.sym && !f.is_signed ? (1 << (f.bits - 1)) : 0;
  // static groups: every group's parameters from the weights as they are, in the input's order
  if (opt.static_groups) rule.find_static(detail::InputOrder(wk, h));
  detail::gptq_sweep(wk, h, opt, rule);

  res.damp = h.damp;
  res.damp_raises = h.damp_raises;
  res.dead_columns = h.dead_columns;
  res.values = detail::gptq_values(std::move(wk), h);
  const int64_t gpr = rule.gpr;
  const int64_t groups = s.granularity == Granularity::per_group ? rows * gpr : rows;
  out.scales.resize(static_cast<size_t>(groups));
  if (!rule.grid.sym) out.zero_points.resize(static_cast<size_t>(groups));
  for (int64_t r = 0; r < rows; ++r) {
    for (int64_t g = 0; g < gpr; ++g) {
      const Params& pr = opt.static_groups ? rule.fixed[static_cast<size_t>(g * rows + r)] : rule.group[static_cast<size_t>(g * rows + r)];
      const size_t idx = static_cast<size_t>(s.granularity == Granularity::per_group ? r * gpr + g : r);
      out.scales[idx] = pr.scale;
      if (!rule.grid.sym) out.zero_points[idx] = pr.zero;
    }
  }
  if (keep_perm) res.w.perm = h.perm;

  // round to nearest's groups are row-local: it is made a few rows at a time
  const auto rtn = [&](int64_t r0, int64_t m, float* out) {
    dequantize(quantize(TensorView{w.data + r0 * cols, m, cols, w.name}, s), std::span<float>(out, static_cast<size_t>(m * cols)));
  };
  detail::gptq_losses(w, h, rtn, rows_read, res);
  return res;
}

}  // namespace vernier
