// vernier bench --peer DIR: the same products timed by a llama.cpp build's test-backend-ops, in the
// same run, for the ratios.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "vernier/bench.hpp"

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

}  // namespace vernier::cli
