// SPDX-License-Identifier: Apache-2.0
//
// Revalidation of cached names in a shared tree (FileAccess::kShared):
// files created, removed, renamed and replaced on the host behind a GoferFs
// show up through the VFS, with the host's inode numbers, while an open
// file keeps what it opened; and a tree that is not shared asks nothing
// again. GoferFs over the gofer's HostBackend served in this process, on a
// scratch directory of the host's tmpfs, with every request counted.
// Needs root (the backend chowns new files); skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <filesystem>
#include <fstream>
#include <string>

#include "gofer/server/host_backend.h"
#include "tests/unit/gofer_client/served_fs.h"

namespace veil::gofer::testing {
namespace {

using lisafs::ServerFd;

// Forwards to a HostBackend and counts the requests that look names up.
class CountingBackend final : public lisafs::ServerBackend {
 public:
  explicit CountingBackend(lisafs::ServerBackend& inner) : inner_(inner) {}

  std::atomic<int> walks{0}, walk_stats{0}, fstats{0}, others{0};
  // Answer WalkStat as a server without it would (it is optional).
  std::atomic<bool> no_walk_stat{false};

  int total() const { return walks + walk_stats + fstats + others; }
  void Reset() { walks = walk_stats = fstats = others = 0; }

  Result<lisafs::NewNode> Mount() override { return inner_.Mount(); }
  Result<lisafs::Statx> FStat(ServerFd& fd) override {
    ++fstats;
    return inner_.FStat(fd);
  }
  Result<lisafs::SetStatResp> SetStat(ServerFd& fd,
                                      const lisafs::SetStatReq& r) override {
    ++others;
    return inner_.SetStat(fd, r);
  }
  Result<lisafs::WalkResult> Walk(ServerFd& dir,
                                  const lisafs::WalkReq& r) override {
    ++walks;
    return inner_.Walk(dir, r);
  }
  Result<std::vector<lisafs::Statx>> WalkStat(
      ServerFd& dir, const lisafs::WalkStatReq& r) override {
    ++walk_stats;
    if (no_walk_stat) return Errno(EOPNOTSUPP);
    return inner_.WalkStat(dir, r);
  }
  Result<lisafs::OpenedFile> OpenAt(ServerFd& fd,
                                    const lisafs::OpenAtReq& r) override {
    ++others;
    return inner_.OpenAt(fd, r);
  }
  Result<lisafs::CreatedFile> OpenCreateAt(
      ServerFd& dir, const lisafs::OpenCreateAtReq& r) override {
    ++others;
    return inner_.OpenCreateAt(dir, r);
  }
  Result<lisafs::NewNode> MkdirAt(ServerFd& dir,
                                  const lisafs::MkdirAtReq& r) override {
    ++others;
    return inner_.MkdirAt(dir, r);
  }
  Result<void> UnlinkAt(ServerFd& dir, const lisafs::UnlinkAtReq& r) override {
    ++others;
    return inner_.UnlinkAt(dir, r);
  }
  Result<void> RenameAt(ServerFd& a, ServerFd& b,
                        const lisafs::RenameAtReq& r) override {
    ++others;
    return inner_.RenameAt(a, b, r);
  }
  Result<std::vector<uint8_t>> PRead(ServerFd& fd,
                                     const lisafs::PReadReq& r) override {
    ++others;
    return inner_.PRead(fd, r);
  }
  Result<uint64_t> PWrite(ServerFd& fd, const lisafs::PWriteReq& r) override {
    ++others;
    return inner_.PWrite(fd, r);
  }
  Result<void> Flush(ServerFd& fd) override { return inner_.Flush(fd); }
  Result<std::vector<lisafs::Dirent64>> Getdents64(
      ServerFd& fd, const lisafs::Getdents64Req& r) override {
    ++others;
    return inner_.Getdents64(fd, r);
  }

 private:
  lisafs::ServerBackend& inner_;
};

class GoferRevalidateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the backend chowns)";
    char tmpl[] = "/dev/shm/veil-gofer-revalidate-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    old_umask_ = umask(0);
  }
  void TearDown() override {
    served_.reset();
    counting_.reset();
    backend_.reset();
    if (!dir_.empty()) {
      umask(old_umask_);
      std::filesystem::remove_all(dir_);
    }
  }

  void Start(FileAccess access) {
    served_.reset();
    UniqueFd root(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    HostBackendOptions backend_options;
    backend_options.ids = IdRange::All();
    backend_options.setid = SetIdBits::kAllow;
    auto backend = HostBackend::Create(std::move(root), backend_options);
    ASSERT_TRUE(backend.has_value()) << ErrnoOf(backend);
    backend_ = std::move(*backend);
    counting_ = std::make_unique<CountingBackend>(*backend_);
    GoferFsOptions options;
    options.access = access;
    served_ = std::make_unique<ServedFs>(*counting_, options);
    ASSERT_TRUE(served_->ok());
  }

  vfs::Vfs& vfs() { return served_->vfs(); }
  vfs::Context root() { return served_->Root(); }
  std::string Host(const std::string& rel) { return dir_ + "/" + rel; }
  void HostWrite(const std::string& rel, const std::string& data) {
    std::ofstream(Host(rel)) << data;
  }
  ino_t HostIno(const std::string& rel) {
    struct stat st = {};
    EXPECT_EQ(lstat(Host(rel).c_str(), &st), 0) << rel;
    return st.st_ino;
  }
  Result<vfs::Attr> Stat(const std::string& path) {
    vfs::Context c = root();
    return vfs().StatAt(c, c.cwd, path, AT_SYMLINK_NOFOLLOW);
  }
  std::string Read(const std::string& path) {
    auto f = Open(vfs(), root(), path, O_RDONLY);
    EXPECT_TRUE(f.has_value()) << path << ": " << ErrnoOf(f);
    return f ? ReadAll(**f) : "";
  }

  std::string dir_;
  mode_t old_umask_ = 022;
  std::unique_ptr<HostBackend> backend_;
  std::unique_ptr<CountingBackend> counting_;
  std::unique_ptr<ServedFs> served_;
};

TEST_F(GoferRevalidateTest, HostCreateAndDeleteShowUp) {
  Start(FileAccess::kShared);
  EXPECT_EQ(ErrnoOf(Stat("/f")), ENOENT);
  HostWrite("f", "made on the host");
  ASSERT_TRUE(Stat("/f").has_value());
  EXPECT_EQ(Stat("/f")->ino, HostIno("f"));
  EXPECT_EQ(Read("/f"), "made on the host");
  ASSERT_EQ(unlink(Host("f").c_str()), 0);
  // The cached name is gone for every kind of lookup.
  EXPECT_EQ(ErrnoOf(Stat("/f")), ENOENT);
  EXPECT_EQ(ErrnoOf(Open(vfs(), root(), "/f", O_RDONLY)), ENOENT);
  // O_EXCL creates afresh: the VFS does not believe a stale name.
  auto made = Open(vfs(), root(), "/f", O_CREAT | O_EXCL | O_WRONLY);
  ASSERT_TRUE(made.has_value()) << ErrnoOf(made);
  EXPECT_EQ(Stat("/f")->ino, HostIno("f"));
}

TEST_F(GoferRevalidateTest, HostRenameMovesTheName) {
  ASSERT_TRUE(std::filesystem::create_directory(Host("d")));
  HostWrite("d/a", "a");
  Start(FileAccess::kShared);
  const uint64_t ino = Stat("/d/a")->ino;
  ASSERT_EQ(rename(Host("d/a").c_str(), Host("b").c_str()), 0);
  EXPECT_EQ(ErrnoOf(Stat("/d/a")), ENOENT);
  auto moved = Stat("/b");
  ASSERT_TRUE(moved.has_value());
  EXPECT_EQ(moved->ino, ino);  // the same file, under its new name
  EXPECT_EQ(Read("/b"), "a");
}

TEST_F(GoferRevalidateTest, ReplacedFileIsNewAndOpenFileKeepsOldContent) {
  HostWrite("f", "old content");
  Start(FileAccess::kShared);
  auto old_file = Open(vfs(), root(), "/f", O_RDONLY);
  ASSERT_TRUE(old_file.has_value()) << ErrnoOf(old_file);
  const uint64_t old_ino = Stat("/f")->ino;
  // rename(2) of a new file over the name, as editors and package
  // managers do.
  HostWrite("f.new", "new content!");
  ASSERT_EQ(rename(Host("f.new").c_str(), Host("f").c_str()), 0);
  auto now = Stat("/f");
  ASSERT_TRUE(now.has_value());
  EXPECT_NE(now->ino, old_ino);
  EXPECT_EQ(now->ino, HostIno("f"));
  EXPECT_EQ(now->size, 12u);
  EXPECT_EQ(Read("/f"), "new content!");
  EXPECT_EQ(ReadAll(**old_file), "old content");
}

TEST_F(GoferRevalidateTest, FileReplacedByDirectoryAndBack) {
  HostWrite("x", "file");
  Start(FileAccess::kShared);
  ASSERT_TRUE(S_ISREG(Stat("/x")->mode));
  ASSERT_EQ(unlink(Host("x").c_str()), 0);
  ASSERT_TRUE(std::filesystem::create_directory(Host("x")));
  HostWrite("x/inside", "in");
  auto dir = Stat("/x");
  ASSERT_TRUE(dir.has_value());
  EXPECT_TRUE(S_ISDIR(dir->mode));
  EXPECT_EQ(Read("/x/inside"), "in");
  // And a cached directory (with cached children) replaced by a file:
  // walking through it is ENOTDIR, as on the host.
  std::filesystem::remove_all(Host("x"));
  HostWrite("x", "file again");
  EXPECT_EQ(ErrnoOf(Stat("/x/inside")), ENOTDIR);
  EXPECT_TRUE(S_ISREG(Stat("/x")->mode));
  EXPECT_EQ(Read("/x"), "file again");
}

TEST_F(GoferRevalidateTest, HostChangesDeepInACachedPath) {
  std::filesystem::create_directories(Host("a/b/c"));
  HostWrite("a/b/c/f", "1");
  Start(FileAccess::kShared);
  ASSERT_TRUE(Stat("/a/b/c/f").has_value());
  // A directory in the middle of the cached path is replaced.
  ASSERT_EQ(rename(Host("a/b").c_str(), Host("old-b").c_str()), 0);
  std::filesystem::create_directories(Host("a/b/c"));
  HostWrite("a/b/c/f", "22");
  auto st = Stat("/a/b/c/f");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->ino, HostIno("a/b/c/f"));
  EXPECT_EQ(Read("/a/b/c/f"), "22");
  EXPECT_EQ(Read("/old-b/c/f"), "1");
}

// One WalkStat answers for every cached name along a path; no Walk.
TEST_F(GoferRevalidateTest, CachedPathIsRevalidatedInOneRoundTrip) {
  std::filesystem::create_directories(Host("a/b/c"));
  HostWrite("a/b/c/f", "1");
  Start(FileAccess::kShared);
  ASSERT_TRUE(Stat("/a/b/c/f").has_value());
  counting_->Reset();
  ASSERT_TRUE(Stat("/a/b/c/f").has_value());
  EXPECT_EQ(counting_->walk_stats, 1);
  EXPECT_EQ(counting_->walks, 0);
  // The attributes the WalkStat brought answer the permission checks on
  // a, b and c and the stat of f; only the root's is asked for.
  EXPECT_EQ(counting_->fstats, 1);
}

// A host chmod or write shows in the attributes of a cached name.
TEST_F(GoferRevalidateTest, RevalidationRefreshesAttributes) {
  HostWrite("f", "12");
  Start(FileAccess::kShared);
  ASSERT_EQ(Stat("/f")->size, 2u);
  HostWrite("f", "12345");
  ASSERT_EQ(chmod(Host("f").c_str(), 0600), 0);
  auto st = Stat("/f");
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, 5u);
  EXPECT_EQ(st->mode, S_IFREG | 0600u);
}

TEST_F(GoferRevalidateTest, ListingsAreReadAfresh) {
  Start(FileAccess::kShared);
  HostWrite("one", "1");
  auto names = [&] {
    auto dir = Open(vfs(), root(), "/", O_RDONLY | O_DIRECTORY);
    EXPECT_TRUE(dir.has_value());
    std::vector<std::string> got = ListNames(**dir);
    std::sort(got.begin(), got.end());
    return got;
  };
  EXPECT_EQ(names(), std::vector<std::string>{"one"});
  HostWrite("two", "2");
  EXPECT_EQ(names(), (std::vector<std::string>{"one", "two"}));
}

// A directory whose name the host moved is dead for whoever still holds
// it (a cwd), as gVisor's InvalidateDentry makes it: nothing is looked up
// or created through it (ENOENT), so nothing is cached under a dentry the
// tree no longer reaches; the new name works.
TEST_F(GoferRevalidateTest, HeldDirectoryRenamedOnTheHostIsDead) {
  std::filesystem::create_directories(Host("d"));
  HostWrite("d/f", "f");
  Start(FileAccess::kShared);
  {
    vfs::Context c = root();
    c.cwd = *vfs().ResolveAt(c, c.cwd, "/d", 0);
    ASSERT_TRUE(vfs().StatAt(c, c.cwd, "f", 0).has_value());
    ASSERT_EQ(rename(Host("d").c_str(), Host("e").c_str()), 0);
    EXPECT_EQ(ErrnoOf(Stat("/d")), ENOENT);
    EXPECT_EQ(ErrnoOf(vfs().StatAt(c, c.cwd, "f", 0)), ENOENT);
    EXPECT_EQ(ErrnoOf(Open(vfs(), c, "g", O_CREAT | O_WRONLY)), ENOENT);
    EXPECT_EQ(ErrnoOf(vfs().StatAt(c, c.cwd, "", AT_EMPTY_PATH)), 0);
  }
  EXPECT_EQ(Read("/e/f"), "f");
  EXPECT_FALSE(std::filesystem::exists(Host("e/g")));
}

TEST_F(GoferRevalidateTest, ServerWithoutWalkStatFallsBackToWalk) {
  HostWrite("f", "f");
  Start(FileAccess::kShared);
  counting_->no_walk_stat = true;
  ASSERT_TRUE(Stat("/f").has_value());
  ASSERT_EQ(unlink(Host("f").c_str()), 0);
  EXPECT_EQ(ErrnoOf(Stat("/f")), ENOENT);
  HostWrite("f", "again");
  EXPECT_EQ(Stat("/f")->size, 5u);
}

// The rootfs lower (immutable) and an exclusive tree keep their fast path:
// a cached path costs no request at all.
TEST_F(GoferRevalidateTest, TreesThatAreNotSharedAskNothingAgain) {
  std::filesystem::create_directories(Host("a/b"));
  HostWrite("a/b/f", "1");
  for (FileAccess access : {FileAccess::kImmutable, FileAccess::kExclusive}) {
    Start(access);
    ASSERT_TRUE(Stat("/a/b/f").has_value());
    counting_->Reset();
    ASSERT_TRUE(Stat("/a/b/f").has_value());
    EXPECT_EQ(counting_->total(), 0) << static_cast<int>(access);
  }
}

}  // namespace
}  // namespace veil::gofer::testing
