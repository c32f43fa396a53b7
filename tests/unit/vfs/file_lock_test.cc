// SPDX-License-Identifier: Apache-2.0
//
// fcntl(2) record locks and flock(2) through vfs/fcntl_lock.h, without
// threads: ranges, splits and merges, F_GETLK reports, the errnos of
// fcntl(2) and flock(2), the interaction of POSIX, OFD and flock locks,
// and what close releases. Expected values are Linux 6.x's.
#include <sys/file.h>

#include "tests/unit/vfs/fixture.h"
#include "tests/unit/vfs/lock_test_util.h"
#include "vfs/fcntl_lock.h"

namespace veil::vfs::testing {
namespace {

const LockOwner kP1 = LockOwner::Process(101, 101);
const LockOwner kP2 = LockOwner::Process(102, 102);


class FileLockTest : public VfsTest {
 protected:
  void SetUp() override {
    WriteFile("/f", "0123456789");
    a_ = *Open("/f", O_RDWR);
    b_ = *Open("/f", O_RDWR);
  }
  Result<void> Set(FileDescription& f, const LockOwner& owner, short type,
                   int64_t start, int64_t len, int cmd = F_SETLK) {
    VEIL_TRY(SetRecordLock(f, cmd, MakeFlock(type, start, len), owner, nullptr));
    return Ok();
  }
  // F_GETLK as `owner` for [start, start+len): the reported lock as
  // "type start len pid", or "unlocked".
  std::string Get(FileDescription& f, const LockOwner& owner, short type,
                  int64_t start, int64_t len, int cmd = F_GETLK) {
    struct flock fl = MakeFlock(type, start, len);
    Result<void> r = GetRecordLock(f, cmd, owner, &fl);
    if (!r) return "errno " + std::to_string(r.error().code());
    if (fl.l_type == F_UNLCK) return "unlocked";
    return std::string(fl.l_type == F_RDLCK ? "R " : "W ") +
           std::to_string(fl.l_start) + " " + std::to_string(fl.l_len) + " " +
           std::to_string(fl.l_pid);
  }
  // The owner's record locks as "R0-4 W5-9 ...", in list order.
  std::string Locks(const LockOwner& owner) {
    std::string out;
    for (const RecordLock& l : a_->inode().locks().RecordsForTesting()) {
      if (!l.owner.SameAs(owner)) continue;
      if (!out.empty()) out += " ";
      out +=
          (l.type == F_RDLCK ? "R" : "W") + std::to_string(l.range.start) +
          "-" +
          (l.range.end == kLockOffsetMax ? "max" : std::to_string(l.range.end));
    }
    return out;
  }

  RefPtr<FileDescription> a_, b_;
};

TEST_F(FileLockTest, RangesSplitAndMerge) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 10), IsOk());
  // Unlocking the middle splits the lock in two.
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 3, 4), IsOk());
  EXPECT_EQ(Locks(kP1), "W0-2 W7-9");
  // A read lock over the gap and a neighbour replaces that part.
  ASSERT_THAT(Set(*a_, kP1, F_RDLCK, 2, 6), IsOk());
  EXPECT_EQ(Locks(kP1), "W0-1 R2-7 W8-9");
  // Same type, adjacent: merged into one.
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 2, 6), IsOk());
  EXPECT_EQ(Locks(kP1), "W0-9");
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 10, 5), IsOk());
  EXPECT_EQ(Locks(kP1), "W0-14");
  // Length 0 is to end of file; negative lengths lock before the start.
  ASSERT_THAT(Set(*a_, kP1, F_RDLCK, 20, 0), IsOk());
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 10, -5), IsOk());
  EXPECT_EQ(Locks(kP1), "W0-4 W10-14 R20-max");
  // Unlocking everything leaves nothing.
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 0, 0), IsOk());
  EXPECT_EQ(Locks(kP1), "");
}

TEST_F(FileLockTest, GetLkReportsTheConflictingRange) {
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 10), IsOk());
  ASSERT_THAT(Set(*a_, kP1, F_UNLCK, 4, 2), IsOk());  // W0-3 W6-9
  ASSERT_THAT(Set(*b_, kP2, F_RDLCK, 4, 2), IsOk());  // fits the gap
  EXPECT_EQ(Get(*b_, kP2, F_RDLCK, 5, 3), "W 6 4 101");
  EXPECT_EQ(Get(*b_, kP2, F_WRLCK, 0, 0), "W 0 4 101");
  EXPECT_EQ(Get(*a_, kP1, F_WRLCK, 4, 1), "R 4 2 102");
  // A process never conflicts with itself; read locks share.
  EXPECT_EQ(Get(*a_, kP1, F_WRLCK, 0, 4), "unlocked");
  EXPECT_EQ(Get(*a_, kP1, F_RDLCK, 4, 2), "unlocked");
  // To-EOF locks report l_len 0.
  ASSERT_THAT(Set(*b_, kP2, F_WRLCK, 100, 0), IsOk());
  EXPECT_EQ(Get(*a_, kP1, F_RDLCK, 50, 0), "W 100 0 102");
  // The first conflicting lock in Linux's list order: P1's locks were
  // there first.
  EXPECT_EQ(Get(*a_, LockOwner::Process(103, 103), F_WRLCK, 0, 0), "W 0 4 101");
}

TEST_F(FileLockTest, SetLkConflictIsEagain) {
  ASSERT_THAT(Set(*a_, kP1, F_RDLCK, 0, 10), IsOk());
  EXPECT_THAT(Set(*b_, kP2, F_RDLCK, 5, 10), IsOk());
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 9, 1), ErrnoIs(EAGAIN));
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 10, 1), IsOk());
  // Upgrading one's own lock conflicts only with others.
  EXPECT_THAT(Set(*a_, kP1, F_WRLCK, 0, 5), IsOk());
  EXPECT_THAT(Set(*a_, kP1, F_WRLCK, 5, 1), ErrnoIs(EAGAIN));
}

TEST_F(FileLockTest, ArgumentErrorsAsFcntl) {
  auto set = [&](FileDescription& f, int cmd, struct flock fl) {
    return SetRecordLock(f, cmd, fl, kP1, nullptr);
  };
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, 0, 1, 7)), ErrnoIs(EINVAL));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(9, 0, 1)), ErrnoIs(EINVAL));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, -1, 1)), ErrnoIs(EINVAL));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, 2, -3)), ErrnoIs(EINVAL));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, 2, -2)), IsOk());
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, INT64_MAX, 2)),
              ErrnoIs(EOVERFLOW));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, INT64_MAX, 1)), IsOk());
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, 2, INT64_MAX)),
              ErrnoIs(EOVERFLOW));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, 1, INT64_MAX)), IsOk());
  // SEEK_CUR and SEEK_END start from the offset and the size (10).
  ASSERT_THAT(a_->Seek(4, SEEK_SET), IsOkAndHolds(4));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, INT64_MAX - 3, 1, SEEK_CUR)),
              ErrnoIs(EOVERFLOW));
  EXPECT_THAT(set(*a_, F_SETLK, MakeFlock(F_RDLCK, -5, 1, SEEK_CUR)),
              ErrnoIs(EINVAL));
  ASSERT_THAT(set(*a_, F_SETLK, MakeFlock(F_UNLCK, 0, 0)), IsOk());
  ASSERT_THAT(set(*a_, F_SETLK, MakeFlock(F_WRLCK, -2, 3, SEEK_END)), IsOk());
  ASSERT_THAT(set(*a_, F_SETLK, MakeFlock(F_RDLCK, 1, -1, SEEK_CUR)), IsOk());
  EXPECT_EQ(Locks(kP1), "R4-4 W8-10");
  // Lock types need the matching access mode.
  auto ro = *Open("/f", O_RDONLY);
  auto wo = *Open("/f", O_WRONLY);
  EXPECT_THAT(set(*ro, F_SETLK, MakeFlock(F_WRLCK, 0, 1)), ErrnoIs(EBADF));
  EXPECT_THAT(set(*wo, F_SETLK, MakeFlock(F_RDLCK, 0, 1)), ErrnoIs(EBADF));
  EXPECT_THAT(set(*ro, F_SETLK, MakeFlock(F_UNLCK, 0, 1)), IsOk());
  // The argument checks come first, then the mode, then OFD's l_pid.
  EXPECT_THAT(set(*ro, F_SETLK, MakeFlock(F_WRLCK, 0, 1, 7)), ErrnoIs(EINVAL));
  struct flock with_pid = MakeFlock(F_WRLCK, 0, 1);
  with_pid.l_pid = 7;
  EXPECT_THAT(set(*ro, F_OFD_SETLK, with_pid), ErrnoIs(EBADF));
  EXPECT_THAT(set(*a_, F_OFD_SETLK, with_pid), ErrnoIs(EINVAL));
  EXPECT_THAT(set(*a_, F_SETLK, with_pid), IsOk());  // POSIX ignores it
  // O_PATH descriptions are EBADF for every lock command.
  auto path = *Open("/f", O_PATH);
  EXPECT_THAT(set(*path, F_SETLK, MakeFlock(F_UNLCK, 0, 1)), ErrnoIs(EBADF));
  struct flock q = MakeFlock(F_RDLCK, 0, 1);
  EXPECT_THAT(GetRecordLock(*path, F_GETLK, kP1, &q), ErrnoIs(EBADF));
}

TEST_F(FileLockTest, GetLkArgumentErrors) {
  EXPECT_EQ(Get(*a_, kP1, F_UNLCK, 0, 1), "errno 22");
  EXPECT_EQ(Get(*a_, kP1, 9, 0, 1), "errno 22");
  EXPECT_EQ(Get(*a_, kP1, F_RDLCK, -1, 1), "errno 22");
  EXPECT_EQ(Get(*a_, kP1, F_RDLCK, 2, INT64_MAX), "errno 75");
  struct flock fl = MakeFlock(F_RDLCK, 0, 1);
  fl.l_pid = 3;
  EXPECT_THAT(GetRecordLock(*a_, F_OFD_GETLK, kP1, &fl), ErrnoIs(EINVAL));
  // Nothing conflicting: only l_type changes.
  fl = MakeFlock(F_WRLCK, 3, 4, SEEK_END);
  fl.l_pid = 0;
  ASSERT_THAT(GetRecordLock(*a_, F_GETLK, kP1, &fl), IsOk());
  EXPECT_EQ(fl.l_type, F_UNLCK);
  EXPECT_EQ(fl.l_whence, SEEK_END);
  EXPECT_EQ(fl.l_start, 3);
  EXPECT_EQ(fl.l_len, 4);
}

TEST_F(FileLockTest, OfdLocksBelongToTheDescription) {
  // Two descriptions of one process conflict through OFD locks...
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 5, F_OFD_SETLK), IsOk());
  EXPECT_THAT(Set(*b_, kP1, F_WRLCK, 4, 5, F_OFD_SETLK), ErrnoIs(EAGAIN));
  // ...and with the process's own POSIX locks.
  EXPECT_THAT(Set(*a_, kP1, F_RDLCK, 0, 1), ErrnoIs(EAGAIN));
  EXPECT_EQ(Get(*b_, kP1, F_RDLCK, 0, 0, F_OFD_GETLK), "W 0 5 -1");
  EXPECT_EQ(Get(*b_, kP1, F_RDLCK, 0, 0), "W 0 5 -1");
  // A POSIX lock conflicts with another description's OFD lock.
  ASSERT_THAT(Set(*b_, kP2, F_RDLCK, 10, 5), IsOk());
  EXPECT_THAT(Set(*a_, kP1, F_WRLCK, 12, 1, F_OFD_SETLK), ErrnoIs(EAGAIN));
  EXPECT_EQ(Get(*a_, kP1, F_WRLCK, 12, 1, F_OFD_GETLK), "R 10 5 102");
  // F_OFD_GETLK with F_UNLCK finds the description's own locks.
  EXPECT_EQ(Get(*a_, kP1, F_UNLCK, 3, 0, F_OFD_GETLK), "W 0 5 -1");
  EXPECT_EQ(Get(*b_, kP1, F_UNLCK, 3, 0, F_OFD_GETLK), "unlocked");
}

TEST_F(FileLockTest, CloseReleasesPosixLocksNotOfdOrFlock) {
  auto c = *Open("/f", O_RDWR);
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 0, 5), IsOk());
  ASSERT_THAT(Set(*a_, kP1, F_WRLCK, 10, 5, F_OFD_SETLK), IsOk());
  ASSERT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
  ASSERT_THAT(Set(*b_, kP2, F_RDLCK, 20, 5), IsOk());
  // P1 closes some other descriptor of the file: all its POSIX locks go,
  // whichever descriptor took them; its OFD and flock locks and P2's stay.
  ReleasePosixLocks(*c, kP1);
  EXPECT_EQ(Get(*b_, kP2, F_WRLCK, 0, 5), "unlocked");
  EXPECT_EQ(Get(*b_, kP2, F_WRLCK, 10, 5), "W 10 5 -1");
  EXPECT_EQ(Get(*a_, kP1, F_WRLCK, 20, 5), "R 20 5 102");
  EXPECT_THAT(Flock(*b_, LOCK_SH | LOCK_NB, nullptr), ErrnoIs(EWOULDBLOCK));
  // The last reference to the description drops its OFD and flock locks.
  a_ = nullptr;
  EXPECT_EQ(Get(*b_, kP2, F_WRLCK, 10, 5, F_OFD_GETLK), "unlocked");
  EXPECT_THAT(Flock(*b_, LOCK_EX | LOCK_NB, nullptr), IsOk());
}

TEST_F(FileLockTest, FlockPerDescriptionIndependentOfRecordLocks) {
  ASSERT_THAT(Flock(*a_, LOCK_SH, nullptr), IsOk());
  ASSERT_THAT(Flock(*b_, LOCK_SH | LOCK_NB, nullptr), IsOk());
  EXPECT_THAT(Flock(*b_, LOCK_EX | LOCK_NB, nullptr), ErrnoIs(EWOULDBLOCK));
  // The failed upgrade dropped b's shared lock first (not atomic).
  EXPECT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
  // Re-locking what one holds, and downgrading, succeed.
  EXPECT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
  EXPECT_THAT(Flock(*a_, LOCK_SH | LOCK_NB, nullptr), IsOk());
  EXPECT_THAT(Flock(*b_, LOCK_SH | LOCK_NB, nullptr), IsOk());
  // Record locks do not see flock locks, nor the other way round.
  EXPECT_THAT(Set(*a_, kP1, F_WRLCK, 0, 0), IsOk());
  EXPECT_THAT(Set(*b_, kP2, F_WRLCK, 0, 0, F_OFD_SETLK), ErrnoIs(EAGAIN));
  EXPECT_THAT(Flock(*b_, LOCK_UN, nullptr), IsOk());
  EXPECT_THAT(Flock(*b_, LOCK_UN, nullptr), IsOk());  // nothing held: fine
  EXPECT_THAT(Flock(*a_, LOCK_EX | LOCK_NB, nullptr), IsOk());
}

TEST_F(FileLockTest, FlockErrors) {
  EXPECT_THAT(Flock(*a_, LOCK_SH | LOCK_EX, nullptr), ErrnoIs(EINVAL));
  EXPECT_THAT(Flock(*a_, 0, nullptr), ErrnoIs(EINVAL));
  EXPECT_THAT(Flock(*a_, LOCK_NB, nullptr), ErrnoIs(EINVAL));
  EXPECT_THAT(Flock(*a_, 32 | LOCK_SH, nullptr), IsOk());  // LOCK_MAND
  auto path = *Open("/f", O_PATH);
  EXPECT_THAT(Flock(*path, LOCK_SH, nullptr), ErrnoIs(EBADF));
  EXPECT_THAT(Flock(*path, LOCK_UN, nullptr), ErrnoIs(EBADF));
  EXPECT_THAT(Flock(*path, 99, nullptr), IsOk());  // LOCK_MAND first
  // Directories and read-only files take flock locks of both kinds.
  ASSERT_THAT(Mkdir("/d"), IsOk());
  auto dir = *Open("/d", O_RDONLY | O_DIRECTORY);
  EXPECT_THAT(Flock(*dir, LOCK_EX, nullptr), IsOk());
  auto ro = *Open("/f", O_RDONLY);
  EXPECT_THAT(Flock(*ro, LOCK_EX | LOCK_NB, nullptr), IsOk());
}

TEST(LockRangeTest, ResolvesAsFlock64ToPosixLock) {
  EXPECT_THAT(ResolveLockRange(SEEK_SET, 5, 0, 0, 0),
              IsOkAndHolds(LockRange{5, kLockOffsetMax}));
  EXPECT_THAT(ResolveLockRange(SEEK_CUR, 1, 2, 10, 0),
              IsOkAndHolds(LockRange{11, 12}));
  EXPECT_THAT(ResolveLockRange(SEEK_END, -1, -3, 0, 10),
              IsOkAndHolds(LockRange{6, 8}));
  EXPECT_THAT(ResolveLockRange(SEEK_END, 0, -10, 0, 10),
              IsOkAndHolds(LockRange{0, 9}));
  EXPECT_THAT(ResolveLockRange(SEEK_END, 0, -11, 0, 10), ErrnoIs(EINVAL));
  EXPECT_THAT(ResolveLockRange(SEEK_DATA, 0, 0, 0, 0), ErrnoIs(EINVAL));
  EXPECT_THAT(ResolveLockRange(SEEK_END, INT64_MAX, 1, 0, 1),
              ErrnoIs(EOVERFLOW));
  EXPECT_THAT(ResolveLockRange(SEEK_SET, INT64_MIN, 1, 0, 0), ErrnoIs(EINVAL));
}

}  // namespace
}  // namespace veil::vfs::testing
