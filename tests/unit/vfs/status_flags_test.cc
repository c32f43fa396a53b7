// SPDX-License-Identifier: Apache-2.0
//
// F_GETFL/F_SETFL on a description (FileDescription::SetStatusFlags):
// which bits change, the O_NOATIME and O_DIRECT rules, their effect on
// reads and writes, and atomic replacement on a shared description.
// Expected values are Linux 6.18's on tmpfs.
#include <atomic>
#include <thread>

#include "tests/unit/vfs/fixture.h"

namespace veil::vfs::testing {
namespace {

class StatusFlagsTest : public VfsTest {};

TEST_F(StatusFlagsTest, SetsOnlyTheChangeableFlags) {
  WriteFile("/f", "x");
  auto f = *Open("/f", O_RDWR | O_SYNC);
  int before = f->flags();
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_APPEND | O_NONBLOCK | O_DIRECT |
                                                 O_NOATIME | O_RDONLY |
                                                 O_TRUNC | O_CREAT | O_DSYNC),
              IsOk());
  // The access mode and O_SYNC stay; O_TRUNC, O_CREAT and O_DSYNC are
  // ignored.
  EXPECT_EQ(f->flags(), before | O_APPEND | O_NONBLOCK | O_DIRECT | O_NOATIME);
  EXPECT_TRUE(f->writable());
  // The changeable flags not named are cleared.
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_NONBLOCK), IsOk());
  EXPECT_EQ(f->flags(), before | O_NONBLOCK);
  // O_ASYNC needs ->fasync, which a tmpfs file lacks: ignored.
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_ASYNC), IsOk());
  EXPECT_EQ(f->flags(), before);
}

TEST_F(StatusFlagsTest, FifoTakesAsyncAndDirect) {
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/fifo", S_IFIFO | 0644, 0), IsOk());
  auto f = *Open("/fifo", O_RDWR);
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_ASYNC | O_DIRECT), IsOk());
  EXPECT_EQ(f->flags() & (O_ASYNC | O_DIRECT), O_ASYNC | O_DIRECT);
}

TEST_F(StatusFlagsTest, DirectNeedsAFileThatCanDoIt) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  auto d = *Open("/d", O_RDONLY | O_DIRECTORY);
  // A tmpfs directory has no FMODE_CAN_ODIRECT: EINVAL, nothing changes.
  EXPECT_THAT(d->SetStatusFlags(root_.creds, O_DIRECT | O_NONBLOCK),
              ErrnoIs(EINVAL));
  EXPECT_EQ(d->flags() & O_NONBLOCK, 0);
  EXPECT_THAT(d->SetStatusFlags(root_.creds, O_NONBLOCK | O_NOATIME), IsOk());
  EXPECT_EQ(d->flags() & (O_NONBLOCK | O_NOATIME), O_NONBLOCK | O_NOATIME);
}

TEST_F(StatusFlagsTest, NoatimeOnlyForOwnerOrCapFowner) {
  WriteFile("/alices", "x", 0666);
  ASSERT_THAT(vfs_.ChownAt(root_, Root(), "/alices", 1000, 1000, 0), IsOk());
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/alices", 0666, 0), IsOk());
  auto own = *OpenAs(alice_, "/alices", O_RDWR);
  EXPECT_THAT(own->SetStatusFlags(alice_.creds, O_NOATIME), IsOk());
  auto other = *OpenAs(bob_, "/alices", O_RDWR);
  EXPECT_THAT(other->SetStatusFlags(bob_.creds, O_NOATIME), ErrnoIs(EPERM));
  EXPECT_EQ(other->flags() & O_NOATIME, 0);
  // Already set (by the owner, on a shared description): may stay.
  EXPECT_THAT(own->SetStatusFlags(bob_.creds, O_NOATIME | O_APPEND), IsOk());
  EXPECT_EQ(own->flags() & (O_NOATIME | O_APPEND), O_NOATIME | O_APPEND);
  // Root has CAP_FOWNER.
  EXPECT_THAT(other->SetStatusFlags(root_.creds, O_NOATIME), IsOk());
}

TEST_F(StatusFlagsTest, PathDescriptionIsEbadf) {
  WriteFile("/f", "x");
  auto p = *Open("/f", O_PATH);
  EXPECT_THAT(p->SetStatusFlags(root_.creds, O_APPEND), ErrnoIs(EBADF));
}

TEST_F(StatusFlagsTest, AppendAndNoatimeTakeEffect) {
  WriteFile("/f", "abc");
  auto f = *Open("/f", O_RDWR);
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_APPEND), IsOk());
  ASSERT_THAT(f->Write(Bytes("de")), IsOkAndHolds(2u));
  ASSERT_THAT(f->PWrite(Bytes("f"), 0), IsOkAndHolds(1u));  // appends too
  EXPECT_EQ(ReadFile("/f"), "abcdef");
  ASSERT_THAT(f->SetStatusFlags(root_.creds, 0), IsOk());
  ASSERT_THAT(f->PWrite(Bytes("A"), 0), IsOkAndHolds(1u));
  EXPECT_EQ(ReadFile("/f"), "Abcdef");

  // Reads with O_NOATIME set later leave atime alone.
  timespec times[2] = {{1000, 0}, {0, UTIME_OMIT}};
  ASSERT_THAT(vfs_.UtimensAt(root_, Root(), "/f", times, 0), IsOk());
  ASSERT_THAT(f->SetStatusFlags(root_.creds, O_NOATIME), IsOk());
  uint8_t buf[4];
  ASSERT_THAT(f->PRead(buf, 0), IsOkAndHolds(4u));
  EXPECT_EQ(Stat("/f")->atime.tv_sec, 1000);
  ASSERT_THAT(f->SetStatusFlags(root_.creds, 0), IsOk());
  ASSERT_THAT(f->PRead(buf, 0), IsOkAndHolds(4u));
  EXPECT_GT(Stat("/f")->atime.tv_sec, 1000);
}

TEST_F(StatusFlagsTest, ChangedAtomicallyOnASharedDescription) {
  WriteFile("/f", "");
  auto f = *Open("/f", O_RDWR);
  const int base = f->flags();
  const int set_a = O_APPEND | O_NONBLOCK;
  const int set_b = O_NOATIME | O_DIRECT;
  std::atomic<bool> stop{false};
  std::atomic<int> torn{0};
  std::thread reader([&] {
    while (!stop) {
      int now = f->flags() & ~base;
      if (now != set_a && now != set_b && now != 0) ++torn;
    }
  });
  std::thread writer_a([&] {
    for (int i = 0; i < 20000; ++i)
      ASSERT_THAT(f->SetStatusFlags(root_.creds, set_a), IsOk());
  });
  std::thread writer_b([&] {
    for (int i = 0; i < 20000; ++i)
      ASSERT_THAT(f->SetStatusFlags(root_.creds, set_b), IsOk());
  });
  writer_a.join();
  writer_b.join();
  stop = true;
  reader.join();
  EXPECT_EQ(torn, 0);
  int last = f->flags() & ~base;
  EXPECT_TRUE(last == set_a || last == set_b) << last;
}

}  // namespace
}  // namespace veil::vfs::testing
