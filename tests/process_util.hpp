// Watching a vernier child process write, for the interruption and fault tests.
#pragma once

#include <fcntl.h>
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

namespace vernier::testproc {

// True while `pid` holds an unfinished output in `dir` open: an unnamed file (O_TMPFILE, which
// /proc shows as "DIR/#INODE (deleted)") or a named "*.vernier-tmp-*" temporary.
inline bool writing_in(pid_t pid, const std::filesystem::path& dir) {
  namespace fs = std::filesystem;
  const std::string folder = fs::weakly_canonical(dir).string() + "/";
  std::error_code ec;
  for (fs::directory_iterator it("/proc/" + std::to_string(pid) + "/fd", ec), end; !ec && it != end; it.increment(ec)) {
    std::error_code rl;
    const std::string target = fs::read_symlink(it->path(), rl).string();
    if (rl || target.rfind(folder, 0) != 0) continue;
    if (target.find(" (deleted)") != std::string::npos || target.find(".vernier-tmp-") != std::string::npos) return true;
  }
  return false;
}

// Starts VERNIER_CLI with `args`, stderr to `err_path`, stdout discarded, `env` ("NAME=VALUE") added
// to its environment.
inline pid_t spawn(const std::vector<std::string>& args, const std::string& err_path,
                   const std::vector<std::string>& env = {}) {
  const pid_t pid = ::fork();
  if (pid != 0) return pid;
  for (const auto& e : env) ::putenv(const_cast<char*>(e.c_str()));
  const int fd = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (fd >= 0) ::dup2(fd, 2);
  const int null = ::open("/dev/null", O_WRONLY);
  if (null >= 0) ::dup2(null, 1);
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(VERNIER_CLI));
  for (const auto& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  ::execv(VERNIER_CLI, argv.data());
  ::_exit(127);
}

inline std::string read_text(const std::string& path) {
  std::ifstream in(path);
  return {std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>()};
}

// FNV-1a of a file's bytes: enough to tell that an input was not touched.
inline uint64_t checksum(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  uint64_t h = 1469598103934665603ull;
  char buf[1 << 16];
  while (in.read(buf, sizeof buf) || in.gcount() > 0) {
    for (std::streamsize i = 0; i < in.gcount(); ++i) h = (h ^ static_cast<unsigned char>(buf[i])) * 1099511628211ull;
  }
  return h;
}

}  // namespace vernier::testproc
