// SPDX-License-Identifier: Apache-2.0
//
// GoferServerTest: a confined gofer serving a populated scratch directory,
// with a client and Ops helpers. Skips where confinement cannot run.
//
//   root/file        "hello world"
//   root/dir/        with dir/nested "nested"
//   root/link     -> "file"
#pragma once

#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <memory>
#include <optional>
#include <string>

#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {

class GoferServerTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = WhyNoConfinement()) GTEST_SKIP() << *why;
    WriteFile(scratch_.InRoot("file"), "hello world");
    std::filesystem::create_directory(scratch_.InRoot("dir"));
    WriteFile(scratch_.InRoot("dir/nested"), "nested");
    std::filesystem::create_symlink("file", scratch_.InRoot("link"));
    gofer_ = std::make_unique<GoferProcess>(scratch_.root(), GoferOptions());
    ASSERT_TRUE(gofer_->Start());
    ops_.emplace(gofer_->client());
  }

  void TearDown() override {
    if (gofer_ == nullptr) return;
    ops_.reset();
    const int status = gofer_->Stop();
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
        << "gofer " << GoferProcess::Describe(status);
  }

  // These tests check that owners are applied as asked: every id is in the
  // export's range (the policy's own tests are in tests/escape/).
  virtual GoferProcess::Options GoferOptions() {
    GoferProcess::Options options;
    options.ids = IdRange::All();
    return options;
  }

  lisafs::FdId Root() const { return gofer_->root_fd(); }
  Ops& ops() { return *ops_; }

  // The control FDID of root/<names...>; fails the test if missing.
  lisafs::FdId MustWalk(std::vector<std::string> names) {
    Result<lisafs::FdId> fd = ops().WalkTo(std::move(names));
    EXPECT_TRUE(fd.has_value()) << ErrnoOf(fd);
    return fd.value_or(lisafs::kNoFdId);
  }
  lisafs::FdId MustOpen(lisafs::FdId fd, uint32_t flags) {
    auto opened = ops().Open(fd, flags);
    EXPECT_TRUE(opened.has_value()) << ErrnoOf(opened);
    return opened ? opened->message.open_fd : lisafs::kNoFdId;
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

  Scratch scratch_;
  std::unique_ptr<GoferProcess> gofer_;
  std::optional<Ops> ops_;
};

}  // namespace veil::gofer::testing
