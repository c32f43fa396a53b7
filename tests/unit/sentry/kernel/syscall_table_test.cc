// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/syscall_table.h"

#include <gtest/gtest.h>
#include <sys/syscall.h>

#include <set>
#include <string>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

TEST(SyscallTableTest, OneEntryPerAssignedNumber) {
  auto table = SyscallTable();
  EXPECT_EQ(table.size(), kSyscallCount);
  for (int nr = 0; nr <= kMaxSyscall + 5; ++nr) {
    const SyscallEntry* e = FindSyscall(nr);
    bool assigned = nr <= kMaxSyscall && (nr < kGapFirst || nr >= kGapEnd);
    ASSERT_EQ(e != nullptr, assigned) << nr;  // NOLINT
    if (e) {
      EXPECT_EQ(e->nr, nr);
    }
  }
  EXPECT_EQ(FindSyscall(-1), nullptr);
  std::set<std::string> names;
  for (const SyscallEntry& e : table) EXPECT_TRUE(names.insert(e.name).second);
}

TEST(SyscallTableTest, NamesMatchTheHostHeaders) {
  struct Known {
    long nr;
    const char* name;
  };
  const Known known[] = {
      {SYS_read, "read"},
      {SYS_openat, "openat"},
      {SYS_newfstatat, "newfstatat"},
      {SYS_getdents64, "getdents64"},
      {SYS_close_range, "close_range"},
      {SYS_openat2, "openat2"},
      {SYS_faccessat2, "faccessat2"},
      {SYS_futex_waitv, "futex_waitv"},
      {SYS_set_mempolicy_home_node, "set_mempolicy_home_node"},
      {SYS_statx, "statx"},
      {SYS_io_uring_setup, "io_uring_setup"},
  };
  for (const Known& k : known) {
    ASSERT_NE(FindSyscall(k.nr), nullptr) << k.name;
    EXPECT_STREQ(FindSyscall(k.nr)->name, k.name);
  }
  // Newer than Debian 12's headers (Linux 6.5 to 6.17).
  EXPECT_STREQ(FindSyscall(451)->name, "cachestat");
  EXPECT_STREQ(FindSyscall(452)->name, "fchmodat2");
  EXPECT_STREQ(FindSyscall(462)->name, "mseal");
  EXPECT_STREQ(FindSyscall(469)->name, "file_setattr");
}

TEST(SyscallTableTest, EscapeRoutesAreDenied) {
  for (const char* name : {"ptrace",
                           "process_vm_readv",
                           "process_vm_writev",
                           "mount",
                           "umount2",
                           "pivot_root",
                           "fsopen",
                           "move_mount",
                           "open_tree",
                           "bpf",
                           "io_uring_setup",
                           "io_uring_enter",
                           "io_uring_register",
                           "keyctl",
                           "add_key",
                           "request_key",
                           "unshare",
                           "setns",
                           "kexec_load",
                           "kexec_file_load",
                           "init_module",
                           "finit_module",
                           "delete_module",
                           "perf_event_open",
                           "open_by_handle_at",
                           "pidfd_getfd",
                           "userfaultfd"}) {
    const SyscallEntry* found = nullptr;
    for (const SyscallEntry& e : SyscallTable())
      if (std::string(e.name) == name) found = &e;
    ASSERT_NE(found, nullptr) << name;
    EXPECT_EQ(found->kind, SyscallKind::kDenied) << name;
    EXPECT_NE(found->error, 0) << name;
  }
}

TEST(SyscallTableTest, DataPlaneIsTrappedOnlyUnderStrict) {
  const SyscallEntry& read = *FindSyscall(SYS_read);
  EXPECT_EQ(read.data_plane, DataPlane::kYes);
  EXPECT_FALSE(Trapped(read, Mode::kDefault));
  EXPECT_TRUE(Trapped(read, Mode::kStrict));
  const SyscallEntry& openat = *FindSyscall(SYS_openat);
  EXPECT_TRUE(Trapped(openat, Mode::kDefault));
  const SyscallEntry& getpid = *FindSyscall(SYS_getpid);
  EXPECT_EQ(getpid.kind, SyscallKind::kNative);
  EXPECT_FALSE(Trapped(getpid, Mode::kStrict));
  EXPECT_FALSE(Trapped(*FindSyscall(SYS_ptrace), Mode::kStrict));
  // fstat stays trapped: the sentry is the authority for metadata.
  EXPECT_EQ(FindSyscall(SYS_fstat)->data_plane, DataPlane::kNo);
}

class DispatchTest : public testing::KernelTest {};

TEST_F(DispatchTest, AnswersFromTheTable) {
  EXPECT_EQ(Call(400), -ENOSYS);  // in the gap
  EXPECT_EQ(Call(470), -ENOSYS);  // past the end
  EXPECT_EQ(Call(-1), -ENOSYS);
  EXPECT_EQ(Call(SYS_ptrace, 0, 0, 0, 0), -EPERM);
  EXPECT_EQ(Call(SYS_io_uring_setup, 1, 0), -ENOSYS);
  EXPECT_EQ(Call(SYS_socket, 1, 1, 0), -ENOSYS);  // not served yet
  EXPECT_EQ(Call(SYS_umask, 077), 022);
}

TEST_F(DispatchTest, NothingIsAnsweredOnceTheRequestIsGone) {
  platform_.SetStillPending(FakePlatform::Pending::kNo);
  EXPECT_EQ(Call(SYS_mkdir, Str("/d"), 0755), kNoAnswer);
  platform_.SetStillPending(FakePlatform::Pending::kYes);
  // ... and nothing was done: the call can come again.
  EXPECT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
}

}  // namespace
}  // namespace veil::sentry
