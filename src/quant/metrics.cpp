#include "vernier/metrics.hpp"

#include <cmath>
#include <limits>
#include <string>

#include "quant/metrics_simd.hpp"
#include "vernier/error.hpp"

namespace vernier {

void ErrorAccumulator::add(std::span<const float> reference, std::span<const float> approx) {
  if (reference.size() != approx.size()) {
    throw_usage("error statistics: reference has " + std::to_string(reference.size()) +
                " values, approximation " + std::to_string(approx.size()));
  }
  const ErrorSums e = error_sums(reference.data(), approx.data(), reference.size());
  err2_ += e.err2;
  err_ += e.err;
  ref2_ += e.ref2;
  app2_ += e.app2;
  dot_ += e.dot;
  if (e.max_abs > max_abs_ || std::isnan(e.max_abs)) max_abs_ = e.max_abs;  // a NaN, once seen, stays
  n_ += static_cast<int64_t>(reference.size());
}

void ErrorAccumulator::merge(const ErrorAccumulator& o) {
  n_ += o.n_;
  err2_ += o.err2_;
  err_ += o.err_;
  ref2_ += o.ref2_;
  app2_ += o.app2_;
  dot_ += o.dot_;
  if (o.max_abs_ > max_abs_ || std::isnan(o.max_abs_)) max_abs_ = o.max_abs_;
}

ErrorStats ErrorAccumulator::result() const {
  ErrorStats st;
  st.count = n_;
  if (n_ == 0) return st;
  const double n = static_cast<double>(n_);
  const double inf = std::numeric_limits<double>::infinity();
  st.mse = err2_ / n;
  st.rmse = std::sqrt(st.mse);
  st.max_abs = max_abs_;
  st.mean_signed = err_ / n;
  st.signal_power = ref2_ / n;
  if (std::isnan(err2_)) st.sqnr_db = std::numeric_limits<double>::quiet_NaN();
  else if (err2_ == 0.0) st.sqnr_db = inf;
  else if (ref2_ == 0.0) st.sqnr_db = -inf;
  else st.sqnr_db = 10.0 * std::log10(ref2_ / err2_);
  if (ref2_ == 0.0 && app2_ == 0.0) st.cosine = 1.0;
  else if (ref2_ == 0.0 || app2_ == 0.0) st.cosine = 0.0;
  else st.cosine = dot_ / (std::sqrt(ref2_) * std::sqrt(app2_));
  return st;
}

ErrorStats error_stats(std::span<const float> reference, std::span<const float> approx) {
  ErrorAccumulator acc;
  acc.add(reference, approx);
  return acc.result();
}

std::vector<ErrorStats> error_stats_per_row(std::span<const float> reference, std::span<const float> approx,
                                            int64_t rows, int64_t cols) {
  if (static_cast<int64_t>(reference.size()) != rows * cols || approx.size() != reference.size()) {
    throw_usage("error statistics per row: sizes do not match " + std::to_string(rows) + " × " +
                std::to_string(cols));
  }
  std::vector<ErrorStats> out;
  out.reserve(static_cast<size_t>(rows));
  for (int64_t r = 0; r < rows; ++r) {
    out.push_back(error_stats(reference.subspan(static_cast<size_t>(r * cols), static_cast<size_t>(cols)),
                              approx.subspan(static_cast<size_t>(r * cols), static_cast<size_t>(cols))));
  }
  return out;
}

}  // namespace vernier
