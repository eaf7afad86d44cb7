// AWQ's scale candidates, fake quantization, clip search and the quadratic output loss (awq.hpp).
#include "vernier/awq.hpp"

#include <cblas.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <string>

#include "internal.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"

namespace vernier {

int64_t awq_group_len(const Scheme& s, int64_t cols) {
  if (format_info(s.format).kind != FormatKind::integer) {
    throw_usage("AWQ quantizes to integer schemes (and GGML types); not " + describe(s));
  }
  if (s.granularity == Granularity::per_tensor) throw_usage("AWQ needs per-group or per-channel scales; not " + describe(s));
  return s.granularity == Granularity::per_channel ? cols : std::min(s.group_size, cols);
}

std::vector<float> awq_candidate_scales(std::span<const float> x_mean, std::span<const float> w_mean, float alpha, bool duo) {
  std::vector<float> s(x_mean.size());
  for (size_t i = 0; i < s.size(); ++i) {
    const float xa = std::pow(x_mean[i], alpha);
    s[i] = duo ? std::max(xa / (std::pow(w_mean[i], 1.0f - alpha) + 1e-4f), 1e-4f) : std::max(xa, 1e-4f);
  }
  const auto [lo, hi] = std::minmax_element(s.begin(), s.end());
  const float norm = s.empty() ? 1.0f : std::sqrt(*hi * *lo);
  for (float& v : s) {
    v /= norm;
    if (!std::isfinite(v)) v = 1.0f;  // an overflowing channel is left unscaled, as the authors do
  }
  return s;
}

AwqSearch awq_search_scales(const std::string& what, std::span<const float> x_mean, std::span<const float> w_mean, const AwqOptions& opt,
                            const std::function<double(const std::vector<float>& s)>& loss) {
  AwqSearch best;
  best.loss_after = std::numeric_limits<double>::infinity();
  for (int i = 0; i < opt.grid; ++i) {
    const float alpha = static_cast<float>(i) / static_cast<float>(opt.grid);
    std::vector<float> s = awq_candidate_scales(x_mean, w_mean, alpha, opt.duo);
    const double l = loss(s);
    if (i == 0) best.loss_before = l;
    if (l < best.loss_after) {  // strictly: the first of equal losses, as the authors keep it
      best.loss_after = l;
      best.alpha = alpha;
      best.s = std::move(s);
    }
  }
  if (best.s.empty()) throw_bad_input(what + ": every scale candidate's loss is NaN (non-finite activations or weights)");
  return best;
}

std::vector<float> awq_weight_mean(std::span<const TensorView> ws, int64_t group_len) {
  if (ws.empty()) return {};
  const int64_t cols = ws[0].cols;
  std::vector<double> sum(static_cast<size_t>(cols), 0.0);
  int64_t rows = 0;
  for (const TensorView& w : ws) {
    if (w.cols != cols) throw_usage("awq_weight_mean: matrices of different widths");
    for (int64_t r = 0; r < w.rows; ++r) {
      const float* row = w.data + r * cols;
      for (int64_t c0 = 0; c0 < cols; c0 += group_len) {
        const int64_t c1 = std::min(cols, c0 + group_len);
        float amax = 0;
        for (int64_t c = c0; c < c1; ++c) amax = std::max(amax, std::fabs(row[c]));
        for (int64_t c = c0; c < c1; ++c) sum[static_cast<size_t>(c)] += std::fabs(row[c]) / (amax + 1e-6f);
      }
    }
    rows += w.rows;
  }
  std::vector<float> mean(static_cast<size_t>(cols));
  for (int64_t c = 0; c < cols; ++c) mean[static_cast<size_t>(c)] = static_cast<float>(sum[static_cast<size_t>(c)] / static_cast<double>(rows));
  return mean;
}

void awq_fake_quantize(const TensorView& w, std::span<const float> s, const Scheme& scheme, float* out) {
  const int64_t len = awq_group_len(scheme, w.cols);
  std::vector<float> scaled(static_cast<size_t>(len)), q(static_cast<size_t>(len));
  for (int64_t r = 0; r < w.rows; ++r) {
    const float* row = w.data + r * w.cols;
    float* o = out + r * w.cols;
    for (int64_t c0 = 0; c0 < w.cols; c0 += len) {
      const int64_t n = std::min(len, w.cols - c0);
      for (int64_t k = 0; k < n; ++k) scaled[static_cast<size_t>(k)] = row[c0 + k] * s[static_cast<size_t>(c0 + k)];
      detail::fake_quantize_affine_group(scheme, scaled.data(), n, q.data());
      for (int64_t k = 0; k < n; ++k) o[c0 + k] = q[static_cast<size_t>(k)] / s[static_cast<size_t>(c0 + k)];
    }
  }
}

void scale_columns(float* w, int64_t rows, int64_t cols, std::span<const float> s) {
  for (int64_t r = 0; r < rows; ++r)
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] *= s[static_cast<size_t>(c)];
}

void divide_rows(float* w, int64_t rows, int64_t cols, std::span<const float> s) {
  for (int64_t r = 0; r < rows; ++r) {
    const float d = s[static_cast<size_t>(r)];
    for (int64_t c = 0; c < cols; ++c) w[r * cols + c] /= d;
  }
}

AwqClipResult awq_clip(float* w, int64_t rows, int64_t cols, const float* x, int64_t n, const Scheme& scheme, const AwqOptions& opt,
                       int threads) {
  return awq_clip(w, rows, cols, x, n, awq_group_len(scheme, cols),
                  [&scheme](const float* v, int64_t m, int64_t, float* out) { detail::fake_quantize_affine_group(scheme, v, m, out); }, opt,
                  threads);
}

void awq_fake_quantize_ggml(const TensorView& w, std::span<const float> s, GgmlType type, const float* x2_mean, float* out) {
  const GgmlTypeInfo& ti = ggml_info(type);
  if (w.cols % ti.block_size != 0) {
    throw_usage("tensor '" + std::string(w.name) + "': rows of " + std::to_string(w.cols) + " are not whole " + std::string(ti.name) +
                " blocks of " + std::to_string(ti.block_size));
  }
  std::vector<float> imp;
  if (x2_mean) {
    imp.resize(static_cast<size_t>(w.cols));
    for (int64_t c = 0; c < w.cols; ++c) imp[static_cast<size_t>(c)] = x2_mean[c] / (s[static_cast<size_t>(c)] * s[static_cast<size_t>(c)]);
  }
  // the scaled rows go into `out`, then through llama.cpp's quantizer in one call and back
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) out[r * w.cols + c] = w.data[r * w.cols + c] * s[static_cast<size_t>(c)];
  std::vector<uint8_t> q(static_cast<size_t>(*ggml_row_bytes(ti, w.cols) * w.rows));
  ggml_quantize(type, out, q.data(), w.rows, w.cols, imp.empty() ? nullptr : imp.data());
  ggml_dequantize(type, q.data(), out, w.rows * w.cols);
  for (int64_t r = 0; r < w.rows; ++r)
    for (int64_t c = 0; c < w.cols; ++c) out[r * w.cols + c] /= s[static_cast<size_t>(c)];
}

AwqClipResult awq_clip(float* w, int64_t rows, int64_t cols, const float* x, int64_t n, int64_t len, const AwqGroupQuantizer& quantize,
                       const AwqOptions& opt, int threads) {
  const int64_t groups = (cols + len - 1) / len;
  const int steps = std::max(1, static_cast<int>(opt.max_shrink * opt.grid));
  openblas_set_num_threads(std::max(1, threads));
  AwqClipResult res;
  res.bound.assign(static_cast<size_t>(rows * groups), 0.0f);
  double ratio_sum = 0;
  std::vector<float> h, d(static_cast<size_t>(rows * len)), dh(static_cast<size_t>(rows * len)), xg, clamped(static_cast<size_t>(len)),
      q(static_cast<size_t>(len));
  std::vector<double> best(static_cast<size_t>(rows));
  std::vector<float> best_bound(static_cast<size_t>(rows)), amax(static_cast<size_t>(rows));
  for (int64_t g = 0; g < groups; ++g) {
    const int64_t c0 = g * len, m = std::min(len, cols - c0);
    // the group's sample Hessian XgᵀXg: the squared error of Σ_k x_k d_k over the sample is dᵀ·H·d
    xg.resize(static_cast<size_t>(n * m));
    for (int64_t t = 0; t < n; ++t) std::copy_n(x + t * cols + c0, m, xg.begin() + t * m);
    h.assign(static_cast<size_t>(m * m), 0.0f);
    cblas_ssyrk(CblasRowMajor, CblasUpper, CblasTrans, static_cast<int>(m), static_cast<int>(n), 1.0f, xg.data(), static_cast<int>(m), 0.0f,
                h.data(), static_cast<int>(m));
    for (int64_t i = 0; i < m; ++i)
      for (int64_t j = 0; j < i; ++j) h[static_cast<size_t>(i * m + j)] = h[static_cast<size_t>(j * m + i)];
    for (int64_t r = 0; r < rows; ++r) {
      float a = 0;
      for (int64_t k = 0; k < m; ++k) a = std::max(a, std::fabs(w[r * cols + c0 + k]));
      amax[static_cast<size_t>(r)] = a;
    }
    for (int i = 0; i < steps; ++i) {
      const float ratio = 1.0f - static_cast<float>(i) / static_cast<float>(opt.grid);
      for (int64_t r = 0; r < rows; ++r) {
        const float bound = amax[static_cast<size_t>(r)] * ratio;
        const float* wr = w + r * cols + c0;
        for (int64_t k = 0; k < m; ++k) clamped[static_cast<size_t>(k)] = std::clamp(wr[k], -bound, bound);
        quantize(clamped.data(), m, c0, q.data());
        for (int64_t k = 0; k < m; ++k) d[static_cast<size_t>(r * m + k)] = q[static_cast<size_t>(k)] - wr[k];
      }
      cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, static_cast<int>(rows), static_cast<int>(m), 1.0f, h.data(), static_cast<int>(m),
                  d.data(), static_cast<int>(m), 0.0f, dh.data(), static_cast<int>(m));
      for (int64_t r = 0; r < rows; ++r) {
        double e = 0;
        for (int64_t k = 0; k < m; ++k) e += static_cast<double>(d[static_cast<size_t>(r * m + k)]) * dh[static_cast<size_t>(r * m + k)];
        if (i == 0) res.loss_before += e;
        if (i == 0 || e < best[static_cast<size_t>(r)]) {  // the first of equal errors: the larger bound
          best[static_cast<size_t>(r)] = e;
          best_bound[static_cast<size_t>(r)] = amax[static_cast<size_t>(r)] * ratio;
        }
      }
    }
    for (int64_t r = 0; r < rows; ++r) {
      const float bound = best_bound[static_cast<size_t>(r)];
      float* wr = w + r * cols + c0;
      for (int64_t k = 0; k < m; ++k) wr[k] = std::clamp(wr[k], -bound, bound);
      res.bound[static_cast<size_t>(r * groups + g)] = bound;
      res.loss_after += best[static_cast<size_t>(r)];
      ratio_sum += amax[static_cast<size_t>(r)] > 0 ? bound / amax[static_cast<size_t>(r)] : 1.0;
    }
  }
  res.mean_ratio = rows * groups > 0 ? ratio_sum / static_cast<double>(rows * groups) : 1.0;
  return res;
}

double quadratic_loss(const float* dw, int64_t rows, int64_t cols, const float* h) {
  constexpr int64_t kChunk = 256;  // rows per product: a bounded buffer whatever the matrix
  std::vector<float> t(static_cast<size_t>(std::min(rows, kChunk) * cols));
  double total = 0;
  for (int64_t r0 = 0; r0 < rows; r0 += kChunk) {
    const int64_t m = std::min(kChunk, rows - r0);
    cblas_ssymm(CblasRowMajor, CblasRight, CblasUpper, static_cast<int>(m), static_cast<int>(cols), 1.0f, h, static_cast<int>(cols),
                dw + r0 * cols, static_cast<int>(cols), 0.0f, t.data(), static_cast<int>(cols));
    for (int64_t i = 0; i < m * cols; ++i) total += static_cast<double>(dw[r0 * cols + i]) * t[static_cast<size_t>(i)];
  }
  return total;
}

}  // namespace vernier
