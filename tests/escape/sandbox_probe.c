// SPDX-License-Identifier: Apache-2.0
//
// sandbox_probe: one escape attempt from inside `veil do`, named by its
// argument; prints "<name> <result>" where the result is "ok" (the call
// succeeded: an escape) or the errno's name. Attempts whose answer is
// death (a 32-bit or x32 syscall) never print. Static, so it runs in a
// scratch rootfs with nothing else (sandbox_escape_test.cc).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/ptrace.h>
#include <sys/syscall.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <signal.h>
#include <unistd.h>

static const char* Name(long r) {
  if (r >= 0) return "ok";
  switch (errno) {
    case EPERM: return "EPERM";
    case ENOSYS: return "ENOSYS";
    case EBADF: return "EBADF";
    case EACCES: return "EACCES";
    case ENOENT: return "ENOENT";
    case EINVAL: return "EINVAL";
    case ESRCH: return "ESRCH";
    case EFAULT: return "EFAULT";
    case ENOTDIR: return "ENOTDIR";
    default: return strerror(errno);
  }
}

static volatile sig_atomic_t g_signals = 0;
static void OnSignal(int sig) {
  (void)sig;
  g_signals = g_signals + 1;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* what = argv[1];
  long r = -1;
  char buf[16] = {0};
  if (!strcmp(what, "int80")) {
    // getpid through the 32-bit entry point: the filter kills the task.
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20) : "memory");
    r = ret;
  } else if (!strcmp(what, "x32")) {
    r = syscall(0x40000000 | SYS_getpid);  // the x32 ABI: killed
  } else if (!strcmp(what, "ptrace")) {
    r = ptrace(PTRACE_TRACEME, 0, 0, 0);
  } else if (!strcmp(what, "process_vm_writev")) {
    struct iovec local = {buf, sizeof buf}, remote = {buf, sizeof buf};
    r = syscall(SYS_process_vm_writev, getppid(), &local, 1, &remote, 1, 0);
  } else if (!strcmp(what, "mount")) {
    r = syscall(SYS_mount, "none", "/tmp", "tmpfs", 0, 0);
  } else if (!strcmp(what, "bpf")) {
    r = syscall(SYS_bpf, 0, 0, 0);
  } else if (!strcmp(what, "io_uring_setup")) {
    r = syscall(SYS_io_uring_setup, 1, buf);
  } else if (!strcmp(what, "keyctl")) {
    r = syscall(SYS_keyctl, 0, 0, 0);
  } else if (!strcmp(what, "unshare")) {
    r = syscall(SYS_unshare, CLONE_NEWNS);
  } else if (!strcmp(what, "clone_newuser")) {
    // A child in a user namespace of its own: refused by the filter.
    r = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
  } else if (!strcmp(what, "clone_plain")) {
    r = syscall(SYS_clone, SIGCHLD, 0, 0, 0, 0);
    if (r == 0) _exit(0);
    if (r > 0) r = waitpid((pid_t)r, NULL, 0) > 0 ? 0 : -1;
  } else if (!strcmp(what, "proc_symlink")) {
    // A link planted toward the sentry's /proc names the sandbox's /proc,
    // which the host kernel never resolves.
    r = symlink("/proc/1/root/etc/hostname", "/tmp/link");
    if (r == 0) r = open("/tmp/link", O_RDONLY);
  } else if (!strcmp(what, "signal_storm")) {
    // Trapped opens and closes while a child floods us with signals: each
    // open gets the lowest free fd (3), and none is left behind.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnSignal;
    sigaction(SIGUSR1, &sa, NULL);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
      for (int i = 0; i < 20000; ++i) kill(parent, SIGUSR1);
      _exit(0);
    }
    int bad = 0;
    for (int i = 0; i < 2000; ++i) {
      int fd = open("/bin/sandbox_probe", O_RDONLY);
      if (fd != 3 && !(fd < 0 && errno == EINTR)) ++bad;
      // NOTE: retried on EINTR, which Linux's close never needs (it frees
      // the fd first). A close interrupted before the sentry receives it
      // (the platform's seccomp wait is interruptible until then) fails
      // with the fd still open: a known gap (issue #12, signals).
      if (fd >= 0) {
        while (close(fd) < 0 && errno == EINTR) {
        }
      }
    }
    waitpid(child, NULL, 0);
    int last = open("/bin/sandbox_probe", O_RDONLY);
    printf("%s %s\n", what, bad == 0 && last == 3 && g_signals > 0 ? "clean" : "leaked");
    return 0;
  } else if (!strcmp(what, "setns")) {
    r = syscall(SYS_setns, 0, 0);
  } else if (!strcmp(what, "hostfds")) {
    // A host fd of anything but stdio would map natively: none may.
    int found = 0;
    for (int fd = 3; fd < 1024; ++fd) {
      void* p = mmap(NULL, 4096, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p != MAP_FAILED || errno != EBADF) ++found;
    }
    printf("%s %d\n", what, found);
    return 0;
  } else if (!strcmp(what, "dirfd")) {
    // An open directory is the sentry's: no host directory to walk from.
    int dir = open("/", O_RDONLY | O_DIRECTORY);
    r = dir < 0 ? -1 : syscall(SYS_openat, dir, "etc", O_RDONLY);
    if (r >= 0) {
      // Served by the sentry's VFS, so "etc" is the rootfs's: check the
      // host kernel did not resolve it (its fstat would name a host dir).
      r = syscall(SYS_mmap, 0, 4096, PROT_READ, MAP_PRIVATE, dir, 0);
      if (r == -1 && errno == EBADF) {
        printf("%s no-host-fd\n", what);  // --strict: nothing there
        return 0;
      }
      // The data plane: a placeholder directory, which answers native
      // calls as Linux answers them for a directory (mmap ENODEV, read
      // EISDIR) and has nothing in it to reach.
      char c;
      if (r == -1 && errno == ENODEV && read(dir, &c, 1) == -1 &&
          errno == EISDIR) {
        printf("%s placeholder\n", what);
        return 0;
      }
    }
  } else if (!strcmp(what, "dataplane_dirfd")) {
    // A regular file's host fd (the data plane) is no way to a directory:
    // *at() calls from it and fchdir to it are the sentry's (ENOTDIR),
    // while its data maps natively.
    int fd = open("/tmp/f", O_RDWR | O_CREAT | O_TRUNC, 0600);
    if (fd < 0 || write(fd, "data", 4) != 4) {
      printf("%s setup %s\n", what, Name(-1));
      return 0;
    }
    long at = syscall(SYS_openat, fd, "x", O_RDONLY);
    int at_errno = errno;
    long mk = syscall(SYS_mkdirat, fd, "d", 0700);
    int mk_errno = errno;
    long cd = syscall(SYS_fchdir, fd);
    int cd_errno = errno;
    char* p = mmap(NULL, 4096, PROT_READ, MAP_SHARED, fd, 0);
    errno = at_errno;
    printf("%s %s", what, Name(at));
    errno = mk_errno;
    printf(" %s", Name(mk));
    errno = cd_errno;
    printf(" %s %s\n", Name(cd),
           p != MAP_FAILED && !memcmp(p, "data", 4) ? "mapped" : "unmapped");
    return 0;
  } else {
    return 2;
  }
  printf("%s %s\n", what, Name(r));
  return 0;
}
