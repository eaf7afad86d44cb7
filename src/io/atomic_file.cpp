// AtomicFile and StagedDir (file.hpp): outputs that appear complete or not at all.
#include <dirent.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <filesystem>

#include "signals.hpp"
#include "vernier/error.hpp"
#include "vernier/file.hpp"

namespace vernier {

namespace fs = std::filesystem;

namespace {

std::string folder_of(const std::string& path) {
  const fs::path p(path);
  return p.has_parent_path() ? p.parent_path().string() : std::string(".");
}

std::string temp_suffix() { return ".vernier-tmp-" + std::to_string(::getpid()); }

// An unnamed regular file in `folder`, or -1 where the file system (or a missing /proc, through which
// it is linked later) does not allow one.
int open_unnamed(const std::string& folder) {
#ifdef O_TMPFILE
  static const bool proc_fd = ::access("/proc/self/fd", X_OK) == 0;
  if (!proc_fd) return -1;
  return ::open(folder.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
#else
  (void)folder;
  return -1;
#endif
}

// Gives the unnamed file `fd` the name `path` (which must not exist).
int link_unnamed(int fd, const std::string& path) {
  const std::string self = "/proc/self/fd/" + std::to_string(fd);
  return ::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, path.c_str(), AT_SYMLINK_FOLLOW);
}

void sync_folder(const std::string& folder) {
  const int fd = ::open(folder.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd >= 0) {
    (void)::fsync(fd);  // the new name made durable; a failure here loses nothing already written
    ::close(fd);
  }
}

// Removes "NAME.vernier-tmp-PID" entries of `folder` for `name` whose process is no longer running:
// what a SIGKILL left on a file system without O_TMPFILE (or inside the instant of a rename).
void sweep_leftovers(const std::string& folder, const std::string& name) {
  const std::string prefix = name + ".vernier-tmp-";
  std::error_code ec;
  for (fs::directory_iterator it(folder, ec), end; !ec && it != end; it.increment(ec)) {
    const std::string entry = it->path().filename().string();
    if (entry.rfind(prefix, 0) != 0) continue;
    const std::string digits = entry.substr(prefix.size());
    if (digits.empty() || digits.size() > 9 || digits.find_first_not_of("0123456789") != std::string::npos) continue;
    const pid_t pid = static_cast<pid_t>(std::stol(digits));
    if (pid == ::getpid() || ::kill(pid, 0) == 0 || errno != ESRCH) continue;  // alive, or not ours to tell
    std::error_code rm;
    fs::remove_all(it->path(), rm);
  }
}

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

void set_interrupt_message(const char* message, bool clear_line) { signals::set_interrupt_message(message, clear_line); }

AtomicFile::AtomicFile(const std::string& path, bool overwrite) : path_(path) {
  struct stat st {};
  if (::stat(path.c_str(), &st) == 0) {
    if (!overwrite) throw Error(ErrorKind::usage, path + ": exists (pass --force to overwrite it)");
    if (S_ISDIR(st.st_mode)) throw Error(ErrorKind::usage, path + ": is a directory");
    // a device, FIFO or socket would be replaced by a regular file on rename: refuse it, --force or not
    if (!S_ISREG(st.st_mode)) throw Error(ErrorKind::usage, path + ": is not a regular file (a device, FIFO or socket); write to a file path");
  }
  const std::string folder = folder_of(path);
  sweep_leftovers(folder, fs::path(path).filename().string());
  open_in(folder);
}

AtomicFile::AtomicFile(StagedDir& dir, const std::string& name) : path_(dir.dest() + "/" + name), stage_(&dir), stage_name_(name) {
  if (dir.unnamed_) {
    fd_ = open_unnamed(dir.parent_);
    if (fd_ < 0) throw Error(ErrorKind::io, path_ + ": cannot create: " + std::strerror(errno));
  } else {
    // the staging folder is itself temporary (registered with the signal handler): a plain file in it
    tmp_path_ = dir.staging_ + "/" + name;
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) throw Error(ErrorKind::io, path_ + ": cannot create: " + std::strerror(errno));
  }
  buffer_.reserve(1 << 20);
}

void AtomicFile::open_in(const std::string& folder) {
  fd_ = open_unnamed(folder);
  if (fd_ < 0) {
    tmp_path_ = path_ + temp_suffix();
    signal_slot_ = signals::register_temp(tmp_path_, false);  // before the file exists: no signal orphans it
    fd_ = ::open(tmp_path_.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    if (fd_ < 0) {
      const int e = errno;
      signals::unregister_temp(signal_slot_);
      signal_slot_ = -1;
      throw Error(ErrorKind::io, path_ + ": cannot create: " + std::strerror(e));
    }
  }
  buffer_.reserve(1 << 20);
}

AtomicFile::~AtomicFile() {
  if (fd_ >= 0) ::close(fd_);
  if (!committed_ && !tmp_path_.empty() && !stage_) ::unlink(tmp_path_.c_str());
  signals::unregister_temp(signal_slot_);
}

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
  if (stage_) {
    if (tmp_path_.empty()) {
      stage_->adopt(fd_, stage_name_);  // the StagedDir links it, and closes it
    } else if (::close(fd_) != 0) {
      fd_ = -1;
      throw Error(ErrorKind::io, path_ + ": close failed: " + std::strerror(errno));
    }
    fd_ = -1;
    committed_ = true;
    return;
  }
  if (tmp_path_.empty()) {
    // Unnamed: link it straight to the destination when there is none; otherwise to a temporary name
    // renamed over it (link cannot replace a file), registered for the instant it exists.
    struct stat st {};
    if (::lstat(path_.c_str(), &st) != 0 && link_unnamed(fd_, path_) == 0) {
      ::close(fd_);
      fd_ = -1;
      committed_ = true;
      sync_folder(folder_of(path_));
      return;
    }
    tmp_path_ = path_ + temp_suffix();
    ::unlink(tmp_path_.c_str());
    signal_slot_ = signals::register_temp(tmp_path_, false);
    if (link_unnamed(fd_, tmp_path_) != 0) {
      const int e = errno;
      tmp_path_.clear();
      throw Error(ErrorKind::io, path_ + ": cannot link the finished file into its folder: " + std::strerror(e));
    }
  }
  if (::close(fd_) != 0) {
    fd_ = -1;
    throw Error(ErrorKind::io, path_ + ": close failed: " + std::strerror(errno));
  }
  fd_ = -1;
  if (::rename(tmp_path_.c_str(), path_.c_str()) != 0) {
    throw Error(ErrorKind::io, path_ + ": cannot rename the finished file into place: " + std::strerror(errno));
  }
  committed_ = true;
  sync_folder(folder_of(path_));
}

StagedDir::StagedDir(const std::string& dest) : dest_(dest), parent_(folder_of(dest)) {
  const std::string name = fs::path(dest).filename().string();
  staging_ = (fs::path(parent_) / (name + temp_suffix())).string();
  sweep_leftovers(parent_, name);
  const int probe = open_unnamed(parent_);
  if (probe >= 0) {
    ::close(probe);
  } else {
    unnamed_ = false;
    make_staging();
  }
}

void StagedDir::make_staging() {
  std::error_code ec;
  fs::remove_all(staging_, ec);
  signal_slot_ = signals::register_temp(staging_, true);  // before it exists
  if (::mkdir(staging_.c_str(), 0755) != 0) {
    const int e = errno;
    signals::unregister_temp(signal_slot_);
    signal_slot_ = -1;
    throw Error(ErrorKind::io, staging_ + ": cannot create: " + std::strerror(e));
  }
  staging_made_ = true;
}

StagedDir::~StagedDir() {
  for (auto& f : files_) ::close(f.first);
  if (!committed_ && staging_made_) {
    std::error_code ec;
    fs::remove_all(staging_, ec);
  }
  signals::unregister_temp(signal_slot_);
}

void StagedDir::adopt(int fd, const std::string& name) { files_.emplace_back(fd, name); }

void StagedDir::commit() {
  if (unnamed_) {
    make_staging();
    for (auto& [fd, name] : files_) {
      if (link_unnamed(fd, staging_ + "/" + name) != 0) {
        throw Error(ErrorKind::io, dest_ + "/" + name + ": cannot link the finished file into its folder: " + std::strerror(errno));
      }
      ::close(fd);
      fd = -1;
    }
    files_.clear();
  }
  sync_folder(staging_);
  struct stat st {};
  if (::lstat(dest_.c_str(), &st) == 0) {
    // Swap the finished folder with the old one in one step: DEST is never missing, and the old
    // folder, now under the staging name, is removed after (by the signal handler if it comes to it).
    if (::renameat2(AT_FDCWD, staging_.c_str(), AT_FDCWD, dest_.c_str(), RENAME_EXCHANGE) != 0) {
      throw Error(ErrorKind::io, dest_ + ": cannot move the finished folder into place: " + std::strerror(errno));
    }
    committed_ = true;
    std::error_code ec;
    fs::remove_all(staging_, ec);
  } else {
    if (::rename(staging_.c_str(), dest_.c_str()) != 0) {
      throw Error(ErrorKind::io, dest_ + ": cannot move the finished folder into place: " + std::strerror(errno));
    }
    committed_ = true;
  }
  sync_folder(parent_);
}

}  // namespace vernier
