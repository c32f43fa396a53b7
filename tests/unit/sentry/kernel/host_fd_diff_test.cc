// SPDX-License-Identifier: Apache-2.0
//
// fd-level calls against the host kernel: for each kind of open file
// (regular file in each access mode, directory, O_PATH, pipe ends), each
// call runs once on a host tmpfs file of the same kind and once through
// Dispatch, and the results must agree (the value where it is
// deterministic, else success; or the errno).
#include <fcntl.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/syscall.h>
#include <termios.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

struct Kind {
  const char* what;
  const char* path;  // "" for a pipe end
  int flags;         // open flags; for a pipe, 0 = read end, 1 = write end
};

const Kind kKinds[] = {
    {"file RDONLY", "f", O_RDONLY},
    {"file WRONLY", "f", O_WRONLY},
    {"file RDWR|APPEND", "f", O_RDWR | O_APPEND},
    {"dir", "d", O_RDONLY | O_DIRECTORY},
    {"O_PATH file", "f", O_PATH},
    {"O_PATH dir", "d", O_PATH},
    {"fifo RDWR", "p", O_RDWR},
    {"fifo RDONLY|NONBLOCK", "p", O_RDONLY | O_NONBLOCK},
    {"pipe read end", "", 0},
    {"pipe write end", "", 1},
    // `veil do`'s stdio: host pipe ends behind HostFdFile.
    {"stdio pipe read end", "@", 0},
    {"stdio pipe write end", "@", 1},
};

struct FdOp {
  const char* what;
  long nr;
  std::vector<uint64_t> args;  // args[0] becomes the fd
  int buf_arg = -1;            // an argument that is a scratch buffer
  bool exact = true;           // compare the value, not only success
};

const std::vector<FdOp>& FdOps() {
  static const std::vector<FdOp> ops = {
      {"read 1", SYS_read, {0, 0, 1}, 1},
      {"write 1", SYS_write, {0, 0, 1}, 1},
      {"pread 0", SYS_pread64, {0, 0, 2, 0}, 1},
      {"pwrite 0", SYS_pwrite64, {0, 0, 2, 0}, 1},
      {"lseek end", SYS_lseek, {0, 0, SEEK_END}},
      {"lseek set 2", SYS_lseek, {0, 2, SEEK_SET}},
      {"lseek data", SYS_lseek, {0, 0, SEEK_DATA}},
      {"fstat", SYS_fstat, {0, 0}, 1},
      {"ftruncate 1", SYS_ftruncate, {0, 1}},
      {"fsync", SYS_fsync, {0}},
      {"fchmod", SYS_fchmod, {0, 0600}},
      {"fchown", SYS_fchown, {0, 0, 0}},
      {"getdents64", SYS_getdents64, {0, 0, 4096}, 1, false},
      {"getdents", SYS_getdents, {0, 0, 4096}, 1, false},
      {"getdents tiny", SYS_getdents, {0, 0, 8}, 1},
      {"F_GETFL", SYS_fcntl, {0, F_GETFL}},
      {"F_SETFL", SYS_fcntl, {0, F_SETFL, O_APPEND | O_NONBLOCK}},
      {"F_GETFD", SYS_fcntl, {0, F_GETFD}},
      {"F_DUPFD 100", SYS_fcntl, {0, F_DUPFD, 100}},
      {"F_SETLK", SYS_fcntl, {0, F_SETLK, 0}, 2},
      {"fchdir", SYS_fchdir, {0}},
      {"FIONREAD", SYS_ioctl, {0, FIONREAD, 0}, 2, false},
      {"TCGETS", SYS_ioctl, {0, TCGETS, 0}, 2},
      {"flock", SYS_flock, {0, LOCK_SH | LOCK_NB}},
      {"fallocate", SYS_fallocate, {0, 0, 0, 10}},
      {"fstatfs", SYS_fstatfs, {0, 0}, 1, false},
      {"fgetxattr", SYS_fgetxattr, {0, 0, 0, 0}, -1, true},
      {"F_GETPIPE_SZ", SYS_fcntl, {0, F_GETPIPE_SZ}},
      {"F_SETPIPE_SZ 8192", SYS_fcntl, {0, F_SETPIPE_SZ, 8192}},
      {"F_GETLEASE", SYS_fcntl, {0, F_GETLEASE}},
      {"F_ADD_SEALS", SYS_fcntl, {0, F_ADD_SEALS, F_SEAL_WRITE}},
      {"F_GET_SEALS", SYS_fcntl, {0, F_GET_SEALS}},
  };
  return ops;
}

// The flock the F_SETLK op passes: a read lock on the first byte.
struct flock ReadLock() {
  struct flock fl {};
  fl.l_type = F_RDLCK;
  fl.l_len = 1;
  return fl;
}

int64_t HostRun(const Kind& kind, const FdOp& op, const std::string& dir) {
  std::string setup = "rm -rf " + dir + " && mkdir " + dir + " && cd " + dir +
                      " && printf data > f && mkdir d && mkfifo p";
  if (::system(setup.c_str()) != 0) return -9999;
  int fd = -1, other = -1;
  if (kind.path[0] == '\0' || kind.path[0] == '@') {
    int p[2];
    if (::pipe2(p, O_CLOEXEC) != 0) return -9998;
    if (::write(p[1], "xy", 2) != 2) return -9997;
    fd = p[kind.flags];
    other = p[1 - kind.flags];
  } else {
    fd = ::open((dir + "/" + kind.path).c_str(), kind.flags | O_CLOEXEC);
    // A FIFO open for writing holds data, so reads never wait.
    if (kind.path[0] == 'p' && (kind.flags & O_ACCMODE) == O_RDWR &&
        ::write(fd, "xy", 2) != 2)
      return -9996;
  }
  std::vector<uint64_t> a = op.args;
  a.resize(6, 0);
  a[0] = static_cast<uint64_t>(fd);
  alignas(16) char buf[4096] = "ab";
  struct flock fl = ReadLock();
  if (op.buf_arg >= 0)
    a[op.buf_arg] = op.nr == SYS_fcntl ? reinterpret_cast<uint64_t>(&fl)
                                       : reinterpret_cast<uint64_t>(buf);
  if (op.nr == SYS_fgetxattr) a[1] = reinterpret_cast<uint64_t>("user.x");
  errno = 0;
  long r = ::syscall(op.nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  int64_t out = r < 0 ? -errno : (op.exact ? r : 0);
  if (op.nr == SYS_fcntl && op.args[1] == F_DUPFD && r >= 0) ::close(r);
  if (op.nr == SYS_fchdir && r == 0) (void)::chdir("/");
  ::close(fd);
  if (other >= 0) ::close(other);
  return out;
}

class FdSandbox : public testing::KernelTest {
 public:
  void TestBody() override {}
  int64_t Run(const Kind& kind, const FdOp& op) {
    WriteFile("/f", "data");
    EXPECT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
    EXPECT_EQ(Call(SYS_mknod, Str("/p"), S_IFIFO | 0644, 0), 0);
    int64_t fd;
    if (kind.path[0] == '@') {
      int p[2];
      EXPECT_EQ(::pipe2(p, O_CLOEXEC), 0);
      EXPECT_EQ(::write(p[1], "xy", 2), 2);
      fd = 10;
      for (int end = 0; end < 2; ++end) {
        auto file =
            MakeHostFdFile(UniqueFd(p[end]), end == 0 ? O_RDONLY : O_WRONLY);
        EXPECT_TRUE(
            task_.fds().Replace(10 + end, file, CloseOnExec::kYes, 1024));
      }
      fd = 10 + kind.flags;
    } else if (kind.path[0] == '\0') {
      uint64_t fds = Alloc(8);
      EXPECT_EQ(Call(SYS_pipe2, fds, O_CLOEXEC), 0);
      EXPECT_EQ(Call(SYS_write, Get<int>(fds + 4), Str("xy"), 2), 2);
      fd = Get<int>(fds + 4 * kind.flags);
    } else {
      fd = Call(SYS_open, Str(std::string("/") + kind.path),
                kind.flags | O_CLOEXEC);
      if (kind.path[0] == 'p' && (kind.flags & O_ACCMODE) == O_RDWR) {
        EXPECT_EQ(Call(SYS_write, fd, Str("xy"), 2), 2);
      }
    }
    std::vector<uint64_t> a = op.args;
    a.resize(6, 0);
    a[0] = static_cast<uint64_t>(fd);
    if (op.buf_arg >= 0)
      a[op.buf_arg] = op.nr == SYS_fcntl ? Put(ReadLock()) : Str("ab");
    if (op.nr == SYS_fgetxattr) a[1] = Str("user.x");
    if (op.buf_arg >= 0 && op.nr != SYS_fcntl) {
      uint64_t big = Alloc(4096);
      a[op.buf_arg] = big;
      const char ab[] = "ab";
      platform_.Poke(
          testing::kTid, big,
          std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(ab), 2));
    }
    int64_t r =
        Call(static_cast<int>(op.nr), a[0], a[1], a[2], a[3], a[4], a[5]);
    return r < 0 ? r : (op.exact ? r : 0);
  }
};

TEST(HostFdDiffTest, OutcomesMatchTheHostKernel) {
  if (::geteuid() != 0) GTEST_SKIP() << "compares as root on both sides";
  struct statfs sfs {};
  if (::statfs("/dev/shm", &sfs) != 0 || sfs.f_type != 0x01021994)
    GTEST_SKIP() << "needs a host tmpfs at /dev/shm to compare with";
  std::string dir = "/dev/shm/veil_fd_diff_" + std::to_string(::getpid());
  int mismatches = 0, total = 0;
  for (const Kind& kind : kKinds) {
    for (const FdOp& op : FdOps()) {
      ++total;
      int64_t host = HostRun(kind, op, dir);
      ASSERT_GT(host, -9000) << "host setup failed";
      FdSandbox sandbox;
      int64_t ours = sandbox.Run(kind, op);
      if (host != ours) {
        ++mismatches;
        ADD_FAILURE() << kind.what << ", " << op.what << ": host "
                      << (host < 0 ? strerrorname_np(-host)
                                   : std::to_string(host).c_str())
                      << ", veil "
                      << (ours < 0 ? strerrorname_np(-ours)
                                   : std::to_string(ours).c_str());
      }
    }
  }
  std::string cleanup = "rm -rf " + dir;
  (void)::system(cleanup.c_str());
  EXPECT_EQ(mismatches, 0) << "of " << total;
}

}  // namespace
}  // namespace veil::sentry
