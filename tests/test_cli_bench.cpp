// vernier bench on the command line: the bandwidth and kernel figures as JSON, and --peer against a
// stand-in llama.cpp build directory.
#include <gtest/gtest.h>

#include <unistd.h>

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

}  // namespace
