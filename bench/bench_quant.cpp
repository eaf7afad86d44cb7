// Quantize and dequantize throughput of the scalar reference path, one thread, on a 4096 × 4096
// float32 matrix of synthetic LLaMA-like weights: GB/s of float32 input (16 M values = 64 MiB).
//   build/release/bench/vernier_bench_quant --benchmark_repetitions=5 --benchmark_report_aggregates_only=true
#include <benchmark/benchmark.h>

#include <string>
#include <vector>

#include "vernier/quantize.hpp"
#include "vernier/synthetic.hpp"

namespace {

constexpr int64_t kRows = 4096, kCols = 4096;

const std::vector<float>& weights() {
  static const std::vector<float> w = [] {
    vernier::SyntheticSpec spec;
    spec.rows = kRows;
    spec.cols = kCols;
    spec.seed = 7;
    spec.tail_dof = 30;  // generation speed only; the values do not change the per-element work much
    return vernier::synthetic_matrix(spec);
  }();
  return w;
}

const char* kSchemes[] = {
    "fp16", "bf16", "fp8_e4m3-tensor", "fp8_e4m3-channel", "fp8_e5m2-channel",
    "int8-sym-tensor", "int8-sym-channel", "int8-asym-channel", "int4-asym-channel", "int4-asym-g128",
    "int4-sym-g32", "int3-asym-g128", "nf4-b64", "nf4-b64-dq",
};

void BM_Quantize(benchmark::State& state, std::string scheme_name) {
  const vernier::Scheme s = vernier::parse_scheme(scheme_name);
  const auto& w = weights();
  for (auto _ : state) {
    vernier::QuantizedTensor q = vernier::quantize(vernier::TensorView{w.data(), kRows, kCols}, s);
    benchmark::DoNotOptimize(q.codes.data());
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

void BM_Dequantize(benchmark::State& state, std::string scheme_name) {
  const vernier::Scheme s = vernier::parse_scheme(scheme_name);
  const auto& w = weights();
  const vernier::QuantizedTensor q = vernier::quantize(vernier::TensorView{w.data(), kRows, kCols}, s);
  std::vector<float> out(w.size());
  for (auto _ : state) {
    vernier::dequantize(q, out);
    benchmark::DoNotOptimize(out.data());
  }
  state.SetBytesProcessed(state.iterations() * kRows * kCols * 4);
}

int register_all = [] {
  for (const char* s : kSchemes) {
    benchmark::RegisterBenchmark((std::string("quantize/") + s).c_str(), BM_Quantize, std::string(s))
        ->Unit(benchmark::kMillisecond)->UseRealTime();
    benchmark::RegisterBenchmark((std::string("dequantize/") + s).c_str(), BM_Dequantize, std::string(s))
        ->Unit(benchmark::kMillisecond)->UseRealTime();
  }
  return 0;
}();

}  // namespace

BENCHMARK_MAIN();
