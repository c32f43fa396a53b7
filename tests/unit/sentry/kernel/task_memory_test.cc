// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/task_memory.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/uio.h>
#include <unistd.h>

#include <climits>
#include <cstring>
#include <string>

#include "base/unique_fd.h"
#include "sentry/platform/fake_platform.h"
#include "tests/util/matchers.h"

namespace veil::sentry {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

constexpr pid_t kTid = 5;
constexpr uint64_t kBase = 0x100000;

class TaskMemoryTest : public ::testing::Test {
 protected:
  TaskMemoryTest() : mem_(platform_, req_) {
    req_.tid = kTid;
    platform_.Map(kTid, kBase, 3 * 4096);
  }
  void Poke(uint64_t addr, const std::string& s) {
    ASSERT_TRUE(platform_.Poke(
        kTid, addr,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(s.data()),
                                 s.size())));
  }

  FakePlatform platform_;
  SyscallRequest req_;
  TaskMemory mem_;
};

TEST_F(TaskMemoryTest, CopyInPathReadsUpToTheNul) {
  Poke(kBase, std::string("/etc/passwd\0junk", 16));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(kBase), EmptyPath::kDeny),
              IsOkAndHolds(std::string("/etc/passwd")));
}

TEST_F(TaskMemoryTest, EmptyPathIsEnoentUnlessAllowed) {
  Poke(kBase, std::string("\0", 1));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(kBase), EmptyPath::kDeny),
              ErrnoIs(ENOENT));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(kBase), EmptyPath::kAllow),
              IsOkAndHolds(std::string()));
}

TEST_F(TaskMemoryTest, UnmappedPathIsEfault) {
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(0), EmptyPath::kDeny), ErrnoIs(EFAULT));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(kBase + 3 * 4096), EmptyPath::kDeny),
              ErrnoIs(EFAULT));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(~uint64_t{0}), EmptyPath::kDeny),
              ErrnoIs(EFAULT));
}

TEST_F(TaskMemoryTest, PathRunningIntoUnmappedMemoryIsEfault) {
  uint64_t end = kBase + 3 * 4096;
  Poke(end - 10, std::string(10, 'a'));  // no NUL before the hole
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(end - 10), EmptyPath::kDeny),
              ErrnoIs(EFAULT));
  Poke(end - 1, std::string("\0", 1));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(end - 10), EmptyPath::kDeny),
              IsOkAndHolds(std::string(9, 'a')));
}

TEST_F(TaskMemoryTest, PathLimitIsPathMaxWithTheNul) {
  Poke(kBase, std::string(PATH_MAX - 1, 'x') + std::string("\0", 1));
  auto ok = CopyInPath(mem_, TaskAddr(kBase), EmptyPath::kDeny);
  ASSERT_THAT(ok, IsOk());
  EXPECT_EQ(ok->size(), size_t{PATH_MAX - 1});
  Poke(kBase, std::string(PATH_MAX, 'x') + std::string("\0", 1));
  EXPECT_THAT(CopyInPath(mem_, TaskAddr(kBase), EmptyPath::kDeny),
              ErrnoIs(ENAMETOOLONG));
}

TEST_F(TaskMemoryTest, PathMatchesTheHostKernelAtTheLimit) {
  // The host's own getname on the same strings.
  std::string exact(PATH_MAX - 1, '/');
  std::string over(PATH_MAX, '/');
  errno = 0;
  EXPECT_EQ(::access(over.c_str(), F_OK), -1);
  EXPECT_EQ(errno, ENAMETOOLONG);
  EXPECT_EQ(::access(exact.c_str(), F_OK), 0);  // "////...": the root
}

TEST_F(TaskMemoryTest, CopyInNeedsEveryByte) {
  uint64_t end = kBase + 3 * 4096;
  EXPECT_THAT(CopyIn<uint64_t>(mem_, TaskAddr(end - 4)), ErrnoIs(EFAULT));
  EXPECT_THAT(CopyIn<uint64_t>(mem_, TaskAddr(end - 8)), IsOkAndHolds(0u));
  EXPECT_THAT(CopyOut<uint64_t>(mem_, TaskAddr(end - 4), 1), ErrnoIs(EFAULT));
  EXPECT_THAT(CopyOut<uint64_t>(mem_, TaskAddr(end - 8), 42), IsOk());
  EXPECT_THAT(CopyIn<uint64_t>(mem_, TaskAddr(end - 8)), IsOkAndHolds(42u));
}

TEST_F(TaskMemoryTest, RangesPastUserSpaceAreEfault) {
  EXPECT_THAT(CheckUserRange(TaskAddr(kTaskSizeMax - 8), 8), IsOk());
  EXPECT_THAT(CheckUserRange(TaskAddr(kTaskSizeMax - 8), 9), ErrnoIs(EFAULT));
  EXPECT_THAT(CheckUserRange(TaskAddr(~uint64_t{0} - 1), 4), ErrnoIs(EFAULT));
}

uint64_t PutIovecs(FakePlatform& p, uint64_t at,
                   std::initializer_list<std::pair<uint64_t, uint64_t>> v) {
  std::vector<struct iovec> raw;
  for (auto [base, len] : v)
    raw.push_back({reinterpret_cast<void*>(base), static_cast<size_t>(len)});
  EXPECT_TRUE(p.Poke(
      kTid, at,
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(raw.data()),
                               raw.size() * sizeof(struct iovec))));
  return at;
}

TEST_F(TaskMemoryTest, IovecsAreCheckedAsImportIovec) {
  EXPECT_THAT(CopyInIovecs(mem_, TaskAddr(kBase), 1025), ErrnoIs(EINVAL));
  EXPECT_THAT(CopyInIovecs(mem_, TaskAddr(0), 0), IsOk());
  EXPECT_THAT(CopyInIovecs(mem_, TaskAddr(0), 1), ErrnoIs(EFAULT));
  PutIovecs(platform_, kBase, {{kBase, 4}, {kBase, ~uint64_t{0}}});
  EXPECT_THAT(CopyInIovecs(mem_, TaskAddr(kBase), 2), ErrnoIs(EINVAL));
  PutIovecs(platform_, kBase, {{kBase, 4}, {kTaskSizeMax, 1}});
  EXPECT_THAT(CopyInIovecs(mem_, TaskAddr(kBase), 2), ErrnoIs(EFAULT));
}

TEST_F(TaskMemoryTest, IovecTotalIsClampedToMaxRwCount) {
  PutIovecs(platform_, kBase,
            {{0x1000, kMaxRwCount - 10}, {0x1000, 100}, {0x1000, 5}});
  auto segs = CopyInIovecs(mem_, TaskAddr(kBase), 3);
  ASSERT_THAT(segs, IsOk());
  ASSERT_EQ(segs->size(), 3u);
  EXPECT_EQ((*segs)[0].len, kMaxRwCount - 10);
  EXPECT_EQ((*segs)[1].len, 10u);
  EXPECT_EQ((*segs)[2].len, 0u);
}

TEST_F(TaskMemoryTest, IovecErrorsMatchTheHostKernel) {
  int fds[2];
  ASSERT_EQ(::pipe2(fds, O_CLOEXEC), 0);
  UniqueFd r(fds[0]), w(fds[1]);
  char c;
  struct iovec neg[2] = {{&c, 1}, {&c, static_cast<size_t>(-1)}};
  errno = 0;
  EXPECT_EQ(::writev(w.get(), neg, 2), -1);
  EXPECT_EQ(errno, EINVAL);
  struct iovec many[1025] = {};
  errno = 0;
  EXPECT_EQ(::writev(w.get(), many, 1025), -1);
  EXPECT_EQ(errno, EINVAL);
  struct iovec far[1] = {{reinterpret_cast<void*>(kTaskSizeMax), 1}};
  errno = 0;
  EXPECT_EQ(::writev(w.get(), far, 1), -1);
  EXPECT_EQ(errno, EFAULT);
}

}  // namespace
}  // namespace veil::sentry
