// SPDX-License-Identifier: Apache-2.0
//
// GoferFs over the gofer's HostBackend served in this process (no
// confinement), on a scratch directory of the host's tmpfs: every kind of
// change, checked both through the VFS and on the host. Needs root (the
// backend chowns new files); skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <linux/magic.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <fstream>
#include <string>

#include "gofer/server/host_backend.h"
#include "tests/unit/gofer_client/served_fs.h"

namespace veil::gofer::testing {
namespace {

class GoferFsHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the backend chowns)";
    char tmpl[] = "/dev/shm/veil-gofer-client-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(chmod(dir_.c_str(), 0777), 0);
    // `veil gofer` serves with umask 0; so must this process.
    old_umask_ = umask(0);
    Start({});
  }
  void TearDown() override {
    served_.reset();
    backend_.reset();
    if (!dir_.empty()) {
      umask(old_umask_);
      std::filesystem::remove_all(dir_);
    }
  }

  void Start(const GoferFsOptions& options) {
    served_.reset();
    UniqueFd root(open(dir_.c_str(), O_PATH | O_DIRECTORY | O_CLOEXEC));
    // The VFS decides who may chown and chmod; the backend applies every
    // owner and mode (the policy as `veil fuse` starts the gofer).
    HostBackendOptions backend_options;
    backend_options.ids = IdRange::All();
    backend_options.setid = SetIdBits::kAllow;
    auto backend = HostBackend::Create(std::move(root), backend_options);
    ASSERT_TRUE(backend.has_value()) << ErrnoOf(backend);
    backend_ = std::move(*backend);
    served_ = std::make_unique<ServedFs>(*backend_, options);
    ASSERT_TRUE(served_->ok());
  }

  vfs::Vfs& vfs() { return served_->vfs(); }
  vfs::Context root() { return served_->Root(); }
  vfs::Context user(uid_t uid) {
    vfs::Context c = served_->Root();
    c.creds = vfs::Credentials::User(uid, uid, {uid});
    return c;
  }
  std::string Host(const std::string& rel) { return dir_ + "/" + rel; }
  struct stat HostStat(const std::string& rel) {
    struct stat st = {};
    EXPECT_EQ(lstat(Host(rel).c_str(), &st), 0) << rel;
    return st;
  }
  std::string HostRead(const std::string& rel) {
    std::ifstream in(Host(rel));
    return std::string(std::istreambuf_iterator<char>(in), {});
  }

  std::string dir_;
  mode_t old_umask_ = 022;
  std::unique_ptr<HostBackend> backend_;
  std::unique_ptr<ServedFs> served_;
};

TEST_F(GoferFsHostTest, NamespaceChangesReachTheHost) {
  auto c = root();
  ASSERT_TRUE(vfs().MkdirAt(c, c.cwd, "/d", 0750).has_value());
  auto f = Open(vfs(), c, "/d/f", O_CREAT | O_WRONLY, 0640);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  ASSERT_TRUE(WriteString(**f, "data").has_value());
  EXPECT_EQ(HostRead("d/f"), "data");
  EXPECT_EQ(HostStat("d").st_mode, S_IFDIR | 0750u);
  EXPECT_EQ(HostStat("d/f").st_mode, S_IFREG | 0640u);
  ASSERT_TRUE(vfs().RenameAt(c, c.cwd, "/d/f", c.cwd, "/g", 0).has_value());
  EXPECT_EQ(HostRead("g"), "data");
  ASSERT_TRUE(vfs().UnlinkAt(c, c.cwd, "/d", AT_REMOVEDIR).has_value());
  EXPECT_FALSE(std::filesystem::exists(Host("d")));
  // The open file survives its rename and keeps working.
  ASSERT_TRUE(WriteString(**f, "+more").has_value());
  EXPECT_EQ(HostRead("g"), "data+more");
  auto st = vfs().StatAt(c, c.cwd, "/g", 0);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->size, 9u);
  EXPECT_EQ(st->ino, HostStat("g").st_ino);
  EXPECT_EQ(ErrnoOf(vfs().UnlinkAt(c, c.cwd, "/", AT_REMOVEDIR)), EBUSY);
}

TEST_F(GoferFsHostTest, AttributesFollowEveryChange) {
  auto c = root();
  ASSERT_TRUE(vfs().MkdirAt(c, c.cwd, "/d", 0755).has_value());
  auto before = vfs().StatAt(c, c.cwd, "/d", 0);
  ASSERT_TRUE(before.has_value());
  EXPECT_EQ(before->nlink, 2u);
  ASSERT_TRUE(vfs().MkdirAt(c, c.cwd, "/d/sub", 0755).has_value());
  auto after = vfs().StatAt(c, c.cwd, "/d", 0);
  ASSERT_TRUE(after.has_value());
  EXPECT_EQ(after->nlink, 3u);
  struct stat host = HostStat("d");
  EXPECT_EQ(after->size, static_cast<uint64_t>(host.st_size));
  EXPECT_EQ(after->mtime.tv_sec, host.st_mtim.tv_sec);
  EXPECT_EQ(after->mtime.tv_nsec, host.st_mtim.tv_nsec);
  EXPECT_EQ(after->ctime.tv_nsec, host.st_ctim.tv_nsec);
  ASSERT_TRUE(vfs().ChmodAt(c, c.cwd, "/d", 0700, 0).has_value());
  EXPECT_EQ(vfs().StatAt(c, c.cwd, "/d", 0)->mode, S_IFDIR | 0700u);
  EXPECT_EQ(HostStat("d").st_mode, S_IFDIR | 0700u);
  ASSERT_TRUE(vfs().ChownAt(c, c.cwd, "/d", 12, 34, 0).has_value());
  EXPECT_EQ(HostStat("d").st_uid, 12u);
  EXPECT_EQ(HostStat("d").st_gid, 34u);
  timespec times[2] = {{1000, 5}, {2000, 7}};
  ASSERT_TRUE(vfs().UtimensAt(c, c.cwd, "/d", times, 0).has_value());
  auto t = vfs().StatAt(c, c.cwd, "/d", 0);
  EXPECT_EQ(t->atime.tv_sec, 1000);
  EXPECT_EQ(t->mtime.tv_nsec, 7);
  EXPECT_EQ(HostStat("d").st_mtim.tv_sec, 2000);
}

TEST_F(GoferFsHostTest, HardLinksShareOneInode) {
  auto c = root();
  ASSERT_TRUE(Open(vfs(), c, "/a", O_CREAT | O_WRONLY).has_value());
  ASSERT_TRUE(vfs().LinkAt(c, c.cwd, "/a", c.cwd, "/b", 0).has_value());
  auto a = Open(vfs(), c, "/a", O_RDONLY);
  auto b = Open(vfs(), c, "/b", O_RDONLY);
  ASSERT_TRUE(a.has_value() && b.has_value());
  EXPECT_EQ(&(*a)->inode(), &(*b)->inode());
  EXPECT_EQ((*a)->Stat()->nlink, 2u);
  // rename(a, b) of two links to one inode does nothing, as Linux.
  ASSERT_TRUE(vfs().RenameAt(c, c.cwd, "/a", c.cwd, "/b", 0).has_value());
  EXPECT_TRUE(std::filesystem::exists(Host("a")));
  ASSERT_TRUE(vfs().UnlinkAt(c, c.cwd, "/a", 0).has_value());
  EXPECT_EQ((*b)->Stat()->nlink, 1u);
}

TEST_F(GoferFsHostTest, LinksOutliveTheNameTheServerLastSaw) {
  // The gofer reopens a file through the last name it saw; once that name
  // is gone the client walks another one it knows and retries.
  auto c = root();
  ASSERT_TRUE(Open(vfs(), c, "/a", O_CREAT | O_WRONLY).has_value());
  ASSERT_TRUE(vfs().LinkAt(c, c.cwd, "/a", c.cwd, "/b", 0).has_value());
  ASSERT_TRUE(vfs().UnlinkAt(c, c.cwd, "/b", 0).has_value());
  EXPECT_EQ(ErrnoOf(vfs().SetXattrAt(c, c.cwd, "/a", "user.k", "v", 0, 0)), 0);
  auto f = Open(vfs(), c, "/a", O_RDWR);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  ASSERT_TRUE(vfs().TruncateAt(c, c.cwd, "/a", 5).has_value());
  EXPECT_EQ(HostStat("a").st_size, 5);
}

TEST_F(GoferFsHostTest, NewFilesBelongToTheCaller) {
  auto u = user(1000);
  ASSERT_TRUE(vfs().MkdirAt(u, u.cwd, "/mine", 0755).has_value());
  auto f = Open(vfs(), u, "/mine/f", O_CREAT | O_WRONLY, 06755);
  ASSERT_TRUE(f.has_value()) << ErrnoOf(f);
  ASSERT_TRUE(vfs().SymlinkAt(u, "f", u.cwd, "/mine/l").has_value());
  for (const char* rel : {"mine", "mine/f", "mine/l"}) {
    EXPECT_EQ(HostStat(rel).st_uid, 1000u) << rel;
    EXPECT_EQ(HostStat(rel).st_gid, 1000u) << rel;
  }
  // The server's chown would strip the set-id bits; the mode is as asked
  // (the caller is in the file's group, so S_ISGID stays too).
  EXPECT_EQ(HostStat("mine/f").st_mode, S_IFREG | 06755u);
  // Writing drops them, as file_remove_privs does for a non-root writer.
  ASSERT_TRUE(WriteString(**f, "x").has_value());
  EXPECT_EQ(HostStat("mine/f").st_mode, S_IFREG | 0755u);
}

TEST_F(GoferFsHostTest, TheVfsDecidesPermissionsNotTheServer) {
  auto c = root();
  auto f = Open(vfs(), c, "/private", O_CREAT | O_WRONLY, 0600);
  ASSERT_TRUE(f.has_value());
  auto u = user(1000);
  EXPECT_EQ(ErrnoOf(Open(vfs(), u, "/private", O_RDONLY)), EACCES);
  EXPECT_EQ(ErrnoOf(vfs().UnlinkAt(u, u.cwd, "/private", 0)), 0);
  EXPECT_FALSE(std::filesystem::exists(Host("private")));
}

TEST_F(GoferFsHostTest, SymlinksResolveOnTheClient) {
  auto c = root();
  ASSERT_TRUE(vfs().MkdirAt(c, c.cwd, "/d", 0755).has_value());
  auto f = Open(vfs(), c, "/d/target", O_CREAT | O_WRONLY);
  ASSERT_TRUE(WriteString(**f, "through the link").has_value());
  ASSERT_TRUE(vfs().SymlinkAt(c, "d/target", c.cwd, "/rel").has_value());
  ASSERT_TRUE(vfs().SymlinkAt(c, "/d", c.cwd, "/abs").has_value());
  EXPECT_EQ(*vfs().ReadlinkAt(c, c.cwd, "/rel"), "d/target");
  auto r = Open(vfs(), c, "/abs/target", O_RDONLY);
  ASSERT_TRUE(r.has_value()) << ErrnoOf(r);
  EXPECT_EQ(ReadAll(**r), "through the link");
  EXPECT_EQ(ErrnoOf(Open(vfs(), c, "/rel", O_RDONLY | O_NOFOLLOW)), ELOOP);
}

TEST_F(GoferFsHostTest, AppendTruncateAndHoles) {
  auto c = root();
  auto f = Open(vfs(), c, "/f", O_CREAT | O_RDWR | O_APPEND);
  ASSERT_TRUE(f.has_value());
  ASSERT_TRUE(WriteString(**f, "one").has_value());
  {
    // Another writer through the host itself, between our appends.
    std::ofstream(Host("f"), std::ios::app) << "-two";
  }
  // The open file does not see the host's append in its cache: revalidate
  // is off, but the append itself asks the server for the size.
  ASSERT_TRUE(WriteString(**f, "-three").has_value());
  EXPECT_EQ(HostRead("f"), "one-two-three");
  ASSERT_TRUE(vfs().TruncateAt(c, c.cwd, "/f", 3).has_value());
  EXPECT_EQ(HostRead("f"), "one");
  auto g = Open(vfs(), c, "/sparse", O_CREAT | O_RDWR);
  ASSERT_TRUE(g.has_value());
  std::string block(4096, 'x');
  ASSERT_TRUE((*g)->PWrite(std::span<const uint8_t>(
                               reinterpret_cast<const uint8_t*>(block.data()),
                               block.size()),
                           1 << 20)
                  .has_value());
  auto data = (*g)->Seek(0, SEEK_DATA);
  ASSERT_TRUE(data.has_value()) << ErrnoOf(data);
  EXPECT_EQ(*data, 1 << 20);
  EXPECT_EQ(*(*g)->Seek(0, SEEK_HOLE), 0);
  EXPECT_EQ(*(*g)->Seek(0, SEEK_END), (1 << 20) + 4096);
  ASSERT_TRUE(vfs().Ftruncate(c, **g, 10).has_value());
  EXPECT_EQ(HostStat("sparse").st_size, 10);
}

TEST_F(GoferFsHostTest, XattrsAndStatfs) {
  auto c = root();
  ASSERT_TRUE(Open(vfs(), c, "/f", O_CREAT | O_WRONLY).has_value());
  ASSERT_TRUE(vfs()
                  .SetXattrAt(c, c.cwd, "/f", "user.k", "v1", XATTR_CREATE, 0)
                  .has_value());
  EXPECT_EQ(ErrnoOf(vfs().SetXattrAt(c, c.cwd, "/f", "user.k", "v2",
                                     XATTR_CREATE, 0)),
            EEXIST);
  EXPECT_EQ(*vfs().GetXattrAt(c, c.cwd, "/f", "user.k", 0), "v1");
  char value[16] = {};
  EXPECT_EQ(getxattr(Host("f").c_str(), "user.k", value, sizeof value), 2);
  auto names = vfs().ListXattrAt(c, c.cwd, "/f", 0);
  ASSERT_TRUE(names.has_value());
  EXPECT_EQ(*names, std::vector<std::string>{"user.k"});
  ASSERT_TRUE(vfs().RemoveXattrAt(c, c.cwd, "/f", "user.k", 0).has_value());
  EXPECT_EQ(ErrnoOf(vfs().GetXattrAt(c, c.cwd, "/f", "user.k", 0)), ENODATA);
  auto st = vfs().StatFsAt(c, c.cwd, "/", 0);
  ASSERT_TRUE(st.has_value());
  EXPECT_EQ(st->f_type, TMPFS_MAGIC);
}

TEST_F(GoferFsHostTest, RenameExchangeAndUnlinkedOpenFiles) {
  auto c = root();
  ASSERT_TRUE(vfs().MkdirAt(c, c.cwd, "/d", 0755).has_value());
  auto f = Open(vfs(), c, "/f", O_CREAT | O_RDWR);
  ASSERT_TRUE(WriteString(**f, "kept").has_value());
  ASSERT_TRUE(
      vfs().RenameAt(c, c.cwd, "/d", c.cwd, "/f", RENAME_EXCHANGE).has_value());
  EXPECT_TRUE(S_ISDIR(HostStat("f").st_mode));
  EXPECT_EQ(HostRead("d"), "kept");
  ASSERT_TRUE(vfs().UnlinkAt(c, c.cwd, "/d", 0).has_value());
  std::vector<uint8_t> buf(8);
  auto n = (*f)->PRead(buf, 0);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + *n), "kept");
  EXPECT_EQ((*f)->Stat()->nlink, 0u);
  // getdents of a removed directory is ENOENT, before "." even.
  auto dir = Open(vfs(), c, "/f", O_RDONLY | O_DIRECTORY);
  ASSERT_TRUE(dir.has_value());
  ASSERT_TRUE(vfs().UnlinkAt(c, c.cwd, "/f", AT_REMOVEDIR).has_value());
  std::vector<uint8_t> dents(4096);
  EXPECT_EQ(ErrnoOf((*dir)->Getdents64(dents)), ENOENT);
}

TEST_F(GoferFsHostTest, FifosAreTheSentrysOwnPipes) {
  auto c = root();
  ASSERT_TRUE(vfs().MknodAt(c, c.cwd, "/p", S_IFIFO | 0666, 0).has_value());
  EXPECT_TRUE(S_ISFIFO(HostStat("p").st_mode));
  EXPECT_EQ(ErrnoOf(Open(vfs(), c, "/p", O_WRONLY | O_NONBLOCK)), ENXIO);
  auto r = Open(vfs(), c, "/p", O_RDONLY | O_NONBLOCK);
  ASSERT_TRUE(r.has_value()) << ErrnoOf(r);
  auto w = Open(vfs(), c, "/p", O_WRONLY | O_NONBLOCK);
  ASSERT_TRUE(w.has_value()) << ErrnoOf(w);
  ASSERT_TRUE(WriteString(**w, "pipe").has_value());
  std::vector<uint8_t> buf(8);
  auto n = (*r)->Read(buf);
  ASSERT_TRUE(n.has_value());
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + *n), "pipe");
  // Device nodes other than whiteouts are refused by the server.
  EXPECT_NE(
      ErrnoOf(vfs().MknodAt(c, c.cwd, "/dev", S_IFCHR | 0600, makedev(60, 1))),
      0);
}

TEST_F(GoferFsHostTest, RevalidationSeesHostChanges) {
  GoferFsOptions options;
  options.access = FileAccess::kShared;
  Start(options);
  auto c = root();
  ASSERT_TRUE(Open(vfs(), c, "/f", O_CREAT | O_WRONLY).has_value());
  EXPECT_EQ(vfs().StatAt(c, c.cwd, "/f", 0)->size, 0u);
  std::ofstream(Host("f")) << "grown on the host";
  EXPECT_EQ(vfs().StatAt(c, c.cwd, "/f", 0)->size, 17u);
  ASSERT_EQ(chmod(Host("f").c_str(), 0600), 0);
  EXPECT_EQ(vfs().StatAt(c, c.cwd, "/f", 0)->mode, S_IFREG | 0600u);
  // A name made on the host behind our back is never clobbered.
  std::ofstream(Host("g")) << "host's";
  ASSERT_TRUE(vfs().StatAt(c, c.cwd, "/", 0).has_value());
}

// An immutable tree (a rootfs's read-only lower): a directory's listing is
// read from the server once and kept, for open directories and for the
// overlay's ReadDirLocked alike; a host change behind our back (which the
// option rules out) would therefore not be seen.
TEST_F(GoferFsHostTest, ImmutableTreeKeepsListings) {
  for (const char* name : {"a", "b", "c"}) std::ofstream(Host(name)) << name;
  ASSERT_TRUE(std::filesystem::create_directory(Host("d")));
  GoferFsOptions options;
  options.access = FileAccess::kImmutable;
  Start(options);
  // Contexts and descriptors are made fresh in each call and dropped:
  // anything held would keep the filesystem (and its connection) alive
  // across the Start below.
  auto names = [&] {
    auto dir = Open(vfs(), root(), "/", O_RDONLY | O_DIRECTORY);
    EXPECT_TRUE(dir.has_value());
    std::vector<std::string> got = ListNames(**dir);
    std::sort(got.begin(), got.end());
    return got;
  };
  const std::vector<std::string> expected = {"a", "b", "c", "d"};
  EXPECT_EQ(names(), expected);
  std::ofstream(Host("new")) << "made on the host";
  EXPECT_EQ(names(), expected);  // kept: no request went out
  // The inode-level listing a stacked filesystem reads is the same one.
  std::vector<std::string> listed;
  {
    Ref<vfs::Inode> root_inode = vfs().RootLocation().dentry->inode_ref();
    std::lock_guard lock(root_inode->fs().mutex());
    ASSERT_TRUE(root_inode
                    ->ReadDirLocked(0,
                                    [&](const vfs::DirEntry& e) {
                                      listed.push_back(e.name);
                                      return true;
                                    })
                    .has_value());
  }
  std::sort(listed.begin(), listed.end());
  EXPECT_EQ(listed,
            (std::vector<std::string>{".", "..", "a", "b", "c", "d"}));
  // Without the option, every open directory asks the server again.
  Start({});
  std::vector<std::string> fresh = names();
  EXPECT_NE(std::find(fresh.begin(), fresh.end(), "new"), fresh.end());
}

TEST_F(GoferFsHostTest, FdidsAreReleased) {
  auto c = root();
  for (int i = 0; i < 20; ++i) {
    std::string name = "/f" + std::to_string(i);
    auto f = Open(vfs(), c, name, O_CREAT | O_RDWR);
    ASSERT_TRUE(f.has_value());
    ASSERT_TRUE(WriteString(**f, "x").has_value());
    EXPECT_EQ(ReadAll(**f), "");
  }
  auto dir = Open(vfs(), c, "/", O_RDONLY | O_DIRECTORY);
  EXPECT_EQ(ListNames(**dir).size(), 20u);
  dir = Open(vfs(), c, "/f0", O_RDONLY);
  EXPECT_GT(backend_->live_nodes(), 20u);
  served_->DropVfs();
  (void)dir;
  // Only the root and the file still open are left.
  EXPECT_LE(backend_->live_nodes(), 2u);
}

}  // namespace
}  // namespace veil::gofer::testing
