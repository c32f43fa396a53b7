// SPDX-License-Identifier: Apache-2.0
//
// GoferProcess and GoferFs against a real, confined `veil gofer` child.
// Needs root and the veil binary; skips otherwise.
#include "gofer/client/gofer_process.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <optional>
#include <string>

#include "tests/unit/gofer_client/served_fs.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace veil::gofer::testing {
namespace {

// Why a real gofer cannot run here, or nothing.
std::optional<std::string> WhyNoGofer() {
  if (geteuid() != 0) return "the gofer confines itself and needs root";
  if (access(VEIL_BINARY, X_OK) != 0) return "no veil binary at " VEIL_BINARY;
  std::string cmd = std::string(VEIL_BINARY) + " gofer --help >/dev/null 2>&1";
  if (system(cmd.c_str()) != 0) return "this veil binary has no gofer verb";
  return std::nullopt;
}

class GoferProcessTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (auto why = WhyNoGofer()) GTEST_SKIP() << *why;
    char tmpl[] = "/dev/shm/veil-gofer-process-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    std::ofstream(dir_ + "/hello") << "hello from the host";
  }
  void TearDown() override {
    vfs_.reset();
    fs_ = nullptr;
    if (gofer_) {
      // Hung up: the gofer exits by itself, with status 0.
      auto status = gofer_->Stop(std::chrono::seconds(5));
      ASSERT_TRUE(status.has_value()) << ErrnoOf(status);
      EXPECT_TRUE(WIFEXITED(*status) && WEXITSTATUS(*status) == 0) << *status;
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Mount(GoferAccess access) {
    auto gofer = StartGofer(VEIL_BINARY, dir_, access);
    ASSERT_TRUE(gofer.has_value()) << ErrnoOf(gofer);
    gofer_.emplace(std::move(*gofer));
    auto channel = lisafs::Channel::Adopt(gofer_->TakeSocket());
    ASSERT_TRUE(channel.has_value()) << ErrnoOf(channel);
    auto client = lisafs::Client::Create(std::move(*channel));
    ASSERT_TRUE(client.has_value()) << ErrnoOf(client);
    auto fs = GoferFs::Create(std::move(*client));
    ASSERT_TRUE(fs.has_value()) << ErrnoOf(fs);
    fs_ = RefPtr<GoferFs>(std::move(*fs));
    vfs_ = std::make_unique<vfs::Vfs>(fs_.ToRef());
  }

  std::string dir_;
  std::optional<GoferProcess> gofer_;
  RefPtr<GoferFs> fs_;
  std::unique_ptr<vfs::Vfs> vfs_;
};

TEST_F(GoferProcessTest, ServesADirectory) {
  Mount(GoferAccess::kReadWrite);
  auto c = vfs_->RootContext();
  auto f = Open(*vfs_, c, "/hello", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  EXPECT_EQ(ReadAll(**f), "hello from the host");
  // A read-only open gets the host descriptor the gofer donates.
  EXPECT_TRUE((*f)->GetHostMemory().has_value());
  ASSERT_TRUE(vfs_->MkdirAt(c, c.cwd, "/d", 0755).has_value());
  auto g = Open(*vfs_, c, "/d/new", O_CREAT | O_RDWR, 0600);
  ASSERT_TRUE(g.has_value()) << ErrnoOf(g);
  ASSERT_TRUE(WriteString(**g, "written").has_value());
  ASSERT_TRUE(
      vfs_->RenameAt(c, c.cwd, "/d/new", c.cwd, "/moved", 0).has_value());
  std::ifstream in(dir_ + "/moved");
  EXPECT_EQ(std::string(std::istreambuf_iterator<char>(in), {}), "written");
  auto dir = Open(*vfs_, c, "/", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.has_value());
  EXPECT_EQ(ListNames(**dir).size(), 3u);
}

TEST_F(GoferProcessTest, ReadOnlyGoferRefusesChanges) {
  Mount(GoferAccess::kReadOnly);
  auto c = vfs_->RootContext();
  EXPECT_EQ(ErrnoOf(vfs_->MkdirAt(c, c.cwd, "/d", 0755)), EROFS);
  EXPECT_EQ(ErrnoOf(Open(*vfs_, c, "/hello", O_WRONLY)), EROFS);
  auto f = Open(*vfs_, c, "/hello", O_RDONLY);
  ASSERT_TRUE(f.has_value());
  EXPECT_EQ(ReadAll(**f), "hello from the host");
}

TEST_F(GoferProcessTest, AGoferNobodyTalksToIsReaped) {
  pid_t pid;
  {
    auto gofer = StartGofer(VEIL_BINARY, dir_, GoferAccess::kReadWrite);
    ASSERT_TRUE(gofer.has_value());
    pid = gofer->pid();
  }
  // The destructor hung up and reaped it.
  EXPECT_EQ(waitpid(pid, nullptr, WNOHANG), -1);
  EXPECT_EQ(errno, ECHILD);
}

TEST_F(GoferProcessTest, AGoferStillServingIsKilledAfterTheGrace) {
  auto gofer = StartGofer(VEIL_BINARY, dir_, GoferAccess::kReadOnly);
  ASSERT_TRUE(gofer.has_value()) << ErrnoOf(gofer);
  // Its client end stays open: the gofer waits for requests and never
  // exits by itself, so Stop's wait on its pidfd must end at the grace.
  UniqueFd socket = gofer->TakeSocket();
  auto status = gofer->Stop(std::chrono::milliseconds(50));
  ASSERT_TRUE(status.has_value()) << ErrnoOf(status);
  EXPECT_TRUE(WIFSIGNALED(*status) && WTERMSIG(*status) == SIGKILL)
      << *status;
  EXPECT_EQ(ErrnoOf(gofer->Stop(std::chrono::milliseconds(50))), ECHILD);
}

TEST(GoferProcessStartTest, AMissingBinaryIsEnoent) {
  auto gofer = StartGofer("/nonexistent/veil", "/", GoferAccess::kReadOnly);
  EXPECT_EQ(ErrnoOf(gofer), ENOENT);
}

}  // namespace
}  // namespace veil::gofer::testing
