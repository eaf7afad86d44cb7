// vernier/bench_model.hpp — a model's prompt and decode speed end to end, as llama-bench measures it.
//
// A pp test runs n_prompt tokens through the runtime in batches (prompt processing); a tg test decodes
// n_gen tokens one at a time (text generation). Both start after n_depth positions already in the KV
// cache (run first, untimed), from seeded random token ids, after one untimed warm-up run; each is
// repeated and reported as tokens per second per repetition, with the median, mean and standard
// deviation. The tests and their names follow llama-bench's (`pp512`, `tg128`, `pp512 @ d512`) so that
// `vernier bench --peer` can set the two side by side.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "vernier/kernels.hpp"
#include "vernier/kv_cache.hpp"
#include "vernier/model.hpp"

namespace vernier {

struct ModelBenchOptions {
  std::vector<int64_t> prompts = {512};  // pp tests (0: none)
  std::vector<int64_t> gens = {128};     // tg tests (0: none)
  std::vector<int64_t> depths = {0};     // positions in the cache before each test
  std::vector<int64_t> batches = {512};  // tokens per forward pass of a pp test (and of the depth)
  std::vector<int> threads = {0};        // 0: every hardware thread
  int repetitions = 5;
  KvType kv = KvType::f32;
  Activations activations = Activations::bf16;  // what vernier's weight-only formats multiply against
  std::string isa;                              // kernel path ("" or "auto": the best this CPU has)
  uint64_t seed = 1;
  std::function<void(const std::string&)> progress;  // a line per test and repetition
};

struct ModelBenchResult {
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0, batch = 0;
  int threads = 0;
  std::string isa;                 // the kernel path it ran on
  std::vector<double> samples_ts;  // tokens per second of each repetition
  double median_ts = 0, avg_ts = 0, stddev_ts = 0;
  std::string name() const;  // llama-bench's: "pp512", "tg128", "pp512 @ d512"
};

// Every test of `opt`: per thread count, batch and depth, the pp tests then the tg tests (a tg test
// does not depend on the batch: it runs with the first one only). Throws a usage Error for a count
// below 0, a test that asks for nothing, or more positions than the KV cache could hold.
std::vector<ModelBenchResult> bench_model(const Model& m, const ModelBenchOptions& opt);

}  // namespace vernier
