// SPDX-License-Identifier: Apache-2.0
//
// Privilege planted on the host through the gofer (issue #10, items 11 and
// 12). LISAFS carries no credentials, so a compromised sentry asks for any
// owner and mode it likes; the export's policy (gofer/server/
// export_policy.h) decides: no set-id bits on non-directories, owners from
// a range, and host device nodes never made reachable to more users. Each
// test checks the host's view of DIR afterwards with lstat(2).
#include <fcntl.h>
#include <gtest/gtest.h>
#include <stdio.h>  // RENAME_EXCHANGE
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <string>
#include <vector>

#include "lisafs/message.h"
#include "tests/escape/escape_fixture.h"

namespace veil::gofer::testing {
namespace {

using lisafs::kNoId;

constexpr uint32_t kModeMask = lisafs::kSetStatMode;
constexpr uint32_t kOwnerMask = lisafs::kSetStatUid | lisafs::kSetStatGid;

class GoferPolicyEscapeTest : public GoferEscapeTest {
 protected:
  void Populate() override {
    // A setuid-root program and a device node that only root may open, as
    // a rootfs in DIR would hold them.
    WriteFile(scratch_.InRoot("suid_prog"), "#!/bin/sh\n");
    ASSERT_EQ(::chmod(scratch_.InRoot("suid_prog").c_str(), 04755), 0);
    ASSERT_EQ(::mknod(scratch_.InRoot("kvm").c_str(), S_IFCHR | 0600,
                      makedev(10, 232)),
              0);
    ASSERT_EQ(::mknod(scratch_.InRoot("whiteout").c_str(), S_IFCHR | 0600,
                      makedev(0, 0)),
              0);
    ASSERT_EQ(::mkdir(scratch_.InRoot("dir").c_str(), 0755), 0);
  }

  // Starts the gofer with `options`' policy fields on top of the fixture's.
  void StartWith(const GoferProcess::Options& policy) {
    GoferProcess::Options options = policy;
    options.confinement = GetParam();
    gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
    ASSERT_TRUE(gofer_->Start());
    ops_.emplace(gofer_->client());
  }

  struct stat HostStat(const std::string& rel) {
    struct stat st = {};
    EXPECT_EQ(::lstat(scratch_.InRoot(rel).c_str(), &st), 0) << rel;
    return st;
  }
  bool HostExists(const std::string& rel) {
    struct stat st = {};
    return ::lstat(scratch_.InRoot(rel).c_str(), &st) == 0;
  }

  lisafs::FdId MustWalk(const std::string& name) {
    auto fd = ops().WalkTo({name});
    EXPECT_TRUE(fd.has_value()) << name << ": " << ErrnoOf(fd);
    return fd.value_or(lisafs::kNoFdId);
  }

  // SetStat's failure errno for the bits in `mask` (0: all applied).
  int SetStat(lisafs::FdId fd, uint32_t mask, uint32_t mode, uint32_t uid,
              uint32_t gid) {
    lisafs::SetStatReq req;
    req.fd = fd;
    req.mask = mask;
    req.mode = mode;
    req.uid = uid;
    req.gid = gid;
    auto resp = ops().Call(req);
    if (!resp) return ErrnoOf(resp);
    return (resp->failure_mask & mask) != 0
               ? static_cast<int>(resp->failure_errno)
               : 0;
  }
};

// OpenCreateAt(04755, uid 0) + write + SetStat(04755) used to leave a
// setuid-root binary for host users to run.
TEST_P(GoferPolicyEscapeTest, NoSetuidFileIsCreatedOrKept) {
  StartGofer();
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "sh", 06755, 0, 0, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  EXPECT_TRUE(ops().Write(created->open_fd, "#!/bin/sh\nid\n"));
  EXPECT_EQ(HostStat("sh").st_mode, S_IFREG | 0755u);
  EXPECT_EQ(SetStat(created->child.control_fd, kModeMask, 04755, 0, 0), 0);
  EXPECT_EQ(HostStat("sh").st_mode, S_IFREG | 0755u);
  EXPECT_EQ(SetStat(MustWalk("inside.txt"), kModeMask, 06777, 0, 0), 0);
  EXPECT_EQ(HostStat("inside.txt").st_mode, S_IFREG | 0777u);
  auto node = ops().Call(lisafs::MknodAtReq{Root(), "fifo", S_IFIFO | 06644,
                                            kNoId, kNoId, 0, 0});
  ASSERT_TRUE(node.has_value()) << ErrnoOf(node);
  EXPECT_EQ(HostStat("fifo").st_mode, S_IFIFO | 0644u);
}

// A set-id file already in DIR loses its bits before a client can change
// its contents (as Linux does for a writer without CAP_FSETID), so its
// code can never be replaced under the bit.
TEST_P(GoferPolicyEscapeTest, WritingASetuidFileClearsTheBit) {
  StartGofer();
  const lisafs::FdId prog = MustWalk("suid_prog");
  auto reading = ops().Open(prog, O_RDONLY);
  ASSERT_TRUE(reading.has_value()) << ErrnoOf(reading);
  EXPECT_EQ(HostStat("suid_prog").st_mode, S_IFREG | 04755u);  // Reads keep it.
  auto writing = ops().Open(prog, O_WRONLY);
  ASSERT_TRUE(writing.has_value()) << ErrnoOf(writing);
  EXPECT_EQ(HostStat("suid_prog").st_mode, S_IFREG | 0755u);
  ASSERT_EQ(::chmod(scratch_.InRoot("suid_prog").c_str(), 02755), 0);
  EXPECT_EQ(SetStat(prog, lisafs::kSetStatSize, 0, 0, 0), 0);  // truncate
  EXPECT_EQ(HostStat("suid_prog").st_mode, S_IFREG | 0755u);
}

// Directories keep set-group-ID (group inheritance), never set-user-ID.
TEST_P(GoferPolicyEscapeTest, DirectoriesKeepOnlySetgid) {
  StartGofer();
  auto made = ops().Call(lisafs::MkdirAtReq{Root(), "shared", 06775, kNoId,
                                            kNoId});
  ASSERT_TRUE(made.has_value()) << ErrnoOf(made);
  // mkdir(2) itself ignores both bits (a directory inherits S_ISGID from
  // its parent only).
  EXPECT_EQ(HostStat("shared").st_mode, S_IFDIR | 0775u);
  EXPECT_EQ(SetStat(made->child.control_fd, kModeMask, 06775, 0, 0), 0);
  EXPECT_EQ(HostStat("shared").st_mode, S_IFDIR | 02775u);
  EXPECT_EQ(SetStat(MustWalk("dir"), kModeMask, 04775, 0, 0), 0);
  EXPECT_EQ(HostStat("dir").st_mode, S_IFDIR | 0775u);
}

// Without --ids only DIR's owner (root here) may own files: a client
// cannot hand files to other host users.
TEST_P(GoferPolicyEscapeTest, OwnersOutsideTheRangeAreEperm) {
  StartGofer();
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::OpenCreateAtReq{Root(), "f", 0644, 1000,
                                                       kNoId, O_RDWR})),
            EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::MkdirAtReq{Root(), "d", 0755, kNoId, 65534})),
            EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(
                lisafs::SymlinkAtReq{Root(), "l", "target", 1000, 1000})),
            EPERM);
  EXPECT_FALSE(HostExists("f"));
  EXPECT_FALSE(HostExists("d"));
  EXPECT_FALSE(HostExists("l"));
  const lisafs::FdId file = MustWalk("inside.txt");
  EXPECT_EQ(SetStat(file, kOwnerMask, 0, 1000, 1000), EPERM);
  EXPECT_EQ(HostStat("inside.txt").st_uid, 0u);
  EXPECT_EQ(HostStat("inside.txt").st_gid, 0u);
  // The ids a file already has, and the owner's, are fine.
  EXPECT_EQ(SetStat(file, kOwnerMask, 0, 0, 0), 0);
}

TEST_P(GoferPolicyEscapeTest, AGivenIdRangeIsHonoured) {
  GoferProcess::Options options;
  options.ids = IdRange{1000, 10};
  StartWith(options);
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "f", 0644, 1005, 1009, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  EXPECT_EQ(HostStat("f").st_uid, 1005u);
  EXPECT_EQ(HostStat("f").st_gid, 1009u);
  EXPECT_EQ(SetStat(created->child.control_fd, kOwnerMask, 0, 0, 0), EPERM);
  EXPECT_EQ(SetStat(created->child.control_fd, lisafs::kSetStatGid, 0, 0,
                    1010),
            EPERM);
  EXPECT_EQ(HostStat("f").st_uid, 1005u);
  EXPECT_EQ(HostStat("f").st_gid, 1009u);
}

// `veil gofer --allow-suid`: modes as asked (what veil fuse uses, whose
// callers the host kernel checks).
TEST_P(GoferPolicyEscapeTest, AllowSuidAppliesModesAsAsked) {
  GoferProcess::Options options;
  options.setid = SetIdBits::kAllow;
  StartWith(options);
  auto created = ops().Call(
      lisafs::OpenCreateAtReq{Root(), "sh", 04755, kNoId, kNoId, O_RDWR});
  ASSERT_TRUE(created.has_value()) << ErrnoOf(created);
  EXPECT_EQ(HostStat("sh").st_mode, S_IFREG | 04755u);
}

// LinkAt, SetStat and RenameAt of a root-only device node used to succeed:
// an unprivileged host user could then open it read-write.
TEST_P(GoferPolicyEscapeTest, DeviceNodesAreNotMadeReachable) {
  StartGofer();
  const lisafs::FdId kvm = MustWalk("kvm");
  const lisafs::FdId dir = MustWalk("dir");
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::LinkAtReq{dir, "kvm2", kvm})), EPERM);
  EXPECT_EQ(SetStat(kvm, kModeMask, 0666, 0, 0), EPERM);
  EXPECT_EQ(SetStat(kvm, kOwnerMask, 0, 0, 0), EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{Root(), "kvm", dir,
                                                    "moved", 0})),
            EPERM);
  EXPECT_EQ(ErrnoOf(ops().Call(lisafs::RenameAtReq{
                Root(), "inside.txt", Root(), "kvm", RENAME_EXCHANGE})),
            EPERM);
  EXPECT_FALSE(HostExists("dir/kvm2"));
  EXPECT_FALSE(HostExists("dir/moved"));
  const struct stat st = HostStat("kvm");
  EXPECT_EQ(st.st_mode, S_IFCHR | 0600u);
  EXPECT_EQ(st.st_uid, 0u);
  EXPECT_EQ(st.st_rdev, makedev(10, 232));
  // Removing it, or renaming something over it, exposes nothing.
  EXPECT_TRUE(ops().Call(
      lisafs::RenameAtReq{Root(), "inside.txt", Root(), "kvm", 0}));
  EXPECT_TRUE(S_ISREG(HostStat("kvm").st_mode));
}

// The overlay whiteout (0:0) reaches no device: it may be linked, renamed
// and changed like any file.
TEST_P(GoferPolicyEscapeTest, TheWhiteoutIsAnOrdinaryNode) {
  StartGofer();
  const lisafs::FdId whiteout = MustWalk("whiteout");
  EXPECT_TRUE(ops().Call(lisafs::LinkAtReq{Root(), "w2", whiteout}));
  EXPECT_EQ(SetStat(whiteout, kModeMask, 0644, 0, 0), 0);
  EXPECT_EQ(HostStat("whiteout").st_mode, S_IFCHR | 0644u);
  EXPECT_TRUE(ops().Call(
      lisafs::RenameAtReq{Root(), "whiteout", Root(), "w3", 0}));
}

INSTANTIATE_TEST_SUITE_P(Confinement, GoferPolicyEscapeTest,
                         ::testing::Values(Confinement::kFull,
                                           Confinement::kNone),
                         ConfinementName);

}  // namespace
}  // namespace veil::gofer::testing
