// SPDX-License-Identifier: Apache-2.0
//
// GoferFs over the lisafs tests' in-memory backend: lookups, reads through
// PRead and through a donated descriptor, creation, getdents cookies, FDID
// release, and replies that must not be believed.
#include <dirent.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/stat.h>

#include <atomic>
#include <set>
#include <string>

#include "tests/unit/gofer_client/served_fs.h"
#include "tests/unit/lisafs/mem_backend.h"

namespace veil::gofer::testing {
namespace {

using lisafs::testing::MemBackend;

class GoferFsMemTest : public ::testing::Test {
 protected:
  void SetUp() override {
    backend_.AddFile("hello", "hi there");
    served_ = std::make_unique<ServedFs>(backend_);
    ASSERT_TRUE(served_->ok());
  }
  void TearDown() override { served_.reset(); }

  vfs::Vfs& vfs() { return served_->vfs(); }
  vfs::Context ctx() { return served_->Root(); }

  MemBackend backend_;
  std::unique_ptr<ServedFs> served_;
};

TEST_F(GoferFsMemTest, RootIsADirectory) {
  auto st = vfs().StatAt(ctx(), ctx().cwd, "/", 0);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(S_ISDIR(st->mode));
  EXPECT_EQ(st->dev, served_->fs().dev());
}

TEST_F(GoferFsMemTest, LookupMissingIsEnoent) {
  EXPECT_EQ(ErrnoOf(vfs().StatAt(ctx(), ctx().cwd, "/nope", 0)), ENOENT);
  EXPECT_EQ(ErrnoOf(vfs().StatAt(ctx(), ctx().cwd, "/hello/x", 0)), ENOTDIR);
}

TEST_F(GoferFsMemTest, ReadsThroughPRead) {
  auto f = Open(vfs(), ctx(), "/hello", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  EXPECT_EQ(ReadAll(**f), "hi there");
  // No descriptor was donated: nothing to map.
  EXPECT_EQ(ErrnoOf((*f)->GetHostMemory()), ENODEV);
}

TEST_F(GoferFsMemTest, AWritableDonationIsRefused) {
  // MemBackend donates read-write memfds: a descriptor the sandbox could
  // write the file through is never taken; reads fall back to PRead.
  backend_.set_donate(true);
  auto f = Open(vfs(), ctx(), "/hello", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  EXPECT_EQ(ErrnoOf((*f)->GetHostMemory()), ENODEV);
  EXPECT_EQ(ReadAll(**f), "hi there");
}

TEST_F(GoferFsMemTest, LargeReadsAndWritesGoInChunks) {
  // Three and a half times the largest message: several PRead/PWrite.
  std::string big(3 * lisafs::kMaxIoSize + lisafs::kMaxIoSize / 2, 'x');
  for (size_t i = 0; i < big.size(); i += 4097) big[i] = 'a' + (i % 26);
  auto f = Open(vfs(), ctx(), "/big", O_RDWR | O_CREAT, 0600);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  auto n = WriteString(**f, big);
  ASSERT_TRUE(n.has_value()) << ErrnoOf(n);
  EXPECT_EQ(*n, big.size());
  ASSERT_TRUE((*f)->Seek(0, SEEK_SET).has_value());
  EXPECT_EQ(ReadAll(**f), big);
  auto st = (*f)->Stat();
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, big.size());
}

TEST_F(GoferFsMemTest, CreateWriteReadBack) {
  auto f = Open(vfs(), ctx(), "/new", O_RDWR | O_CREAT | O_EXCL, 0640);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  ASSERT_TRUE(WriteString(**f, "abc").has_value());
  std::vector<uint8_t> buf(16);
  auto n = (*f)->PRead(buf, 1);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + *n), "bc");
  auto st = vfs().StatAt(ctx(), ctx().cwd, "/new", 0);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, 3u);
  EXPECT_TRUE(S_ISREG(st->mode));
  EXPECT_EQ(ErrnoOf(Open(vfs(), ctx(), "/new", O_RDWR | O_CREAT | O_EXCL)),
            EEXIST);
}

TEST_F(GoferFsMemTest, ServerErrnosPassStraightThrough) {
  // MemBackend has no SymlinkAt: the server's EOPNOTSUPP is the answer.
  EXPECT_EQ(ErrnoOf(vfs().SymlinkAt(ctx(), "x", ctx().cwd, "/l")), EOPNOTSUPP);
}

TEST_F(GoferFsMemTest, GetdentsListsEveryNameOnceWithSmallBuffers) {
  std::set<std::string> want = {"hello"};
  for (int i = 0; i < 60; ++i) {
    std::string name = "file-with-a-longish-name-" + std::to_string(i);
    ASSERT_TRUE(Open(vfs(), ctx(), "/" + name, O_CREAT | O_WRONLY).has_value());
    want.insert(name);
  }
  ASSERT_TRUE(vfs().MkdirAt(ctx(), ctx().cwd, "/d", 0755).has_value());
  want.insert("d");
  auto dir = Open(vfs(), ctx(), "/", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.has_value());
  std::vector<std::string> names = ListNames(**dir, 64);
  EXPECT_EQ(names.size(), want.size());
  EXPECT_EQ(std::set<std::string>(names.begin(), names.end()), want);
  // Rewinding starts over and sees the same names.
  ASSERT_TRUE((*dir)->Seek(0, SEEK_SET).has_value());
  EXPECT_EQ(ListNames(**dir), names);
}

TEST_F(GoferFsMemTest, GetdentsCookiesReplayAfterSeek) {
  for (int i = 0; i < 5; ++i)
    ASSERT_TRUE(Open(vfs(), ctx(), "/f" + std::to_string(i), O_CREAT | O_WRONLY)
                    .has_value());
  auto dir = Open(vfs(), ctx(), "/", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.has_value());
  // One record at a time: ".", "..", then the first entry.
  std::vector<uint8_t> one(32);
  for (int i = 0; i < 3; ++i) ASSERT_TRUE((*dir)->Getdents64(one).has_value());
  const int64_t pos = (*dir)->offset();
  std::vector<std::string> rest = ListNames(**dir);
  ASSERT_TRUE((*dir)->Seek(pos, SEEK_SET).has_value());
  EXPECT_EQ(ListNames(**dir), rest);
  EXPECT_EQ(rest.size(), 5u);  // hello + f0..f4, minus the one read
}

TEST_F(GoferFsMemTest, FdidsAreClosedWhenInodesDie) {
  const int before = backend_.live_fds();
  {
    auto f = Open(vfs(), ctx(), "/hello", O_RDONLY);
    ASSERT_TRUE(f.has_value());
    EXPECT_EQ(ReadAll(**f), "hi there");
    auto dir = Open(vfs(), ctx(), "/", O_RDONLY | O_DIRECTORY);
    ASSERT_TRUE(dir.has_value());
    ListNames(**dir);
    EXPECT_GT(backend_.live_fds(), before);
  }
  served_->DropVfs();
  // Only the root's control FDID is left: the filesystem holds it.
  EXPECT_EQ(backend_.live_fds(), 1);
  EXPECT_EQ(served_->fs().LiveInodesForTesting(), 1u);
}

// --- Replies that must not be believed --------------------------------------

// Forwards to a MemBackend and corrupts chosen replies.
class TamperBackend final : public lisafs::ServerBackend {
 public:
  explicit TamperBackend(MemBackend& inner) : inner_(inner) {}

  std::atomic<bool> fstat_changes_type{false};
  std::atomic<bool> walk_drops_fields{false};
  std::atomic<bool> mkdir_makes_a_file{false};
  std::atomic<bool> donate_read_only{false};

  Result<lisafs::NewNode> Mount() override { return inner_.Mount(); }
  Result<lisafs::Statx> FStat(lisafs::ServerFd& fd) override {
    lisafs::Statx st = VEIL_TRY(inner_.FStat(fd));
    if (fstat_changes_type && S_ISREG(st.mode))
      st.mode = static_cast<uint16_t>(S_IFDIR | 0755);
    return st;
  }
  Result<lisafs::WalkResult> Walk(lisafs::ServerFd& dir,
                                  const lisafs::WalkReq& req) override {
    lisafs::WalkResult r = VEIL_TRY(inner_.Walk(dir, req));
    if (walk_drops_fields)
      for (auto& n : r.nodes) n.stat.mask &= ~lisafs::kStatxSize;
    return r;
  }
  Result<lisafs::OpenedFile> OpenAt(lisafs::ServerFd& node,
                                    const lisafs::OpenAtReq& req) override {
    lisafs::OpenedFile f = VEIL_TRY(inner_.OpenAt(node, req));
    if (donate_read_only && f.host_fd.valid()) {
      // The same memfd, through a read-only descriptor.
      std::string path = "/proc/self/fd/" + std::to_string(f.host_fd.get());
      f.host_fd = UniqueFd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    }
    return f;
  }
  Result<lisafs::NewNode> MkdirAt(lisafs::ServerFd& dir,
                                  const lisafs::MkdirAtReq& req) override {
    lisafs::NewNode n = VEIL_TRY(inner_.MkdirAt(dir, req));
    if (mkdir_makes_a_file) n.stat.mode = static_cast<uint16_t>(S_IFREG | 0644);
    return n;
  }
  Result<std::vector<uint8_t>> PRead(lisafs::ServerFd& fd,
                                     const lisafs::PReadReq& req) override {
    return inner_.PRead(fd, req);
  }

 private:
  MemBackend& inner_;
};

class GoferFsTamperTest : public ::testing::Test {
 protected:
  void Start(const GoferFsOptions& options) {
    inner_.AddFile("hello", "hi there");
    served_ = std::make_unique<ServedFs>(tamper_, options);
    ASSERT_TRUE(served_->ok());
  }
  vfs::Vfs& vfs() { return served_->vfs(); }
  vfs::Context ctx() { return served_->Root(); }

  MemBackend inner_;
  TamperBackend tamper_{inner_};
  std::unique_ptr<ServedFs> served_;
};

TEST_F(GoferFsTamperTest, ReadsThroughADonatedDescriptor) {
  Start({});
  inner_.set_donate(true);
  tamper_.donate_read_only = true;
  auto f = Open(vfs(), ctx(), "/hello", O_RDONLY);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  auto mem = (*f)->GetHostMemory();
  ASSERT_TRUE(mem.has_value()) << ErrnoOf(mem);
  EXPECT_GE(mem->fd, 0);
  EXPECT_EQ(ReadAll(**f), "hi there");
  // SEEK_DATA/SEEK_HOLE are the host's own answers on that descriptor.
  EXPECT_EQ(ErrnoOf((*f)->Seek(100, SEEK_DATA)), ENXIO);
  auto hole = (*f)->Seek(0, SEEK_HOLE);
  ASSERT_TRUE(hole.has_value());
  EXPECT_EQ(*hole, 8);
}

TEST_F(GoferFsTamperTest, AFileThatChangesTypeIsBroken) {
  GoferFsOptions options;
  options.access = FileAccess::kShared;
  Start(options);
  {
    auto loc = vfs().ResolveAt(ctx(), ctx().cwd, "/hello", 0);
    ASSERT_TRUE(loc.has_value());
    tamper_.fstat_changes_type = true;
    // stat cannot fail (it shows the last attributes we believed), but
    // the file is never used again. An fstat asks the server (the second
    // one at the latest: the first may use what the lookup brought).
    for (int i = 0; i < 2; ++i) {
      auto st = vfs().StatAt(ctx(), *loc, "", AT_EMPTY_PATH);
      ASSERT_TRUE(st.has_value());
      EXPECT_TRUE(S_ISREG(st->mode));
    }
  }
  EXPECT_EQ(ErrnoOf(Open(vfs(), ctx(), "/hello", O_RDONLY)), EIO);
}

TEST_F(GoferFsTamperTest, AttributesWithoutNeededFieldsAreEio) {
  Start({});
  tamper_.walk_drops_fields = true;
  EXPECT_EQ(ErrnoOf(vfs().StatAt(ctx(), ctx().cwd, "/hello", 0)), EIO);
  // The FDID the walk made was still released.
  served_->DropVfs();
  EXPECT_EQ(inner_.live_fds(), 1);
}

TEST_F(GoferFsTamperTest, ACreateOfTheWrongTypeIsEio) {
  Start({});
  tamper_.mkdir_makes_a_file = true;
  EXPECT_EQ(ErrnoOf(vfs().MkdirAt(ctx(), ctx().cwd, "/d", 0755)), EIO);
  // Nothing of the lie was cached: a lookup asks again.
  auto st = vfs().StatAt(ctx(), ctx().cwd, "/d", 0);
  ASSERT_TRUE(st.has_value());
  EXPECT_TRUE(S_ISDIR(st->mode));
}

}  // namespace
}  // namespace veil::gofer::testing
