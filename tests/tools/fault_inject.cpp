// An LD_PRELOAD shim for the fault tests (tests/test_faults.cpp): write(2), pwrite(2), writev(2) and
// fsync(2)/fdatasync(2) on descriptors whose file lies in $VERNIER_FAULT_DIR fail with
// $VERNIER_FAULT_ERRNO (EIO or ENOSPC) once $VERNIER_FAULT_AFTER bytes have gone to such files, or,
// with VERNIER_FAULT_ON=fsync, at the first fsync of one. Unnamed O_TMPFILE files count: /proc names
// them "DIR/#INODE (deleted)". Everything else passes through untouched.
#ifndef _GNU_SOURCE
#define _GNU_SOURCE
#endif
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <unistd.h>

static const char* fault_dir(void) {
  static const char* dir = NULL;
  static int init = 0;
  if (!init) {
    dir = getenv("VERNIER_FAULT_DIR");
    init = 1;
  }
  return dir;
}

static int fault_errno(void) {
  const char* e = getenv("VERNIER_FAULT_ERRNO");
  return e && strcmp(e, "ENOSPC") == 0 ? ENOSPC : EIO;
}

static int on_fsync(void) {
  const char* e = getenv("VERNIER_FAULT_ON");
  return e && strcmp(e, "fsync") == 0;
}

static int watched(int fd) {
  const char* dir = fault_dir();
  if (!dir || !*dir) return 0;
  char link[64], target[4096];
  snprintf(link, sizeof link, "/proc/self/fd/%d", fd);
  const ssize_t n = readlink(link, target, sizeof target - 1);
  if (n <= 0) return 0;
  target[n] = '\0';
  const size_t len = strlen(dir);
  return strncmp(target, dir, len) == 0 && (target[len] == '/' || target[len] == '\0');
}

static unsigned long long g_written = 0;

// 0: let `n` bytes through; -1 with errno set: fail this call
static int charge(int fd, size_t n) {
  if (on_fsync() || !watched(fd)) return 0;
  const char* a = getenv("VERNIER_FAULT_AFTER");
  const unsigned long long after = a ? strtoull(a, NULL, 10) : 0;
  if (g_written + n > after) {
    errno = fault_errno();
    return -1;
  }
  g_written += n;
  return 0;
}

extern "C" ssize_t write(int fd, const void* buf, size_t n) {
  static ssize_t (*real)(int, const void*, size_t) = NULL;
  if (!real) real = (ssize_t(*)(int, const void*, size_t))dlsym(RTLD_NEXT, "write");
  if (charge(fd, n) != 0) return -1;
  return real(fd, buf, n);
}

extern "C" ssize_t pwrite(int fd, const void* buf, size_t n, off_t at) {
  static ssize_t (*real)(int, const void*, size_t, off_t) = NULL;
  if (!real) real = (ssize_t(*)(int, const void*, size_t, off_t))dlsym(RTLD_NEXT, "pwrite");
  if (charge(fd, n) != 0) return -1;
  return real(fd, buf, n, at);
}

extern "C" ssize_t pwrite64(int fd, const void* buf, size_t n, off_t at) { return pwrite(fd, buf, n, at); }

extern "C" ssize_t writev(int fd, const struct iovec* iov, int count) {
  static ssize_t (*real)(int, const struct iovec*, int) = NULL;
  if (!real) real = (ssize_t(*)(int, const struct iovec*, int))dlsym(RTLD_NEXT, "writev");
  size_t n = 0;
  for (int i = 0; i < count; ++i) n += iov[i].iov_len;
  if (charge(fd, n) != 0) return -1;
  return real(fd, iov, count);
}

static int fail_sync(int fd) {
  if (on_fsync() && watched(fd)) {
    errno = fault_errno();
    return -1;
  }
  return 0;
}

extern "C" int fsync(int fd) {
  static int (*real)(int) = NULL;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fsync");
  if (fail_sync(fd) != 0) return -1;
  return real(fd);
}

extern "C" int fdatasync(int fd) {
  static int (*real)(int) = NULL;
  if (!real) real = (int (*)(int))dlsym(RTLD_NEXT, "fdatasync");
  if (fail_sync(fd) != 0) return -1;
  return real(fd);
}
