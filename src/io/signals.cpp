// Fatal-signal handling for vernier's inputs and outputs (see signals.hpp).
#include "signals.hpp"

#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <array>
#include <atomic>
#include <cstring>
#include <mutex>

namespace vernier::signals {

namespace {

constexpr size_t kPathMax = 4096;

// Temporaries: state 0 free, 1 being filled, 2 file, 3 folder. The path is written before the state
// is published, so the handler never reads a half-copied path.
constexpr int kTempSlots = 32;
struct TempSlot {
  std::atomic<int> state{0};
  char path[kPathMax];
};
std::array<TempSlot, kTempSlots> g_temps;

// Input maps: a sharded checkpoint maps every shard at once, so there are more of these.
constexpr int kMapSlots = 512;
constexpr size_t kMapPathMax = 1024;  // longer paths are cut (only the message uses them)
struct MapSlot {
  std::atomic<int> state{0};  // 0 free, 1 being filled, 2 live
  uintptr_t begin = 0, end = 0;
  char path[kMapPathMax];
};
std::array<MapSlot, kMapSlots> g_maps;

std::atomic<const char*> g_message{nullptr};
std::atomic<bool> g_clear_line{false};
std::once_flag g_install;

constexpr int kFaults[] = {SIGSEGV, SIGFPE, SIGABRT, SIGBUS};
struct sigaction g_previous[4];  // the actions installed before ours, for kFaults in order

void put(const char* s) { (void)!::write(2, s, std::strlen(s)); }

// Removes a folder's entries (one level: vernier's staging folders hold files only) and the folder.
void remove_folder(const char* path) {
  const int fd = ::open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    alignas(8) char buf[4096];
    for (;;) {
      const long n = ::syscall(SYS_getdents64, fd, buf, sizeof buf);
      if (n <= 0) break;
      for (long off = 0; off < n;) {
        const auto* d = reinterpret_cast<const struct dirent64*>(buf + off);
        if (std::strcmp(d->d_name, ".") != 0 && std::strcmp(d->d_name, "..") != 0) ::unlinkat(fd, d->d_name, 0);
        off += d->d_reclen;
      }
    }
    ::close(fd);
  }
  ::rmdir(path);
}

void remove_temporaries() {
  for (TempSlot& s : g_temps) {
    const int st = s.state.load();
    if (st == 2) ::unlink(s.path);
    if (st == 3) remove_folder(s.path);
  }
}

void clear_progress_line() {
  static constexpr char kClear[] = "\r\033[K";
  if (g_clear_line.load()) (void)!::write(2, kClear, sizeof kClear - 1);
}

void on_interrupt(int sig) {
  remove_temporaries();
  if (const char* m = g_message.load()) {
    clear_progress_line();
    put(m);
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

const MapSlot* map_holding(const void* addr) {
  const auto a = reinterpret_cast<uintptr_t>(addr);
  for (const MapSlot& m : g_maps) {
    if (m.state.load() == 2 && a >= m.begin && a < m.end) return &m;
  }
  return nullptr;
}

void on_fault(int sig, siginfo_t* info, void* context) {
  remove_temporaries();
  if (sig == SIGBUS && info != nullptr) {
    if (const MapSlot* m = map_holding(info->si_addr)) {
      clear_progress_line();
      put("vernier: error: ");
      put(m->path);
      put(": the file shrank while it was being read (another program truncated or rewrote it); "
          "no output was written\n");
      ::_exit(1);
    }
  }
  // Not ours to explain: the previous handler (a sanitizer's report) or the default action.
  for (int i = 0; i < 4; ++i) {
    if (kFaults[i] != sig) continue;
    const struct sigaction& prev = g_previous[i];
    if ((prev.sa_flags & SA_SIGINFO) && prev.sa_sigaction != nullptr) {
      ::sigaction(sig, &prev, nullptr);
      prev.sa_sigaction(sig, info, context);
      return;
    }
    if (prev.sa_handler != SIG_DFL && prev.sa_handler != SIG_IGN && prev.sa_handler != nullptr) {
      ::sigaction(sig, &prev, nullptr);
      prev.sa_handler(sig);
      return;
    }
  }
  ::signal(sig, SIG_DFL);
  ::raise(sig);  // blocked while this handler runs: delivered, with the default action, on return
}

void install() {
  std::call_once(g_install, [] {
    for (int s : {SIGINT, SIGTERM, SIGHUP}) {
      struct sigaction sa {};
      sa.sa_handler = on_interrupt;
      sigemptyset(&sa.sa_mask);
      ::sigaction(s, &sa, nullptr);
    }
    for (int i = 0; i < 4; ++i) {
      struct sigaction sa {};
      sa.sa_sigaction = on_fault;
      sa.sa_flags = SA_SIGINFO;
      sigemptyset(&sa.sa_mask);
      ::sigaction(kFaults[i], &sa, &g_previous[i]);
    }
  });
}

}  // namespace

int register_temp(const std::string& path, bool dir) {
  install();
  if (path.size() >= kPathMax) return -1;
  for (int i = 0; i < kTempSlots; ++i) {
    int expected = 0;
    if (g_temps[i].state.compare_exchange_strong(expected, 1)) {
      std::memcpy(g_temps[i].path, path.c_str(), path.size() + 1);
      g_temps[i].state.store(dir ? 3 : 2);
      return i;
    }
  }
  return -1;
}

void unregister_temp(int slot) {
  if (slot >= 0 && slot < kTempSlots) g_temps[slot].state.store(0);
}

int register_map(const void* begin, uint64_t size, const std::string& path) {
  install();
  for (int i = 0; i < kMapSlots; ++i) {
    int expected = 0;
    if (g_maps[i].state.compare_exchange_strong(expected, 1)) {
      MapSlot& m = g_maps[i];
      m.begin = reinterpret_cast<uintptr_t>(begin);
      m.end = m.begin + size;
      const size_t n = path.size() < kMapPathMax ? path.size() : kMapPathMax - 1;
      std::memcpy(m.path, path.data(), n);
      m.path[n] = '\0';
      m.state.store(2);
      return i;
    }
  }
  return -1;
}

void unregister_map(int slot) {
  if (slot >= 0 && slot < kMapSlots) g_maps[slot].state.store(0);
}

void set_interrupt_message(const char* message, bool clear_line) {
  g_clear_line.store(clear_line);
  g_message.store(message);
  install();
}

}  // namespace vernier::signals
