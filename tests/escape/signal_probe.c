// SPDX-License-Identifier: Apache-2.0
//
// signal_probe: signals during trapped calls inside `veil do`, one case
// named by its argument; prints "<case> <result>" with the exact result
// (sandbox_signal_test.cc compares it with what Linux gives). Static, so
// it runs in a scratch rootfs with nothing else. alarm(20) ends a case
// whose call is never interrupted (SIGALRM's default kills it; veil then
// exits 137, the kernel's fatal-signal path): a failure, never a hang.
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

static volatile sig_atomic_t g_signals = 0;
static void OnSignal(int sig) {
  (void)sig;
  g_signals = g_signals + 1;
}

static void Handle(int sig, int flags) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = OnSignal;
  sa.sa_flags = flags;
  sigaction(sig, &sa, NULL);
}

// A child that sends `sig` to us every 20 ms until killed: whenever our
// call starts, a signal comes while it waits (those before it only run
// the handler).
static pid_t Pester(int sig) {
  pid_t parent = getpid();
  pid_t child = fork();
  if (child == 0) {
    for (;;) {
      usleep(20000);
      if (kill(parent, sig) != 0) _exit(0);
    }
  }
  return child;
}

static void Stop(pid_t child) {
  kill(child, SIGKILL);
  waitpid(child, NULL, 0);
}

// `r` and the errno saved right after the call.
static const char* Result(long r, int err) {
  static char buf[64];
  if (r >= 0) {
    snprintf(buf, sizeof buf, "%ld", r);
    return buf;
  }
  return err == EINTR ? "EINTR" : strerror(err);
}

// Opens, stats, makes and removes directories and closes while a child
// floods us with SIGUSR1 (no SA_RESTART): Linux never fails these with
// EINTR, and every open gets the lowest free fd (3).
static int eintr = 0, other = 0;
static void Check(int r) {
  if (r == 0) return;
  if (errno == EINTR) ++eintr;
  else ++other;
}

// One worker of the storm: opens, stats, makes and removes a directory
// and closes, 2000 times; writes {eintr, other, fds left open} to `out`.
static void StormWorker(int id, int out) {
  char dir[32];
  snprintf(dir, sizeof dir, "/tmp/d%d", id);
  struct stat st;
  // Under the storm from the start, however late the stormer runs (pause
  // is native: it returns once a handler ran).
  while (g_signals == 0) pause();
  for (int i = 0; i < 2000; ++i) {
    int fd = open("/bin/signal_probe", O_RDONLY);
    if (fd < 0 && errno == EINTR) ++eintr;
    else if (fd != 3) ++other;
    Check(stat("/bin/signal_probe", &st));
    Check(mkdir(dir, 0700));
    Check(rmdir(dir));
    if (fd >= 0) Check(close(fd));
  }
  int counts[3] = {eintr, other, 0};
  for (int fd = 3; fd < 1024; ++fd)
    if (fd != out && fcntl(fd, F_GETFD) >= 0) ++counts[2];
  (void)!write(out, counts, sizeof counts);
}

// Four processes run trapped path calls while a fifth floods them with
// SIGUSR1 (no SA_RESTART). Linux never fails these calls with EINTR, and
// every open gets the lowest free fd (3). Several workers keep the
// sentry's receivers busy, so calls often wait for their receive when a
// signal comes: the case the tracer's restart is for.
static int Storm(void) {
  enum { kWorkers = 4 };
  Handle(SIGUSR1, 0);
  int p[2];
  if (pipe(p) != 0) return 3;
  pid_t workers[kWorkers];
  for (int i = 0; i < kWorkers; ++i) {
    workers[i] = fork();
    if (workers[i] == 0) {
      close(p[0]);
      // The pipe's write end is fd 4 (3 was the read end): fd 3 is free.
      StormWorker(i, p[1]);
      _exit(g_signals > 0 ? 0 : 1);
    }
  }
  pid_t stormer = fork();
  if (stormer == 0) {
    for (;;)
      for (int i = 0; i < kWorkers; ++i) kill(workers[i], SIGUSR1);
  }
  close(p[1]);
  int total[3] = {0, 0, 0};
  int handled = 1;
  for (int i = 0; i < kWorkers; ++i) {
    int counts[3];
    if (read(p[0], counts, sizeof counts) != sizeof counts) return 4;
    for (int k = 0; k < 3; ++k) total[k] += counts[k];
  }
  for (int i = 0; i < kWorkers; ++i) {
    int status = 0;
    waitpid(workers[i], &status, 0);
    if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) handled = 0;
  }
  Stop(stormer);
  printf("storm eintr=%d other=%d fds=%d handled=%s\n", total[0], total[1],
         total[2], handled ? "yes" : "no");
  return 0;
}

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  const char* what = argv[1];
  alarm(20);
  int p[2];
  if (!strcmp(what, "storm")) return Storm();
  if (pipe(p) != 0) return 3;
  if (!strcmp(what, "read_eintr")) {
    // A handler without SA_RESTART: the blocked read fails with EINTR.
    Handle(SIGUSR1, 0);
    pid_t child = Pester(SIGUSR1);
    char c;
    long r = read(p[0], &c, 1);
    int err = errno;
    Stop(child);
    printf("%s %s handled=%s\n", what, Result(r, err), g_signals > 0 ? "yes" : "no");
  } else if (!strcmp(what, "read_restart")) {
    // SA_RESTART: the read goes on after each handler and returns what a
    // child writes after five signals (which may coalesce: the count is
    // not printed).
    Handle(SIGUSR1, SA_RESTART);
    pid_t parent = getpid();
    pid_t child = fork();
    if (child == 0) {
      for (int i = 0; i < 5; ++i) {
        usleep(20000);
        kill(parent, SIGUSR1);
      }
      usleep(20000);
      (void)!write(p[1], "data", 4);
      _exit(0);
    }
    char buf[16] = {0};
    long r = read(p[0], buf, sizeof buf - 1);
    int err = errno;
    waitpid(child, NULL, 0);
    printf("%s %s %s handled=%s\n", what, Result(r, err), r > 0 ? buf : "-",
           g_signals > 0 ? "yes" : "no");
  } else if (!strcmp(what, "poll_eintr")) {
    // poll is never restarted after a handler, SA_RESTART or not
    // (-ERESTARTNOHAND): SIGALRM during a 10 s poll of an empty pipe.
    Handle(SIGALRM, SA_RESTART);
    pid_t child = Pester(SIGALRM);
    struct pollfd pfd = {p[0], POLLIN, 0};
    long r = poll(&pfd, 1, 10000);
    int err = errno;
    Stop(child);
    printf("%s %s handled=%s\n", what, Result(r, err), g_signals > 0 ? "yes" : "no");
  } else if (!strcmp(what, "read_ignored")) {
    // An ignored signal (SIGCHLD's default) never ends the read:
    // children exit while it waits, then the last one writes.
    for (int i = 1; i <= 5; ++i) {
      if (fork() == 0) {
        usleep(20000 * i);
        _exit(0);
      }
    }
    if (fork() == 0) {
      usleep(150000);
      (void)!write(p[1], "late", 4);
      _exit(0);
    }
    char buf[16] = {0};
    long r = read(p[0], buf, sizeof buf - 1);
    int err = errno;
    while (wait(NULL) > 0) {
    }
    printf("%s %s %s\n", what, Result(r, err), r > 0 ? buf : "-");
  } else {
    return 2;
  }
  return 0;
}
