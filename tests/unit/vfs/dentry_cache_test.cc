// SPDX-License-Identifier: Apache-2.0
//
// The dentry cache's budget and eviction (vfs/dentry_cache.h): evicted
// names come back with the same answers; names in use, mount points and
// the chains above held Locations are never evicted; renames and unlinks
// racing with eviction keep the tree right.
#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/vfs/fixture.h"
#include "vfs/dentry.h"

namespace veil::vfs::testing {
namespace {

class DentryCacheTest : public VfsTest {
 protected:
  Filesystem& Fs() { return Root().dentry->fs(); }
  size_t Cached() { return Fs().CachedDentries(); }
  // The cached dentry of `path`'s final name, resolved without following.
  Ref<Dentry> DentryOf(std::string_view path) {
    auto loc = vfs_.ResolveAt(root_, Root(), path, AT_SYMLINK_NOFOLLOW);
    EXPECT_THAT(loc, IsOk());
    return loc->dentry;
  }
  // Looks up `n` other names, pushing everything unused out of a small
  // cache.
  void Churn(int n, std::string_view dir = "/churn") {
    (void)Mkdir(dir);
    for (int i = 0; i < n; ++i) {
      std::string name = std::string(dir) + "/c" + std::to_string(i);
      if (!Stat(name)) WriteFile(name, "");
    }
  }
};

TEST_F(DentryCacheTest, DefaultBudget) {
  EXPECT_EQ(Fs().dentries().budget(), DentryCache::kDefaultBudget);
}

TEST_F(DentryCacheTest, BudgetIsHonoured) {
  Fs().SetDentryCacheBudget(10);
  ASSERT_THAT(Mkdir("/d"), IsOk());
  for (int i = 0; i < 100; ++i) WriteFile("/d/f" + std::to_string(i), "x");
  // Nothing is held between calls: the cache is at its budget.
  EXPECT_LE(Cached(), 10u);
  for (int i = 0; i < 100; ++i)
    ASSERT_THAT(Stat("/d/f" + std::to_string(i)), IsOk());
  EXPECT_LE(Cached(), 10u);
  // A larger budget keeps more; shrinking it evicts at once.
  Fs().SetDentryCacheBudget(1000);
  for (int i = 0; i < 100; ++i) (void)Stat("/d/f" + std::to_string(i));
  EXPECT_EQ(Cached(), 101u);
  Fs().SetDentryCacheBudget(5);
  EXPECT_LE(Cached(), 5u);
}

TEST_F(DentryCacheTest, EvictedNamesComeBackWithTheSameAnswers) {
  ASSERT_THAT(Mkdir("/d"), IsOk());
  ASSERT_THAT(Mkdir("/d/sub"), IsOk());
  WriteFile("/d/sub/file", "contents", 0640);
  ASSERT_THAT(Symlink("sub/file", "/d/link"), IsOk());
  Attr dir = *Stat("/d/sub");
  Attr file = *Stat("/d/sub/file");
  Attr link = *Lstat("/d/link");
  Fs().SetDentryCacheBudget(1);
  Churn(20);
  ASSERT_LE(Cached(), 2u);
  EXPECT_EQ(Stat("/d/sub")->ino, dir.ino);
  EXPECT_EQ(Stat("/d/sub/file")->ino, file.ino);
  EXPECT_EQ(Stat("/d/sub/file")->mode, file.mode);
  EXPECT_EQ(Lstat("/d/link")->ino, link.ino);
  EXPECT_EQ(Stat("/d/link")->ino, file.ino);
  EXPECT_EQ(ReadFile("/d/link"), "contents");
  EXPECT_EQ(ReadFile("/d/sub/../sub/file"), "contents");
  EXPECT_THAT(List("/d"), ::testing::ElementsAre("link", "sub"));
}

TEST_F(DentryCacheTest, OpenFilesAndTheirParentsStay) {
  ASSERT_THAT(Mkdir("/a"), IsOk());
  ASSERT_THAT(Mkdir("/a/b"), IsOk());
  WriteFile("/a/b/open", "data");
  auto f = Open("/a/b/open", O_RDONLY);
  ASSERT_THAT(f, IsOk());
  Fs().SetDentryCacheBudget(1);
  Churn(50);
  const Dentry& held = *(*f)->location().dentry;
  {
    std::lock_guard lock(Fs().mutex());
    EXPECT_TRUE(held.cached());
    ASSERT_NE(held.parent(), nullptr);
    EXPECT_TRUE(held.parent()->cached());
  }
  // The same dentry is found again, not a twin.
  EXPECT_EQ(DentryOf("/a/b/open").get(), &held);
  EXPECT_EQ(vfs_.PathOf(root_, (*f)->location()), "/a/b/open");
}

TEST_F(DentryCacheTest, HeldLocationKeepsItsNameAndDotDot) {
  // A cwd: a Location held across calls, with nothing cached below it.
  ASSERT_THAT(Mkdir("/top"), IsOk());
  ASSERT_THAT(Mkdir("/top/mid"), IsOk());
  ASSERT_THAT(Mkdir("/top/mid/cwd"), IsOk());
  auto cwd = vfs_.ResolveDirectory(root_, Root(), "/top/mid/cwd");
  ASSERT_THAT(cwd, IsOk());
  const uint64_t mid_ino = Stat("/top/mid")->ino;
  Fs().SetDentryCacheBudget(1);
  Churn(50);
  EXPECT_EQ(vfs_.PathOf(root_, *cwd), "/top/mid/cwd");
  Context in_cwd = root_;
  in_cwd.cwd = *cwd;
  EXPECT_THAT(vfs_.StatAt(in_cwd, *cwd, "..", 0),
              IsOkAndHolds(::testing::Field(&Attr::ino, mid_ino)));
  // A rename of an ancestor shows in its name (getcwd).
  ASSERT_THAT(vfs_.RenameAt(root_, Root(), "/top", Root(), "/moved", 0),
              IsOk());
  Churn(50, "/churn2");
  EXPECT_EQ(vfs_.PathOf(root_, *cwd), "/moved/mid/cwd");
  EXPECT_THAT(vfs_.StatAt(in_cwd, *cwd, "../../../moved", 0), IsOk());
}

TEST_F(DentryCacheTest, MountPointsStay) {
  ASSERT_THAT(Mkdir("/m"), IsOk());
  ASSERT_THAT(Mkdir("/m/point"), IsOk());
  ASSERT_THAT(
      vfs_.MountAt(root_, tmpfs::Tmpfs::Create(), Root(), "/m/point", 0),
      IsOk());
  WriteFile("/m/point/inside", "i");
  Fs().SetDentryCacheBudget(1);
  Churn(50);
  EXPECT_EQ(ReadFile("/m/point/inside"), "i");
  EXPECT_NE(Stat("/m/point")->dev, Stat("/m")->dev);
  EXPECT_EQ(Stat("/m/point/..")->ino, Stat("/m")->ino);
}

TEST_F(DentryCacheTest, LongNamesAfterRename) {
  const std::string long_name(200, 'n');
  WriteFile("/s", "short");
  ASSERT_THAT(vfs_.RenameAt(root_, Root(), "/s", Root(), "/" + long_name, 0),
              IsOk());
  EXPECT_EQ(ReadFile("/" + long_name), "short");
  Ref<Dentry> d = DentryOf("/" + long_name);
  {
    std::lock_guard lock(Fs().mutex());
    EXPECT_EQ(d->name(), long_name);
  }
  ASSERT_THAT(vfs_.RenameAt(root_, Root(), "/" + long_name, Root(), "/t", 0),
              IsOk());
  {
    std::lock_guard lock(Fs().mutex());
    EXPECT_EQ(d->name(), "t");
  }
  EXPECT_EQ(ReadFile("/t"), "short");
  EXPECT_THAT(Stat("/" + long_name), ErrnoIs(ENOENT));
}

TEST_F(DentryCacheTest, RenameAndUnlinkRaceWithEviction) {
  // One thread renames, creates and unlinks in /w; another looks names up
  // all the while, so that eviction runs between (and inside) them. The
  // tree must end as the first thread left it, whatever the timing.
  ASSERT_THAT(Mkdir("/w"), IsOk());
  ASSERT_THAT(Mkdir("/w/dir"), IsOk());
  WriteFile("/w/dir/inner", "inner");
  Fs().SetDentryCacheBudget(3);
  std::atomic<bool> stop{false};
  std::thread reader([&] {
    while (!stop.load()) {
      for (const char* p : {"/w/dir/inner", "/w/moved/inner", "/w/f0", "/w/f1",
                            "/w/dir", "/w/moved"})
        (void)Stat(p);
      Churn(4, "/r");
    }
  });
  for (int i = 0; i < 300; ++i) {
    const bool even = i % 2 == 0;
    ASSERT_THAT(vfs_.RenameAt(root_, Root(), even ? "/w/dir" : "/w/moved",
                              Root(), even ? "/w/moved" : "/w/dir", 0),
                IsOk());
    const std::string f = "/w/f" + std::to_string(i % 2);
    WriteFile(f, "x");
    ASSERT_THAT(vfs_.UnlinkAt(root_, Root(), f, 0), IsOk());
  }
  stop = true;
  reader.join();
  EXPECT_EQ(ReadFile("/w/dir/inner"), "inner");
  EXPECT_THAT(Stat("/w/moved"), ErrnoIs(ENOENT));
  EXPECT_THAT(Stat("/w/f0"), ErrnoIs(ENOENT));
  EXPECT_THAT(List("/w"), ::testing::ElementsAre("dir"));
}

TEST_F(DentryCacheTest, UnmountPrunesButKeepsWhatIsHeld) {
  ASSERT_THAT(Mkdir("/mnt"), IsOk());
  auto other = tmpfs::Tmpfs::Create();
  ASSERT_THAT(vfs_.MountAt(root_, other, Root(), "/mnt", 0), IsOk());
  ASSERT_THAT(Mkdir("/mnt/x"), IsOk());
  WriteFile("/mnt/x/y", "y");
  EXPECT_EQ(other->CachedDentries(), 2u);
  {
    auto f = Open("/mnt/x/y", O_RDONLY);
    ASSERT_THAT(f, IsOk());
    EXPECT_THAT(vfs_.UnmountAt(root_, Root(), "/mnt"), ErrnoIs(EBUSY));
  }
  ASSERT_THAT(vfs_.UnmountAt(root_, Root(), "/mnt"), IsOk());
  EXPECT_EQ(other->CachedDentries(), 0u);
}

TEST_F(DentryCacheTest, LookupChildUncheckedSkipsPermissionAndCrossesMounts) {
  ASSERT_THAT(Mkdir("/closed", 0700), IsOk());
  WriteFile("/closed/f", "f");
  ASSERT_THAT(Mkdir("/closed/m"), IsOk());
  ASSERT_THAT(
      vfs_.MountAt(root_, tmpfs::Tmpfs::Create(), Root(), "/closed/m", 0),
      IsOk());
  auto dir = vfs_.ResolveAt(root_, Root(), "/closed", 0);
  ASSERT_THAT(dir, IsOk());
  // A checked walk by another user is refused; the unchecked one is not.
  EXPECT_THAT(vfs_.ResolveAt(alice_, *dir, "f", 0), ErrnoIs(EACCES));
  auto f = vfs_.LookupChildUnchecked(*dir, "f");
  ASSERT_THAT(f, IsOk());
  EXPECT_EQ(f->dentry->inode().ino(), Stat("/closed/f")->ino);
  auto m = vfs_.LookupChildUnchecked(*dir, "m");
  ASSERT_THAT(m, IsOk());
  EXPECT_EQ(m->dentry.get(), m->mount->root().get());  // the mounted root
  EXPECT_THAT(vfs_.LookupChildUnchecked(*dir, "none"), ErrnoIs(ENOENT));
  EXPECT_THAT(vfs_.LookupChildUnchecked(*f, "x"), ErrnoIs(ENOTDIR));
}

}  // namespace
}  // namespace veil::vfs::testing
