// vernier bench — memory read bandwidth and the matrix kernels' throughput against it.
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <iostream>
#include <memory>
#include <sstream>
#include <thread>

#include "bench_peer.hpp"
#include "cli_common.hpp"
#include "vernier/bench.hpp"
#include "vernier/error.hpp"
#include "vernier/ggml_types.hpp"
#include "vernier/kernels.hpp"
#include "vernier/quantize.hpp"

namespace vernier::cli {

namespace {
struct BenchCliOptions {
  std::vector<std::string> types, shapes, activations;
  std::vector<int64_t> batches = {1, 8};
  std::vector<int> threads;
  std::string isa = "auto", peer;
  int repetitions = 5;
  double bandwidth_mib = 1024, paired_mib = 256;
  bool json = false, quiet = false;
};

void run_bench(const BenchCliOptions& o) {
  apply_isa(o.isa);
  BenchOptions opt;
  if (o.types.empty()) {
    opt.types = default_bench_types();  // every type the registry lists
  } else {
    for (const auto& name : o.types) {
      const WeightType wt = parse_weight_type(name);
      if (wt.is_ggml() ? !kernel_supports(wt.ggml()) : !kernel_supports(wt.as_scheme()))
        throw_usage("--types: no kernel for '" + name + "'");
      opt.types.push_back(wt);
    }
  }
  if (!o.shapes.empty()) {
    opt.shapes.clear();
    for (const auto& s : o.shapes) {
      long long m = 0, k = 0;
      char x = 0;
      std::istringstream in(s);
      if (!(in >> m >> x >> k) || x != 'x' || m < 1 || k < 1) throw_usage("--shapes: '" + s + "' is not MxK (e.g. 4096x14336)");
      opt.shapes.emplace_back(m, k);
    }
  }
  for (int64_t b : o.batches)
    if (b < 1 || b > 4096) throw_usage("--batches: each batch must be 1..4096");
  opt.batches = o.batches;
  opt.threads = o.threads;
  if (opt.threads.empty()) {
    const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    opt.threads = hw > 1 ? std::vector<int>{1, hw} : std::vector<int>{1};
  }
  if (o.activations.empty()) {  // bf16 and q8_0 only where they are kernels of their own
    opt.scheme_activations = {Activations::f32, Activations::bf16, Activations::q8_0};
    opt.dedicated_only = true;
  } else {
    opt.scheme_activations.clear();
    for (const auto& a : o.activations) opt.scheme_activations.push_back(parse_activations(a));
  }
  opt.repetitions = o.repetitions;
  if (o.paired_mib < 0 || o.bandwidth_mib <= 0) throw_usage("--bandwidth-mib must be positive and --paired-mib at least 0");
  opt.paired_bandwidth_bytes = static_cast<uint64_t>(o.paired_mib * 1048576.0);
  Progress progress(o.quiet);
  opt.progress = [&](const std::string& s) { progress.update(0, 0, s); };
  const auto bw = measure_read_bandwidth(opt.threads, static_cast<uint64_t>(o.bandwidth_mib * 1048576.0), opt.repetitions);
  const auto res = bench_matmul(opt, bw);
  PeerRun peer;
  if (!o.peer.empty()) peer = run_peer(o.peer, res, opt.progress);
  progress.clear();
  if (!o.peer.empty() && peer.exe.empty()) std::cerr << "peer: no test-backend-ops in " << o.peer << " or its bin/ (skipped)\n";
  // vernier's figure at the most threads it measured, beside the peer's
  const int most = *std::max_element(opt.threads.begin(), opt.threads.end());
  const auto ours = [&](const PeerRow& p) -> const MatmulBenchResult* {
    for (const auto& r : res)
      if (r.name == p.type && r.m == p.m && r.k == p.k && r.batch == p.batch && r.threads == most) return &r;
    return nullptr;
  };
  if (o.json) {
    nlohmann::json j;
    j["kernel_isa"] = kernel_isa();
    j["read_bandwidth_gbs"] = bw.back().gbs;
    for (const auto& b : bw) j["read_bandwidth"].push_back({{"threads", b.threads}, {"gbs", b.gbs}});
    j["matvec"] = nlohmann::json::array();
    for (const auto& r : res) {
      j["matvec"].push_back({{"type", r.name}, {"activations", r.activations}, {"m", r.m}, {"k", r.k}, {"batch", r.batch},
                             {"threads", r.threads}, {"seconds", r.seconds}, {"gbs", r.gbs}, {"gflops", r.gflops},
                             {"ratio_to_bandwidth", r.ratio_to_bandwidth}, {"paired_bandwidth_gbs", r.paired_bandwidth_gbs},
                             {"weight_bytes", r.weight_bytes}});
    }
    if (!peer.exe.empty()) {
      j["peer"] = {{"test_backend_ops", peer.exe}, {"version", peer.version}, {"threads", "its own: hardware threads / 2"}};
      for (const PeerRow& p : peer.rows) {
        const MatmulBenchResult* r = ours(p);
        nlohmann::json row{{"type", p.type}, {"m", p.m}, {"k", p.k}, {"batch", p.batch}, {"vernier_threads", most},
                           {"vernier_gflops", r ? r->gflops : 0.0}};
        row["peer_gflops"] = p.gflops ? nlohmann::json(*p.gflops) : nlohmann::json();
        row["ratio"] = p.gflops && r && *p.gflops > 0 ? nlohmann::json(r->gflops / *p.gflops) : nlohmann::json();
        j["peer"]["matmul"].push_back(row);
      }
    }
    print_json(j);
    return;
  }
  std::cout << "kernels: " << kernel_isa() << "\nmemory read bandwidth:";
  for (const auto& b : bw) std::cout << fmt::format("  {} thread(s) {:.1f} GB/s", b.threads, b.gbs);
  std::cout << "\n\n";
  Table t;
  t.header = {"type", "activations", "m x k", "batch", "threads", "ms", "GB/s", "GFLOPS", "bandwidth then", "of bandwidth"};
  for (const auto& r : res) {
    t.rows.push_back({r.name, r.activations, fmt::format("{}x{}", r.m, r.k), std::to_string(r.batch),
                      std::to_string(r.threads), fixed(r.seconds * 1e3, 2), fixed(r.gbs, 2), fixed(r.gflops, 1),
                      fixed(r.paired_bandwidth_gbs, 1),
                      fmt::format("{:.0f}%", 100 * r.ratio_to_bandwidth)});
  }
  t.print(std::cout);
  std::cout << "\nmedian of up to " << o.repetitions << " runs each; GB/s counts the weight bytes read once per product;\n"
               "'bandwidth then' is the read bandwidth sampled right after each run, and 'of bandwidth' the median of\n"
               "each run's ratio to it.\n";
  if (peer.exe.empty()) return;
  std::cout << "\npeer: " << peer.exe << (peer.version.empty() ? "" : " (" + peer.version + ")")
            << ", test-backend-ops perf -o MUL_MAT, its own thread count (hardware threads / 2); vernier at " << most
            << " thread(s)\n";
  Table pt;
  pt.header = {"type", "m x k", "batch", "vernier GFLOPS", "peer GFLOPS", "vernier / peer"};
  for (const PeerRow& p : peer.rows) {
    const MatmulBenchResult* r = ours(p);
    pt.rows.push_back({p.type, fmt::format("{}x{}", p.m, p.k), std::to_string(p.batch), r ? fixed(r->gflops, 1) : "-",
                       p.gflops ? fixed(*p.gflops, 1) : "- (no such case)",
                       p.gflops && r && *p.gflops > 0 ? fmt::format("{:.2f}x", r->gflops / *p.gflops) : "-"});
  }
  pt.print(std::cout);
}
}  // namespace

void add_bench_command(CLI::App& app) {
  auto opt = std::make_shared<BenchCliOptions>();
  CLI::App* cmd = app.add_subcommand("bench", "Memory read bandwidth, and each weight type's matrix kernel against it");
  cmd->add_option("--types", opt->types,
                  "Weight types: GGML types or vernier schemes (default: every type `vernier formats` lists), e.g. Q4_K Q8_0 int4-asym-g128");
  cmd->add_option("--shapes", opt->shapes, "Shapes MxK (default: 4096x14336 4096x4096)");
  cmd->add_option("-b,--batch-size,--batches", opt->batches, "Activation rows per product (a list: 1 8 or 1,8)")->delimiter(',')->capture_default_str();
  cmd->add_option("-t,--threads", opt->threads, "Thread counts, as llama-bench's -t (a list: 1 2 or 1,2; default: 1 and all cores)")->delimiter(',');
  cmd->add_option("--activations", opt->activations,
                  "For vernier schemes: f32, bf16 (activations rounded to bfloat16) and/or q8_0 (quantized to Q8_0, "
                  "W4A8); default: f32, plus bf16 and q8_0 where the CPU has a kernel of their own for the scheme");
  add_isa_option(cmd, opt->isa);
  cmd->add_option("-r,--repetitions,--reps", opt->repetitions, "Repetitions per measurement (median reported)")->capture_default_str();
  cmd->add_option("--bandwidth-mib", opt->bandwidth_mib, "Buffer for the read-bandwidth measurement, MiB")->capture_default_str();
  cmd->add_option("--paired-mib", opt->paired_mib,
                  "Buffer read after every timed product to pair it with the bandwidth of that moment, MiB (0: "
                  "compare with the first measurement only)")
      ->capture_default_str();
  cmd->add_option("--peer", opt->peer,
                  "A llama.cpp build directory (with bin/test-backend-ops): its MUL_MAT perf on the same GGUF types, shapes "
                  "and batches, run after vernier's, with the ratios (skipped with a message where it has none)");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the results");
  cmd->callback([opt] { run_bench(*opt); });
}

}  // namespace vernier::cli
