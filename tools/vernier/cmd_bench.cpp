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
#include "vernier/bench_model.hpp"
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
  // -m: the model end to end, as llama-bench (its -p, -n, -d; -b is then the prompt's forward batch)
  std::string model, kv = "f32";
  std::vector<int64_t> prompts = {512}, gens = {128}, depths = {0};
  bool batches_given = false, kernel_flags_given = false;
};

// vernier bench -m MODEL: pp and tg tests end to end (bench_model.hpp), and with --peer DIR the same
// tests by DIR's llama-bench, side by side.
void run_model_bench(const BenchCliOptions& o) {
  if (o.kernel_flags_given) throw_usage("-m/--model measures the model end to end: --types, --shapes, --bandwidth-mib and --paired-mib are the kernel benchmark's");
  if (o.activations.size() > 1) throw_usage("-m/--model: give one --activations value");
  const std::string isa = resolve_isa(o.isa);
  ModelBenchOptions opt;
  opt.prompts = o.prompts;
  opt.gens = o.gens;
  opt.depths = o.depths;
  opt.batches = o.batches_given ? o.batches : std::vector<int64_t>{512};
  const int hw = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  std::vector<int> threads = o.threads.empty() ? std::vector<int>{hw} : o.threads;
  for (int& t : threads)
    if (t == 0) t = hw;
  opt.threads = threads;
  opt.repetitions = o.repetitions;
  opt.kv = parse_kv_type(o.kv);
  opt.activations = parse_activations(o.activations.empty() ? "bf16" : o.activations[0]);
  opt.isa = isa;
  const Model m = open_model(o.model);
  Progress progress(o.quiet);
  opt.progress = [&](const std::string& s) { progress.update(0, 0, s); };
  const auto res = bench_model(m, opt);
  PeerModelRun peer;
  if (!o.peer.empty()) {
    progress.update(0, 0, "peer: llama-bench");
    peer = run_peer_model(o.peer, o.model, opt, threads);
  }
  progress.clear();
  if (!o.peer.empty() && peer.exe.empty()) std::cerr << "peer: no llama-bench in " << o.peer << " or its bin/ (skipped)\n";
  if (!peer.error.empty()) std::cerr << "peer: " << peer.error << "\n";
  const auto theirs = [&](const ModelBenchResult& r) -> const PeerModelRow* {
    for (const PeerModelRow& p : peer.rows)
      if (p.n_prompt == r.n_prompt && p.n_gen == r.n_gen && p.n_depth == r.n_depth && p.threads == r.threads &&
          (r.n_prompt == 0 || p.n_ubatch == r.batch))
        return &p;
    return nullptr;
  };
  // the bytes a decoded token reads: every stored tensor but the embedding table (one row of it)
  uint64_t params = 0, step_bytes = 0;
  for (const auto& t : m.tensors) {
    uint64_t n = 1;
    for (int64_t d : t.ne) n *= static_cast<uint64_t>(d);
    params += n;
    if (t.name != "token_embd.weight" || m.config.tied_embeddings) step_bytes += t.nbytes;
  }
  const auto weight_gbs = [&](const ModelBenchResult& r) { return r.n_gen > 0 ? static_cast<double>(step_bytes) * r.median_ts / 1e9 : 0.0; };
  const std::string kernels = res.empty() ? isa : res.front().isa;
  if (o.json) {
    nlohmann::json j{{"model", o.model}, {"parameters", params}, {"decode_step_weight_bytes", step_bytes}, {"kernel_isa", kernels}, {"kv", o.kv},
                     {"activations", o.activations.empty() ? "bf16" : o.activations[0]}, {"repetitions", o.repetitions}};
    j["tests"] = nlohmann::json::array();
    for (const auto& r : res) {
      nlohmann::json t{{"test", r.name()}, {"n_prompt", r.n_prompt}, {"n_gen", r.n_gen}, {"n_depth", r.n_depth}, {"batch", r.batch},
                       {"threads", r.threads}, {"samples_ts", r.samples_ts}, {"median_ts", r.median_ts}, {"avg_ts", r.avg_ts},
                       {"stddev_ts", r.stddev_ts}};
      if (r.n_gen > 0) t["weight_gbs"] = weight_gbs(r);
      if (!peer.exe.empty()) {
        const PeerModelRow* p = theirs(r);
        t["peer_median_ts"] = p ? nlohmann::json(p->median_ts) : nlohmann::json();
        t["ratio"] = p && p->median_ts > 0 ? nlohmann::json(r.median_ts / p->median_ts) : nlohmann::json();
      }
      j["tests"].push_back(t);
    }
    if (!peer.exe.empty()) j["peer"] = {{"llama_bench", peer.exe}, {"version", peer.version}, {"command", peer.command},
                                        {"kv", peer.kv.empty() ? "f16 (its default)" : peer.kv}, {"error", peer.error}};
    print_json(j);
    return;
  }
  std::cout << fmt::format("model: {} ({:.1f} M parameters; a decoded token reads {} of weights), {} kernels, KV cache {}, activations {}; "
                           "median of {} runs (tokens/s; weights GB/s: those bytes × tokens/s)\n\n",
                           o.model, static_cast<double>(params) / 1e6, format_bytes_short(step_bytes), kernels, o.kv,
                           o.activations.empty() ? "bf16" : o.activations[0], o.repetitions);
  Table t;
  t.header = {"test", "threads", "batch", "t/s", "mean ± sd", "weights GB/s"};
  if (!peer.exe.empty()) t.header.insert(t.header.end(), {"llama.cpp t/s", "vernier / llama.cpp"});
  for (const auto& r : res) {
    std::vector<std::string> row{r.name(), std::to_string(r.threads), r.n_prompt > 0 ? std::to_string(r.batch) : "-", fixed(r.median_ts, 2),
                                 fixed(r.avg_ts, 2) + " ± " + fixed(r.stddev_ts, 2), r.n_gen > 0 ? fixed(weight_gbs(r), 1) : "-"};
    if (!peer.exe.empty()) {
      const PeerModelRow* p = theirs(r);
      row.push_back(p ? fixed(p->median_ts, 2) : "-");
      row.push_back(p && p->median_ts > 0 ? fmt::format("{:.2f}x", r.median_ts / p->median_ts) : "-");
    }
    t.rows.push_back(row);
  }
  t.print(std::cout);
  if (!peer.exe.empty())
    std::cout << "\npeer: " << peer.exe << (peer.version.empty() ? "" : " (" + peer.version + ")") << ", after vernier's runs: " << peer.command
              << (peer.kv.empty() ? "\n(llama.cpp's KV cache is its default f16: vernier's " + o.kv + " has no llama.cpp counterpart)" : "") << "\n";
}

void run_bench(const BenchCliOptions& o) {
  if (!o.model.empty()) return run_model_bench(o);
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
  CLI::App* cmd = app.add_subcommand("bench", "Memory read bandwidth, and each weight type's matrix kernel against it; with -m, a model's "
                                              "prompt and decode speed end to end, as llama-bench (-p, -n, -d, -b, -t, -r)");
  cmd->add_option("-m,--model", opt->model,
                  "Measure this model end to end instead of the kernels, as llama-bench: pp tests (-p) and tg tests (-n), after -d "
                  "positions already in the cache");
  cmd->add_option("-p,--n-prompt", opt->prompts, "With -m: prompt lengths of the pp tests (a list; 0: none)")->delimiter(',')->capture_default_str();
  cmd->add_option("-n,--n-gen", opt->gens, "With -m: tokens decoded by the tg tests (a list; 0: none)")->delimiter(',')->capture_default_str();
  cmd->add_option("-d,--n-depth", opt->depths, "With -m: positions in the KV cache before each test (a list)")->delimiter(',')->capture_default_str();
  cmd->add_option("--kv", opt->kv, "With -m: KV cache format, " + kv_type_names() + " (--peer gives llama-bench the same where llama.cpp has it)")
      ->capture_default_str();
  cmd->add_option("--types", opt->types,
                  "Weight types: GGML types or vernier schemes (default: every type `vernier formats` lists), e.g. Q4_K Q8_0 int4-asym-g128");
  cmd->add_option("--shapes", opt->shapes, "Shapes MxK (default: 4096x14336 4096x4096)");
  CLI::Option* batches = cmd->add_option("-b,--batch-size,--batches", opt->batches,
                                         "Activation rows per product (a list: 1 8 or 1,8); with -m, tokens per forward pass of a pp test (default 512)")
                             ->delimiter(',')
                             ->capture_default_str();
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
                  "and batches, run after vernier's, with the ratios (skipped with a message where it has none); with -m, its "
                  "bin/llama-bench on the same model and tests");
  add_quiet_flag(cmd, opt->quiet);
  add_json_flag(cmd, opt->json, "the results");
  cmd->callback([opt, cmd, batches] {
    opt->batches_given = batches->count() > 0;
    opt->kernel_flags_given = cmd->count("--types") + cmd->count("--shapes") + cmd->count("--bandwidth-mib") + cmd->count("--paired-mib") > 0;
    run_bench(*opt);
  });
}

}  // namespace vernier::cli
