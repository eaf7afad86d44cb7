// vernier bench --peer DIR: the same products timed by a llama.cpp build's test-backend-ops, in the
// same run, for the ratios.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vernier/bench.hpp"
#include "vernier/bench_model.hpp"

namespace vernier::cli {

struct PeerRow {
  std::string type;  // vernier's name of the GGML type
  int64_t m = 0, k = 0, batch = 0;
  std::optional<double> gflops;  // none: the peer has no such perf case (or failed)
};
struct PeerRun {
  std::string exe;      // the test-backend-ops it ran ("" when DIR has none)
  std::string version;  // llama-bench --version's first line, where DIR has llama-bench
  std::vector<PeerRow> rows;
};
// One test-backend-ops perf run per GGML (type, shape, batch) of `results` (vernier's schemes have no
// counterpart there). Its threads are its own choice (hardware threads / 2).
PeerRun run_peer(const std::string& dir, const std::vector<MatmulBenchResult>& results,
                 const std::function<void(const std::string&)>& progress);

// vernier bench -m MODEL --peer DIR: DIR's llama-bench on the same model, tests, threads, batches and
// KV cache format (where llama.cpp has it), its JSON read back.
struct PeerModelRow {
  int64_t n_prompt = 0, n_gen = 0, n_depth = 0, n_ubatch = 0;
  int threads = 0;
  std::vector<double> samples_ts;
  double avg_ts = 0, median_ts = 0;
};
struct PeerModelRun {
  std::string exe;      // the llama-bench it ran ("" when DIR has none)
  std::string version;  // its --version's first line
  std::string command;  // what was run
  std::string kv;       // the KV cache format it was given ("": its default, f16)
  std::string error;    // why no rows came back, where none did
  std::vector<PeerModelRow> rows;
};
PeerModelRun run_peer_model(const std::string& dir, const std::string& model, const ModelBenchOptions& opt,
                            const std::vector<int>& threads);

}  // namespace vernier::cli
