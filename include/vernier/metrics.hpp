// vernier/metrics.hpp — what a round trip cost: error statistics and storage.
//
// Several metrics, because each hides something the others show: MSE/RMSE (energy of the error, what
// the quantizers minimise), max abs error (the worst element, where outliers get clipped), mean signed
// error (bias: a rounding rule that drifts one way accumulates through a dot product), SQNR in dB
// (error relative to signal, comparable across tensors of different scale) and cosine similarity.
#pragma once

#include <cstdint>
#include <span>
#include <vector>

namespace vernier {

struct ErrorStats {
  int64_t count = 0;
  double mse = 0.0;
  double rmse = 0.0;
  double max_abs = 0.0;
  double mean_signed = 0.0;  // mean of (approx - reference)
  double sqnr_db = 0.0;      // 10 log10(Σ ref² / Σ err²); +inf for an exact round trip, -inf if the
                             // reference is all zero and the error is not
  double cosine = 1.0;       // of reference and approx; 1 when both are all zero, 0 when one is
  double signal_power = 0.0; // mean of ref²
};

// Accumulates in double. A NaN or Inf in approx (an FP8 cast that overflowed, say) makes mse,
// max_abs and the rest non-finite: the metrics report it rather than hide it.
ErrorStats error_stats(std::span<const float> reference, std::span<const float> approx);
std::vector<ErrorStats> error_stats_per_row(std::span<const float> reference, std::span<const float> approx,
                                            int64_t rows, int64_t cols);
// Statistics over several tensors, as if computed over their concatenation.
class ErrorAccumulator {
 public:
  void add(std::span<const float> reference, std::span<const float> approx);
  void merge(const ErrorAccumulator& other);  // as if other's values had been added here
  ErrorStats result() const;

 private:
  int64_t n_ = 0;
  double err2_ = 0, err_ = 0, ref2_ = 0, app2_ = 0, dot_ = 0, max_abs_ = 0;
};

}  // namespace vernier
