// SPDX-License-Identifier: Apache-2.0
//
// veil's overlay against the host kernel's overlayfs: the same random
// operation sequences over the same populated lower layers, identical
// results, errnos and trees.
//
// Reference: `mount -t overlay` with lowerdir (one or two layers), upperdir
// and workdir in one host tmpfs scratch directory (so all layers share a
// filesystem and st_ino is unified, as veil's xino numbering is), with
// redirect_dir=on (veil's default: directories that exist in a lower layer
// can be renamed) or, for a few seeds, the module default (off: EXDEV),
// and index, metacopy and xino off. Under test: OverlayFs with a veil
// tmpfs upper over veil tmpfs lowers, in the matching DirRename mode. Both sides'
// lowers are built from the seed before mounting, with the runner's probe
// times already set (RunOptions::quiet_time_probes), so resetting times
// does not copy the whole lower layer up at the first step.
//
// Where Linux's overlayfs differs by design from what the runner assumes,
// RunOptions relaxes it narrowly: ctime settles before every step (any
// copy-up links into an upper directory), and an open file's st_ino may
// change on both sides at once (a copy-up that breaks a lower hard link).
//
// To replay a failure:
//   VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n> [VEIL_DIFFTEST_LOWERS=2]
//   [VEIL_DIFFTEST_REDIRECT=0] [VEIL_DIFFTEST_DIR_RENAMES=1]
//   [VEIL_DIFFTEST_TRACE=<file>] difftest_overlay_test
//   --gtest_filter='DifftestOverlayFreshSeedTest.*'
// Skips (with the reason) without root or without overlayfs.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <random>
#include <set>
#include <string>
#include <vector>

#include "overlay/overlay.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/seeds.h"
#include "tests/difftest/vfs_backend.h"
#include "vfs/tmpfs/tmpfs.h"

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
constexpr int kStepsPerSeed = 1000;

// --- The lower tree ----------------------------------------------------------

enum class Kind { kDir, kFile, kSymlink, kHardlink, kFifo, kChar, kWhiteout };

struct LowerNode {
  Kind kind = Kind::kFile;
  std::string path;  // "/a/b"
  uint32_t perm = 0644;
  uint32_t uid = 0, gid = 0;
  std::string data;  // files: written at `offset`
  int64_t offset = 0;
  int64_t size = 0;    // files: final size (may leave a trailing hole)
  std::string target;  // symlinks; hard links: the linked path
  dev_t rdev = 0;
  std::vector<std::pair<std::string, std::string>> xattrs;
};

// A deterministic lower tree for `seed`: the generator's names, every file
// type, owners the generator's identities use, set-id and sticky bits,
// sparse files (one crossing the 1 MiB copy-up chunks), hard links,
// user/trusted xattrs (one escaped trusted.overlay.*, one private opaque
// marker) and a whiteout, which the lowest layer must hide.
std::vector<LowerNode> MakeLowerTree(uint64_t seed) {
  std::mt19937_64 rng(seed * 0x9e3779b97f4a7c15ull + 0x5eed);
  auto uniform = [&](int lo, int hi) {
    return std::uniform_int_distribution<int>(lo, hi)(rng);
  };
  static const char* const kNames[] = {"a", "b", "c", "d", "e",
                                       "f", "g", "h", "i", "j"};
  static const uint32_t kIds[] = {0, 1000, 1001};
  static const uint32_t kDirPerms[] = {0755, 0777, 01777, 0700, 0555, 0775};
  static const uint32_t kFilePerms[] = {0644,  0666, 0600, 04755,
                                        02755, 0444, 0755, 0640};
  std::vector<LowerNode> nodes;
  std::vector<std::string> dirs = {""};
  std::vector<std::string> files;
  std::set<std::string> used;
  const int count = uniform(14, 30);
  for (int i = 0; i < count * 3 && static_cast<int>(nodes.size()) < count;
       ++i) {
    const std::string parent =
        dirs[uniform(0, static_cast<int>(dirs.size()) - 1)];
    std::string path = parent + "/" + kNames[uniform(0, 9)];
    if (!used.insert(path).second) continue;
    LowerNode n;
    n.path = path;
    n.uid = kIds[uniform(0, 2)];
    n.gid = kIds[uniform(0, 2)];
    int roll = uniform(0, 99);
    if (roll < 32 && std::count(path.begin(), path.end(), '/') < 3) {
      n.kind = Kind::kDir;
      n.perm = kDirPerms[uniform(0, 5)];
      dirs.push_back(path);
    } else if (roll < 70) {
      n.kind = Kind::kFile;
      n.perm = kFilePerms[uniform(0, 7)];
      int len = uniform(0, 3) == 0 ? 0 : uniform(1, 300);
      for (int k = 0; k < len; ++k)
        n.data.push_back(static_cast<char>('a' + uniform(0, 25)));
      int shape = uniform(0, 19);
      if (shape == 0) {
        // Data in two 1 MiB chunks with a hole between and after.
        n.offset = (1 << 20) + uniform(0, 4096);
        n.size = (3 << 20) + uniform(0, 100000);
      } else if (shape < 4) {
        n.offset = uniform(0, 20000);
        n.size = n.offset + len + uniform(0, 9000);
      } else {
        n.size = len;
      }
      files.push_back(path);
    } else if (roll < 80) {
      n.kind = Kind::kSymlink;
      static const char* const kTargets[] = {"a",    "../b",    "c/d", "/a",
                                             "/d/e", "missing", "."};
      n.target = kTargets[uniform(0, 6)];
    } else if (roll < 88 && !files.empty()) {
      n.kind = Kind::kHardlink;
      n.target = files[uniform(0, static_cast<int>(files.size()) - 1)];
    } else if (roll < 92) {
      n.kind = Kind::kFifo;
      n.perm = 0644;
    } else if (roll < 96) {
      n.kind = Kind::kChar;
      n.perm = 0600;
      n.rdev = makedev(uniform(60, 63), uniform(0, 3));
    } else {
      n.kind = Kind::kWhiteout;
      n.perm = 0;
      n.uid = n.gid = 0;
    }
    bool regular_or_dir = n.kind == Kind::kDir || n.kind == Kind::kFile;
    if (regular_or_dir && uniform(0, 3) == 0)
      n.xattrs.emplace_back(uniform(0, 1) ? "user.a" : "user.b",
                            std::string(uniform(0, 12), 'v'));
    if (n.kind != Kind::kHardlink && n.kind != Kind::kWhiteout &&
        uniform(0, 7) == 0)
      n.xattrs.emplace_back("trusted.t", "tv");
    if (n.kind == Kind::kFile && uniform(0, 15) == 0)
      n.xattrs.emplace_back("trusted.overlay.overlay.esc", "e");
    if (n.kind == Kind::kDir && uniform(0, 11) == 0)
      n.xattrs.emplace_back("trusted.overlay.opaque", "y");
    nodes.push_back(std::move(n));
  }
  return nodes;
}

// Builds `nodes` through any object with the Backend-shaped calls used
// here (VfsBackend, HostDir). Aborts the test on a failure.
template <typename B>
void Populate(B& b, const std::vector<LowerNode>& nodes) {
  for (const LowerNode& n : nodes) {
    int rc = 0;
    switch (n.kind) {
      case Kind::kDir:
        rc = b.Mkdir(n.path, 0700);
        break;
      case Kind::kFile: {
        int fd = b.Open(n.path, O_CREAT | O_EXCL | O_WRONLY, 0600);
        ASSERT_GE(fd, 0) << n.path;
        if (!n.data.empty()) {
          ASSERT_EQ(b.Pwrite(fd, n.data, n.offset),
                    static_cast<int>(n.data.size()));
        }
        ASSERT_EQ(b.Ftruncate(fd, n.size), 0);
        rc = b.Close(fd);
        break;
      }
      case Kind::kSymlink:
        rc = b.Symlink(n.target, n.path);
        break;
      case Kind::kHardlink:
        rc = b.Link(n.target, n.path, 0);
        break;
      case Kind::kFifo:
        rc = b.Mknod(n.path, S_IFIFO | 0600, 0);
        break;
      case Kind::kChar:
        rc = b.Mknod(n.path, S_IFCHR | 0600, n.rdev);
        break;
      case Kind::kWhiteout:
        rc = b.Mknod(n.path, S_IFCHR, makedev(0, 0));
        break;
    }
    ASSERT_EQ(rc, 0) << "creating " << n.path;
    if (n.kind == Kind::kHardlink) continue;
    ASSERT_EQ(b.Chown(n.path, n.uid, n.gid, AT_SYMLINK_NOFOLLOW), 0) << n.path;
    if (n.kind != Kind::kSymlink) {
      ASSERT_EQ(b.Chmod(n.path, n.perm), 0) << n.path;
    }
    for (const auto& [name, value] : n.xattrs) {
      ASSERT_EQ(b.SetXattr(n.path, name, value, 0), 0) << n.path << " " << name;
    }
  }
  // Times last: creating children moves a directory's mtime.
  const struct timespec times[2] = {kProbeOldAtime, kProbeOldMtime};
  for (const LowerNode& n : nodes) {
    ASSERT_EQ(b.Utimens(n.path, times, AT_SYMLINK_NOFOLLOW), 0) << n.path;
  }
}

// The host lower directory, written with plain syscalls before mounting.
class HostDir {
 public:
  explicit HostDir(std::string dir) : dir_(std::move(dir)) {}
  static int Ret(int rc) { return rc < 0 ? -errno : rc; }
  std::string P(const std::string& path) const { return dir_ + path; }

  int Mkdir(const std::string& p, mode_t m) {
    return Ret(mkdir(P(p).c_str(), m));
  }
  int Open(const std::string& p, int f, mode_t m) {
    return Ret(open(P(p).c_str(), f | O_CLOEXEC, m));
  }
  int Pwrite(int fd, const std::string& d, off_t off) {
    return Ret(static_cast<int>(pwrite(fd, d.data(), d.size(), off)));
  }
  int Ftruncate(int fd, off_t len) { return Ret(ftruncate(fd, len)); }
  int Close(int fd) { return Ret(close(fd)); }
  int Symlink(const std::string& t, const std::string& p) {
    return Ret(symlink(t.c_str(), P(p).c_str()));
  }
  int Link(const std::string& o, const std::string& n, int) {
    return Ret(link(P(o).c_str(), P(n).c_str()));
  }
  int Mknod(const std::string& p, mode_t m, dev_t d) {
    // As HostBackend: never a node for a real device.
    if ((S_ISCHR(m) || S_ISBLK(m)) && d != 0 &&
        (major(d) < 60 || major(d) > 63))
      std::abort();
    return Ret(mknod(P(p).c_str(), m, d));
  }
  int Chown(const std::string& p, uid_t u, gid_t g, int) {
    return Ret(lchown(P(p).c_str(), u, g));
  }
  int Chmod(const std::string& p, mode_t m) {
    return Ret(chmod(P(p).c_str(), m));
  }
  int SetXattr(const std::string& p, const std::string& n, const std::string& v,
               int f) {
    return Ret(lsetxattr(P(p).c_str(), n.c_str(), v.data(), v.size(), f));
  }
  int Utimens(const std::string& p, const struct timespec t[2], int f) {
    return Ret(utimensat(AT_FDCWD, P(p).c_str(), t, f));
  }

 private:
  std::string dir_;
};

// --- The runs
// -----------------------------------------------------------------

// `layers` lower layers, topmost first, each its own tree from the seed:
// names overlap, so upper lowers hide, merge with and (whiteouts, opaque
// directories) mask the ones below.
// Stress: renames of directories, which a redirect_dir=on overlay moves
// with redirects, come up several times as often.
enum class Mix { kDefault, kDirRenames };

void RunSeed(uint64_t seed, int steps, int layers = 1,
             overlay::DirRename dir_rename = overlay::DirRename::kRedirect,
             Mix mix = Mix::kDefault) {
  std::vector<std::vector<LowerNode>> trees;
  for (int i = 0; i < layers; ++i)
    trees.push_back(MakeLowerTree(seed + 0x100000 * static_cast<uint64_t>(i)));
  HostBackendOptions options;
  options.prepare = [&](const std::string& scratch) -> Result<void> {
    std::string lowerdir;
    for (int i = 0; i < layers; ++i) {
      std::string dir = scratch + "/lower" + std::to_string(i);
      if (mkdir(dir.c_str(), 0755) != 0)
        return Errno(errno, "mkdir of a lower layer failed");
      HostDir lower(dir);
      Populate(lower, trees[i]);
      if (::testing::Test::HasFatalFailure())
        return Errno(EIO, "populating a host lower layer failed");
      lowerdir += (i ? ":" : "") + dir;
    }
    for (const char* sub : {"/upper", "/work"}) {
      if (mkdir((scratch + sub).c_str(), 0755) != 0)
        return Errno(errno, "mkdir of a layer directory failed");
    }
    std::string opts = "lowerdir=" + lowerdir + ",upperdir=" + scratch +
                       "/upper,workdir=" + scratch + "/work";
    if (dir_rename == overlay::DirRename::kRedirect) opts += ",redirect_dir=on";
    if (mount("overlay", (scratch + "/root").c_str(), "overlay", 0,
              opts.c_str()) != 0)
      return Errno(errno, "mount -t overlay failed");
    return Ok();
  };
  options.teardown = [](const std::string& scratch) {
    umount2((scratch + "/root").c_str(), MNT_DETACH);
  };
  auto host = HostBackend::Create(options);
  if (::testing::Test::HasFatalFailure()) return;
  if (!host) {
    GTEST_SKIP() << "host overlayfs reference unavailable: "
                 << (host.error().message() ? host.error().message() : "")
                 << " (" << strerror(host.error().code()) << ")";
  }

  vfs::tmpfs::TmpfsOptions layer_root;
  layer_root.root_mode = 0755;
  std::vector<Ref<vfs::Filesystem>> lowers;
  for (int i = 0; i < layers; ++i) {
    Ref<vfs::tmpfs::Tmpfs> lower = vfs::tmpfs::Tmpfs::Create(layer_root);
    {
      VfsBackend lower_backend(lower, "veil-lower");
      Populate(lower_backend, trees[i]);
      if (::testing::Test::HasFatalFailure()) return;
    }
    lowers.push_back(lower);
  }
  overlay::OverlayOptions overlay_options;
  overlay_options.dir_rename = dir_rename;
  auto ofs = overlay::OverlayFs::Create(vfs::tmpfs::Tmpfs::Create(layer_root),
                                        std::move(lowers), overlay_options);
  ASSERT_TRUE(ofs.has_value());
  VfsBackend veil(*ofs, "veil-overlay");

  RunOptions run;
  run.quiet_time_probes = true;
  run.settle_ctime_always = true;
  run.fd_ino_may_change = true;
  if (mix == Mix::kDirRenames) {
    run.generator.rename_weight = 40;
    run.generator.rename_dir_percent = 80;
  }
  // VEIL_DIFFTEST_TRACE=<file>: every operation, as it runs.
  std::FILE* trace = nullptr;
  if (const char* path = std::getenv("VEIL_DIFFTEST_TRACE"))
    trace = run.trace = std::fopen(path, "w");
  std::string report;
  bool same = RunDifferential(**host, veil, seed, steps, &report, run);
  if (trace) std::fclose(trace);
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
}

class DifftestOverlayTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestOverlayTest, AgreesWithHostOverlayfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestOverlayTest,
                         ::testing::ValuesIn(kFixedSeeds));

// Two lower layers: fewer seeds, the single-layer runs cover the rest.
class DifftestOverlayTwoLowersTest : public ::testing::TestWithParam<uint64_t> {
};

TEST_P(DifftestOverlayTwoLowersTest, AgreesWithHostOverlayfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          /*layers=*/2);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestOverlayTwoLowersTest,
                         ::testing::Values(11, 12, 13));

// Directory moves in bulk: redirects on redirects, moves out of moved
// directories, over whiteouts, exchanges.
class DifftestOverlayDirRenameTest : public ::testing::TestWithParam<uint64_t> {
};

TEST_P(DifftestOverlayDirRenameTest, AgreesWithHostOverlayfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          /*layers=*/static_cast<int>(1 + GetParam() % 2),
          overlay::DirRename::kRedirect, Mix::kDirRenames);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestOverlayDirRenameTest,
                         ::testing::Values(31, 32, 33, 34));

// Linux's default, redirect_dir=off: renaming a lower directory is EXDEV.
class DifftestOverlayExdevTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestOverlayExdevTest, AgreesWithHostOverlayfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          /*layers=*/1, overlay::DirRename::kExdev);
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestOverlayExdevTest,
                         ::testing::Values(21, 22));

TEST(DifftestOverlayFreshSeedTest, AgreesWithHostOverlayfs) {
  uint64_t seed = FreshSeed();
  RunSeed(seed, static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_LOWERS", 1)),
          EnvOr("VEIL_DIFFTEST_REDIRECT", 1) ? overlay::DirRename::kRedirect
                                             : overlay::DirRename::kExdev,
          EnvOr("VEIL_DIFFTEST_DIR_RENAMES", 0) ? Mix::kDirRenames
                                                : Mix::kDefault);
}

}  // namespace
}  // namespace veil::difftest
