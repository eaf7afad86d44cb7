// vernier bench --peer: test-backend-ops perf on the shapes vernier measured (bench_peer.hpp).
#include "bench_peer.hpp"

#include <nlohmann/json.hpp>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>

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

// A command's standard output (the arguments already quoted), "" if it could not start; its standard
// error goes to `err_file`, or with no file into the output.
std::string capture(const std::string& command, const std::string& err_file = "") {
  std::string out;
  FILE* f = ::popen((command + (err_file.empty() ? " 2>&1" : " 2>'" + err_file + "'")).c_str(), "r");
  if (!f) return out;
  char buf[4096];
  size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  ::pclose(f);
  return out;
}

template <class T>
std::string join(const std::vector<T>& v) {
  std::string s;
  for (const T& x : v) {
    if (!s.empty()) s += ',';
    s += std::to_string(x);
  }
  return s;
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

PeerModelRun run_peer_model(const std::string& dir, const std::string& model, const ModelBenchOptions& opt,
                            const std::vector<int>& threads) {
  if (dir.find('\'') != std::string::npos || model.find('\'') != std::string::npos)
    throw_usage("--peer: a path with a single quote is not taken: " + dir + " " + model);
  PeerModelRun run;
  run.exe = find_exe(dir, "llama-bench");
  if (run.exe.empty()) return run;
  const std::string v = capture("'" + run.exe + "' --version");
  run.version = v.substr(0, v.find('\n'));
  // llama-bench's tests: its -p and -n lists as vernier's (0 leaves a kind out), -ub the forward
  // batch (-b, the logical batch, at least as large), the KV cache format where llama.cpp has vernier's
  const int64_t most_b = *std::max_element(opt.batches.begin(), opt.batches.end());
  std::ostringstream cmd;
  cmd << "'" << run.exe << "' -m '" << model << "' -p " << join(opt.prompts) << " -n " << join(opt.gens) << " -t " << join(threads) << " -r "
      << opt.repetitions << " -b " << std::max<int64_t>(2048, most_b) << " -ub " << join(opt.batches);
  const bool deep = std::any_of(opt.depths.begin(), opt.depths.end(), [](int64_t d) { return d > 0; });
  if (deep) cmd << " -d " << join(opt.depths);
  const std::string kv(kv_type_name(opt.kv));
  if (kv == "f16" || kv == "bf16" || kv == "q8_0" || kv == "q4_0") {  // llama-bench 0c1e570 refuses -ctk f32
    run.kv = kv;
    cmd << " -ctk " << kv << " -ctv " << kv;
    if (kv == "q8_0" || kv == "q4_0") cmd << " -fa 1";  // llama.cpp quantizes the V cache only with flash attention
  }
  cmd << " -o json";
  run.command = cmd.str();
  const std::string err_file = (fs::temp_directory_path() / ("vernier-peer-" + std::to_string(::getpid()) + ".err")).string();
  const std::string out = capture(run.command, err_file);
  std::string err;
  {
    std::ifstream e(err_file);
    err.assign(std::istreambuf_iterator<char>(e), std::istreambuf_iterator<char>());
  }
  std::error_code ec;
  fs::remove(err_file, ec);
  nlohmann::json j;
  try {
    j = nlohmann::json::parse(out);
  } catch (const nlohmann::json::exception&) {
    j = nullptr;
  }
  if (!j.is_array()) {
    // the last lines of its standard error say why
    std::string tail = err.size() > 600 ? err.substr(err.size() - 600) : err;
    run.error = "no JSON results from llama-bench" + (tail.empty() ? std::string() : ": " + tail);
    return run;
  }
  for (const auto& t : j) {
    if (!t.is_object()) continue;
    const auto num = [&](const char* key) -> int64_t {
      const auto it = t.find(key);
      return it != t.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
    };
    PeerModelRow row{num("n_prompt"), num("n_gen"), num("n_depth"), num("n_ubatch"), static_cast<int>(num("n_threads")), {}, 0, 0};
    if (const auto it = t.find("samples_ts"); it != t.end() && it->is_array())
      for (const auto& x : *it)
        if (x.is_number()) row.samples_ts.push_back(x.get<double>());
    if (const auto it = t.find("avg_ts"); it != t.end() && it->is_number()) row.avg_ts = it->get<double>();
    std::vector<double> s = row.samples_ts;
    std::sort(s.begin(), s.end());
    row.median_ts = s.empty() ? row.avg_ts : s.size() % 2 ? s[s.size() / 2] : 0.5 * (s[s.size() / 2 - 1] + s[s.size() / 2]);
    run.rows.push_back(std::move(row));
  }
  return run;
}

}  // namespace vernier::cli
