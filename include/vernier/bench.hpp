// vernier/bench.hpp — memory read bandwidth and matrix-kernel throughput, measured in one run.
//
// A batch-1 product reads every weight once, so its physical limit is the machine's memory read
// bandwidth; the benchmark measures that bandwidth (a streaming read of a buffer far larger than
// the last-level cache, per thread count) and reports each kernel's weight bytes per second
// against it. Times are medians of several repetitions: these machines are shared and noisy.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/kernels.hpp"
#include "vernier/weight_type.hpp"

namespace vernier {

struct BenchOptions {
  std::vector<WeightType> types;                   // GGML types and vernier schemes, measured in this order
  std::vector<Activations> scheme_activations = {Activations::f32};  // each scheme is measured with each
  bool dedicated_only = false;                     // bf16/q8_0 only where they have a kernel of their own
  std::vector<std::pair<int64_t, int64_t>> shapes = {{4096, 14336}, {4096, 4096}};  // rows m × columns k
  std::vector<int64_t> batches = {1, 8};
  std::vector<int> threads = {1, 2};
  int repetitions = 5;                             // at most; fewer once min_seconds has passed (at least 3)
  double min_seconds = 1.0;
  uint64_t bandwidth_buffer_bytes = 1ull << 30;
  // After each timed product, one streaming read of a buffer this large (0: none): the ratio to the
  // bandwidth is then the median of per-repetition ratios, each against the bandwidth of the moment
  // (on a shared machine the bandwidth moves by ±30% within a minute).
  uint64_t paired_bandwidth_bytes = 256ull << 20;
  std::function<void(const std::string&)> progress;
};

struct BandwidthResult {
  int threads = 0;
  double gbs = 0;                                  // median of the repetitions, 1e9 bytes/s
};

struct MatmulBenchResult {
  std::string name;                                // the weight type's canonical name
  WeightType type;
  std::string activations;                         // what the activations are multiplied as: "f32", "bf16", "q8_0", "Q8_K", …
  int64_t m = 0, k = 0, batch = 0;
  int threads = 0;
  double seconds = 0;                              // median per product
  double gbs = 0;                                  // weight bytes / seconds
  double gflops = 0;                               // 2·m·k·batch / seconds
  double ratio_to_bandwidth = 0;                   // median of GB/s over the paired bandwidth (else over the
                                                   // bandwidth measured first) at the same thread count
  double paired_bandwidth_gbs = 0;                 // median of the read bandwidth sampled after each repetition
  uint64_t weight_bytes = 0;
};

// What `vernier bench` measures by default: every weight type of the registry (weight_types()).
std::vector<WeightType> default_bench_types();

std::vector<BandwidthResult> measure_read_bandwidth(const std::vector<int>& threads, uint64_t bytes, int repetitions);
std::vector<MatmulBenchResult> bench_matmul(const BenchOptions& opt, const std::vector<BandwidthResult>& bandwidth);

}  // namespace vernier
