// SPDX-License-Identifier: Apache-2.0
//
// GoferFs's open handles (issue #10, item 2): what it keeps for files
// nobody has open is bounded (HandleCache), files really open keep theirs
// whatever the bound, and when the server's open-file budget is full the
// idle handles go first. Over the gofer's HostBackend in this process.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "gofer/client/internal/handle_cache.h"
#include "gofer/server/host_backend.h"
#include "tests/unit/gofer_client/served_fs.h"

namespace veil::gofer::testing {
namespace {

class GoferHandleTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the backend chowns)";
    char tmpl[] = "/dev/shm/veil-gofer-handles-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    for (int i = 0; i < kFiles; ++i) {
      std::ofstream(dir_ + "/f" + std::to_string(i)) << i;
    }
  }
  void TearDown() override {
    served_.reset();
    backend_.reset();
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  void Start(size_t max_cached_handles, size_t max_open_files) {
    UniqueFd root(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    HostBackendOptions backend_options;
    backend_options.max_open_files = max_open_files;
    auto backend = HostBackend::Create(std::move(root), backend_options);
    ASSERT_TRUE(backend.has_value()) << ErrnoOf(backend);
    backend_ = std::move(*backend);
    GoferFsOptions options;
    options.max_cached_handles = max_cached_handles;
    served_ = std::make_unique<ServedFs>(*backend_, options);
    ASSERT_TRUE(served_->ok());
  }
  // Open files on the server once every released FDID is closed there.
  size_t ServerOpenFiles() {
    served_->fs().FlushReleasedFds();
    return backend_->open_files();
  }
  std::string Name(int i) { return "/f" + std::to_string(i); }

  static constexpr int kFiles = 200;
  std::string dir_;
  std::unique_ptr<HostBackend> backend_;
  std::unique_ptr<ServedFs> served_;
};

// Reading every file once, with every inode still cached by the VFS, used
// to leave one open FDID (and a donated descriptor) per file read.
TEST_F(GoferHandleTest, ClosedFilesKeepABoundedNumberOfHandles) {
  Start(/*max_cached_handles=*/8, /*max_open_files=*/0);
  auto c = served_->Root();
  for (int i = 0; i < kFiles; ++i) {
    auto f = Open(served_->vfs(), c, Name(i), O_RDONLY);
    ASSERT_TRUE(f.has_value()) << i;
    EXPECT_EQ(ReadAll(**f), std::to_string(i));
  }
  EXPECT_LE(ServerOpenFiles(), 8u);
  EXPECT_LE(served_->fs().handles().size(), 8u);
  // The most recently used stay cached: opening one again needs no OpenAt.
  const size_t before = backend_->open_files();
  auto again = Open(served_->vfs(), c, Name(kFiles - 1), O_RDONLY);
  ASSERT_TRUE(again.has_value());
  EXPECT_EQ(ServerOpenFiles(), before);
}

// Files really open keep their handles whatever the bound: their FDIDs
// and donated descriptors work until they are closed.
TEST_F(GoferHandleTest, OpenFilesKeepTheirHandles) {
  Start(/*max_cached_handles=*/4, /*max_open_files=*/0);
  auto c = served_->Root();
  std::vector<Ref<vfs::FileDescription>> open;
  for (int i = 0; i < 50; ++i)
    open.push_back(VEIL_MUST(Open(served_->vfs(), c, Name(i), O_RDONLY)));
  // Plus 100 more read and closed, which push the cache around.
  for (int i = 50; i < 150; ++i)
    ASSERT_TRUE(Open(served_->vfs(), c, Name(i), O_RDONLY).has_value());
  EXPECT_LE(ServerOpenFiles(), 54u);
  EXPECT_GE(ServerOpenFiles(), 50u);
  for (int i = 0; i < 50; ++i) EXPECT_EQ(ReadAll(*open[i]), std::to_string(i));
  open.clear();
  EXPECT_LE(ServerOpenFiles(), 4u);
}

// When the server's open-file budget is full, the client's idle handles
// are released and the open succeeds; only files really open count.
TEST_F(GoferHandleTest, FullServerBudgetReleasesIdleHandlesFirst) {
  Start(/*max_cached_handles=*/64, /*max_open_files=*/16);
  auto c = served_->Root();
  for (int i = 0; i < 100; ++i) {
    auto f = Open(served_->vfs(), c, Name(i), O_RDONLY);
    ASSERT_TRUE(f.has_value()) << i << ": " << ErrnoOf(f);
  }
  EXPECT_LE(ServerOpenFiles(), 16u);
  // Really open: 16 fit, the 17th is ENFILE, nothing else breaks.
  std::vector<Ref<vfs::FileDescription>> open;
  for (int i = 100; i < 116; ++i)
    open.push_back(VEIL_MUST(Open(served_->vfs(), c, Name(i), O_RDONLY)));
  EXPECT_EQ(ErrnoOf(Open(served_->vfs(), c, Name(116), O_RDONLY)), ENFILE);
  open.pop_back();
  auto f = Open(served_->vfs(), c, Name(116), O_RDONLY);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  EXPECT_EQ(ReadAll(**f), "116");
}

}  // namespace
}  // namespace veil::gofer::testing
