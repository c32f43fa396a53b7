// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse --rootfs DIR [--restore IMG] [--snapshot-out IMG] MNT` and
// `veil fuse --image IMG MNT` end to end: the merged view of a lower tree,
// changes that never reach DIR, a snapshot written at unmount, restored
// into a second session and browsed read-only; damaged images refused; an
// upper kept on disk with --self-backed.
//
// The mounting tests need root (the gofer confines itself with
// namespaces; the mount uses allow_other) and /dev/fuse; they skip
// otherwise. The command-line tests run anywhere.
#include <fcntl.h>
#include <ftw.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <functional>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/shell_util.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace {

using veil::integration::IsFuseMount;
using veil::integration::ReadFile;
using veil::integration::ShellResult;
using veil::integration::StartVeilFuse;
using veil::integration::VeilFuse;

constexpr auto kMountTimeout = std::chrono::seconds(20);
constexpr auto kExitTimeout = std::chrono::seconds(30);

// A hung mount must fail the test, not hang it: every shell is killed
// after a minute.
ShellResult Shell(const std::string& script) {
  return veil::integration::Shell(script, 60);
}

// `veil ARGS` with a time limit: a command expected to fail must not hang
// serving a mount if it wrongly succeeds.
ShellResult Veil(const std::string& args) {
  return Shell(std::string("timeout 30 ") + VEIL_BINARY + " " + args);
}

bool WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
  return static_cast<bool>(out);
}

// One line per entry of the tree under `root`, sorted by path: type and
// mode, owner, size, mtime (ns), symlink target or device number, every
// xattr, and a regular file's bytes. Link counts of directories and inode
// numbers are left out: they are the filesystem's own business.
std::string g_digest_root;
std::vector<std::string>* g_digest_lines;
int DigestOne(const char* path, const struct stat* st, int, FTW*) {
  std::string rel = path + g_digest_root.size();
  std::ostringstream line;
  line << (rel.empty() ? "." : rel) << " mode=" << std::oct << st->st_mode
       << std::dec << " owner=" << st->st_uid << ":" << st->st_gid;
  if (!S_ISDIR(st->st_mode))
    line << " nlink=" << st->st_nlink << " size=" << st->st_size;
  line << " mtime=" << st->st_mtim.tv_sec << "." << st->st_mtim.tv_nsec;
  if (S_ISLNK(st->st_mode)) {
    char target[4096];
    ssize_t n = readlink(path, target, sizeof target);
    line << " -> " << std::string(target, n > 0 ? n : 0);
  }
  if (S_ISCHR(st->st_mode) || S_ISBLK(st->st_mode))
    line << " dev=" << major(st->st_rdev) << ":" << minor(st->st_rdev);
  char names[4096];
  ssize_t len = llistxattr(path, names, sizeof names);
  std::vector<std::string> xattrs;
  for (ssize_t i = 0; i < len; i += strlen(names + i) + 1) {
    char value[1024];
    ssize_t v = lgetxattr(path, names + i, value, sizeof value);
    xattrs.push_back(std::string(names + i) + "=" +
                     std::string(value, v > 0 ? v : 0));
  }
  std::sort(xattrs.begin(), xattrs.end());
  for (const std::string& x : xattrs) line << " xattr:" << x;
  // The bytes themselves for small files, a hash of big ones (a failure
  // message should stay readable).
  if (S_ISREG(st->st_mode)) {
    std::string data = ReadFile(path);
    if (data.size() <= 64)
      line << " data=" << data;
    else
      line << " hash=" << std::hash<std::string>{}(data);
  }
  g_digest_lines->push_back(line.str());
  return 0;
}
std::string TreeDigest(const std::string& root) {
  std::vector<std::string> lines;
  g_digest_root = root;
  g_digest_lines = &lines;
  if (nftw(root.c_str(), DigestOne, 16, FTW_PHYS) != 0)
    return "nftw failed: " + std::string(strerror(errno));
  std::sort(lines.begin(), lines.end());
  std::string out;
  for (const std::string& l : lines) out += l + "\n";
  return out;
}

class FuseRootfsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    // /dev/shm: a tmpfs with user xattrs, like the hosts veil runs on.
    char tmpl[] = "/dev/shm/veil-fuse-rootfs.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    base_ = tmpl;
    lower_ = base_ + "/lower";
    mnt_ = base_ + "/mnt";
    img_ = base_ + "/images/upper.img";
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(lower_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir((base_ + "/images").c_str(), 0755), 0);
  }

  void TearDown() override {
    if (pid_ > 0) {
      kill(pid_, SIGKILL);
      waitpid(pid_, nullptr, 0);
    }
    // A failed test may leave the mount behind, perhaps with its server
    // dead (then statfs fails with ENOTCONN): detach whatever is there.
    for (int i = 0; i < 10 && umount2(mnt_.c_str(), MNT_DETACH) == 0; ++i) {
    }
    if (!base_.empty()) Shell("rm -rf " + base_);
  }

  // Skips unless mounting can work here.
  bool CanMount() {
    if (geteuid() != 0) return false;
    return access("/dev/fuse", R_OK | W_OK) == 0;
  }

  // The lower tree: files, directories, a symlink, a hard link, an xattr.
  void BuildLower() {
    ASSERT_EQ(Shell("cd " + lower_ +
                    " && printf 'hello\\n' > file.txt"
                    " && mkdir -p dir/sub tree/x/y movedir empty"
                    " && printf a > dir/a.txt && printf b > dir/sub/b.txt"
                    " && printf z > tree/x/y/z.txt && printf k > tree/k.txt"
                    " && printf m > movedir/m.txt"
                    " && printf r > rename_me.txt && printf d > delete_me.txt"
                    " && printf 'original\\n' > modify_me.txt"
                    " && ln -s file.txt link && printf h > hard1"
                    " && ln hard1 hard2 && printf s > secret"
                    " && chmod 0600 secret"
                    " && head -c 300000 /dev/urandom > big.bin")
                  .status,
              0);
    ASSERT_EQ(
        setxattr((lower_ + "/file.txt").c_str(), "user.veil", "value", 5, 0), 0)
        << strerror(errno);
  }

  // Starts `veil fuse -f ARGS MNT` and waits for the mount.
  void Mount(const std::vector<std::string>& args) {
    log_ = base_ + "/veil.log";
    VeilFuse child = StartVeilFuse(VEIL_BINARY, args, mnt_, log_, kMountTimeout);
    pid_ = child.pid;
    ASSERT_FALSE(child.exited) << "veil fuse exited before mounting (status "
                               << child.status << "): " << ReadFile(log_);
    ASSERT_FALSE(child.timed_out) << "no mount after 20 s: " << ReadFile(log_);
  }

  // Ends the session (`fusermount3 -u` when `signal` is 0) and returns
  // veil's exit status; the mount must be gone.
  int Unmount(int signal) {
    if (signal == 0) {
      ShellResult u = Shell("fusermount3 -u " + mnt_);
      EXPECT_EQ(u.status, 0) << u.output;
    } else {
      EXPECT_EQ(kill(pid_, signal), 0);
    }
    int status = 0;
    pid_t got = 0;
    auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
    while ((got = waitpid(pid_, &status, WNOHANG)) == 0 &&
           std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    if (got != pid_) {
      ADD_FAILURE() << "veil fuse did not exit: " << ReadFile(log_);
      return -1;
    }
    pid_ = -1;
    EXPECT_FALSE(IsFuseMount(mnt_)) << "still mounted after exit";
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }

  std::string M(const std::string& rel) { return mnt_ + "/" + rel; }

  std::string base_, lower_, mnt_, img_, log_;
  pid_t pid_ = -1;
};

// Changes made through the mount, as a program in the sandbox would.
constexpr const char kChanges[] =
    " && printf 'new\\n' > new.txt"
    " && printf 'changed\\n' > modify_me.txt"
    " && rm delete_me.txt"
    " && mv rename_me.txt dir/renamed.txt"
    " && rm -rf tree && mkdir tree && printf f > tree/fresh.txt"
    " && mv movedir moved"
    " && mkdir newdir && ln -s ../new.txt newdir/l"
    " && chmod 0640 file.txt"
    " && ln dir/a.txt a_link"
    " && printf more >> big.bin";

TEST_F(FuseRootfsTest, SnapshotRestoreAndBrowse) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  BuildLower();
  const std::string lower_before = TreeDigest(lower_);
  ASSERT_NE(lower_before.find("hard2 mode="), std::string::npos)
      << lower_before;
  ASSERT_NE(lower_before.find("xattr:user.veil=value"), std::string::npos)
      << lower_before;

  // 1. The merged view of a fresh upper is the lower tree itself.
  Mount({"--rootfs", lower_, "--snapshot-out", img_});
  EXPECT_EQ(TreeDigest(mnt_), lower_before);
  struct stat h1, h2;
  ASSERT_EQ(stat(M("hard1").c_str(), &h1), 0);
  ASSERT_EQ(stat(M("hard2").c_str(), &h2), 0);
  EXPECT_EQ(h1.st_ino, h2.st_ino);
  EXPECT_EQ(h1.st_nlink, 2u);

  // 2. Changes land in the upper only.
  ShellResult changes = Shell("cd " + mnt_ + kChanges);
  ASSERT_EQ(changes.status, 0) << changes.output;
  ASSERT_EQ(setxattr(M("dir/a.txt").c_str(), "user.added", "1", 1, 0), 0)
      << strerror(errno);
  EXPECT_EQ(ReadFile(M("modify_me.txt")), "changed\n");
  EXPECT_EQ(access(M("delete_me.txt").c_str(), F_OK), -1);
  EXPECT_EQ(errno, ENOENT);
  EXPECT_EQ(Shell("ls " + M("tree")).output, "fresh.txt\n");
  EXPECT_EQ(ReadFile(M("moved/m.txt")), "m");
  const std::string mnt_after = TreeDigest(mnt_);
  EXPECT_EQ(TreeDigest(lower_), lower_before) << "DIR changed while mounted";

  // 3. A clean unmount writes the image, whole, and nothing else.
  EXPECT_EQ(Unmount(0), 0) << ReadFile(log_);
  EXPECT_NE(ReadFile(log_).find(img_ + ": "), std::string::npos)
      << ReadFile(log_);
  struct stat st;
  ASSERT_EQ(stat(img_.c_str(), &st), 0) << ReadFile(log_);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(Shell("ls " + base_ + "/images").output, "upper.img\n");
  EXPECT_EQ(TreeDigest(lower_), lower_before) << "DIR changed by the session";

  // 4. Restored, the view is the one left at unmount: deleted lower files
  // stay hidden, the opaque directory hides the old tree.
  Mount({"--rootfs", lower_, "--restore", img_});
  EXPECT_EQ(TreeDigest(mnt_), mnt_after);
  EXPECT_EQ(access(M("delete_me.txt").c_str(), F_OK), -1);
  EXPECT_EQ(access(M("rename_me.txt").c_str(), F_OK), -1);
  EXPECT_EQ(access(M("tree/x").c_str(), F_OK), -1);
  EXPECT_EQ(access(M("movedir").c_str(), F_OK), -1);
  EXPECT_EQ(ReadFile(M("dir/renamed.txt")), "r");
  EXPECT_EQ(ReadFile(M("dir/sub/b.txt")), "b");  // untouched lower file
  // Changes in a restored session are not saved without --snapshot-out.
  ASSERT_EQ(Shell("printf x > " + M("discarded")).status, 0);
  EXPECT_EQ(Unmount(SIGTERM), 0) << ReadFile(log_);
  EXPECT_EQ(TreeDigest(lower_), lower_before);

  // 5. The image browsed on its own: the raw upper layer, read-only.
  Mount({"--image", img_});
  EXPECT_EQ(ReadFile(M("new.txt")), "new\n");
  EXPECT_EQ(access(M("dir/sub").c_str(), F_OK), -1);  // only in the lower
  ASSERT_EQ(lstat(M("delete_me.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "not a whiteout";
  char opaque[8] = {};
  EXPECT_EQ(getxattr(M("tree").c_str(), "trusted.overlay.opaque", opaque,
                     sizeof opaque),
            1)
      << strerror(errno);
  EXPECT_EQ(opaque[0], 'y');
  EXPECT_EQ(open(M("new.txt").c_str(), O_WRONLY), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(mkdir(M("d").c_str(), 0755), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(unlink(M("new.txt").c_str()), -1);
  EXPECT_EQ(errno, EROFS);
  EXPECT_EQ(Unmount(SIGINT), 0) << ReadFile(log_);
}

// Detached (no -f), the image is still written once the mount goes.
TEST_F(FuseRootfsTest, DetachedSessionWritesSnapshot) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  BuildLower();
  ShellResult mount =
      Veil("fuse --rootfs " + lower_ + " --snapshot-out " + img_ + " " + mnt_);
  ASSERT_EQ(mount.status, 0) << mount.output;
  ASSERT_TRUE(IsFuseMount(mnt_));
  // A sandbox's setuid binaries and device nodes stay inert on the host.
  ShellResult options = Shell("findmnt -n -o OPTIONS " + mnt_);
  EXPECT_NE(options.output.find("nosuid"), std::string::npos) << options.output;
  EXPECT_NE(options.output.find("nodev"), std::string::npos) << options.output;
  ASSERT_EQ(Shell("printf detached > " + M("d.txt")).status, 0);
  ASSERT_EQ(Shell("fusermount3 -u " + mnt_).status, 0);
  struct stat st;
  auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
  while (stat(img_.c_str(), &st) != 0 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_EQ(stat(img_.c_str(), &st), 0) << "no image after the unmount";

  Mount({"--image", img_});
  EXPECT_EQ(ReadFile(M("d.txt")), "detached");
  EXPECT_EQ(Unmount(0), 0) << ReadFile(log_);
}

// --snapshot-out IMG whose filesystem fills up during the session: the
// changes are written to a recovery image, and the message names it.
// Runs in a mount namespace of its own, where IMG's directory is a tiny
// tmpfs.
TEST_F(FuseRootfsTest, SnapshotOutFailureKeepsARecoveryImage) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  if (Shell("unshare -m true").status != 0)
    GTEST_SKIP() << "needs mount namespaces (unshare -m)";
  BuildLower();
  const std::string small = base_ + "/small", rec = base_ + "/rec";
  const std::string veil = VEIL_BINARY;
  ShellResult r = veil::integration::Shell(
      "unshare -m --propagation private sh -c '"
      "mkdir " + small + " " + rec +
      " && mount -t tmpfs -o size=64k tmpfs " + small +
      " && { TMPDIR=" + rec + " " + veil + " fuse -f --rootfs " + lower_ +
      " --snapshot-out " + small + "/x.img " + mnt_ + " & pid=$!; }"
      " && for i in $(seq 200); do mountpoint -q " + mnt_ +
      " && break; sleep 0.1; done"
      " && head -c 1000000 /dev/urandom > " + mnt_ + "/big"
      " && fusermount3 -u " + mnt_ + " && wait $pid; echo status=$?'",
      120);
  EXPECT_NE(r.output.find("status=1"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("were not saved to " + small + "/x.img"),
            std::string::npos)
      << r.output;
  const std::string recovery = rec + "/veil-recovery-";
  ASSERT_NE(r.output.find("they were saved to " + recovery), std::string::npos)
      << r.output;
  ShellResult verify = Shell(veil + " restore --verify " + rec + "/*.img");
  EXPECT_EQ(verify.status, 0) << verify.output;
}

// The host file behind veil's descriptors whose link names `dir` (an
// unnamed file shows as "DIR/#ino (deleted)"): its st_blocks, or -1.
long long StoreBlocks(pid_t pid, const std::string& dir) {
  std::string fds = "/proc/" + std::to_string(pid) + "/fd";
  ShellResult list = veil::integration::Shell("ls " + fds, 10);
  std::istringstream names(list.output);
  for (std::string fd; names >> fd;) {
    std::string path = fds + "/" + fd;
    char target[4096];
    ssize_t n = readlink(path.c_str(), target, sizeof target - 1);
    if (n <= 0) continue;
    target[n] = '\0';
    if (std::string(target).rfind(dir + "/", 0) != 0) continue;
    struct stat st;
    if (stat(path.c_str(), &st) == 0 && S_ISREG(st.st_mode))
      return static_cast<long long>(st.st_blocks);
  }
  return -1;
}

// --self-backed DIR: the upper's file data goes to one unnamed file in DIR
// (on disk, not in veil's memory); deleting gives the space back; nothing
// is left in DIR; snapshot and restore work as in memory.
TEST_F(FuseRootfsTest, SelfBackedUpperKeepsDataOnDisk) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  BuildLower();
  const std::string store = base_ + "/store";
  const std::string data = base_ + "/data.bin";
  ASSERT_EQ(Shell("mkdir " + store + " && head -c 67108864 /dev/urandom > " +
                  data)
                .status,
            0);
  const std::string lower_before = TreeDigest(lower_);
  Mount({"--self-backed", store, "--rootfs", lower_, "--snapshot-out", img_});
  ASSERT_EQ(Shell("cp " + data + " " + M("big64") + " && printf more >> " +
                  M("big.bin"))
                .status,
            0);
  EXPECT_EQ(Shell("cmp " + data + " " + M("big64")).status, 0);
  long long blocks = StoreBlocks(pid_, store);
  EXPECT_GE(blocks, 67108864 / 512) << "the data is not in the store file";
  EXPECT_EQ(Shell("ls -A " + store).output, "");  // the store has no name
  ASSERT_EQ(Shell("cp " + data + " " + M("gone") + " && rm " + M("gone"))
                .status,
            0);
  // The kernel sends FUSE's RELEASE after close(2) returns: the last
  // reference to the deleted file may go a moment after `rm`.
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(10);
  while (StoreBlocks(pid_, store) >= blocks + 2048 &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  EXPECT_LT(StoreBlocks(pid_, store), blocks + 2048)
      << "a deleted file's space was not given back";
  EXPECT_EQ(Unmount(0), 0) << ReadFile(log_);
  EXPECT_EQ(Shell("ls -A " + store).output, "");
  EXPECT_EQ(TreeDigest(lower_), lower_before);

  Mount({"--self-backed", store, "--rootfs", lower_, "--restore", img_});
  EXPECT_EQ(Shell("cmp " + data + " " + M("big64")).status, 0);
  EXPECT_EQ(Shell("tail -c 4 " + M("big.bin")).output, "more");
  EXPECT_GE(StoreBlocks(pid_, store), 67108864 / 512);
  EXPECT_EQ(Unmount(SIGTERM), 0) << ReadFile(log_);
  EXPECT_EQ(Shell("ls -A " + store).output, "");
}

// SIGUSR1 writes --snapshot-out while mounted: requests pause meanwhile,
// so a file written during the snapshot is in it whole or not at all; the
// session goes on, and the unmount writes the image again.
TEST_F(FuseRootfsTest, Sigusr1WritesALiveSnapshot) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  BuildLower();
  Mount({"--rootfs", lower_, "--snapshot-out", img_});
  ASSERT_EQ(Shell("cd " + mnt_ + " && printf one > one.txt && rm delete_me.txt")
                .status,
            0);
  // Files written while the snapshot is taken: each holds its own number
  // (or is still empty: `>` creates the file, then printf writes to it,
  // and the snapshot may fall between the two requests).
  ShellResult busy = Shell(
      "cd " + mnt_ + " && (for i in $(seq 400); do printf %s $i > f$i; "
      "done) & sleep 0.05; kill -USR1 " + std::to_string(pid_) + "; wait");
  ASSERT_EQ(busy.status, 0) << busy.output;
  auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
  while (ReadFile(log_).find(img_ + ": ") == std::string::npos &&
         std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  ASSERT_NE(ReadFile(log_).find(img_ + ": "), std::string::npos)
      << "no snapshot after SIGUSR1: " << ReadFile(log_);
  ASSERT_TRUE(IsFuseMount(mnt_)) << "the session ended";

  const std::string out = base_ + "/restored";
  ShellResult restore = Veil("restore " + img_ + " " + out);
  ASSERT_EQ(restore.status, 0) << restore.output;
  EXPECT_EQ(ReadFile(out + "/one.txt"), "one");
  struct stat st;
  ASSERT_EQ(lstat((out + "/delete_me.txt").c_str(), &st), 0);
  EXPECT_TRUE(S_ISCHR(st.st_mode) && st.st_rdev == 0) << "not a whiteout";
  for (int i = 1; i <= 400; ++i) {
    std::string f = out + "/f" + std::to_string(i);
    if (access(f.c_str(), F_OK) != 0) continue;  // written after
    std::string data = ReadFile(f);
    EXPECT_TRUE(data.empty() || data == std::to_string(i)) << f << ": " << data;
  }

  // The session goes on; the unmount writes the image again.
  ASSERT_EQ(Shell("printf two > " + M("two.txt")).status, 0);
  EXPECT_EQ(ReadFile(M("f400")), "400");
  EXPECT_EQ(Unmount(0), 0) << ReadFile(log_);
  ASSERT_EQ(Shell("rm -rf " + out).status, 0);
  restore = Veil("restore " + img_ + " " + out);
  ASSERT_EQ(restore.status, 0) << restore.output;
  EXPECT_EQ(ReadFile(out + "/two.txt"), "two");
  EXPECT_EQ(ReadFile(out + "/f400"), "400");
}

// A damaged image is refused before anything is mounted.
TEST_F(FuseRootfsTest, DamagedImageIsRefused) {
  if (!CanMount()) GTEST_SKIP() << "needs root and a usable /dev/fuse";
  BuildLower();
  ShellResult snap = Veil("snapshot " + lower_ + " " + img_);
  ASSERT_EQ(snap.status, 0) << snap.output;
  struct stat st;
  ASSERT_EQ(stat(img_.c_str(), &st), 0);

  const std::string truncated = base_ + "/truncated.img";
  const std::string flipped = base_ + "/flipped.img";
  ASSERT_EQ(Shell("head -c " + std::to_string(st.st_size / 2) + " " + img_ +
                  " > " + truncated + " && cp " + img_ + " " + flipped)
                .status,
            0);
  // A bit in the middle: inside big.bin's chunks, which dominate the image.
  {
    std::fstream f(flipped, std::ios::in | std::ios::out | std::ios::binary);
    f.seekg(st.st_size / 2);
    char c = static_cast<char>(f.get());
    f.seekp(st.st_size / 2);
    f.put(static_cast<char>(c ^ 0x10));
  }
  struct Case {
    std::string args, message;
  };
  const Case cases[] = {
      {"--rootfs " + lower_ + " --restore " + truncated,
       "veil fuse: --restore " + truncated + ": "},
      {"--rootfs " + lower_ + " --restore " + flipped,
       "veil fuse: --restore " + flipped + ": chunk "},
      {"--image " + truncated, "veil fuse: --image " + truncated + ": "},
      {"--image " + flipped, "veil fuse: --image " + flipped + ": chunk "},
  };
  for (const Case& c : cases) {
    for (const char* fg : {"-f ", ""}) {
      ShellResult r = Veil("fuse " + std::string(fg) + c.args + " " + mnt_);
      EXPECT_EQ(r.status, 1) << c.args << ": " << r.output;
      EXPECT_NE(r.output.find(c.message), std::string::npos)
          << c.args << ": " << r.output;
      EXPECT_FALSE(IsFuseMount(mnt_)) << c.args;
    }
  }
}

// Bad command lines: status 2 for usage, 1 for a bad path, and a message
// naming the option and the path. Nothing here mounts.
TEST_F(FuseRootfsTest, BadArguments) {
  const std::string file = base_ + "/plain";
  ASSERT_TRUE(WriteFile(file, "x"));
  struct Case {
    std::string args;
    int status;
    std::string message;
  };
  const Case cases[] = {
      {"--restore " + file + " " + mnt_, 2, "--restore IMG needs --rootfs"},
      {"--snapshot-out " + img_ + " " + mnt_, 2,
       "--snapshot-out IMG needs --rootfs"},
      {"--rootfs " + lower_ + " --image " + file + " " + mnt_, 2,
       "are exclusive"},
      {"--rootfs " + lower_, 2, "exactly one mount point"},
      {"--rootfs", 2, "--rootfs needs a value"},
      {"--rootfs " + base_ + "/missing " + mnt_, 1,
       "--rootfs " + base_ + "/missing: No such file or directory"},
      {"--rootfs " + file + " " + mnt_, 1,
       "--rootfs " + file + ": Not a directory"},
      {"--rootfs " + lower_ + " --restore " + base_ + "/none.img " + mnt_, 1,
       "--restore " + base_ + "/none.img: No such file or directory"},
      {"--rootfs " + lower_ + " --restore " + lower_ + " " + mnt_, 1,
       "--restore " + lower_ + ": not a regular file"},
      {"--rootfs " + lower_ + " --snapshot-out " + base_ + "/no/x.img " + mnt_,
       1, "--snapshot-out " + base_ + "/no/x.img: directory"},
      {"--rootfs " + lower_ + " --snapshot-out " + lower_ + " " + mnt_, 1,
       "--snapshot-out " + lower_ + ": is a directory"},
      {"--image " + base_ + "/none.img " + mnt_, 1,
       "--image " + base_ + "/none.img: No such file or directory"},
      {"--image " + file + " " + mnt_, 1,
       "--image " + file + ": not a veil snapshot image"},
      {lower_ + " " + mnt_, 2, "is neither an image file nor a sandbox's name"},
      {"--root " + base_ + " nosuch " + mnt_, 1,
       "sandbox nosuch: no such sandbox (see veil ps)"},
      {"--self-backed " + base_ + "/missing --tmpfs " + mnt_, 1,
       "--self-backed " + base_ + "/missing: No such file or directory"},
      {"--self-backed " + file + " --rootfs " + lower_ + " " + mnt_, 1,
       "--self-backed " + file + ": Not a directory"},
      {"--self-backed " + base_ + " --gofer " + lower_ + " " + mnt_, 2,
       "not --gofer"},
  };
  for (const Case& c : cases) {
    ShellResult r = Veil("fuse -f " + c.args);
    EXPECT_EQ(r.status, c.status) << c.args << ": " << r.output;
    EXPECT_NE(r.output.find(c.message), std::string::npos)
        << c.args << ": " << r.output;
    EXPECT_FALSE(IsFuseMount(mnt_));
  }
  EXPECT_EQ(Shell("ls " + base_ + "/images").output, "") << "nothing written";
}

}  // namespace
