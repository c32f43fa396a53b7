// SPDX-License-Identifier: Apache-2.0
//
// File locks on overlay files: they live on the overlay inode the VFS
// sees, so locks taken through a description opened before a copy-up
// still hold against descriptions opened after it.
#include <sys/file.h>

#include "tests/unit/overlay/fixture.h"
#include "tests/unit/vfs/lock_test_util.h"
#include "vfs/fcntl_lock.h"

namespace veil::overlay::testing {
namespace {

using OverlayLockTest = OverlayTest;


TEST_F(OverlayLockTest, LocksSurviveCopyUp) {
  lower().WriteFile("/f", "lower data");
  Mount();
  const vfs::LockOwner p1 = vfs::LockOwner::Process(1, 1);
  const vfs::LockOwner p2 = vfs::LockOwner::Process(2, 2);
  auto before = ov().Open("/f", O_RDONLY);
  ASSERT_THAT(before, IsOk());
  ASSERT_THAT(UpperLstat("/f"), ErrnoIs(ENOENT));  // still lower only
  ASSERT_THAT(
      vfs::SetRecordLock(**before, F_SETLK, vfs::testing::MakeFlock(F_RDLCK, 0, 4), p1, nullptr),
      IsOk());
  ASSERT_THAT(vfs::SetRecordLock(**before, F_OFD_SETLK, vfs::testing::MakeFlock(F_RDLCK, 8, 2),
                                 p1, nullptr),
              IsOk());
  ASSERT_THAT(vfs::Flock(**before, LOCK_SH, nullptr), IsOk());

  // Opening for writing copies the file up; the overlay inode stays.
  auto after = ov().Open("/f", O_RDWR);
  ASSERT_THAT(after, IsOk());
  ASSERT_THAT(UpperLstat("/f"), IsOk());
  EXPECT_EQ(&(*before)->inode(), &(*after)->inode());

  EXPECT_THAT(
      vfs::SetRecordLock(**after, F_SETLK, vfs::testing::MakeFlock(F_WRLCK, 2, 1), p2, nullptr),
      ErrnoIs(EAGAIN));
  EXPECT_THAT(vfs::SetRecordLock(**after, F_OFD_SETLK, vfs::testing::MakeFlock(F_WRLCK, 9, 1), p2,
                                 nullptr),
              ErrnoIs(EAGAIN));
  EXPECT_THAT(vfs::Flock(**after, LOCK_EX | LOCK_NB, nullptr),
              ErrnoIs(EWOULDBLOCK));
  struct flock q = vfs::testing::MakeFlock(F_WRLCK, 0, 0);
  ASSERT_THAT(vfs::GetRecordLock(**after, F_GETLK, p2, &q), IsOk());
  EXPECT_EQ(q.l_type, F_RDLCK);
  EXPECT_EQ(q.l_start, 0);
  EXPECT_EQ(q.l_len, 4);
  EXPECT_EQ(q.l_pid, 1);

  // Releasing through the old description frees the copied-up file: the
  // process's close, then the old description's last reference.
  vfs::ReleasePosixLocks(**before, p1);
  EXPECT_THAT(
      vfs::SetRecordLock(**after, F_SETLK, vfs::testing::MakeFlock(F_WRLCK, 0, 8), p2, nullptr),
      IsOk());
  RefPtr<FileDescription> old = std::move(*before);
  old = nullptr;
  EXPECT_THAT(
      vfs::SetRecordLock(**after, F_SETLK, vfs::testing::MakeFlock(F_WRLCK, 8, 0), p2, nullptr),
      IsOk());
  EXPECT_THAT(vfs::Flock(**after, LOCK_EX | LOCK_NB, nullptr), IsOk());
}

}  // namespace
}  // namespace veil::overlay::testing
