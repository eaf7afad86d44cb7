// vernier bench --peer: test-backend-ops perf on the shapes vernier measured (bench_peer.hpp).
#include "bench_peer.hpp"

#include <cstdio>
#include <filesystem>
#include <regex>

#include "vernier/error.hpp"

namespace vernier::cli {

namespace {
namespace fs = std::filesystem;

// The executable `name` in DIR/bin or DIR ("" when neither has it).
std::string find_exe(const std::string& dir, const std::string& name) {
  for (const fs::path& p : {fs::path(dir) / "bin" / name, fs::path(dir) / name}) {
    std::error_code ec;
    if (fs::is_regular_file(p, ec)) return p.string();
  }
  return "";
}

// Standard output and error of a command (the arguments already quoted), "" if it could not start.
std::string capture(const std::string& command) {
  std::string out;
  FILE* f = ::popen((command + " 2>&1").c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

// ggml's spelling of a type name: lower case, but the K of the K-quants ("q4_K", "iq4_nl", "f16").
std::string ggml_name(const std::string& name) {
  std::string s;
  for (char c : name) s += static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  if (s.size() > 2 && s.compare(s.size() - 2, 2, "_k") == 0) s.back() = 'K';
  return s;
}
}  // namespace

PeerRun run_peer(const std::string& dir, const std::vector<MatmulBenchResult>& results,
                 const std::function<void(const std::string&)>& progress) {
  if (dir.find('\'') != std::string::npos) throw_usage("--peer: a path with a single quote is not taken: " + dir);
  PeerRun run;
  run.exe = find_exe(dir, "test-backend-ops");
  if (run.exe.empty()) return run;
  if (const std::string lb = find_exe(dir, "llama-bench"); !lb.empty()) {
    const std::string v = capture("'" + lb + "' --version");
    run.version = v.substr(0, v.find('\n'));
  }
  const std::regex gflops(R"(([0-9]+(\.[0-9]+)?) GFLOPS)");
  for (const MatmulBenchResult& r : results) {
    if (!r.type.is_ggml()) continue;
    bool seen = false;
    for (const PeerRow& p : run.rows) seen = seen || (p.type == r.name && p.m == r.m && p.k == r.k && p.batch == r.batch);
    if (seen) continue;
    PeerRow row{r.name, r.m, r.k, r.batch, std::nullopt};
    if (progress) progress("peer: " + r.name + " " + std::to_string(r.m) + "x" + std::to_string(r.k) + " batch " + std::to_string(r.batch));
    // ggml's MUL_MAT of an m × k weight and n = batch activation rows, the plain (unbatched, unpermuted) case
    const std::string params = "^type_a=" + ggml_name(r.name) + ",type_b=f32,m=" + std::to_string(r.m) + ",n=" +
                               std::to_string(r.batch) + ",k=" + std::to_string(r.k) +
                               R"(,bs=\[1,1\],nr=\[1,1\],per=\[0,1,2,3\],k_v=0,o=1,)";
    const std::string out = capture("'" + run.exe + "' perf -o MUL_MAT -b CPU -p '" + params + "'");
    std::smatch m;
    if (std::regex_search(out, m, gflops)) row.gflops = std::stod(m[1].str());
    run.rows.push_back(row);
  }
  return run;
}

}  // namespace vernier::cli
