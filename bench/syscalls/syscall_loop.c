// SPDX-License-Identifier: Apache-2.0
//
// syscall_loop: the per-call cost of a few syscalls, as a program sees
// it (bench/syscalls/run.sh runs it natively, under `veil do` and under
// gVisor). Built statically, so the same binary runs everywhere.
//   syscall_loop N LOWER_FILE TMP_DIR
// prints one line per call: "<name> <ns per call>".
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static long long now_ns(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (long long)ts.tv_sec * 1000000000LL + ts.tv_nsec;
}

#define MEASURE(name, n, body)                                       \
  do {                                                               \
    long long t0 = now_ns();                                         \
    for (long i = 0; i < (n); ++i) {                                 \
      body;                                                          \
    }                                                                \
    printf("%s %.0f\n", name, (double)(now_ns() - t0) / (double)(n)); \
  } while (0)

int main(int argc, char** argv) {
  if (argc != 4) {
    fprintf(stderr, "usage: syscall_loop N LOWER_FILE TMP_DIR\n");
    return 2;
  }
  long n = atol(argv[1]);
  const char* lower = argv[2];
  char tmp_file[4096];
  snprintf(tmp_file, sizeof tmp_file, "%s/syscall_loop.%d", argv[3],
           (int)getpid());
  static char buf[4096];
  memset(buf, 'x', sizeof buf);
  int tfd = open(tmp_file, O_RDWR | O_CREAT | O_TRUNC, 0600);
  if (tfd < 0 || write(tfd, buf, sizeof buf) != sizeof buf) {
    perror(tmp_file);
    return 1;
  }
  int lfd = open(lower, O_RDONLY);
  if (lfd < 0) {
    perror(lower);
    return 1;
  }
  struct stat st;
  volatile long sink = 0;
  MEASURE("getppid", n * 10, sink += getppid());
  MEASURE("fstat", n, sink += fstat(tfd, &st));
  MEASURE("stat_tmpfs", n, sink += stat(tmp_file, &st));
  MEASURE("stat_lower", n, sink += stat(lower, &st));
  MEASURE("open_close_tmpfs", n, sink += close(open(tmp_file, O_RDONLY)));
  MEASURE("pread4k_tmpfs", n, sink += pread(tfd, buf, sizeof buf, 0));
  MEASURE("pread4k_lower", n, sink += pread(lfd, buf, sizeof buf, 0));
  unlink(tmp_file);
  return sink == 42 ? 3 : 0;
}
