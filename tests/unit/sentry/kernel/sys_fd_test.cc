// SPDX-License-Identifier: Apache-2.0
//
// The fd table's calls through Dispatch: dup family, fcntl, close_range,
// pipes (and blocking on them), host-fd stdio, ioctl, locks.
#include <fcntl.h>
#include <linux/close_range.h>
#include <sys/file.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

#include <thread>

#include "base/unique_fd.h"
#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "tests/unit/sentry/kernel/fixture.h"
#include "tests/util/matchers.h"

namespace veil::sentry {
namespace {

class SysFdTest : public testing::KernelTest {
 protected:
  int64_t OpenRoot() { return Call(SYS_open, Str("/"), O_RDONLY); }
};

TEST_F(SysFdTest, DupFamily) {
  ASSERT_EQ(OpenRoot(), 0);
  EXPECT_EQ(Call(SYS_dup, 0), 1);
  EXPECT_EQ(Call(SYS_dup, 7), -EBADF);
  EXPECT_EQ(Call(SYS_dup2, 0, 0), 0);  // onto itself: just checks
  EXPECT_EQ(Call(SYS_dup2, 5, 5), -EBADF);
  EXPECT_EQ(Call(SYS_dup2, 0, 10), 10);
  EXPECT_EQ(Call(SYS_dup2, 7, 11), -EBADF);
  EXPECT_EQ(Call(SYS_dup3, 0, 0, 0), -EINVAL);
  EXPECT_EQ(Call(SYS_dup3, 0, 12, O_NONBLOCK), -EINVAL);
  EXPECT_EQ(Call(SYS_dup3, 0, 12, O_CLOEXEC), 12);
  EXPECT_EQ(Call(SYS_fcntl, 12, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Call(SYS_fcntl, 10, F_GETFD), 0);  // dup2 clears it
  task_.set_nofile_limit(20);
  EXPECT_EQ(Call(SYS_dup2, 0, 20), -EBADF);
  EXPECT_EQ(Call(SYS_dup2, 0, -1), -EBADF);
  EXPECT_EQ(Call(SYS_dup, 0), 2);
}

TEST_F(SysFdTest, Dup2ReplacesAndClosesTheOldFile) {
  ASSERT_EQ(Call(SYS_open, Str("/a"), O_RDWR | O_CREAT, 0644), 0);
  ASSERT_EQ(Call(SYS_open, Str("/b"), O_RDWR | O_CREAT, 0644), 1);
  EXPECT_EQ(Call(SYS_dup2, 0, 1), 1);
  EXPECT_EQ(Call(SYS_write, 1, Str("x"), 1), 1);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_stat, Str("/a"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_size, 1);
  ASSERT_EQ(Call(SYS_stat, Str("/b"), st), 0);
  EXPECT_EQ(Get<struct stat>(st).st_size, 0);
}

TEST_F(SysFdTest, FcntlDupfdAndFlags) {
  ASSERT_EQ(OpenRoot(), 0);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_DUPFD, 5), 5);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_DUPFD, 5), 6);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_DUPFD_CLOEXEC, 0), 1);
  EXPECT_EQ(Call(SYS_fcntl, 1, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_DUPFD, 1024), -EINVAL);  // >= RLIMIT_NOFILE
  EXPECT_EQ(Call(SYS_fcntl, 0, F_DUPFD, -1), -EINVAL);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_SETFD, FD_CLOEXEC), 0);
  EXPECT_EQ(Call(SYS_fcntl, 0, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Call(SYS_fcntl, 5, F_GETFD), 0);  // per fd, not per file
  EXPECT_EQ(Call(SYS_fcntl, 0, 9999), -EINVAL);
  EXPECT_EQ(Call(SYS_fcntl, 99, F_GETFD), -EBADF);
  WriteFile("/f", "");
  int64_t fd = Call(SYS_open, Str("/f"), O_WRONLY);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_SETFL, O_APPEND | O_NONBLOCK | O_RDWR), 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFL),
            O_WRONLY | O_APPEND | O_NONBLOCK | 0100000);
  int64_t path = Call(SYS_open, Str("/f"), O_PATH);
  EXPECT_EQ(Call(SYS_fcntl, path, F_SETFL, 0), -EBADF);
  // O_LARGEFILE is only for non-O_PATH opens, as the host shows.
  UniqueFd host_path(::open("/", O_PATH | O_CLOEXEC));
  EXPECT_EQ(Call(SYS_fcntl, path, F_GETFL),
            ::fcntl(host_path.get(), F_GETFL) & ~O_CLOEXEC);
}

TEST_F(SysFdTest, CloseRange) {
  for (int i = 0; i < 6; ++i) ASSERT_EQ(OpenRoot(), i);
  EXPECT_EQ(Call(SYS_close_range, 3, 2, 0), -EINVAL);
  EXPECT_EQ(Call(SYS_close_range, 0, 1, 0x8), -EINVAL);
  EXPECT_EQ(Call(SYS_close_range, 4, ~0u, CLOSE_RANGE_CLOEXEC), 0);
  EXPECT_EQ(Call(SYS_fcntl, 5, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Call(SYS_close_range, 1, 2, 0), 0);
  EXPECT_EQ(Call(SYS_fcntl, 2, F_GETFD), -EBADF);
  EXPECT_EQ(OpenRoot(), 1);
  // CLOSE_RANGE_UNSHARE: the task gets a table of its own.
  Ref<FdTable> before = task_.fds_ref();
  EXPECT_EQ(Call(SYS_close_range, 3, ~0u, CLOSE_RANGE_UNSHARE), 0);
  EXPECT_NE(task_.fds_ref().get(), before.get());
  EXPECT_THAT(before->Get(3), ::veil::testing::IsOk());
  EXPECT_EQ(Call(SYS_fcntl, 3, F_GETFD), -EBADF);
}

TEST_F(SysFdTest, PipeCarriesBytes) {
  uint64_t fds = Alloc(8);
  ASSERT_EQ(Call(SYS_pipe, fds), 0);
  int r = Get<int>(fds), w = Get<int>(fds + 4);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(w, 1);
  EXPECT_EQ(Call(SYS_write, w, Str("ping"), 4), 4);
  uint64_t buf = Alloc(16);
  EXPECT_EQ(Call(SYS_read, r, buf, 16), 4);
  EXPECT_EQ(GetString(buf, 4), "ping");
  EXPECT_EQ(Call(SYS_read, w, buf, 1), -EBADF);
  EXPECT_EQ(Call(SYS_pread64, r, buf, 1, 0), -ESPIPE);
  EXPECT_EQ(Call(SYS_lseek, r, 0, SEEK_SET), -ESPIPE);
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_fstat, r, st), 0);
  EXPECT_TRUE(S_ISFIFO(Get<struct stat>(st).st_mode));
  int host[2];
  ASSERT_EQ(::pipe2(host, O_CLOEXEC), 0);
  UniqueFd host_r(host[0]), host_w(host[1]);
  EXPECT_EQ(Call(SYS_fcntl, r, F_GETFL), ::fcntl(host_r.get(), F_GETFL));
  EXPECT_EQ(Call(SYS_fcntl, w, F_GETFL), ::fcntl(host_w.get(), F_GETFL));
  EXPECT_EQ(Call(SYS_close, w), 0);
  EXPECT_EQ(Call(SYS_read, r, buf, 16), 0);  // no writer: end of file
}

TEST_F(SysFdTest, Pipe2FlagsAndFaults) {
  uint64_t fds = Alloc(8);
  EXPECT_EQ(Call(SYS_pipe2, fds, O_APPEND), -EINVAL);
  EXPECT_EQ(Call(SYS_pipe2, 0, 0), -EFAULT);
  EXPECT_EQ(task_.fds().CountForTesting(), 0u);  // nothing left behind
  ASSERT_EQ(Call(SYS_pipe2, fds, O_NONBLOCK | O_CLOEXEC), 0);
  int r = Get<int>(fds), w = Get<int>(fds + 4);
  EXPECT_EQ(r, 0);
  EXPECT_EQ(Call(SYS_fcntl, r, F_GETFD), FD_CLOEXEC);
  uint64_t buf = Alloc(16);
  EXPECT_EQ(Call(SYS_read, r, buf, 16), -EAGAIN);
  // Writing to a pipe with no reader: EPIPE.
  EXPECT_EQ(Call(SYS_close, r), 0);
  EXPECT_EQ(Call(SYS_write, w, Str("x"), 1), -EPIPE);
}

TEST_F(SysFdTest, BlockingReadWakesForAWriterAndEndsOnInterrupt) {
  uint64_t fds = Alloc(8);
  ASSERT_EQ(Call(SYS_pipe, fds), 0);
  int r = Get<int>(fds);
  Ref<vfs::FileDescription> write_end = *task_.fds().Get(Get<int>(fds + 4));
  uint64_t buf = Alloc(16);
  std::thread writer([&] {
    const uint8_t byte = 'z';
    ASSERT_TRUE(write_end->Write(std::span<const uint8_t>(&byte, 1)));
  });
  EXPECT_EQ(Call(SYS_read, r, buf, 16), 1);  // waits for the writer
  writer.join();
  EXPECT_EQ(GetString(buf, 1), "z");
  std::thread signal([&] { task_.Interrupt(); });
  EXPECT_EQ(Call(SYS_read, r, buf, 16), -EINTR);
  signal.join();
}

TEST_F(SysFdTest, HostFdStdio) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd host_read(p[0]);
  auto out = MakeHostFdFile(UniqueFd(p[1]), O_WRONLY);
  auto r = task_.fds().Replace(1, out, CloseOnExec::kNo, 1024);
  ASSERT_TRUE(r);
  EXPECT_EQ(Call(SYS_write, 1, Str("to host\n"), 8), 8);
  char got[16] = {};
  EXPECT_EQ(::read(host_read.get(), got, sizeof(got)), 8);
  EXPECT_STREQ(got, "to host\n");
  EXPECT_EQ(Call(SYS_lseek, 1, 0, SEEK_CUR), -ESPIPE);
  uint64_t t = Alloc(sizeof(struct termios));
  EXPECT_EQ(Call(SYS_ioctl, 1, TCGETS, t), -ENOTTY);  // a pipe, not a tty
  uint64_t st = Alloc(sizeof(struct stat));
  ASSERT_EQ(Call(SYS_fstat, 1, st), 0);
  EXPECT_TRUE(S_ISFIFO(Get<struct stat>(st).st_mode));
}

TEST_F(SysFdTest, HostFdReadBlocksUntilDataOrInterrupt) {
  int p[2];
  ASSERT_EQ(::pipe2(p, O_CLOEXEC), 0);
  UniqueFd host_write(p[1]);
  auto in = MakeHostFdFile(UniqueFd(p[0]), O_RDONLY);
  ASSERT_TRUE(task_.fds().Replace(0, in, CloseOnExec::kNo, 1024));
  uint64_t buf = Alloc(16);
  std::thread writer([&] { ASSERT_EQ(::write(host_write.get(), "hi", 2), 2); });
  EXPECT_EQ(Call(SYS_read, 0, buf, 16), 2);
  writer.join();
  std::thread signal([&] { task_.Interrupt(); });
  EXPECT_EQ(Call(SYS_read, 0, buf, 16), -EINTR);
  signal.join();
  host_write.reset();
  EXPECT_EQ(Call(SYS_read, 0, buf, 16), 0);
}

TEST_F(SysFdTest, IoctlOnVfsFiles) {
  WriteFile("/f", "0123456789");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDONLY);
  uint64_t arg = Alloc(64);
  EXPECT_EQ(Call(SYS_ioctl, fd, TCGETS, arg), -ENOTTY);
  EXPECT_EQ(Call(SYS_ioctl, fd, TIOCGWINSZ, arg), -ENOTTY);
  ASSERT_EQ(Call(SYS_lseek, fd, 3, SEEK_SET), 3);
  EXPECT_EQ(Call(SYS_ioctl, fd, FIONREAD, arg), 0);
  EXPECT_EQ(Get<int>(arg), 7);
  EXPECT_EQ(Call(SYS_ioctl, fd, FIOCLEX, 0), 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFD), FD_CLOEXEC);
  EXPECT_EQ(Call(SYS_ioctl, fd, FIONCLEX, 0), 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFD), 0);
  EXPECT_EQ(Call(SYS_ioctl, fd, FIONBIO, Put<int>(1)), 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETFL) & O_NONBLOCK, O_NONBLOCK);
  EXPECT_EQ(Call(SYS_ioctl, 99, TCGETS, arg), -EBADF);
}

TEST_F(SysFdTest, RecordLocksAndFlock) {
  WriteFile("/f", "0123456789");
  int64_t fd = Call(SYS_open, Str("/f"), O_RDWR);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  fl.l_len = 5;
  EXPECT_EQ(Call(SYS_fcntl, fd, F_SETLK, Put(fl)), 0);
  // The same process never conflicts with itself.
  uint64_t q = Put(fl);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_GETLK, q), 0);
  EXPECT_EQ(Get<struct flock>(q).l_type, F_UNLCK);
  // An OFD lock on another description conflicts with it.
  int64_t other = Call(SYS_open, Str("/f"), O_RDWR);
  EXPECT_EQ(Call(SYS_fcntl, other, F_OFD_SETLK, Put(fl)), -EAGAIN);
  uint64_t q2 = Put(fl);
  EXPECT_EQ(Call(SYS_fcntl, other, F_OFD_GETLK, q2), 0);
  EXPECT_EQ(Get<struct flock>(q2).l_type, F_WRLCK);
  EXPECT_EQ(Get<struct flock>(q2).l_pid, testing::kTid);
  // dup2 onto itself closes nothing, so the lock stays.
  EXPECT_EQ(Call(SYS_dup2, fd, fd), fd);
  EXPECT_EQ(Call(SYS_fcntl, other, F_OFD_SETLK, Put(fl)), -EAGAIN);
  // close(2) of any fd of the file releases the process's POSIX locks.
  int64_t dup = Call(SYS_dup, fd);
  EXPECT_EQ(Call(SYS_close, dup), 0);
  EXPECT_EQ(Call(SYS_fcntl, other, F_OFD_SETLK, Put(fl)), 0);
  EXPECT_EQ(Call(SYS_fcntl, fd, F_SETLK, 0), -EFAULT);
  EXPECT_EQ(Call(SYS_flock, fd, LOCK_EX | LOCK_NB), 0);
  EXPECT_EQ(Call(SYS_flock, other, LOCK_EX | LOCK_NB), -EWOULDBLOCK);
  EXPECT_EQ(Call(SYS_flock, fd, 77), -EINVAL);
}

}  // namespace
}  // namespace veil::sentry

namespace veil::sentry {
namespace {

class ExecTest : public testing::KernelTest {};

TEST_F(ExecTest, CloseOnExecKeepsTheRestAndTheLocks) {
  WriteFile("/f", "0123");
  int64_t keep = Call(SYS_open, Str("/f"), O_RDWR);
  int64_t drop = Call(SYS_open, Str("/f"), O_RDONLY | O_CLOEXEC);
  struct flock fl {};
  fl.l_type = F_WRLCK;
  ASSERT_EQ(Call(SYS_fcntl, keep, F_SETLK, Put(fl)), 0);
  const FdTable* before = task_.fds_ref().get();
  CloseFilesOnExec(task_);
  EXPECT_EQ(task_.fds_ref().get(), before);  // not shared: not copied
  EXPECT_EQ(Call(SYS_fcntl, drop, F_GETFD), -EBADF);
  // Closing the cloexec fd of the same file released the process's
  // POSIX locks (filp_close), as Linux's exec does.
  int64_t other = Call(SYS_open, Str("/f"), O_RDWR);
  EXPECT_EQ(Call(SYS_fcntl, other, F_OFD_SETLK, Put(fl)), 0);
  // A shared table is copied first.
  Ref<FdTable> sharer = task_.fds_ref();
  CloseFilesOnExec(task_);
  EXPECT_NE(task_.fds_ref().get(), sharer.get());
}

TEST_F(ExecTest, ServeAnswersThroughThePlatform) {
  SyscallRequest req;
  req.tid = testing::kTid;
  req.nr = SYS_umask;
  req.args[0] = 077;
  ASSERT_TRUE(Serve(task_, req));
  auto answers = platform_.answers();
  ASSERT_EQ(answers.size(), 1u);
  EXPECT_EQ(answers[0].answer.value(), 022);
  platform_.SetAnswerOutcome(FakePlatform::AnswerOutcome::kFailEnoent);
  EXPECT_TRUE(Serve(task_, req));  // interrupted: dropped, not an error
}

}  // namespace
}  // namespace veil::sentry
