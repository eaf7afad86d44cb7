// The CUDA GEMV kernels against a scalar host reference, on sizes around the warp (32 lanes), the
// 16-byte vector (4 floats, 8 bfloat16) and the block (8 rows), with degenerate rows; plus one
// timed 4096 × 14336 product against the device's copy bandwidth (printed, not asserted).
//
// A plain program (no test framework), so that it builds on a GPU machine with nvcc alone; CTest
// runs it and reads exit code 77 as "skipped": where no CUDA device exists it says so and skips.
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <random>
#include <string>
#include <vector>

#include "host_bf16.hpp"
#include "vernier/cuda.hpp"

namespace {
int passed = 0, failed = 0;

using vernier_cuda_test::from_bf16;
using vernier_cuda_test::to_bf16;

// Float32 accumulation of a lane's ⌈cols / 32⌉ products (each an FMA: one rounding) and 5 butterfly
// adds: |error| ≤ γ_n · Σ|w·x| with n = ⌈cols / 32⌉ + 5, γ_n = n·u / (1 − n·u), u = 2^−24 (Higham).
double budget(int64_t cols, double abs_sum) {
  const double n = static_cast<double>((cols + 31) / 32 + 5), u = std::ldexp(1.0, -24);
  return n * u / (1 - n * u) * abs_sum + 1e-30;
}

void check_case(bool bf16, int64_t rows, int64_t cols, int64_t batch, const char* kind, std::mt19937& rng) {
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(static_cast<size_t>(rows * cols)), x(static_cast<size_t>(batch * cols));
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  if (std::string(kind) == "zero-row" && rows > 0) std::fill(w.begin(), w.begin() + cols, 0.0f);
  if (std::string(kind) == "outlier" && rows * cols > 0) w[static_cast<size_t>(rows * cols / 2)] = 3.0e4f;
  if (std::string(kind) == "tiny") for (auto& v : w) v *= 1e-30f;
  std::vector<uint16_t> wb(w.size());
  for (size_t i = 0; i < w.size(); ++i) {
    wb[i] = to_bf16(w[i]);
    if (bf16) w[i] = from_bf16(wb[i]);  // the reference multiplies exactly the stored values
  }
  vernier::cuda::DeviceBuffer dw(w.size() * (bf16 ? 2 : 4)), dx(x.size() * 4), dy(static_cast<size_t>(batch * rows) * 4);
  if (bf16) dw.upload(wb.data(), wb.size() * 2);
  else dw.upload(w.data(), w.size() * 4);
  dx.upload(x.data(), x.size() * 4);
  if (bf16) vernier::cuda::gemv_bf16(dw, dx, dy, rows, cols, batch);
  else vernier::cuda::gemv_f32(dw, dx, dy, rows, cols, batch);
  std::vector<float> y(static_cast<size_t>(batch * rows));
  dy.download(y.data(), y.size() * 4);
  int bad = 0;
  double worst = 0;
  for (int64_t b = 0; b < batch; ++b)
    for (int64_t r = 0; r < rows; ++r) {
      double ref = 0, abs_sum = 0;
      for (int64_t k = 0; k < cols; ++k) {
        const double p = static_cast<double>(w[static_cast<size_t>(r * cols + k)]) * x[static_cast<size_t>(b * cols + k)];
        ref += p;
        abs_sum += std::fabs(p);
      }
      const double err = std::fabs(y[static_cast<size_t>(b * rows + r)] - ref), lim = budget(cols, abs_sum);
      worst = std::max(worst, err / lim);
      if (!(err <= lim)) ++bad;
    }
  std::printf("%-4s %s %5lld x %-6lld batch %lld %-8s: %s (worst error %.3f of the budget)\n", bad ? "FAIL" : "ok", bf16 ? "bf16" : "f32 ",
              static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(batch), kind, bad ? "outside the budget" : "within the budget", worst);
  (bad ? failed : passed)++;
}
}  // namespace

int main() {
  std::string why;
  if (!vernier::cuda::device_available(&why)) {
    std::printf("skipped: no CUDA device to run the kernels on (%s)\n", why.c_str());
    return 77;
  }
  std::printf("device: %s\n", vernier::cuda::device_name().c_str());
  std::mt19937 rng(7);
  for (const bool bf16 : {false, true}) {
    for (const int64_t cols : {1, 3, 4, 7, 8, 9, 31, 32, 33, 127, 128, 129, 255, 256, 257, 4096})
      for (const int64_t rows : {1, 7, 8, 9, 17})
        for (const int64_t batch : {1, 3}) check_case(bf16, rows, cols, batch, "normal", rng);
    for (const int64_t batch : {1, 8, 9, 16}) check_case(bf16, 257, 1024, batch, "normal", rng);
    for (const char* kind : {"zero-row", "outlier", "tiny"}) check_case(bf16, 33, 513, 2, kind, rng);
  }
  // One timed product of a LLaMA-3-8B FFN shape, against the copy bandwidth (printed, not asserted).
  const int64_t rows = 14336, cols = 4096;
  const double copy = vernier::cuda::copy_bandwidth(size_t{2} << 30, 10);
  for (const bool bf16 : {false, true}) {
    vernier::cuda::DeviceBuffer w(static_cast<size_t>(rows * cols) * (bf16 ? 2 : 4)), x(static_cast<size_t>(cols) * 4 * 8),
        y(static_cast<size_t>(rows) * 4 * 8);
    for (const int64_t batch : {1, 8}) {
      const double s = vernier::cuda::time_gemv(bf16, w, x, y, rows, cols, batch, 50);
      const double gbs = static_cast<double>(w.size()) / s / 1e9;
      std::printf("timing %s %lld x %lld batch %lld: %.1f us, %.0f GB/s of weights = %.0f%% of the copy bandwidth (%.0f GB/s)\n",
                  bf16 ? "bf16" : "f32", static_cast<long long>(rows), static_cast<long long>(cols), static_cast<long long>(batch),
                  s * 1e6, gbs, 100 * gbs / (copy / 1e9), copy / 1e9);
    }
  }
  std::printf("%d passed, %d failed\n", passed, failed);
  return failed ? 1 : 0;
}
