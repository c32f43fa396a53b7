// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/fd_table.h"

#include <fcntl.h>
#include <gtest/gtest.h>

#include "tests/util/matchers.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::sentry {
namespace {

using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;

class FdTableTest : public ::testing::Test {
 protected:
  FdTableTest()
      : vfs_(vfs::tmpfs::Tmpfs::Create()), table_(FdTable::Create()) {}

  Ref<vfs::FileDescription> NewFile() {
    return VEIL_MUST(vfs_.OpenAt(vfs_.RootContext(), vfs_.RootLocation(), "/",
                                 vfs::OpenHow{O_RDONLY}));
  }
  int Open(int min = 0, int limit = 1024,
           CloseOnExec cloexec = CloseOnExec::kNo) {
    auto r = table_->Allocate(min, limit);
    if (!r) return -r.error().code();
    return std::move(*r).Install(NewFile(), cloexec);
  }

  vfs::Vfs vfs_;
  Ref<FdTable> table_;
};

TEST_F(FdTableTest, LowestFreeNumber) {
  EXPECT_EQ(Open(), 0);
  EXPECT_EQ(Open(), 1);
  EXPECT_EQ(Open(), 2);
  ASSERT_THAT(table_->Remove(1), IsOk());
  EXPECT_EQ(Open(), 1);
  EXPECT_EQ(Open(), 3);
  EXPECT_EQ(Open(10), 10);
  EXPECT_EQ(Open(), 4);
  EXPECT_EQ(Open(10), 11);
}

TEST_F(FdTableTest, EmfileAtTheLimit) {
  EXPECT_EQ(Open(0, 2), 0);
  EXPECT_EQ(Open(0, 2), 1);
  EXPECT_EQ(Open(0, 2), -EMFILE);
  EXPECT_EQ(Open(5, 5), -EMFILE);
}

TEST_F(FdTableTest, DroppedReservationLeavesNothing) {
  {
    auto r = table_->Allocate(0, 10);
    ASSERT_THAT(r, IsOk());
    EXPECT_EQ(r->fd(), 0);
    // Reserved: neither visible nor allocatable, and dup2 onto it is EBUSY.
    EXPECT_THAT(table_->Get(0), ErrnoIs(EBADF));
    EXPECT_EQ(Open(), 1);
    EXPECT_THAT(table_->Replace(0, NewFile(), CloseOnExec::kNo, 10),
                ErrnoIs(EBUSY));
  }
  EXPECT_THAT(table_->Get(0), ErrnoIs(EBADF));
  EXPECT_EQ(Open(), 0);
  EXPECT_EQ(table_->CountForTesting(), 2u);
}

TEST_F(FdTableTest, ReplaceReturnsWhatWasThere) {
  EXPECT_EQ(Open(), 0);
  auto old = table_->Replace(0, NewFile(), CloseOnExec::kYes, 10);
  ASSERT_THAT(old, IsOk());
  EXPECT_TRUE(*old);
  auto none = table_->Replace(7, NewFile(), CloseOnExec::kNo, 10);
  ASSERT_THAT(none, IsOk());
  EXPECT_FALSE(*none);
  EXPECT_THAT(table_->Replace(10, NewFile(), CloseOnExec::kNo, 10),
              ErrnoIs(EBADF));
  EXPECT_EQ(table_->GetEntry(0)->cloexec, CloseOnExec::kYes);
  EXPECT_EQ(Open(), 1);
}

TEST_F(FdTableTest, CloseOnExecIsPerFd) {
  EXPECT_EQ(Open(0, 10, CloseOnExec::kYes), 0);
  Ref<vfs::FileDescription> same = *table_->Get(0);
  auto r = table_->Allocate(0, 10);
  ASSERT_THAT(r, IsOk());
  std::move(*r).Install(same, CloseOnExec::kNo);  // a dup: same description
  EXPECT_EQ(table_->CloseOnExecFds().size(), 1u);
  EXPECT_THAT(table_->Get(0), ErrnoIs(EBADF));
  EXPECT_THAT(table_->Get(1), IsOk());
}

TEST_F(FdTableTest, CloseRange) {
  for (int i = 0; i < 6; ++i) Open();
  EXPECT_EQ(table_->CloseRange(1, 2, FdTable::RangeAction::kClose).size(), 2u);
  EXPECT_EQ(
      table_->CloseRange(4, ~0u, FdTable::RangeAction::kSetCloseOnExec).size(),
      0u);
  EXPECT_EQ(table_->GetEntry(5)->cloexec, CloseOnExec::kYes);
  EXPECT_EQ(table_->GetEntry(3)->cloexec, CloseOnExec::kNo);
  EXPECT_EQ(table_->CloseRange(3, ~0u, FdTable::RangeAction::kClose).size(),
            3u);
  EXPECT_EQ(table_->CountForTesting(), 1u);
  EXPECT_EQ(Open(), 1);
}

TEST_F(FdTableTest, ForkCopiesAndThenDiverges) {
  Open();
  Open(0, 10, CloseOnExec::kYes);
  auto pending = table_->Allocate(0, 10);  // fd 2, reserved: not copied
  ASSERT_THAT(pending, IsOk());
  Ref<FdTable> child = table_->Fork();
  EXPECT_EQ(child->CountForTesting(), 2u);
  EXPECT_EQ(child->GetEntry(1)->cloexec, CloseOnExec::kYes);
  EXPECT_EQ(child->Get(0)->get(), table_->Get(0)->get());
  ASSERT_THAT(child->Remove(0), IsOk());
  EXPECT_THAT(table_->Get(0), IsOk());
  auto r = child->Allocate(0, 10);
  ASSERT_THAT(r, IsOk());
  EXPECT_EQ(r->fd(), 0);
  auto r2 = child->Allocate(0, 10);
  EXPECT_EQ(r2->fd(), 2);  // free in the child
}

TEST_F(FdTableTest, NegativeAndHugeNumbersAreEbadf) {
  EXPECT_THAT(table_->Get(-1), ErrnoIs(EBADF));
  EXPECT_THAT(table_->Remove(1 << 30), ErrnoIs(EBADF));
  EXPECT_THAT(table_->Replace(-1, NewFile(), CloseOnExec::kNo, 10),
              ErrnoIs(EBADF));
}

}  // namespace
}  // namespace veil::sentry
