// AWQ's costs (issue 14) on one LLaMA-7B-shaped layer (4096 × 4096, int4-asym-g128 with AWQ's
// quantizer), measured side by side with this machine's FP32 GEMM rate in one run:
//   build/release/bench/vernier_bench_awq --benchmark_repetitions=5 --benchmark_report_aggregates_only
// A scale candidate costs one fake quantization of the group's matrices and one loss: through the
// runtime and sgemm for Q/K/V and gate/up, the quadratic form tr(ΔW·H·ΔWᵀ) for O and down (2·rows·cols²
// FLOPs, items_per_second here, against sgemm's rate on the same operands). The clip search is one
// pass per layer over a 512-token sample.
#include <benchmark/benchmark.h>
#include <cblas.h>

#include <cmath>
#include <random>
#include <vector>

#include "vernier/awq.hpp"
#include "vernier/gptq.hpp"

namespace {
using namespace vernier;

std::vector<float> noise(size_t n, uint32_t seed, float scale = 1.0f) {
  std::mt19937 rng(seed);
  std::normal_distribution<float> nd(0.0f, scale);
  std::vector<float> v(n);
  for (auto& x : v) x = nd(rng);
  return v;
}

Scheme awq_scheme() {
  Scheme s = parse_scheme("int4-asym-g128");
  s.range = AsymRange::min_max;
  return s;
}

std::vector<float> scales(int64_t cols) {
  std::vector<float> x_mean = noise(static_cast<size_t>(cols), 7);
  for (auto& v : x_mean) v = 0.1f + std::abs(v);
  return awq_candidate_scales(x_mean, {}, 0.5f, false);
}

// Q(W·diag s)·diag(s)⁻¹ of one layer: each candidate's quantization
void BM_AwqFakeQuantize(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  const std::vector<float> w = noise(static_cast<size_t>(rows * cols), 1, 0.02f), s = scales(cols);
  std::vector<float> out(w.size());
  const Scheme sc = awq_scheme();
  for (auto _ : st) {
    awq_fake_quantize(TensorView{w.data(), rows, cols, "w"}, s, sc, out.data());
    benchmark::DoNotOptimize(out.data());
  }
  st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_AwqFakeQuantize)->Args({4096, 4096})->Unit(benchmark::kMillisecond);

// tr(ΔW·H·ΔWᵀ): O's and down's loss per candidate (FLOPs: 2·rows·cols²)
void BM_AwqQuadraticLoss(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  openblas_set_num_threads(static_cast<int>(st.range(2)));
  const std::vector<float> dw = noise(static_cast<size_t>(rows * cols), 2, 0.001f), x = noise(static_cast<size_t>(1024 * cols), 3);
  std::vector<float> h(static_cast<size_t>(cols * cols), 0.0f);
  hessian_accumulate(h, x.data(), 1024, cols, 1024);
  hessian_symmetrize(h, cols);
  for (auto _ : st) benchmark::DoNotOptimize(quadratic_loss(dw.data(), rows, cols, h.data()));
  st.SetItemsProcessed(st.iterations() * 2 * rows * cols * cols);
}
BENCHMARK(BM_AwqQuadraticLoss)->Args({4096, 4096, 2})->Unit(benchmark::kMillisecond);

// The GEMM of the same operands (ΔW·H), for the ratio
void BM_SgemmSameShape(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1);
  openblas_set_num_threads(static_cast<int>(st.range(2)));
  const std::vector<float> a = noise(static_cast<size_t>(rows * cols), 2), b = noise(static_cast<size_t>(cols * cols), 3);
  std::vector<float> c(static_cast<size_t>(rows * cols));
  for (auto _ : st) {
    cblas_sgemm(CblasRowMajor, CblasNoTrans, CblasNoTrans, static_cast<int>(rows), static_cast<int>(cols), static_cast<int>(cols), 1.0f,
                a.data(), static_cast<int>(cols), b.data(), static_cast<int>(cols), 0.0f, c.data(), static_cast<int>(cols));
    benchmark::DoNotOptimize(c.data());
  }
  st.SetItemsProcessed(st.iterations() * 2 * rows * cols * cols);
}
BENCHMARK(BM_SgemmSameShape)->Args({4096, 4096, 2})->Unit(benchmark::kMillisecond);

// One layer's clip search: 10 ratios per (row, group) over a 512-token sample
void BM_AwqClipLayer(benchmark::State& st) {
  const int64_t rows = st.range(0), cols = st.range(1), n = st.range(2);
  const std::vector<float> w0 = noise(static_cast<size_t>(rows * cols), 4, 0.02f), x = noise(static_cast<size_t>(n * cols), 5);
  const Scheme sc = awq_scheme();
  AwqOptions o;
  for (auto _ : st) {
    std::vector<float> w = w0;
    const AwqClipResult r = awq_clip(w.data(), rows, cols, x.data(), n, sc, o, 2);
    benchmark::DoNotOptimize(r.loss_after);
  }
  st.SetItemsProcessed(st.iterations() * rows * cols);
}
BENCHMARK(BM_AwqClipLayer)->Args({4096, 4096, 512})->Unit(benchmark::kMillisecond)->Iterations(1);
}  // namespace

BENCHMARK_MAIN();
