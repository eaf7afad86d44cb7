// GGUF block-type quantization speed: M weights/s per type, 1 and 2 threads, on a 4096 × 14336 float32
// matrix (the FFN shape of a 7B-class model; 58.7 M weights, 235 MB), with and without an importance
// matrix for the K-quants.
//   build/release/bench/vernier_bench_ggml --benchmark_repetitions=3 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "vernier/ggml_quant.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/synthetic.hpp"

namespace {

constexpr int64_t kRows = 4096, kCols = 14336;

const std::vector<float>& weights() {
  static const std::vector<float> w = [] {
    vernier::SyntheticSpec spec;
    spec.rows = kRows;
    spec.cols = kCols;
    spec.seed = 11;
    spec.tail_dof = 30;
    return vernier::synthetic_matrix(spec);
  }();
  return w;
}

const std::vector<float>& importance() {
  static const std::vector<float> im = [] {
    std::vector<float> v(static_cast<size_t>(kCols));
    vernier::Rng rng(5);
    for (auto& x : v) x = static_cast<float>(0.1 + rng.uniform());
    return v;
  }();
  return im;
}

void BM_Quantize(benchmark::State& state, std::string type, bool with_imatrix) {
  const vernier::GgmlTypeInfo* ti = vernier::ggml_type_by_name(type);
  const auto& w = weights();
  std::vector<uint8_t> out(static_cast<size_t>(*vernier::ggml_row_bytes(*ti, kCols) * kRows));
  const int threads = static_cast<int>(state.range(0));
  for (auto _ : state) {
    vernier::ggml_quantize_threads(ti->type, w.data(), out.data(), kRows, kCols, with_imatrix ? importance().data() : nullptr, threads);
    benchmark::DoNotOptimize(out.data());
  }
  state.counters["Mweights/s"] = benchmark::Counter(static_cast<double>(kRows * kCols) * static_cast<double>(state.iterations()) / 1e6,
                                                    benchmark::Counter::kIsRate);
}

int register_all = [] {
  for (const vernier::GgmlTypeInfo& ti : vernier::ggml_types()) {  // every type the registry makes (F32 is a copy)
    if (!ti.quantize || !ti.reference_dot || ti.type == vernier::GgmlType::F32) continue;
    const std::string t(ti.name);
    benchmark::RegisterBenchmark(("ggml_quantize/" + t).c_str(), BM_Quantize, t, false)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
  }
  for (const char* t : {"Q4_0", "Q4_K", "Q6_K", "IQ4_XS"}) {
    benchmark::RegisterBenchmark((std::string("ggml_quantize_imatrix/") + t).c_str(), BM_Quantize, std::string(t), true)
        ->Arg(1)->Arg(2)->Unit(benchmark::kMillisecond)->UseRealTime()->Iterations(1);
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
