// vernier/file.hpp — reading files without copying them, and writing files that are never half-written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>

namespace vernier {

// A read-only memory map of a whole file. Moves, does not copy. Errors name the file.
class MappedFile {
 public:
  MappedFile() = default;
  explicit MappedFile(const std::string& path);
  ~MappedFile();
  MappedFile(MappedFile&& other) noexcept;
  MappedFile& operator=(MappedFile&& other) noexcept;
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const uint8_t* data() const { return data_; }
  uint64_t size() const { return size_; }
  std::span<const uint8_t> bytes() const { return {data_, static_cast<size_t>(size_)}; }
  const std::string& path() const { return path_; }
  // Tells the kernel the pages under [p, p + n) will not be needed again soon, so a pass that reads
  // a large file tensor by tensor keeps its resident set near one tensor (the pages are re-read from
  // the file if touched again).
  void release(const uint8_t* p, size_t n) const;

 private:
  std::string path_;
  const uint8_t* data_ = nullptr;
  uint64_t size_ = 0;
};

// Writes to a temporary file beside the destination and renames it into place on commit(), so a
// reader never sees a partial file. If the object is destroyed without commit() (an error, an
// exception) or the process gets SIGINT/SIGTERM/SIGHUP, the temporary file is removed.
// An existing destination is refused unless overwrite is true; the destination may not be an input.
class AtomicFile {
 public:
  AtomicFile(const std::string& path, bool overwrite);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::span<const uint8_t> b) { write(b.data(), b.size()); }
  void write_zeros(size_t n);
  uint64_t position() const { return written_; }
  void commit();  // flush, fsync, rename over the destination
  const std::string& path() const { return path_; }

 private:
  void flush_buffer();
  std::string path_;
  std::string tmp_path_;
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string buffer_;
  bool committed_ = false;
  int signal_slot_ = -1;  // slot in the list of temporaries removed on SIGINT/SIGTERM/SIGHUP
};

// What SIGINT/SIGTERM/SIGHUP print on stderr before the process ends with that signal (after the
// temporaries are removed): for a command-line tool, "interrupted". Installs the handlers now.
// clear_line: first erase the terminal line a progress display may have left.
void set_interrupt_message(const char* message, bool clear_line);

// An anonymous file that bytes are parked in while they wait to be used again (a pipeline's finished
// results): written with pwrite, they sit in the kernel's page cache, which the system may write back
// and reclaim, not in this process's memory. The file has no name (O_TMPFILE, or unlinked at once),
// so it disappears with the last handle whatever happens. Errors (no space) name the folder.
class ScratchFile {
 public:
  explicit ScratchFile(const std::string& dir);
  ~ScratchFile();
  ScratchFile(const ScratchFile&) = delete;
  ScratchFile& operator=(const ScratchFile&) = delete;

  uint64_t append(std::span<const uint8_t> b);           // returns the offset it was written at
  void read(uint64_t offset, std::span<uint8_t> out) const;  // exactly out.size() bytes written before
  uint64_t size() const { return size_; }
  const std::string& dir() const { return dir_; }

 private:
  std::string dir_;
  int fd_ = -1;
  uint64_t size_ = 0;
};

// True if both paths name the same existing file (same device and inode).
bool same_file(const std::string& a, const std::string& b);

// Peak resident set size of this process so far (VmHWM), in bytes; 0 where unknown.
uint64_t peak_rss_bytes();

}  // namespace vernier
