// Internal: the sums an ErrorAccumulator keeps, over one span of values (metrics_simd.cpp).
#pragma once

#include <cstddef>

namespace vernier {

struct ErrorSums {
  double err2 = 0, err = 0, ref2 = 0, app2 = 0, dot = 0, max_abs = 0;  // max_abs NaN where an error is
};
// Σ e², Σ e, Σ r², Σ a², Σ r·a and max |e| for e = a − r, in double (another order of the same terms
// than a scalar loop: the statistics agree to ~n·2^-53 relative).
ErrorSums error_sums(const float* ref, const float* approx, size_t n);

}  // namespace vernier
