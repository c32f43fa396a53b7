// SPDX-License-Identifier: Apache-2.0
//
// `veil snapshot` and `veil restore` on host directories, attacked as a
// local user would: a restore target whose entries are swapped for
// symlinks while root restores into it, images that carry setuid files,
// file capabilities and device nodes, image files others could read, and
// temporary files left behind. Needs root (skips otherwise): the attacks
// are on what root does.
#include <dirent.h>
#include <grp.h>
#include <signal.h>
#include <fcntl.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <fstream>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace veil::integration {
namespace {

constexpr uid_t kNobody = 65534;

// A valid VFS_CAP_REVISION_2 security.capability value: cap_net_raw (13)
// permitted and effective.
std::string CapabilityValue() {
  const uint32_t words[5] = {0x02000001, 1u << 13, 0, 0, 0};
  return std::string(reinterpret_cast<const char*>(words), sizeof words);
}

std::vector<std::string> Xattrs(const std::string& path) {
  char buf[4096];
  ssize_t n = llistxattr(path.c_str(), buf, sizeof buf);
  std::vector<std::string> names;
  for (ssize_t pos = 0; pos < n; pos += std::strlen(buf + pos) + 1)
    names.emplace_back(buf + pos);
  return names;
}

struct FileState {
  mode_t mode;
  uid_t uid;
  gid_t gid;
  std::vector<std::string> xattrs;
  std::string content;
};

FileState Look(const std::string& path) {
  struct stat st {};
  lstat(path.c_str(), &st);
  return {st.st_mode, st.st_uid, st.st_gid, Xattrs(path), ReadFile(path)};
}

bool operator==(const FileState& a, const FileState& b) {
  return a.mode == b.mode && a.uid == b.uid && a.gid == b.gid &&
         a.xattrs == b.xattrs && a.content == b.content;
}

// What a failed comparison shows.
std::ostream& operator<<(std::ostream& os, const FileState& s) {
  os << "mode " << std::oct << s.mode << std::dec << " uid " << s.uid
     << " gid " << s.gid << " xattrs [";
  for (const std::string& x : s.xattrs) os << x << " ";
  return os << "] " << s.content.size() << " bytes";
}

class RestoreHostTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root: the attacks are on root";
    char tmpl[] = "/tmp/veil-restore-test-XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    base_ = tmpl;
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
  }
  void TearDown() override {
    if (!base_.empty()) Shell("rm -rf " + base_);
  }

  ShellResult Veil(const std::string& args, int timeout = 120) {
    return Shell(std::string(VEIL_BINARY) + " " + args, timeout);
  }

  // A tree of `files` files of mode 06777 with a file capability and a
  // trusted.* xattr, in `dirs` directories and at the top: what an
  // attacker would like root to apply to a file of their choice.
  void MakePrivilegedTree(const std::string& src, int dirs, int files) {
    ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
    const std::string cap = CapabilityValue();
    for (int d = -1; d < dirs; ++d) {
      std::string dir = d < 0 ? src : src + "/d" + std::to_string(d);
      if (d >= 0) {
        ASSERT_EQ(mkdir(dir.c_str(), 0777), 0);
      }
      for (int f = 0; f < files; ++f) {
        std::string path = dir + "/f" + std::to_string(f);
        std::ofstream(path) << std::string(8192, 'x');
        ASSERT_EQ(chmod(path.c_str(), 06777), 0);
        ASSERT_EQ(setxattr(path.c_str(), "trusted.t", "v", 1, 0), 0);
        ASSERT_EQ(setxattr(path.c_str(), "security.capability", cap.data(),
                           cap.size(), 0),
                  0)
            << std::strerror(errno);
      }
    }
  }

  std::string base_;
};

// As a local user who owns a 0777 DIR (and its parent), swaps every entry
// root creates in it, and DIR itself, for symlinks to root's files, in a
// loop while root restores over and over: root's files must not change.
TEST_F(RestoreHostTest, ConcurrentSwapperChangesNothingOutsideDir) {
  const std::string victim = base_ + "/victim";
  ASSERT_EQ(mkdir(victim.c_str(), 0755), 0);
  std::ofstream(victim + "/secret") << "root's secret";
  ASSERT_EQ(chmod((victim + "/secret").c_str(), 0600), 0);
  std::ofstream(victim + "/bin") << "a binary";
  ASSERT_EQ(chmod((victim + "/bin").c_str(), 0755), 0);
  const FileState secret = Look(victim + "/secret");
  const FileState bin = Look(victim + "/bin");
  const FileState victim_dir = Look(victim);

  MakePrivilegedTree(base_ + "/src", 4, 24);
  ASSERT_EQ(Veil("snapshot " + base_ + "/src " + base_ + "/img").status, 0);
  const std::string shared = base_ + "/shared";
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chown(shared.c_str(), kNobody, kNobody), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);

  const pid_t attacker = fork();
  ASSERT_GE(attacker, 0);
  if (attacker == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) ||
        setresuid(kNobody, kNobody, kNobody))
      _exit(1);
    const std::string targets[] = {victim + "/secret", victim + "/bin"};
    for (unsigned long k = 0;; ++k) {
      DIR* top = opendir(shared.c_str());
      if (top == nullptr) continue;
      while (dirent* t = readdir(top)) {
        std::string tname = t->d_name;
        if (tname[0] == '.') continue;
        const std::string dir = shared + "/" + tname;
        // Now and then DIR itself becomes a symlink to root's directory.
        if (k % 7 == 0) {
          std::string moved = shared + "/.d" + std::to_string(k);
          if (rename(dir.c_str(), moved.c_str()) == 0)
            (void)symlink(victim.c_str(), dir.c_str());
          continue;
        }
        DIR* d = opendir(dir.c_str());
        if (d == nullptr) continue;
        while (dirent* e = readdir(d)) {
          std::string name = e->d_name;
          if (name[0] == '.') continue;
          std::string path = dir + "/" + name;
          std::string moved = dir + "/.m" + std::to_string(k) + name;
          if (rename(path.c_str(), moved.c_str()) == 0)
            (void)symlink(targets[k % 2].c_str(), path.c_str());
        }
        closedir(d);
      }
      closedir(top);
    }
  }

  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(6);
  int runs = 0, refused = 0;
  while (std::chrono::steady_clock::now() < deadline) {
    const std::string dir = shared + "/t" + std::to_string(runs++);
    ASSERT_EQ(mkdir(dir.c_str(), 0777), 0);
    ASSERT_EQ(chown(dir.c_str(), kNobody, kNobody), 0);
    ASSERT_EQ(chmod(dir.c_str(), 0777), 0);
    ShellResult r =
        Veil("restore --force --keep-privileged " + base_ + "/img " + dir);
    if (r.status != 0) ++refused;
  }
  kill(attacker, SIGKILL);
  waitpid(attacker, nullptr, 0);

  EXPECT_EQ(Look(victim + "/secret"), secret)
      << "root's 0600 file was changed by a restore";
  EXPECT_EQ(Look(victim + "/bin"), bin)
      << "root's binary was changed by a restore";
  EXPECT_EQ(Look(victim), victim_dir);
  DIR* d = opendir(victim.c_str());
  ASSERT_NE(d, nullptr);
  int entries = 0;
  while (dirent* e = readdir(d)) entries += e->d_name[0] != '.';
  closedir(d);
  EXPECT_EQ(entries, 2) << "a restore created entries in root's directory";
  RecordProperty("restores", runs);
  RecordProperty("refused", refused);
  EXPECT_GT(runs, 3);
}

// A user swapping the files of their directory for FIFOs while root
// snapshots it: the snapshot may fail (ESTALE), never hang in open(2).
TEST_F(RestoreHostTest, SnapshotOfFilesSwappedForFifosNeverHangs) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0777), 0);
  ASSERT_EQ(chmod(src.c_str(), 0777), 0);
  for (int i = 0; i < 200; ++i)
    std::ofstream(src + "/f" + std::to_string(i)) << "data";
  // The swapper's new entries are made outside the tree, so that the
  // snapshot meets no name that comes and goes, only names that change.
  const std::string spare = base_ + "/spare";
  ASSERT_EQ(mkdir(spare.c_str(), 0777), 0);
  ASSERT_EQ(chmod(spare.c_str(), 0777), 0);
  const pid_t swapper = fork();
  ASSERT_GE(swapper, 0);
  if (swapper == 0) {
    if (setgroups(0, nullptr) != 0 || setresgid(kNobody, kNobody, kNobody) ||
        setresuid(kNobody, kNobody, kNobody))
      _exit(1);
    const std::string fifo = spare + "/fifo", file = spare + "/file";
    for (unsigned long k = 0;; ++k) {
      const std::string name = src + "/f" + std::to_string(k / 2 % 8);
      if (k % 2 == 0) {
        (void)mkfifo(fifo.c_str(), 0644);
        (void)rename(fifo.c_str(), name.c_str());
      } else {
        std::ofstream(file) << "x";
        (void)rename(file.c_str(), name.c_str());
      }
    }
  }
  int hung = 0;
  for (int run = 0; run < 60; ++run) {
    ShellResult r = Veil("snapshot " + src + " " + base_ + "/img" +
                             std::to_string(run),
                         20);
    // timeout(1) kills a hung snapshot: status 128 + SIGKILL.
    hung += r.status == 128 + SIGKILL || r.status == -1;
  }
  kill(swapper, SIGKILL);
  waitpid(swapper, nullptr, 0);
  EXPECT_EQ(hung, 0) << "snapshots killed after 20 s";
}

TEST_F(RestoreHostTest, RefusesDirOthersCanWrite) {
  ASSERT_EQ(mkdir((base_ + "/src").c_str(), 0755), 0);
  std::ofstream(base_ + "/src/a") << "a";
  ASSERT_EQ(Veil("snapshot " + base_ + "/src " + base_ + "/img").status, 0);

  const std::string open_dir = base_ + "/open";
  ASSERT_EQ(mkdir(open_dir.c_str(), 0777), 0);
  ASSERT_EQ(chmod(open_dir.c_str(), 0777), 0);
  ShellResult r = Veil("restore " + base_ + "/img " + open_dir);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("writable by its group or by others"),
            std::string::npos)
      << r.output;

  const std::string theirs = base_ + "/theirs";
  ASSERT_EQ(mkdir(theirs.c_str(), 0755), 0);
  ASSERT_EQ(chown(theirs.c_str(), kNobody, kNobody), 0);
  r = Veil("restore " + base_ + "/img " + theirs);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("owned by uid 65534"), std::string::npos)
      << r.output;
  EXPECT_EQ(Xattrs(theirs).size(), 0u);

  r = Veil("restore --force " + base_ + "/img " + theirs);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(ReadFile(theirs + "/a"), "a");
}

TEST_F(RestoreHostTest, StripsPrivilegedEntriesUnlessKept) {
  const std::string src = base_ + "/src";
  MakePrivilegedTree(src, 0, 1);
  std::ofstream(src + "/sgid") << "g";
  ASSERT_EQ(chmod((src + "/sgid").c_str(), 02755), 0);
  ASSERT_EQ(mkdir((src + "/sgid_dir").c_str(), 02775), 0);
  ASSERT_EQ(chmod((src + "/sgid_dir").c_str(), 02775), 0);
  ASSERT_EQ(mknod((src + "/null").c_str(), S_IFCHR | 0666, makedev(1, 3)), 0);
  // A second name of the device: left out with it, not a failed link.
  ASSERT_EQ(link((src + "/null").c_str(), (src + "/null2").c_str()), 0);
  ASSERT_EQ(mknod((src + "/whiteout").c_str(), S_IFCHR | 0000, makedev(0, 0)),
            0);
  ASSERT_EQ(Veil("snapshot " + src + " " + base_ + "/img").status, 0);

  const std::string out = base_ + "/out";
  ShellResult r = Veil("restore " + base_ + "/img " + out);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_NE(r.output.find("--keep-privileged"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("/f0: setuid and setgid bits left out"),
            std::string::npos)
      << r.output;
  struct stat st;
  ASSERT_EQ(stat((out + "/f0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0777u);
  EXPECT_EQ(getxattr((out + "/f0").c_str(), "security.capability", nullptr, 0),
            -1);
  EXPECT_EQ(errno, ENODATA);
  EXPECT_EQ(getxattr((out + "/f0").c_str(), "trusted.t", nullptr, 0), 1);
  ASSERT_EQ(stat((out + "/sgid").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u);
  ASSERT_EQ(stat((out + "/sgid_dir").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 02775u) << "setgid on a directory is kept";
  EXPECT_NE(lstat((out + "/null").c_str(), &st), 0);
  EXPECT_NE(lstat((out + "/null2").c_str(), &st), 0);
  ASSERT_EQ(lstat((out + "/whiteout").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == makedev(0, 0));

  const std::string kept = base_ + "/kept";
  r = Veil("restore --keep-privileged " + base_ + "/img " + kept);
  EXPECT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(stat((kept + "/f0").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 06777u);
  EXPECT_GT(getxattr((kept + "/f0").c_str(), "security.capability", nullptr, 0),
            0);
  ASSERT_EQ(lstat((kept + "/null").c_str(), &st), 0);
  EXPECT_EQ(st.st_rdev, makedev(1, 3));
  EXPECT_EQ(st.st_nlink, 2u);
}

// DIR named through a symlink another user planted (in a directory they
// can write): not followed, whether it is DIR itself or on the way.
TEST_F(RestoreHostTest, RefusesAPathThroughAnotherUsersSymlink) {
  ASSERT_EQ(mkdir((base_ + "/src").c_str(), 0700), 0);
  ASSERT_EQ(Veil("snapshot " + base_ + "/src " + base_ + "/img").status, 0);
  const std::string shared = base_ + "/shared", victim = base_ + "/victim";
  ASSERT_EQ(mkdir(shared.c_str(), 0777), 0);
  ASSERT_EQ(chmod(shared.c_str(), 0777), 0);
  ASSERT_EQ(mkdir(victim.c_str(), 0755), 0);
  for (const char* name : {"/out", "/via"}) {
    const std::string link = shared + name;
    ASSERT_EQ(symlink(victim.c_str(), link.c_str()), 0);
    ASSERT_EQ(lchown(link.c_str(), kNobody, kNobody), 0);
  }
  for (const std::string& dir : {shared + "/out", shared + "/via/new"}) {
    ShellResult r = Veil("restore " + base_ + "/img " + dir);
    EXPECT_EQ(r.status, 1) << r.output;
    EXPECT_NE(r.output.find("belongs to uid 65534"), std::string::npos)
        << r.output;
  }
  struct stat st;
  ASSERT_EQ(stat(victim.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0755u) << "root's directory was changed";
  EXPECT_NE(access((victim + "/new").c_str(), F_OK), 0);
  // Root's own symlink on the way is followed.
  const std::string own = base_ + "/own";
  ASSERT_EQ(symlink(victim.c_str(), own.c_str()), 0);
  ShellResult r = Veil("restore " + base_ + "/img " + own + "/new");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(access((victim + "/new").c_str(), F_OK), 0);
}

// DIR given as a symlink: followed once; the snapshot root's xattrs land
// on the directory, not on the link.
TEST_F(RestoreHostTest, SymlinkDirGetsRootXattrsOnTheDirectory) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0750), 0);
  ASSERT_EQ(setxattr(src.c_str(), "user.u", "1", 1, 0), 0);
  ASSERT_EQ(setxattr(src.c_str(), "trusted.t", "2", 1, 0), 0);
  ASSERT_EQ(Veil("snapshot " + src + " " + base_ + "/img").status, 0);
  const std::string real = base_ + "/real", link = base_ + "/link";
  ASSERT_EQ(mkdir(real.c_str(), 0700), 0);
  ASSERT_EQ(symlink(real.c_str(), link.c_str()), 0);
  ShellResult r = Veil("restore " + base_ + "/img " + link);
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(getxattr(real.c_str(), "user.u", nullptr, 0), 1);
  EXPECT_EQ(getxattr(real.c_str(), "trusted.t", nullptr, 0), 1);
  EXPECT_EQ(lgetxattr(link.c_str(), "trusted.t", nullptr, 0), -1);
  struct stat st;
  ASSERT_EQ(stat(real.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0750u);
}

// A tree deeper than PATH_MAX: xattrs are read and written through
// descriptors, not built paths.
TEST_F(RestoreHostTest, TreeDeeperThanPathMax) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  ASSERT_EQ(chdir(src.c_str()), 0);
  const std::string name(200, 'n');
  for (int i = 0; i < 30; ++i) {  // 6,000 bytes of path
    ASSERT_EQ(mkdir(name.c_str(), 0755), 0);
    ASSERT_EQ(chdir(name.c_str()), 0);
  }
  std::ofstream("deep") << "deep";
  ASSERT_EQ(setxattr("deep", "user.deep", "d", 1, 0), 0);
  ASSERT_EQ(chdir("/"), 0);
  ShellResult r = Veil("snapshot " + src + " " + base_ + "/img");
  ASSERT_EQ(r.status, 0) << r.output;
  r = Veil("restore " + base_ + "/img " + base_ + "/out");
  ASSERT_EQ(r.status, 0) << r.output;
  ASSERT_EQ(chdir((base_ + "/out").c_str()), 0);
  for (int i = 0; i < 30; ++i) ASSERT_EQ(chdir(name.c_str()), 0);
  char value[4] = {};
  EXPECT_EQ(getxattr("deep", "user.deep", value, sizeof value), 1);
  EXPECT_EQ(ReadFile("deep"), "deep");
  ASSERT_EQ(chdir("/"), 0);
}

// A restore's memory grows with the depth of the tree, not with its
// square (it kept a full path per open directory: 152 MB at depth 10,000).
TEST_F(RestoreHostTest, DeepTreeRestoresInLinearMemory) {
  constexpr int kDepth = 10000;
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  int fd = open(src.c_str(), O_RDONLY | O_DIRECTORY);
  for (int i = 0; i < kDepth && fd >= 0; ++i) {
    ASSERT_EQ(mkdirat(fd, "d", 0755), 0);
    int next = openat(fd, "d", O_RDONLY | O_DIRECTORY);
    close(fd);
    fd = next;
  }
  ASSERT_GE(fd, 0);
  close(fd);
  ShellResult r = Veil("snapshot " + src + " " + base_ + "/img");
  ASSERT_EQ(r.status, 0) << r.output;

  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    const int null = open("/dev/null", O_WRONLY);
    dup2(null, 1);
    execl(VEIL_BINARY, "veil", "restore", (base_ + "/img").c_str(),
          (base_ + "/out").c_str(), nullptr);
    _exit(127);
  }
  int status = 0;
  rusage usage{};
  ASSERT_EQ(wait4(child, &status, 0, &usage), child);
  ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  RecordProperty("max_rss_kib", static_cast<int>(usage.ru_maxrss));
  EXPECT_LT(usage.ru_maxrss, 60 * 1024) << "KiB at depth " << kDepth;
}

TEST_F(RestoreHostTest, SnapshotImageIsPrivate) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0700), 0);
  std::ofstream(src + "/shadow") << "root only";
  ASSERT_EQ(chmod((src + "/shadow").c_str(), 0600), 0);
  ShellResult r = Veil("snapshot " + src + " " + base_ + "/img");
  ASSERT_EQ(r.status, 0) << r.output;
  struct stat st;
  ASSERT_EQ(stat((base_ + "/img").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 0777, 0600u);
}

std::vector<std::string> Partials(const std::string& dir) {
  std::vector<std::string> found;
  DIR* d = opendir(dir.c_str());
  while (dirent* e = d ? readdir(d) : nullptr)
    if (std::strstr(e->d_name, ".partial.")) found.emplace_back(e->d_name);
  if (d) closedir(d);
  return found;
}

TEST_F(RestoreHostTest, InterruptedSnapshotLeavesNoPartialFile) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  // Incompressible, so that writing takes long enough to interrupt.
  ASSERT_EQ(Shell("head -c 200M /dev/urandom > " + src + "/big").status, 0);
  const std::string out = base_ + "/out";
  ASSERT_EQ(mkdir(out.c_str(), 0755), 0);
  const pid_t child = fork();
  ASSERT_GE(child, 0);
  if (child == 0) {
    execl(VEIL_BINARY, "veil", "snapshot", src.c_str(),
          (out + "/img").c_str(), nullptr);
    _exit(127);
  }
  const auto deadline =
      std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (Partials(out).empty() && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  ASSERT_FALSE(Partials(out).empty()) << "the write was not seen";
  kill(child, SIGTERM);
  int status = 0;
  waitpid(child, &status, 0);
  ASSERT_TRUE(WIFEXITED(status)) << "killed by the signal, not stopped";
  if (WEXITSTATUS(status) == 0) GTEST_SKIP() << "finished before the signal";
  EXPECT_EQ(WEXITSTATUS(status), 1);
  EXPECT_TRUE(Partials(out).empty());
  EXPECT_NE(access((out + "/img").c_str(), F_OK), 0);
}

TEST_F(RestoreHostTest, StalePartialFilesOfDeadWritersAreSwept) {
  const std::string src = base_ + "/src";
  ASSERT_EQ(mkdir(src.c_str(), 0755), 0);
  const pid_t dead = fork();
  if (dead == 0) _exit(0);
  waitpid(dead, nullptr, 0);
  const std::string stale = base_ + "/img.partial." + std::to_string(dead);
  const std::string live = base_ + "/img.partial." + std::to_string(getpid());
  std::ofstream(stale) << "left by a killed writer";
  std::ofstream(live) << "a writer still running";
  ShellResult r = Veil("snapshot " + src + " " + base_ + "/img");
  ASSERT_EQ(r.status, 0) << r.output;
  EXPECT_NE(access(stale.c_str(), F_OK), 0);
  EXPECT_EQ(access(live.c_str(), F_OK), 0);
}

TEST_F(RestoreHostTest, SnapshotOutWhereNothingCanBeCreatedIsRefusedUpFront) {
  const std::string dir = base_ + "/dir", mnt = base_ + "/mnt";
  ASSERT_EQ(mkdir(dir.c_str(), 0755), 0);
  ASSERT_EQ(mkdir(mnt.c_str(), 0755), 0);
  ShellResult r = Veil("fuse -f --rootfs " + dir +
                           " --snapshot-out /proc/veil-test.img " + mnt,
                       30);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_NE(r.output.find("--snapshot-out /proc/veil-test.img"),
            std::string::npos)
      << r.output;
  EXPECT_FALSE(IsFuseMount(mnt));
}

}  // namespace
}  // namespace veil::integration
