// AtomicFile: temporary file + rename, with the temporaries of this process removed on a fatal signal.
#include <fcntl.h>
#include <signal.h>
#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <mutex>

#include "vernier/error.hpp"
#include "vernier/file.hpp"

namespace vernier {

namespace {
// Paths of temporaries being written, for the signal handler: fixed-size slots of C strings so the
// handler only reads memory and calls async-signal-safe unlink().
constexpr int kSlots = 16;
constexpr size_t kPathMax = 4096;
std::array<std::array<char, kPathMax>, kSlots> g_paths{};
std::array<std::atomic<bool>, kSlots> g_used{};
std::once_flag g_install;

std::atomic<const char*> g_message{nullptr};
std::atomic<bool> g_clear_line{false};

void on_fatal_signal(int sig) {
  for (int i = 0; i < kSlots; ++i) {
    if (g_used[i].load()) ::unlink(g_paths[i].data());
  }
  if (const char* m = g_message.load()) {  // write() only: async-signal-safe
    static constexpr char kClear[] = "\r\033[K";
    if (g_clear_line.load()) (void)!::write(2, kClear, sizeof kClear - 1);  // a terminal's progress line
    (void)!::write(2, m, std::strlen(m));
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void install_handlers() {
  std::call_once(g_install, [] {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction sa {};
      sa.sa_handler = on_fatal_signal;
      sigemptyset(&sa.sa_mask);
      ::sigaction(s, &sa, nullptr);
    }
  });
}

int register_temp(const std::string& path) {
  install_handlers();
  if (path.size() >= kPathMax) return -1;
  for (int i = 0; i < kSlots; ++i) {
    bool expected = false;
    if (g_used[i].compare_exchange_strong(expected, true)) {
      std::memcpy(g_paths[i].data(), path.c_str(), path.size() + 1);
      return i;
    }
  }
  return -1;
}

void unregister_temp(int slot) {
  if (slot >= 0) g_used[slot].store(false);
}

}  // namespace

void set_interrupt_message(const char* message, bool clear_line) {
  g_clear_line.store(clear_line);
  g_message.store(message);
  install_handlers();
}

AtomicFile::AtomicFile(const std::string& path, bool overwrite) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!overwrite) throw Error(ErrorKind::usage, path + ": exists (pass --force to overwrite it)");
    if (S_ISDIR(st.st_mode)) throw Error(ErrorKind::usage, path + ": is a directory");
    // a device, FIFO or socket would be replaced by a regular file on rename: refuse it, --force or not
    if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::usage, path + ": is not a regular file (a device, FIFO or socket); write to a file path");
  }
  tmp_path_ = path + ".vernier-tmp-" + std::to_string(::getpid());
  signal_slot_ = register_temp(tmp_path_);  // before the file exists, so no signal can orphan it
  fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd_ < 0) {
    const int e = errno;
    unregister_temp(signal_slot_);
    throw Error(ErrorKind::io, path + ": cannot create: " + std::strerror(e));
  }
  buffer_.reserve(1 << 20);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_) ::unlink(tmp_path_.c_str());
  unregister_temp(signal_slot_);
}

namespace {
void write_fully(int fd, const char* p, size_t n, const std::string& path) {
  size_t off = 0;
  while (off < n) {
    const ssize_t k = ::write(fd, p + off, n - off);
    if (k < 0) {
      if (errno == EINTR) continue;
      throw Error(ErrorKind::io, path + ": write failed: " + std::strerror(errno));
    }
    off += static_cast<size_t>(k);
  }
}
}  // namespace

void AtomicFile::flush_buffer() {
  write_fully(fd_, buffer_.data(), buffer_.size(), path_);
  buffer_.clear();
}

void AtomicFile::write(const void* data, size_t n) {
  if (n >= buffer_.capacity()) {  // large blocks (tensor data) go straight to the file, uncopied
    flush_buffer();
    write_fully(fd_, static_cast<const char*>(data), n, path_);
  } else {
    if (buffer_.size() + n > buffer_.capacity()) flush_buffer();
    buffer_.append(static_cast<const char*>(data), n);
  }
  written_ += n;
}

void AtomicFile::write_zeros(size_t n) {
  static const char zeros[256] = {};
  while (n > 0) {
    const size_t k = n < sizeof zeros ? n : sizeof zeros;
    write(zeros, k);
    n -= k;
  }
}

void AtomicFile::commit() {
  flush_buffer();
  if (::fsync(fd_) != 0) throw Error(ErrorKind::io, path_ + ": fsync failed: " + std::strerror(errno));
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(ErrorKind::io, path_ + ": close failed: " + std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    throw Error(ErrorKind::io, path_ + ": cannot rename the finished file into place: " + std::strerror(errno));
  }
  committed_ = true;
}

}  // namespace vernier
