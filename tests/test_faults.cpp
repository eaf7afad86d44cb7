// Faults (docs/reliability.md): every writing command interrupted by SIGINT, SIGTERM and SIGKILL at
// seeded random moments, failing writes (EIO, ENOSPC: an LD_PRELOAD shim and a real full tmpfs), a
// read-only destination, an input that shrinks under its map, leftovers of dead processes, and threads
// the system refuses. After each: the inputs are byte for byte what they were, the output is absent
// (or the old one, untouched) or complete (equal to an uninterrupted run's), nothing else is left in
// the folder, and the exit status and message say what happened.
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/resource.h>
#include <sys/stat.h>

#include <algorithm>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "process_util.hpp"
#include "shared_data.hpp"

namespace {

namespace fs = std::filesystem;
using namespace vernier::testproc;

#if defined(__SANITIZE_ADDRESS__)
constexpr bool kSanitized = true;  // ASan reserves terabytes of address space: RLIMIT_AS tests cannot run
#else
constexpr bool kSanitized = false;
#endif

// The inputs every job reads: a small synthetic model (made by `vernier synth`, seeded) and a text.
struct Inputs {
  fs::path dir;
  std::string model, text;
};

int run_cli(const std::vector<std::string>& args, std::string* err = nullptr, const std::vector<std::string>& env = {}) {
  static int n = 0;
  const std::string err_path = vernier::testdata::temp_path("faults-stderr-" + std::to_string(n++) + ".txt");
  const pid_t pid = spawn(args, err_path, env);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (err) *err = read_text(err_path);
  fs::remove(err_path);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}

const Inputs& inputs() {
  static const Inputs in = [] {
    Inputs i;
    i.dir = fs::path(vernier::testdata::temp_path("faults"));
    fs::create_directories(i.dir / "in");
    i.model = (i.dir / "in" / "model.gguf").string();
    std::string err;
    const int code = run_cli({"synth", "-o", i.model, "--dim", "256", "--ffn", "768", "--layers", "4", "--seed", "17"}, &err);
    if (code != 0) throw std::runtime_error("synth failed: " + err);
    i.text = (i.dir / "in" / "text.txt").string();
    std::mt19937 rng(5);
    static const char* words[] = {"the", "cat", "sat", "on", "a", "mat", "and", "looked", "at", "stars", "while", "it", "rained"};
    std::ofstream t(i.text);
    for (int k = 0; k < 3000; ++k) t << words[rng() % 13] << (k % 17 == 16 ? ".\n" : " ");
    return i;
  }();
  return in;
}

// A writing command: its arguments for an output path, and whether the output is a folder.
struct Job {
  std::string name, ext;
  bool folder;
  std::function<std::vector<std::string>(const std::string& out)> args;
};

std::vector<Job> jobs() {
  const Inputs& in = inputs();
  return {
      {"quantize_gguf", ".gguf", false,
       [&](const std::string& o) { return std::vector<std::string>{"quantize", in.model, "-o", o, "--type", "Q4_K_M", "-t", "1", "--quiet"}; }},
      {"quantize_layout", "", true,
       [&](const std::string& o) {
         return std::vector<std::string>{"quantize", in.model, "-o", o, "--layout", "gptq", "--scheme", "int4-sym-g128", "-t", "1", "--quiet"};
       }},
      {"convert_safetensors", ".safetensors", false,
       [&](const std::string& o) { return std::vector<std::string>{"convert", in.model, "-o", o, "--type", "f16"}; }},
      {"synth", ".gguf", false,
       [&](const std::string& o) {
         return std::vector<std::string>{"synth", "-o", o, "--dim", "256", "--ffn", "768", "--layers", "4", "--seed", "3", "-t", "1"};
       }},
      {"imatrix", ".gguf", false,
       [&](const std::string& o) { return std::vector<std::string>{"imatrix", in.model, "-f", in.text, "-o", o, "-t", "1", "--chunks", "4"}; }},
      {"eval_save_logits", ".f32", false,
       [&](const std::string& o) {
         return std::vector<std::string>{"eval", in.model, "-f", in.text, "--ctx", "128", "--chunks", "6", "--save-logits", o, "-t", "1"};
       }},
  };
}

// What a path holds: 0 when absent, the checksum of a file, or of a folder's names and files.
uint64_t digest(const fs::path& p) {
  if (!fs::exists(p)) return 0;
  if (!fs::is_directory(p)) return checksum(p.string()) | 1;
  std::map<std::string, uint64_t> files;
  for (const auto& e : fs::recursive_directory_iterator(p)) {
    if (e.is_regular_file()) files[fs::relative(e.path(), p).string()] = checksum(e.path().string());
  }
  uint64_t h = 1469598103934665603ull;
  for (const auto& [name, sum] : files) {
    for (char c : name) h = (h ^ static_cast<unsigned char>(c)) * 1099511628211ull;
    h = (h ^ sum) * 1099511628211ull;
  }
  return h | 1;
}

std::vector<std::string> entries(const fs::path& dir) {
  std::vector<std::string> names;
  for (const auto& e : fs::directory_iterator(dir)) names.push_back(e.path().filename().string());
  std::sort(names.begin(), names.end());
  return names;
}

// An output that already exists, for the --force trials: an interrupted overwrite must leave it intact.
void make_old_output(const fs::path& out, bool folder) {
  if (folder) {
    fs::create_directories(out);
    std::ofstream(out / "config.json") << "{\"old\": true}\n";
  } else {
    std::ofstream(out) << "the previous output, which an unfinished run must not replace\n";
  }
}

// True once `pid` catches SIGINT: its handlers are installed, so a signal now is vernier's to handle.
bool handlers_installed(pid_t pid) {
  std::ifstream st("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  while (std::getline(st, line)) {
    if (line.rfind("SigCgt:", 0) == 0) return (std::stoull(line.substr(7), nullptr, 16) & (1ull << (SIGINT - 1))) != 0;
  }
  return false;
}

bool exited(pid_t pid, int& status) { return ::waitpid(pid, &status, WNOHANG) == pid; }

struct Reference {
  uint64_t digest = 0;
  double seconds = 0;
  uintmax_t bytes = 0;
};

Reference reference(const Job& job) {
  static std::map<std::string, Reference> made;
  if (auto it = made.find(job.name); it != made.end()) return it->second;
  const fs::path dir = inputs().dir / ("ref-" + job.name);
  fs::create_directories(dir);
  const fs::path out = dir / ("out" + job.ext);
  const auto t0 = std::chrono::steady_clock::now();
  std::string err;
  const int code = run_cli(job.args(out.string()), &err);
  Reference r;
  r.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
  EXPECT_EQ(code, 0) << job.name << ": " << err;
  r.digest = digest(out);
  if (job.folder) {
    for (const auto& e : fs::recursive_directory_iterator(out)) r.bytes += e.is_regular_file() ? e.file_size() : 0;
  } else if (fs::exists(out)) {
    r.bytes = fs::file_size(out);
  }
  made[job.name] = r;
  return r;
}

class Interrupted : public ::testing::TestWithParam<int> {};

TEST_P(Interrupted, InputIntactOutputCompleteOrAbsentNothingLeft) {
  const Job job = jobs()[GetParam()];
  const Inputs& in = inputs();
  const uint64_t model_sum = checksum(in.model), text_sum = checksum(in.text);
  const Reference ref = reference(job);
  ASSERT_NE(ref.digest, 0u) << job.name << " wrote nothing";
  std::mt19937 rng(1000 + GetParam());
  int trial = 0, interrupted = 0;
  for (int sig : {SIGINT, SIGTERM, SIGKILL}) {
    for (bool overwrite : {false, true}) {
      for (int rep = 0; rep < 2; ++rep, ++trial) {
        const fs::path dir = in.dir / (job.name + "-" + std::to_string(trial));
        fs::create_directories(dir);
        const fs::path out = dir / ("out" + job.ext);
        uint64_t old = 0;
        if (overwrite) {
          make_old_output(out, job.folder);
          old = digest(out);
        }
        std::vector<std::string> args = job.args(out.string());
        if (overwrite) args.push_back("--force");
        const std::string err_path = (in.dir / (job.name + "-stderr.txt")).string();
        // the first repetition interrupts while the output is open for writing; the second at a
        // uniformly drawn moment of the uninterrupted run's duration
        const double delay = rep == 0 ? 0.0 : std::uniform_real_distribution<double>(0.0, ref.seconds)(rng);
        const pid_t pid = spawn(args, err_path);
        int status = 0;
        bool done = false;
        const auto t0 = std::chrono::steady_clock::now();
        while (!(done = exited(pid, status)) && !handlers_installed(pid)) ::usleep(100);
        if (rep == 0) {
          while (!done && !writing_in(pid, dir) && !(done = exited(pid, status))) ::usleep(100);
        } else {
          while (!done && std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count() < delay) {
            ::usleep(200);
            done = exited(pid, status);
          }
        }
        if (!done) {
          ::kill(pid, sig);
          ::waitpid(pid, &status, 0);
        }
        const std::string said = read_text(err_path);
        const std::string what = job.name + " trial " + std::to_string(trial) + " (signal " + std::to_string(sig) +
                                 (overwrite ? ", over an old output" : "") + "): ";
        EXPECT_EQ(checksum(in.model), model_sum) << what << "the model was modified";
        EXPECT_EQ(checksum(in.text), text_sum) << what << "the text was modified";
        if (WIFSIGNALED(status)) {
          ++interrupted;
          EXPECT_EQ(WTERMSIG(status), sig) << what << said;
          if (sig != SIGKILL) EXPECT_NE(said.find("vernier: interrupted"), std::string::npos) << what << said;
          // a signal after the output was linked into place (while the process printed its report or
          // exited) finds it complete: the old output, or none, or the finished one — never a part
          const uint64_t now = digest(out);
          EXPECT_TRUE(now == old || now == ref.digest)
              << what << (overwrite ? "the old output was changed" : "an unfinished output exists");
        } else {
          EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << what << "status " << status << ": " << said;
          EXPECT_EQ(digest(out), ref.digest) << what << "the output differs from an uninterrupted run's";
        }
        std::vector<std::string> want;
        if (fs::exists(out)) want.push_back(out.filename().string());
        std::vector<std::string> have = entries(dir);
        if (have != want && sig == SIGKILL) {
          // SIGKILL inside the instant between link and rename leaves "NAME.vernier-tmp-PID": the
          // next run into the folder removes it (the process is dead)
          std::string err;
          std::vector<std::string> again = job.args(out.string());
          again.push_back("--force");
          EXPECT_EQ(run_cli(again, &err), 0) << what << err;
          have = entries(dir);
          want = {out.filename().string()};
        }
        EXPECT_EQ(have, want) << what << "left behind in the folder";
        fs::remove_all(dir);
      }
    }
  }
  EXPECT_GT(interrupted, 0) << job.name << ": no trial interrupted it (it finished each time)";
  std::cout << job.name << ": " << interrupted << " of " << trial << " trials interrupted it; an uninterrupted run takes "
            << ref.seconds << " s\n";
}

std::string job_name(const ::testing::TestParamInfo<int>& info) { return jobs()[info.param].name; }

INSTANTIATE_TEST_SUITE_P(EveryWriter, Interrupted, ::testing::Range(0, 6), job_name);

// Writes that fail (the shim in tests/tools/fault_inject.cpp): EIO or ENOSPC after a drawn number of
// bytes, and EIO from fsync. Exit 1, the output path and the system's reason in the message, nothing
// written, the inputs intact.
class FailingWrites : public ::testing::TestWithParam<int> {};

TEST_P(FailingWrites, ExitOneNameTheOutputLeaveNothing) {
  const Job job = jobs()[GetParam()];
  const Inputs& in = inputs();
  const uint64_t model_sum = checksum(in.model);
  const Reference ref = reference(job);
  std::mt19937 rng(2000 + GetParam());
  struct Mode {
    const char *errno_name, *on, *reason;
  };
  for (const Mode m : {Mode{"EIO", "write", "Input/output error"}, Mode{"ENOSPC", "write", "No space left on device"},
                       Mode{"EIO", "fsync", "Input/output error"}}) {
    const fs::path dir = in.dir / (job.name + "-fault");
    fs::create_directories(dir);
    const fs::path out = dir / ("out" + job.ext);
    const uintmax_t after = std::uniform_int_distribution<uintmax_t>(0, ref.bytes > 0 ? ref.bytes - 1 : 0)(rng);
    const std::vector<std::string> env = {"LD_PRELOAD=" VERNIER_FAULT_SHIM, "VERNIER_FAULT_DIR=" + fs::weakly_canonical(dir).string(),
                                          std::string("VERNIER_FAULT_ERRNO=") + m.errno_name, std::string("VERNIER_FAULT_ON=") + m.on,
                                          "VERNIER_FAULT_AFTER=" + std::to_string(after),
                                          "ASAN_OPTIONS=verify_asan_link_order=0:detect_leaks=1:abort_on_error=1"};
    std::string err;
    const int code = run_cli(job.args(out.string()), &err, env);
    const std::string what = job.name + " with " + m.errno_name + " on " + m.on + " after " + std::to_string(after) + " bytes: ";
    EXPECT_EQ(code, 1) << what << err;
    EXPECT_NE(err.find("vernier: error: "), std::string::npos) << what << err;
    EXPECT_NE(err.find(dir.string()), std::string::npos) << what << "the message names no output: " << err;
    EXPECT_NE(err.find(m.reason), std::string::npos) << what << err;
    EXPECT_EQ(entries(dir), std::vector<std::string>{}) << what << "left behind";
    EXPECT_EQ(checksum(in.model), model_sum) << what;
    fs::remove_all(dir);
  }
}

INSTANTIATE_TEST_SUITE_P(EveryWriter, FailingWrites, ::testing::Range(0, 6), job_name);

// A mount for the tests that need a real file system property; skipped where mounting is not allowed.
struct TmpfsMount {
  fs::path at;
  bool ok = false;
  TmpfsMount(const fs::path& p, const char* options, unsigned long flags) : at(p) {
    fs::create_directories(p);
    ok = ::mount("tmpfs", p.c_str(), "tmpfs", flags, options) == 0;
  }
  ~TmpfsMount() {
    if (ok) ::umount2(at.c_str(), MNT_DETACH);
  }
};

TEST(Faults, FullFileSystemIsAnErrorAndLeavesItEmpty) {
  const Inputs& in = inputs();
  for (const Job& job : jobs()) {
    // a tmpfs with room for half the output
    const Reference ref = reference(job);
    const std::string size = "size=" + std::to_string(std::max<uintmax_t>(ref.bytes / 2, 4096));
    TmpfsMount small(in.dir / ("small-" + job.name), size.c_str(), 0);
    if (!small.ok) GTEST_SKIP() << "cannot mount a tmpfs here (" << std::strerror(errno) << "); the shim's ENOSPC test covers the code path";
    const fs::path out = small.at / ("out" + job.ext);
    std::string err;
    const int code = run_cli(job.args(out.string()), &err);
    EXPECT_EQ(code, 1) << job.name << ": " << err;
    EXPECT_NE(err.find("No space left on device"), std::string::npos) << job.name << ": " << err;
    EXPECT_NE(err.find(small.at.string()), std::string::npos) << job.name << ": " << err;
    EXPECT_EQ(entries(small.at), std::vector<std::string>{}) << job.name;
    EXPECT_EQ(fs::space(small.at).available, fs::space(small.at).capacity) << job.name << ": the space was not given back";
  }
}

TEST(Faults, ReadOnlyDestinationIsRefusedBeforeTheWork) {
  const Inputs& in = inputs();
  const fs::path dir = in.dir / "readonly";
  TmpfsMount ro(dir, "size=1m", MS_RDONLY);
  if (!ro.ok) {
    if (::geteuid() == 0) GTEST_SKIP() << "root ignores permissions and cannot mount here: no read-only folder to test";
    fs::permissions(dir, fs::perms::owner_read | fs::perms::owner_exec);
  }
  // "Before the work" is shown by order, not by time: each command is given a model that is not a model,
  // so a folder check that came after loading would fail on the model (exit 1) instead.
  const fs::path bogus = in.dir / "not-a-model.gguf";
  std::ofstream(bogus) << "GGUF but not really: the folder must be refused before this is read\n";
  for (const Job& job : jobs()) {
    const fs::path out = dir / ("out" + job.ext);
    std::vector<std::string> args = job.args(out.string());
    std::replace(args.begin(), args.end(), in.model, bogus.string());
    std::string err;
    const int code = run_cli(args, &err);
    // the output's folder is checked before any work, as a command-line error (docs/cli.md)
    EXPECT_EQ(code, 2) << job.name << ": " << err;
    EXPECT_NE(err.find(dir.string()), std::string::npos) << job.name << ": " << err;
    EXPECT_EQ(err.find(bogus.string()), std::string::npos) << job.name << ": the model was read before the folder was checked: " << err;
    EXPECT_TRUE(err.find("Read-only file system") != std::string::npos || err.find("Permission denied") != std::string::npos)
        << job.name << ": " << err;
    EXPECT_EQ(entries(dir), std::vector<std::string>{}) << job.name;
  }
  if (!ro.ok) fs::permissions(dir, fs::perms::owner_all);
}

TEST(Faults, InputTruncatedUnderItsMapIsAnErrorNamingIt) {
  const Inputs& in = inputs();
  const fs::path dir = in.dir / "shrink";
  fs::create_directories(dir);
  const fs::path model = dir / "victim.gguf", out = dir / "out.gguf";
  fs::copy_file(in.model, model);
  const pid_t pid = spawn({"quantize", model.string(), "-o", out.string(), "--type", "Q4_K_M", "-t", "1", "--quiet"},
                          (dir / "stderr.txt").string());
  int status = 0;
  bool done = false;
  while (!(done = exited(pid, status)) && !writing_in(pid, dir)) ::usleep(100);
  ASSERT_FALSE(done) << "the quantizer finished before it could be interrupted";
  fs::resize_file(model, 4096);  // another program rewrites the input under the quantizer
  ::waitpid(pid, &status, 0);
  const std::string said = read_text((dir / "stderr.txt").string());
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status << ": " << said;
  EXPECT_EQ(WEXITSTATUS(status), 1) << said;
  EXPECT_NE(said.find(model.string() + ": the file shrank while it was being read"), std::string::npos) << said;
  EXPECT_FALSE(fs::exists(out));
}

TEST(Faults, LeftoversOfDeadProcessesAreSweptLiveOnesKept) {
  const Inputs& in = inputs();
  const fs::path dir = in.dir / "sweep";
  fs::create_directories(dir);
  const pid_t dead = ::fork();
  if (dead == 0) ::_exit(0);
  ::waitpid(dead, nullptr, 0);
  const std::string stale = "out.gguf.vernier-tmp-" + std::to_string(dead), live = "out.gguf.vernier-tmp-" + std::to_string(::getpid());
  std::ofstream(dir / stale) << "half a file";
  std::ofstream(dir / live) << "another process's unfinished file";
  std::string err;
  ASSERT_EQ(run_cli({"quantize", in.model, "-o", (dir / "out.gguf").string(), "--type", "Q8_0", "--quiet"}, &err), 0) << err;
  EXPECT_EQ(entries(dir), (std::vector<std::string>{"out.gguf", live}));
}

TEST(Faults, ThreadsTheSystemRefusesRunOnTheCaller) {
  if (kSanitized) GTEST_SKIP() << "under AddressSanitizer the address space cannot be limited";
  const Inputs& in = inputs();
  const fs::path dir = in.dir / "threads";
  fs::create_directories(dir);
  std::string err;
  ASSERT_EQ(run_cli({"quantize", in.model, "-o", (dir / "one.gguf").string(), "--type", "Q4_K_M", "-t", "1", "--quiet"}, &err), 0) << err;
  const pid_t pid = ::fork();
  if (pid == 0) {
    struct rlimit lim {1500ull << 20, 1500ull << 20};  // 600 threads' 8 MiB stacks do not fit in 1.5 GB
    ::setrlimit(RLIMIT_AS, &lim);
    const int null = ::open("/dev/null", O_WRONLY);
    ::dup2(null, 2);
    ::execl(VERNIER_CLI, VERNIER_CLI, "quantize", in.model.c_str(), "-o", (dir / "many.gguf").c_str(), "--type", "Q4_K_M", "-t", "600",
            "--quiet", static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "status " << status;
  EXPECT_EQ(WEXITSTATUS(status), 0);
  EXPECT_EQ(checksum((dir / "many.gguf").string()), checksum((dir / "one.gguf").string()));
}

}  // namespace
