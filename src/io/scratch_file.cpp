// ScratchFile (file.hpp): an unnamed file that holds bytes outside the process's memory.
#include <fcntl.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

#include "vernier/error.hpp"
#include "vernier/file.hpp"

namespace vernier {

ScratchFile::ScratchFile(const std::string& dir) : dir_(dir.empty() ? "." : dir) {
#ifdef O_TMPFILE
  fd_ = ::open(dir_.c_str(), O_TMPFILE | O_RDWR | O_CLOEXEC, 0600);
#endif
  if (fd_ < 0) {  // a file system without O_TMPFILE: a named file, unlinked at once
    std::string templ = dir_ + "/.vernier-scratch-XXXXXX";
    fd_ = ::mkostemp(templ.data(), O_CLOEXEC);
    if (fd_ >= 0) ::unlink(templ.c_str());
  }
  if (fd_ < 0) throw Error(ErrorKind::io, dir_ + ": cannot make a scratch file: " + std::strerror(errno));
}

ScratchFile::~ScratchFile() {
  if (fd_ >= 0) ::close(fd_);
}

uint64_t ScratchFile::append(std::span<const uint8_t> b) {
  const uint64_t at = size_;
  size_t done = 0;
  while (done < b.size()) {
    const ssize_t n = ::pwrite(fd_, b.data() + done, b.size() - done, static_cast<off_t>(at + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      throw Error(ErrorKind::io, dir_ + ": cannot write " + std::to_string(b.size()) + " bytes to a scratch file: " +
                                     std::strerror(n < 0 ? errno : ENOSPC));
    }
    done += static_cast<size_t>(n);
  }
  size_ += b.size();
  return at;
}

void ScratchFile::read(uint64_t offset, std::span<uint8_t> out) const {
  if (offset + out.size() > size_) throw std::logic_error(dir_ + ": scratch read past what was written");
  size_t done = 0;
  while (done < out.size()) {
    const ssize_t n = ::pread(fd_, out.data() + done, out.size() - done, static_cast<off_t>(offset + done));
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) throw Error(ErrorKind::io, dir_ + ": cannot read back a scratch file: " + std::strerror(n < 0 ? errno : EIO));
    done += static_cast<size_t>(n);
  }
}

}  // namespace vernier
