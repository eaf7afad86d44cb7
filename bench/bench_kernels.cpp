// Dot-product kernels from cache: one weight row of 14336 values (the FFN width of a 7B-class model)
// against one quantized activation row, both L1/L2-resident, per type and kernel path. This is the
// kernels' compute speed — the ceiling a batch-1 product reaches when memory is not the limit. The
// memory-bound figures (a whole 4096 × 14336 matrix, 1 and 2 threads, against the measured read
// bandwidth) come from `vernier bench`.
//   build/release/bench/vernier_bench_kernels --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <random>
#include <string>
#include <vector>

#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"
#include "vernier/quantize.hpp"

namespace {

constexpr int64_t kCols = 14336;

void BM_Dot(benchmark::State& state, vernier::GgmlType type, std::string isa) {
  const vernier::KernelContext ctx = vernier::make_kernel_context(isa, 1);
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(kCols), x(kCols);
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  const vernier::GgmlTypeInfo* ti = vernier::ggml_type_info(type);
  std::vector<uint8_t> wq(static_cast<size_t>(*vernier::ggml_row_bytes(*ti, kCols)));
  vernier::ggml_quantize(type, w.data(), wq.data(), 1, kCols, nullptr);
  std::vector<uint8_t> xq(static_cast<size_t>(kCols) * 4);
  vernier::quantize_activation_row(type, x.data(), xq.data(), kCols);
  for (auto _ : state) benchmark::DoNotOptimize(vernier::kernel_dot(ctx, type, wq.data(), xq.data(), kCols));
  state.counters["weight_GB/s"] =
      benchmark::Counter(static_cast<double>(wq.size()) * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

// vernier's weight-only formats: 64 rows of codes (L2-resident) against float32 activations (or
// bfloat16-rounded or Q8_0-quantized ones), through matmul so that the per-call preparation (group sums of x, the
// kernels' activation order) is shared as it is in a real product.
void BM_WeightOnlyDot(benchmark::State& state, vernier::Scheme scheme, std::string isa, vernier::Activations act) {
  const vernier::KernelContext ctx = vernier::make_kernel_context(isa, 1);
  constexpr int64_t kRows = 64;
  std::mt19937 rng(1);
  std::normal_distribution<float> nd(0.0f, 1.0f);
  std::vector<float> w(kRows * kCols), x(kCols), y(kRows);
  for (auto& v : w) v = nd(rng);
  for (auto& v : x) v = nd(rng);
  const vernier::QuantizedTensor q = vernier::quantize(vernier::TensorView{w.data(), kRows, kCols, "w"}, scheme);
  vernier::MatmulWorkspace ws;
  for (auto _ : state) {
    vernier::matmul(ctx, q, x.data(), 1, y.data(), ws, act);
    benchmark::DoNotOptimize(y.data());
  }
  const double bytes = static_cast<double>(q.codes.size() + 4 * (q.scales.size() + q.zero_points.size()));
  state.counters["weight_GB/s"] = benchmark::Counter(bytes * static_cast<double>(state.iterations()) / 1e9, benchmark::Counter::kIsRate);
}

const int registered = [] {
  for (const std::string& isa : vernier::available_kernel_isas()) {
    if (isa == "auto") continue;
    for (const vernier::WeightType& wt : vernier::weight_types()) {  // every type the registry lists
      const std::string name = (wt.is_ggml() ? "Dot/" : "WeightOnlyDot/") + wt.name() + "/" + isa;
      if (wt.is_ggml()) {
        if (!vernier::kernel_supports(wt.ggml())) continue;
        benchmark::RegisterBenchmark(name.c_str(), BM_Dot, wt.ggml(), isa);
        continue;
      }
      benchmark::RegisterBenchmark(name.c_str(), BM_WeightOnlyDot, wt.as_scheme(), isa, vernier::Activations::f32);
      for (const auto act : {vernier::Activations::bf16, vernier::Activations::q8_0}) {
        const std::string n = name + "/" + vernier::activations_name(act);
        benchmark::RegisterBenchmark(n.c_str(), BM_WeightOnlyDot, wt.as_scheme(), isa, act);
      }
    }
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
