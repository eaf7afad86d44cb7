// GPTQ's costs (issue 13): the Hessian accumulation against this machine's FP32 GEMM rate, measured
// side by side in one run, and GPTQ on one layer against round to nearest.
//   build/release/bench/vernier_bench_gptq --benchmark_repetitions=5 --benchmark_report_aggregates_only
// Rates are in FLOP/s (items_per_second): syrk does n·c·(c+1) FLOPs, the GEMM of the same operands
// (Xᵀ·X as a general product) 2·n·c².
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <random>
#include <vector>

#include "vernier/gptq.hpp"

namespace {
using namespace vernier;

std::vector<float> noise(size_t n, uint32_t seed) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

// H += 2/N·XᵀX for a batch of n tokens of width c (one call of the calibration's accumulation).
void BM_HessianAccumulate(benchmark::State& st) {
  const int64_t n = st.range(0), c = st.range(1);
  openblas_set_num_threads(static_cast<int>(st.range(2)));
  const std::vector<float> x = noise(static_cast<size_t>(n * c), 1);
  std::vector<float> h(static_cast<size_t>(c * c), 0.0f);
  for (auto _ : st) {
    hessian_accumulate(h, x.data(), n, c, n);
    benchmark::DoNotOptimize(h.data());
  }
  st.SetItemsProcessed(st.iterations() * n * c * (c + 1));
}
BENCHMARK(BM_HessianAccumulate)->Args({512, 4096, 2})->Args({512, 11008, 2})->Args({256, 128, 1})->Unit(benchmark::kMillisecond);

// The same operands through sgemm: this machine's FP32 GEMM rate, for the ratio.
void BM_SgemmSameShape(benchmark::State& st) {
  const int64_t n = st.range(0), c = st.range(1);
  openblas_set_num_threads(static_cast<int>(st.range(2)));
  const std::vector<float> x = noise(static_cast<size_t>(n * c), 1);
  std::vector<float> h(static_cast<size_t>(c * c), 0.0f);
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasTrans, CblasNoTrans, static_cast<int>(c), static_cast<int>(c), static_cast<int>(n), 1.0f, x.data(),
                static_cast<int>(c), x.data(), static_cast<int>(c), 1.0f, h.data(), static_cast<int>(c));
    benchmark::DoNotOptimize(h.data());
  }
  st.SetItemsProcessed(st.iterations() * 2 * n * c * c);
}
BENCHMARK(BM_SgemmSameShape)->Args({512, 4096, 2})->Args({512, 11008, 2})->Args({256, 128, 1})->Unit(benchmark::kMillisecond);

// GPTQ on one LLaMA-7B-shaped layer (4096 × 4096, int4 g128) from a Hessian of 4096 tokens.
void BM_GptqLayer(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const std::vector<float> w = noise(static_cast<size_t>(rows * cols), 2);
  const std::vector<float> x = noise(static_cast<size_t>(4096 * cols), 3);
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  hessian_accumulate(h, x.data(), 4096, cols, 4096);
  hessian_symmetrize(h, cols);
  GptqOptions o;
  o.threads = 2;
  const Scheme s = parse_scheme("int4-asym-g128");
  for (auto _ : st) {
    GptqResult r = gptq_quantize(TensorView{w.data(), rows, cols, "w"}, h, s, o);
    benchmark::DoNotOptimize(r.loss);
  }
  st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_GptqLayer)->Args({4096, 4096})->Args({1024, 1024})->Unit(benchmark::kMillisecond)->Iterations(1);
}  // namespace

BENCHMARK_MAIN();
