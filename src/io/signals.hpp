// What the process does on a fatal signal, for the files it is reading and writing (internal to src/io).
//
// Outputs are written to unnamed files (O_TMPFILE) wherever the file system allows, so a signal —
// SIGKILL included — leaves nothing behind: the kernel frees an unnamed file with its last handle.
// Named temporaries exist only where it does not (and, for a few system calls, while a finished file
// is being linked into place); they are registered here and removed by the handler:
//   SIGINT, SIGTERM, SIGHUP: remove the temporaries, print the interrupt message, end with the signal.
//   SIGSEGV, SIGFPE, SIGABRT, SIGBUS: remove the temporaries, then hand the signal to the handler that
//     was installed before (a sanitizer's report) or the default action.
//   SIGBUS at an address inside a registered input map: the input shrank under its map (another
//     program truncated or rewrote it). That is bad input, not a crash: remove the temporaries, print
//     "vernier: error: FILE: ..." and exit with status 1.
// The handler only reads fixed-size slots and calls async-signal-safe functions (unlink, rmdir, open,
// getdents64, write, _exit).
#pragma once

#include <cstdint>
#include <string>

namespace vernier::signals {

// A named temporary file (dir = false) or a temporary folder removed with its entries (dir = true).
// Returns a slot to pass to unregister_temp, or -1 where every slot is taken (the path is then not
// covered; callers still remove it on their normal error paths).
int register_temp(const std::string& path, bool dir);
void unregister_temp(int slot);

// An input file's map [begin, begin + size). Returns a slot or -1.
int register_map(const void* begin, uint64_t size, const std::string& path);
void unregister_map(int slot);

void set_interrupt_message(const char* message, bool clear_line);

}  // namespace vernier::signals
