// SPDX-License-Identifier: Apache-2.0
//
// The task the platform tests run under a filter: a static program whose
// first argument names what it does. Results go to stdout as one line;
// the test compares them exactly.
#define _GNU_SOURCE
#include <errno.h>
#include <pthread.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

// The path the notified openat asks for; the test answers it.
static const char kPath[] = "/veil-platform-test";

#define SAY(...)                                        \
  do {                                                  \
    char line_[256];                                    \
    int n_ = snprintf(line_, sizeof line_, __VA_ARGS__); \
    if (write(1, line_, (size_t)n_) != n_) _exit(99);   \
  } while (0)

static int CountOpenFds(void) {
  int n = 0;
  for (int fd = 3; fd < 64; ++fd) n += fcntl(fd, F_GETFD) >= 0;
  return n;
}

static volatile sig_atomic_t handled;
static void OnSignal(int sig) { (void)sig; handled = 1; }
static volatile sig_atomic_t sigchld_count;
static void OnSigchld(int sig) { (void)sig; sigchld_count++; }
static volatile sig_atomic_t continued;
static void OnSigcont(int sig) { (void)sig; continued = 1; }

static void* ThreadMain(void* arg) { return arg; }

// argv[0] of the helper, for a thread that execs it again.
static const char* self_path;
static void* ExecMain(void* arg) {
  char* const args[] = {"helper", "env", "from-thread", NULL};
  char* const env[] = {NULL};
  execve(self_path, args, env);
  return arg;
}

static void Catch(int sig, void (*handler)(int)) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = handler;
  sa.sa_flags = SA_RESTART;
  if (sigaction(sig, &sa, NULL) != 0) _exit(93);
}

int main(int argc, char** argv) {
  if (argc < 2) return 98;
  const char* mode = argv[1];
  if (strcmp(mode, "x32") == 0) {
    syscall(0x40000000 | SYS_getppid);
    return 0;
  }
  if (strcmp(mode, "int80") == 0) {
    long ret;
    __asm__ volatile("int $0x80" : "=a"(ret) : "a"(20L) : "memory");  // i386 getpid
    return 0;
  }
  if (strcmp(mode, "ptrace") == 0) {
    long r = syscall(SYS_ptrace, 0 /* PTRACE_TRACEME */, 0, 0, 0);
    return r == -1 ? errno : 100;
  }
  if (strcmp(mode, "getppid") == 0) {
    errno = 0;
    long r = syscall(SYS_getppid);
    SAY("r=%ld errno=%d\n", r, r < 0 ? errno : 0);
    return 0;
  }
  if (strcmp(mode, "openat") == 0) {
    int fd = openat(AT_FDCWD, kPath, O_RDONLY);
    int e = errno;
    char data[64] = {0};
    if (fd >= 0 && read(fd, data, sizeof data - 1) < 0) data[0] = '?';
    SAY("fd=%d errno=%d cloexec=%d data=%s\n", fd, fd < 0 ? e : 0,
        fd >= 0 ? fcntl(fd, F_GETFD) : -1, data);
    return 0;
  }
  if (strcmp(mode, "exact") == 0) {
    int p[2];
    if (pipe(p) != 0 || p[0] != 3 || p[1] != 4) return 97;
    int fd = openat(AT_FDCWD, kPath, O_RDONLY);
    char data[64] = {0};
    if (read(3, data, sizeof data - 1) < 0) data[0] = '?';
    SAY("fd=%d fd4=%d open=%d data=%s\n", fd, fcntl(4, F_GETFD) >= 0,
        CountOpenFds(), data);
    return 0;
  }
  if (strcmp(mode, "memory") == 0) {
    // Two pages, the second unmapped: the test reads across the end.
    char* page = mmap(NULL, 8192, PROT_READ | PROT_WRITE,
                      MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (page == MAP_FAILED || munmap(page + 4096, 4096) != 0) return 96;
    for (int i = 0; i < 4096; ++i) page[i] = (char)('a' + i % 26);
    long r = syscall(SYS_openat, AT_FDCWD, page + 4096 - 100, 0, 0);
    SAY("r=%ld head=%.5s\n", r, page);
    return 0;
  }
  if (strcmp(mode, "signal") == 0) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnSignal;
    sa.sa_flags = SA_RESTART;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) return 95;
    int fd = openat(AT_FDCWD, kPath, O_RDONLY);
    SAY("fd=%d handled=%d open=%d\n", fd, (int)handled, CountOpenFds());
    return 0;
  }
  if (strcmp(mode, "nosarestart") == 0) {
    // Handlers without SA_RESTART (SIGUSR1, SIGCONT), then a notified
    // getppid: prints its result and errno as the program sees them.
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = OnSignal;
    if (sigaction(SIGUSR1, &sa, NULL) != 0) return 95;
    if (sigaction(SIGCONT, &sa, NULL) != 0) return 95;
    long r = syscall(SYS_getppid);
    int err = r < 0 ? errno : 0;
    SAY("r=%ld errno=%s handled=%d\n", r, err == EINTR ? "EINTR" : err ? "other" : "0",
        (int)handled);
    return 0;
  }
  if (strcmp(mode, "ticks") == 0) {
    /* 40 ticks 10 ms apart, each a byte on stdout; a child does the same
       (a freeze stops every task); then both exit. */
    pid_t child = fork();
    for (int i = 0; i < 40; ++i) {
      struct timespec ts = {0, 10 * 1000 * 1000};
      nanosleep(&ts, NULL);
      if (write(1, child == 0 ? "c" : "p", 1) != 1) return 3;
    }
    if (child == 0) _exit(0);
    int status;
    waitpid(child, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 4;
  }
  if (strcmp(mode, "fork") == 0) {
    pid_t child = fork();
    if (child == 0) _exit(7);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 94;
    SAY("child=%d status=%d\n", (int)child, status);
    return 0;
  }
  if (strcmp(mode, "threadexec") == 0) {
    // A thread other than the leader execs: it takes the leader's tid.
    self_path = argv[2];
    pthread_t t;
    if (pthread_create(&t, NULL, ExecMain, NULL) != 0) return 92;
    for (;;) pause();
  }
  if (strcmp(mode, "vfork") == 0) {
    pid_t child = vfork();
    if (child == 0) _exit(3);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 94;
    SAY("child=%d status=%d\n", (int)child, status);
    return 0;
  }
  if (strcmp(mode, "thread") == 0) {
    pthread_t t;
    if (pthread_create(&t, NULL, ThreadMain, NULL) != 0) return 92;
    if (pthread_join(t, NULL) != 0) return 91;
    SAY("joined\n");
    return 0;
  }
  if (strcmp(mode, "signals") == 0) {
    // A signal to itself and a child's SIGCHLD both reach their handlers.
    Catch(SIGUSR1, OnSignal);
    Catch(SIGCHLD, OnSigchld);
    raise(SIGUSR1);
    pid_t child = fork();
    if (child == 0) _exit(0);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 94;
    SAY("usr1=%d sigchld=%d\n", (int)handled, (int)sigchld_count);
    return 0;
  }
  if (strcmp(mode, "jobctl") == 0) {
    // The child stops; its parent sees the stop, continues it, and the
    // child goes on only because of that SIGCONT.
    pid_t child = fork();
    if (child == 0) {
      Catch(SIGCONT, OnSigcont);
      raise(SIGSTOP);
      _exit(continued ? 5 : 6);
    }
    int status = 0;
    if (child < 0 || waitpid(child, &status, WUNTRACED) != child) return 94;
    int stopped = WIFSTOPPED(status) ? WSTOPSIG(status) : -1;
    kill(child, SIGCONT);
    if (waitpid(child, &status, 0) != child) return 90;
    SAY("stopped=%d exit=%d\n", stopped, WIFEXITED(status) ? WEXITSTATUS(status) : -1);
    return 0;
  }
  if (strcmp(mode, "slow") == 0) {
    // A child exits while the parent waits in a notified call.
    pid_t child = fork();
    if (child == 0) _exit(9);
    long r = syscall(SYS_getppid);
    int status = 0;
    if (child < 0 || waitpid(child, &status, 0) != child) return 94;
    SAY("r=%ld status=%d\n", r, status);
    return 0;
  }
  if (strcmp(mode, "storm") == 0) {
    // Notified opens while signals rain: every open succeeds once (they
    // restart, SA_RESTART) and no fd is left behind.
    Catch(SIGUSR1, OnSignal);
    // 300 opens at least, and on until a signal has been caught.
    int opened = 0;
    int failed = 0;
    for (int i = 0; i < 300 || !handled; ++i) {
      int fd = openat(AT_FDCWD, kPath, O_RDONLY);
      if (fd < 0) {
        ++failed;
      } else {
        ++opened;
        close(fd);
      }
    }
    SAY("opened=%d failed=%d open=%d caught=%d\n", opened, failed,
        CountOpenFds(), (int)handled);
    return 0;
  }
  if (strcmp(mode, "root") == 0) {
    /* What native path calls find in the task's root (errno, 0 if found):
       the launcher's empty root holds this program only, read-only. */
    struct stat st;
    struct statfs fs;
    const int proc = stat("/proc", &st) == 0 ? 0 : errno;
    const int passwd = stat("/etc/passwd", &st) == 0 ? 0 : errno;
    const int self = stat("/helper", &st) == 0 ? 0 : errno;
    const int made = mkdir("/x", 0700) == 0 ? 0 : errno;
    const int ro = statfs("/", &fs) == 0 && (fs.f_flags & ST_RDONLY) != 0 &&
                   fs.f_type == 0x01021994; /* TMPFS_MAGIC */
    SAY("proc=%d passwd=%d self=%d mkdir=%d ro_tmpfs=%d\n", proc, passwd,
        self, made, ro);
    return 0;
  }
  if (strcmp(mode, "env") == 0) {
    const char* v = getenv("VEIL_TEST");
    SAY("argc=%d argv2=%s env=%s open=%d\n", argc, argc > 2 ? argv[2] : "",
        v ? v : "(none)", CountOpenFds());
    return 0;
  }
  if (strcmp(mode, "exec") == 0) {
    char* const args[] = {"nothing", NULL};
    execve("/nonexistent/veil", args, args + 1);
    SAY("errno=%d\n", errno);
    return 0;
  }
  return 98;
}
