// SPDX-License-Identifier: Apache-2.0
//
// fd semantics a program sees, printed as a transcript: run on the host
// and under `veil do` (native data plane and --strict), the three must
// print the same (do_fd_semantics_test.cc). Each line is one step and its
// result ("ok", a value, or the errno's name), so a difference names the
// step. Static, as `veil do` runs static programs (issue #12).
//
// usage: fd_semantics_probe DIR   (a scratch directory, empty)
//        fd_semantics_probe --check-closed FD   (after exec: FD is gone)
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void Step(const char* what, long r) {
  if (r >= 0) {
    printf("%s %ld\n", what, r);
  } else {
    printf("%s -%s\n", what, strerrorname_np(errno));
  }
}

static void StepText(const char* what, const char* buf, long n) {
  if (n < 0) {
    printf("%s -%s\n", what, strerrorname_np(errno));
  } else {
    printf("%s '%.*s'\n", what, (int)n, buf);
  }
}

static long DirCount(int fd) {
  char buf[4096];
  long total = 0;
  for (;;) {
    long n = syscall(SYS_getdents64, fd, buf, sizeof buf);
    if (n <= 0) return n < 0 ? n : total;
    for (long at = 0; at < n;) {
      struct dirent64* d = (struct dirent64*)(buf + at);
      ++total;
      at += d->d_reclen;
    }
  }
}

int main(int argc, char** argv) {
  if (argc == 3 && !strcmp(argv[1], "--check-closed")) {
    char c;
    int fd = atoi(argv[2]);
    // Both the sentry's table (fcntl) and the host's (read) lost it.
    Step("exec cloexec fcntl", fcntl(fd, F_GETFD));
    Step("exec cloexec read", read(fd, &c, 1));
    Step("exec kept fd", fcntl(fd + 1, F_GETFD));
    return 0;
  }
  if (argc != 2 || chdir(argv[1]) != 0) return 2;
  setvbuf(stdout, NULL, _IONBF, 0);
  // Whatever the caller left open beyond stdio, fd numbers start at 3.
  syscall(SYS_close_range, 3, ~0U, 0);
  char buf[64];
  struct stat st;

  // Offsets: each open its own, dup and fork share one.
  int a = open("f", O_RDWR | O_CREAT | O_TRUNC, 0644);
  Step("write", write(a, "hello", 5));
  Step("lseek cur", lseek(a, 0, SEEK_CUR));
  int b = open("f", O_RDONLY);
  StepText("second open reads", buf, read(b, buf, 2));
  Step("first offset unchanged", lseek(a, 0, SEEK_CUR));
  int d = dup(b);
  StepText("dup reads on", buf, read(d, buf, 2));
  Step("dup shares offset", lseek(b, 0, SEEK_CUR));
  pid_t pid = fork();
  if (pid == 0) {
    _exit(read(b, buf, 1) == 1 ? 0 : 1);
  }
  int status;
  waitpid(pid, &status, 0);
  Step("fork shares offset", lseek(d, 0, SEEK_CUR));
  Step("lseek end", lseek(b, 0, SEEK_END));
  Step("lseek past", lseek(b, 10, SEEK_CUR));
  Step("lseek negative", lseek(b, -100, SEEK_SET));

  // O_APPEND, sizes and the status flags.
  int ap = open("f", O_WRONLY | O_APPEND);
  Step("append write", write(ap, "XY", 2));
  Step("append lseek", lseek(ap, 0, SEEK_CUR));
  fstat(a, &st);
  Step("size after native writes", st.st_size);
  stat("f", &st);
  Step("stat size", st.st_size);
  Step("getfl append", fcntl(ap, F_GETFL) & (O_APPEND | O_ACCMODE));
  Step("setfl clear append", fcntl(ap, F_SETFL, 0));
  Step("getfl after", fcntl(ap, F_GETFL) & (O_APPEND | O_ACCMODE));
  Step("write at offset", write(ap, "Z", 1));
  Step("pread", pread(b, buf, 7, 0));
  StepText("contents", buf, pread(b, buf, sizeof buf, 0));

  // Truncation and times.
  Step("ftruncate", ftruncate(a, 2));
  fstat(b, &st);
  Step("size after ftruncate", st.st_size);
  StepText("read after truncate", buf, pread(b, buf, sizeof buf, 0));
  struct timespec times[2] = {{1000000000, 0}, {1000000000, 0}};
  Step("utimensat", utimensat(AT_FDCWD, "f", times, 0));
  stat("f", &st);
  Step("mtime set", st.st_mtim.tv_sec);
  Step("atime set", st.st_atim.tv_sec);
  Step("write after utimes", pwrite(a, "w", 1, 0));
  stat("f", &st);
  Step("mtime moved", st.st_mtim.tv_sec > 1000000000);
  Step("ctime moved", st.st_ctim.tv_sec > 1000000000);

  // Shared mappings and read agree.
  Step("ftruncate page", ftruncate(a, 4096));
  char* map = mmap(NULL, 4096, PROT_READ | PROT_WRITE, MAP_SHARED, a, 0);
  if (map != MAP_FAILED) {
    memcpy(map, "mapped", 6);
    StepText("read sees mapping", buf, pread(b, buf, 6, 0));
    Step("pwrite", pwrite(a, "MAP", 3, 0));
    StepText("mapping sees write", map, 6);
    munmap(map, 4096);
  } else {
    Step("mmap", -1);
  }

  // close, dup2, close_range.
  Step("close", close(d));
  Step("read closed", read(d, buf, 1));
  Step("close again", close(d));
  int e = open("f", O_RDONLY);
  Step("lowest free", e);
  Step("dup2 onto open", dup2(a, e));
  Step("dup2 shares", lseek(e, 0, SEEK_CUR) == lseek(a, 0, SEEK_CUR));
  Step("dup3 cloexec", dup3(a, 20, O_CLOEXEC));
  Step("getfd", fcntl(20, F_GETFD));
  Step("setfd", fcntl(20, F_SETFD, 0));
  Step("getfd after", fcntl(20, F_GETFD));
  Step("fcntl dupfd", fcntl(a, F_DUPFD, 30));
  Step("close_range", syscall(SYS_close_range, 20, 40, 0));
  Step("closed by range", read(30, buf, 1));

  // Directories: getdents, rewind, read and seek on them.
  mkdir("dir", 0755);
  close(open("dir/x", O_CREAT | O_WRONLY, 0600));
  close(open("dir/y", O_CREAT | O_WRONLY, 0600));
  int dir = open("dir", O_RDONLY | O_DIRECTORY);
  Step("getdents", DirCount(dir));
  Step("getdents at end", DirCount(dir));
  Step("rewind", lseek(dir, 0, SEEK_SET));
  Step("getdents again", DirCount(dir));
  Step("read dir", read(dir, buf, 1));
  Step("write dir", write(dir, "x", 1));
  Step("openat from dir", openat(dir, "x", O_RDONLY) >= 0);
  Step("openat from file", openat(a, "x", O_RDONLY));
  int path = open("f", O_PATH);
  Step("read O_PATH", read(path, buf, 1));
  Step("fstat O_PATH", fstat(path, &st));

  // Pipes: data, end of file, O_NONBLOCK, poll.
  int p[2];
  Step("pipe", pipe(p));
  Step("pipe write", write(p[1], "pipe", 4));
  struct pollfd pfd = {p[0], POLLIN, 0};
  Step("poll", poll(&pfd, 1, 0));
  Step("poll revents", pfd.revents);
  int queued = -1;
  Step("fionread", ioctl(p[0], FIONREAD, &queued));
  Step("fionread bytes", queued);
  int nb = 1;
  Step("fionbio", ioctl(p[1], FIONBIO, &nb));
  Step("fionbio getfl", fcntl(p[1], F_GETFL) & O_NONBLOCK);
  Step("setfl nonblock", fcntl(p[0], F_SETFL, O_NONBLOCK));
  StepText("pipe read", buf, read(p[0], buf, sizeof buf));
  Step("pipe empty", read(p[0], buf, sizeof buf));
  Step("pipe lseek", lseek(p[0], 0, SEEK_CUR));
  Step("pipe size", fcntl(p[0], F_GETPIPE_SZ));
  Step("close write end", close(p[1]));
  Step("pipe eof", read(p[0], buf, sizeof buf));
  int q[2];
  pipe2(q, O_CLOEXEC);
  Step("pipe2 cloexec", fcntl(q[0], F_GETFD));
  close(q[1]);
  signal(SIGPIPE, SIG_IGN);
  Step("write no reader", write(pipe(q) == 0 && close(q[0]) == 0 ? q[1] : -1,
                                "x", 1));

  // Devices.
  int null = open("/dev/null", O_RDWR);
  Step("null write", write(null, "abc", 3));
  Step("null read", read(null, buf, 1));
  int zero = open("/dev/zero", O_RDONLY);
  Step("zero read", read(zero, buf, 4) == 4 && !buf[0] && !buf[3]);

  // exec: close-on-exec fds are gone from both tables, others stay.
  int ce = open("f", O_RDONLY);
  Step("fioclex", ioctl(ce, FIOCLEX));
  int kept = dup2(a, ce + 1);
  (void)kept;
  char fdarg[16];
  snprintf(fdarg, sizeof fdarg, "%d", ce);
  pid = fork();
  if (pid == 0) {
    char* args[] = {argv[0], "--check-closed", fdarg, NULL};
    execv(argv[0], args);
    _exit(127);
  }
  waitpid(pid, &status, 0);
  Step("exec child", WIFEXITED(status) ? WEXITSTATUS(status) : -1);
  return 0;
}
