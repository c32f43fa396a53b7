// SPDX-License-Identifier: Apache-2.0
//
// HostNode and NodeTable in-process: one node per inode, reopening through
// the remembered location, and never reopening a different file.
#include "gofer/server/host_node.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>

#include "gofer/server/host_backend.h"
#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {
namespace {

class HostNodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    WriteFile(scratch_.InRoot("f"), "contents");
    std::filesystem::create_directory(scratch_.InRoot("d"));
    root_fd_ = UniqueFd(
        ::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    ASSERT_TRUE(root_fd_.valid());
    struct statx st = VEIL_MUST(StatFd(root_fd_.get()));
    root_ = table_->Intern(VEIL_MUST(OpenBeneath(root_fd_.get(), ".", O_PATH)),
                           st, nullptr, "");
  }

  std::shared_ptr<HostNode> Intern(const std::shared_ptr<HostNode>& dir,
                                   const char* name) {
    UniqueFd fd = VEIL_MUST(OpenBeneath(dir->fd(), name, O_PATH));
    struct statx st = VEIL_MUST(StatFd(fd.get()));
    return table_->Intern(std::move(fd), st, dir, name);
  }

  Scratch scratch_;
  std::shared_ptr<NodeTable> table_ = NodeTable::Create();
  UniqueFd root_fd_;
  std::shared_ptr<HostNode> root_;
};

TEST_F(HostNodeTest, OneNodePerInode) {
  auto a = Intern(root_, "f");
  auto b = Intern(root_, "f");
  EXPECT_EQ(a, b);
  EXPECT_EQ(table_->size(), 2u);  // root and f.
  a.reset();
  b.reset();
  EXPECT_EQ(table_->size(), 1u);  // Released with its last owner.
}

TEST_F(HostNodeTest, ReopenOpensTheSameInode) {
  auto f = Intern(root_, "f");
  UniqueFd fd = VEIL_MUST(f->Reopen(O_RDONLY));
  char buffer[16] = {};
  EXPECT_EQ(::read(fd.get(), buffer, sizeof(buffer)), 8);
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(fd.get()))), f->key());
  // Not left non-blocking (Reopen opens with O_NONBLOCK for safety).
  EXPECT_EQ(::fcntl(fd.get(), F_GETFL) & O_NONBLOCK, 0);
  // A directory reopens through ".".
  auto d = Intern(root_, "d");
  UniqueFd dir = VEIL_MUST(d->Reopen(O_RDONLY | O_DIRECTORY));
  EXPECT_EQ(KeyOf(VEIL_MUST(StatFd(dir.get()))), d->key());
}

TEST_F(HostNodeTest, ReopenFollowsAnUpdatedLocation) {
  auto f = Intern(root_, "f");
  auto d = Intern(root_, "d");
  ASSERT_EQ(
      std::rename(scratch_.InRoot("f").c_str(), scratch_.InRoot("d/g").c_str()),
      0);
  EXPECT_EQ(ErrnoOf(f->Reopen(O_RDONLY)), ESTALE);
  f->SetLocation(d, "g");
  EXPECT_TRUE(f->Reopen(O_RDONLY).has_value());
}

TEST_F(HostNodeTest, ReopenNeverTouchesASwappedInFile) {
  auto f = Intern(root_, "f");
  WriteFile(scratch_.InRoot("other"), "precious");
  ASSERT_EQ(std::rename(scratch_.InRoot("other").c_str(),
                        scratch_.InRoot("f").c_str()),
            0);
  EXPECT_EQ(ErrnoOf(f->Reopen(O_WRONLY | O_TRUNC)), ESTALE);
  EXPECT_EQ(ReadFile(scratch_.InRoot("f")), "precious");
  // A symlink swapped in is not followed either.
  ASSERT_EQ(::unlink(scratch_.InRoot("f").c_str()), 0);
  std::filesystem::create_symlink("/etc/passwd", scratch_.InRoot("f"));
  EXPECT_EQ(ErrnoOf(f->Reopen(O_RDONLY)), ESTALE);
}

TEST_F(HostNodeTest, SymlinksAreNeverOpened) {
  std::filesystem::create_symlink("f", scratch_.InRoot("l"));
  auto l = Intern(root_, "l");
  EXPECT_EQ(l->type(), static_cast<uint32_t>(S_IFLNK));
  EXPECT_EQ(ErrnoOf(l->Reopen(O_RDONLY)), ELOOP);
}

TEST_F(HostNodeTest, OpenBeneathStaysBeneath) {
  EXPECT_EQ(ErrnoOf(OpenBeneath(root_->fd(), "..", O_PATH)), EXDEV);
  EXPECT_EQ(ErrnoOf(OpenBeneath(root_->fd(), "/etc", O_PATH)), EXDEV);
  EXPECT_EQ(ErrnoOf(CheckName("..")), EINVAL);
  EXPECT_EQ(ErrnoOf(CheckName("a/b")), EINVAL);
  EXPECT_EQ(ErrnoOf(CheckName(std::string(256, 'a'))), ENAMETOOLONG);
}

TEST_F(HostNodeTest, BackendRefusesUnsafeNamesEvenWithoutTheCodec) {
  auto backend = VEIL_MUST(HostBackend::Create(
      UniqueFd(::open(scratch_.root().c_str(), O_PATH | O_DIRECTORY)), {}));
  lisafs::NewNode root = VEIL_MUST(backend->Mount());
  for (const char* name : {"..", ".", "", "d/..", "/etc"}) {
    EXPECT_EQ(ErrnoOf(backend->Walk(*root.fd, lisafs::WalkReq{1, {name}})),
              EINVAL)
        << name;
    EXPECT_EQ(ErrnoOf(backend->MkdirAt(
                  *root.fd, lisafs::MkdirAtReq{1, name, 0755, lisafs::kNoId,
                                               lisafs::kNoId})),
              EINVAL)
        << name;
  }
  EXPECT_EQ(backend->live_nodes(), 1u);
}

}  // namespace
}  // namespace veil::gofer::testing
