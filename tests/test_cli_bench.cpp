// vernier bench on the command line: the bandwidth and kernel figures as JSON, a model end to end
// (-m), and --peer against a stand-in llama.cpp build directory.
#include <gtest/gtest.h>

#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>
#include <string>

#include "cli_run.hpp"

namespace {

TEST(Cli, BenchReportsBandwidthAndKernelsAsJson) {
  const CliResult r = run(
      "bench --types Q4_0 F16 int4-asym-g128 --activations f32 q8_0 --shapes 64x512 --batches 1 3 --threads 1 2 --reps 3 "
      "--bandwidth-mib 64 --paired-mib 32 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  EXPECT_GT(j["read_bandwidth_gbs"].get<double>(), 0.0);
  ASSERT_EQ(j["matvec"].size(), 16u);  // (2 types + 1 scheme × 2 activations) × 2 batches × 2 thread counts
  for (const auto& m : j["matvec"]) {
    for (const char* k : {"type", "activations", "m", "k", "batch", "threads", "gbs", "gflops", "ratio_to_bandwidth", "paired_bandwidth_gbs"})
      EXPECT_TRUE(m.contains(k)) << k;
    EXPECT_GT(m["gbs"].get<double>(), 0.0);
    EXPECT_GT(m["paired_bandwidth_gbs"].get<double>(), 0.0);
    EXPECT_GT(m["ratio_to_bandwidth"].get<double>(), 0.0);
  }
  EXPECT_EQ(j["matvec"][0]["activations"], "Q8_0");  // what Q4_0 weights multiply
  EXPECT_EQ(j["matvec"].back()["activations"], "q8_0");
  EXPECT_EQ(run("bench --types Q8_K").code, 2);
  EXPECT_EQ(run("bench --types int4-asym-g128 --activations int8").code, 2);
  EXPECT_EQ(run("bench --shapes 12by4").code, 2);
  EXPECT_EQ(run("bench --isa neon").code, 2);
}

TEST(Cli, BenchPeerRunsTheBuildsTestBackendOpsAndSkipsWhereItIsAbsent) {
  // a stand-in for a llama.cpp build directory: a test-backend-ops that prints a perf line in the
  // format of llama.cpp 0c1e570's (ANSI colours included) for the one case it is asked about, and
  // records its arguments, so the test checks the query vernier sends and the ratio it prints
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vernier-peer-" + std::to_string(::getpid()));
  fs::create_directories(dir / "bin");
  const fs::path exe = dir / "bin" / "test-backend-ops";
  {
    std::ofstream f(exe);
    f << "#!/bin/sh\necho \"$@\" >> '" << (dir / "args.txt").string() << "'\n"
      << "case \"$*\" in *type_a=q4_0,type_b=f32,m=64,n=3,k=512,*) "
         "printf '  MUL_MAT(type_a=q4_0,...):  100 runs -  1.00 us/run - 0.20 MFLOP/run - \\033[1;34m 12.50 GFLOPS\\033[0m\\n';; esac\n";
  }
  fs::permissions(exe, fs::perms::owner_all);
  CliResult r = run("bench --types Q4_0 int4-asym-g128 --activations f32 --shapes 64x512 --batches 3 --threads 1 --reps 3 "
                    "--bandwidth-mib 64 --paired-mib 0 --json --quiet --peer " + dir.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["peer"]["matmul"].size(), 1u) << "one GGML type, one shape, one batch (the scheme has no counterpart)";
  const auto& p = j["peer"]["matmul"][0];
  EXPECT_EQ(p["peer_gflops"].get<double>(), 12.5);
  EXPECT_NEAR(p["ratio"].get<double>(), p["vernier_gflops"].get<double>() / 12.5, 1e-12);
  std::ifstream a(dir / "args.txt");
  const std::string args{std::istreambuf_iterator<char>(a), std::istreambuf_iterator<char>()};
  EXPECT_NE(args.find("perf -o MUL_MAT -b CPU -p ^type_a=q4_0,type_b=f32,m=64,n=3,k=512,"), std::string::npos) << args;
  r = run("bench --types Q4_0 --shapes 64x512 --batches 3 --threads 1 --reps 3 --bandwidth-mib 64 --paired-mib 0 --quiet --peer " +
          (dir / "nothing-here").string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("no test-backend-ops"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

// A tiny seeded model made for the test (no download): 1 block of width 32, context 64.
std::string tiny_model(const std::filesystem::path& dir) {
  const std::string path = (dir / "tiny.gguf").string();
  const CliResult r = run("synth -o " + path + " --dim 32 --ffn 64 --layers 1 --vocab 260 --ctx 64 --quiet --force");
  EXPECT_EQ(r.code, 0) << r.err;
  return path;
}

TEST(Cli, BenchModelRunsLlamaBenchsTestsEndToEnd) {
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vernier-bench-model-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  const std::string model = tiny_model(dir);
  CliResult r = run("bench -m " + model + " -p 16,24 -n 4 -d 0,8 -b 8 -t 1 -r 3 --json --quiet");
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tests"].size(), 6u);  // per depth: pp16, pp24, tg4
  const char* names[] = {"pp16", "pp24", "tg4", "pp16 @ d8", "pp24 @ d8", "tg4 @ d8"};
  for (size_t i = 0; i < 6; ++i) {
    const auto& t = j["tests"][i];
    EXPECT_EQ(t["test"], names[i]);
    EXPECT_EQ(t["threads"], 1);
    ASSERT_EQ(t["samples_ts"].size(), 3u);
    double lo = 1e300, hi = 0;
    for (const auto& v : t["samples_ts"]) {
      lo = std::min(lo, v.get<double>());
      hi = std::max(hi, v.get<double>());
    }
    EXPECT_GT(lo, 0.0);
    EXPECT_GE(t["median_ts"].get<double>(), lo);
    EXPECT_LE(t["median_ts"].get<double>(), hi);
    EXPECT_FALSE(t.contains("ratio")) << "no peer asked for";
    // a decode test says the weight bytes it streamed per second (every tensor but the embedding, × t/s)
    if (t["n_gen"].get<int64_t>() > 0)
      EXPECT_NEAR(t["weight_gbs"].get<double>(), j["decode_step_weight_bytes"].get<double>() * t["median_ts"].get<double>() / 1e9, 1e-9);
    else
      EXPECT_FALSE(t.contains("weight_gbs"));
  }
  EXPECT_EQ(j["tests"][0]["batch"], 8);
  EXPECT_EQ(j["parameters"].get<int64_t>() > 0, true);
  // refused by name, before any work
  EXPECT_EQ(run("bench -m " + model + " -p -1").code, 2);
  EXPECT_EQ(run("bench -m " + model + " -p 0 -n 0").code, 2);
  EXPECT_EQ(run("bench -m " + model + " -b 0").code, 2);
  EXPECT_EQ(run("bench -m " + model + " --types Q4_0").code, 2) << "a kernel flag with -m";
  r = run("bench -m " + model + " -p 60 -d 8 --quiet");
  EXPECT_EQ(r.code, 2);
  EXPECT_NE(r.err.find("context of 64"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

TEST(Cli, BenchModelPeerRunsTheBuildsLlamaBenchOnTheSameTests) {
  // a stand-in llama-bench: records its arguments, logs to stderr as llama.cpp does, and prints JSON in
  // the format of llama.cpp 0c1e570's `-o json` for pp16 (ubatch 8) and tg4 on 1 thread
  namespace fs = std::filesystem;
  const fs::path dir = fs::temp_directory_path() / ("vernier-peer-lb-" + std::to_string(::getpid()));
  fs::create_directories(dir / "bin");
  const std::string model = tiny_model(dir);
  const fs::path exe = dir / "bin" / "llama-bench";
  {
    std::ofstream f(exe);
    f << "#!/bin/sh\n"
         "if [ \"$1\" = --version ]; then echo 'version: 1 (0c1e570)'; exit 0; fi\n"
         "echo \"$@\" >> '" << (dir / "args.txt").string() << "'\n"
         "echo 'load_backend: loaded CPU backend' >&2\n"
         "cat <<'EOF'\n"
         "[\n"
         "  {\"build_commit\": \"0c1e570\", \"n_ubatch\": 8, \"n_threads\": 1, \"n_prompt\": 16, \"n_gen\": 0, \"n_depth\": 0,\n"
         "   \"avg_ts\": 100.0, \"stddev_ts\": 10.0, \"samples_ts\": [ 90, 100, 110 ]},\n"
         "  {\"build_commit\": \"0c1e570\", \"n_ubatch\": 8, \"n_threads\": 1, \"n_prompt\": 0, \"n_gen\": 4, \"n_depth\": 0,\n"
         "   \"avg_ts\": 41.0, \"stddev_ts\": 1.0, \"samples_ts\": [ 40, 42, 41 ]}\n"
         "]\n"
         "EOF\n";
  }
  fs::permissions(exe, fs::perms::owner_all);
  CliResult r = run("bench -m " + model + " -p 16 -n 4 -b 8 -t 1 -r 3 --kv f16 --json --quiet --peer " + dir.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto j = nlohmann::json::parse(r.out);
  ASSERT_EQ(j["tests"].size(), 2u);
  EXPECT_EQ(j["tests"][0]["peer_median_ts"].get<double>(), 100.0);
  EXPECT_NEAR(j["tests"][0]["ratio"].get<double>(), j["tests"][0]["median_ts"].get<double>() / 100.0, 1e-12);
  EXPECT_EQ(j["tests"][1]["peer_median_ts"].get<double>(), 41.0);
  EXPECT_EQ(j["peer"]["version"], "version: 1 (0c1e570)");
  EXPECT_EQ(j["peer"]["kv"], "f16");
  std::ifstream a(dir / "args.txt");
  const std::string args{std::istreambuf_iterator<char>(a), std::istreambuf_iterator<char>()};
  EXPECT_NE(args.find("-m " + model + " -p 16 -n 4 -t 1 -r 3 -b 2048 -ub 8 -ctk f16 -ctv f16 -o json"), std::string::npos) << args;
  EXPECT_EQ(args.find(" -d "), std::string::npos) << "no depth asked for, none passed (older llama-bench has no -d)";
  // a depth: passed, and no row of the peer's matches it
  r = run("bench -m " + model + " -p 16 -n 0 -d 4 -b 8 -t 1 -r 2 --json --quiet --peer " + dir.string());
  ASSERT_EQ(r.code, 0) << r.err;
  const auto k = nlohmann::json::parse(r.out);
  EXPECT_TRUE(k["tests"][0]["peer_median_ts"].is_null());
  EXPECT_EQ(k["peer"]["kv"], "f16 (its default)") << "vernier's default f32: llama-bench takes no -ctk f32";
  // a llama-bench that prints no JSON: vernier's figures still come, the reason on stderr
  {
    std::ofstream f(exe);
    f << "#!/bin/sh\necho 'error: failed to load model' >&2\nexit 1\n";
  }
  r = run("bench -m " + model + " -p 16 -n 0 -b 8 -t 1 -r 2 --quiet --peer " + dir.string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("failed to load model"), std::string::npos) << r.err;
  EXPECT_NE(r.out.find("pp16"), std::string::npos) << r.out;
  r = run("bench -m " + model + " -p 16 -n 0 -r 1 --quiet --peer " + (dir / "nothing-here").string());
  EXPECT_EQ(r.code, 0) << r.err;
  EXPECT_NE(r.err.find("no llama-bench"), std::string::npos) << r.err;
  fs::remove_all(dir);
}

}  // namespace
