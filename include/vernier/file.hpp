// vernier/file.hpp — reading files without copying them, and writing files that are never half-written.
#pragma once

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <utility>
#include <vector>

namespace vernier {

// A read-only memory map of a whole file. Moves, does not copy. Errors name the file. A file that
// another program truncates while it is mapped ends the process with a message naming it, exit status 1
// (a SIGBUS inside the map; see src/io/signals.hpp), never a crash.
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
  int signal_slot_ = -1;  // the map's slot with the SIGBUS handler (a file that shrinks under it)
};

class StagedDir;

// Writes a file that readers see complete or not at all. The bytes go to an unnamed file in the
// destination's folder (O_TMPFILE), linked into place by commit() (fsync, link, rename over an existing
// destination, fsync of the folder); a process that dies before then, by any signal, SIGKILL
// included, leaves nothing behind. Where the file system has no O_TMPFILE, a named temporary
// "PATH.vernier-tmp-PID" is used instead, removed on error, on SIGINT/SIGTERM/SIGHUP and on a crash
// signal; a later write of the same destination removes one left by a process no longer running.
// An existing destination is refused unless overwrite is true, and always when it is a directory, a
// device, a FIFO or a socket (a rename would replace it with a regular file).
class AtomicFile {
 public:
  AtomicFile(const std::string& path, bool overwrite);
  // A file of a StagedDir: committed into the folder, which appears when the StagedDir commits.
  AtomicFile(StagedDir& dir, const std::string& name);
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  void write(const void* data, size_t n);
  void write(std::span<const uint8_t> b) { write(b.data(), b.size()); }
  void write_zeros(size_t n);
  uint64_t position() const { return written_; }
  void commit();  // flush, fsync, into place
  const std::string& path() const { return path_; }

 private:
  void open_in(const std::string& folder);
  void flush_buffer();
  std::string path_;
  std::string tmp_path_;  // the named temporary; empty while the file is unnamed
  StagedDir* stage_ = nullptr;
  std::string stage_name_;
  int fd_ = -1;
  uint64_t written_ = 0;
  std::string buffer_;
  bool committed_ = false;
  int signal_slot_ = -1;  // the named temporary's slot in the list the signal handler removes
};

// A folder of files (a Hugging Face checkpoint) that appears complete or not at all: its files are
// AtomicFile(dir, name), unnamed until commit() links them into "DEST.vernier-tmp-PID" and renames
// that into place, exchanging it with an existing DEST (renameat2 RENAME_EXCHANGE) so that the
// destination never goes missing; the old folder is then removed. A process killed before commit()
// leaves nothing; the staging folder is registered with the signal handler while it exists, and a
// later write of the same destination removes one left by a process no longer running.
// The caller decides whether DEST may be replaced.
class StagedDir {
 public:
  explicit StagedDir(const std::string& dest);
  ~StagedDir();
  StagedDir(const StagedDir&) = delete;
  StagedDir& operator=(const StagedDir&) = delete;
  void commit();
  const std::string& dest() const { return dest_; }

 private:
  friend class AtomicFile;
  void adopt(int fd, const std::string& name);  // a finished unnamed file
  void make_staging();
  std::string dest_, parent_, staging_;
  bool unnamed_ = true;  // files are O_TMPFILE in parent_ (else named files in staging_)
  bool staging_made_ = false;
  bool committed_ = false;
  int signal_slot_ = -1;
  std::vector<std::pair<int, std::string>> files_;
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
