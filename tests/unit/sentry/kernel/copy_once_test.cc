// SPDX-License-Identifier: Apache-2.0
//
// Task memory is read once: for each handler that takes arguments from
// task memory, no byte is read twice (FakePlatform logs every read), so
// a task changing its memory meanwhile cannot make the sentry see two
// different values.
#include <fcntl.h>
#include <linux/openat2.h>
#include <sys/stat.h>
#include <sys/uio.h>

#include <algorithm>
#include <map>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

class CopyOnceTest : public testing::KernelTest {
 protected:
  // No byte of task memory was read by two reads.
  void ExpectEachByteReadOnce(const char* what) {
    std::map<uint64_t, int> count;
    for (const auto& r : platform_.reads())
      for (size_t i = 0; i < r.len; ++i) ++count[r.addr + i];
    int twice = 0;
    for (const auto& [addr, n] : count) twice += n > 1;
    EXPECT_EQ(twice, 0) << what << ": " << twice << " bytes read twice";
    platform_.ClearReads();
  }
  // A string with a page of its own: a string read may look past its NUL
  // (as strncpy_from_user reads whole words), which must not be taken for
  // a second read of the next argument.
  uint64_t S(std::string_view s) {
    uint64_t at = Alloc(4096);
    std::string z(s);
    EXPECT_TRUE(platform_.Poke(
        testing::kTid, at,
        std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(z.c_str()),
                                 z.size() + 1)));
    return at;
  }
};

TEST_F(CopyOnceTest, HandlersReadEachByteOnce) {
  WriteFile("/f", "data");
  ASSERT_EQ(Call(SYS_mkdir, S("/d"), 0755), 0);
  uint64_t st = Alloc(sizeof(struct stat));
  platform_.ClearReads();

  EXPECT_GE(Call(SYS_openat, AT_FDCWD, S("/d/../f"), O_RDONLY), 0);
  ExpectEachByteReadOnce("openat");
  struct open_how how {};
  how.flags = O_RDONLY;
  EXPECT_GE(Call(SYS_openat2, AT_FDCWD, S("/f"), Put(how), sizeof(how)), 0);
  ExpectEachByteReadOnce("openat2");
  EXPECT_EQ(Call(SYS_renameat2, AT_FDCWD, S("/f"), AT_FDCWD, S("/g"), 0), 0);
  ExpectEachByteReadOnce("renameat2");
  EXPECT_EQ(Call(SYS_newfstatat, AT_FDCWD, S("/g"), st, 0), 0);
  ExpectEachByteReadOnce("newfstatat");
  uint64_t sx = Alloc(sizeof(struct statx));
  EXPECT_EQ(Call(SYS_statx, AT_FDCWD, S("/g"), 0, STATX_BASIC_STATS, sx), 0);
  ExpectEachByteReadOnce("statx");
  int64_t fd = Call(SYS_open, S("/g"), O_RDWR);
  std::string big(200 * 1024, 'x');
  uint64_t src = PutBytes(big.data(), big.size());
  struct iovec iov[2] = {
      {reinterpret_cast<void*>(src), 100 * 1024},
      {reinterpret_cast<void*>(src + 100 * 1024), 100 * 1024}};
  uint64_t iova = Put(iov);
  platform_.ClearReads();
  EXPECT_EQ(Call(SYS_writev, fd, iova, 2), 200 * 1024);
  ExpectEachByteReadOnce("writev");
  EXPECT_EQ(Call(SYS_pwrite64, fd, src, big.size(), 0), 200 * 1024);
  ExpectEachByteReadOnce("pwrite64");
  EXPECT_EQ(Call(SYS_setxattr, S("/g"), S("user.k"), S("value"), 5, 0), 0);
  ExpectEachByteReadOnce("setxattr");
  EXPECT_EQ(Call(SYS_symlinkat, S("target"), AT_FDCWD, S("/l")), 0);
  ExpectEachByteReadOnce("symlinkat");
  timespec times[2] = {{1, 0}, {2, 0}};
  EXPECT_EQ(Call(SYS_utimensat, AT_FDCWD, S("/g"), Put(times), 0), 0);
  ExpectEachByteReadOnce("utimensat");
  struct flock fl {};
  fl.l_type = F_WRLCK;
  EXPECT_EQ(Call(SYS_fcntl, fd, F_SETLK, Put(fl)), 0);
  ExpectEachByteReadOnce("fcntl F_SETLK");
}

}  // namespace
}  // namespace veil::sentry
