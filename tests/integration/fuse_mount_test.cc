// SPDX-License-Identifier: Apache-2.0
//
// `veil fuse --tmpfs MNT` and `veil fuse --gofer DIR MNT` end to end:
// ordinary tools (cp -a, tar, diff, find, chmod, mv, ln, rm) run through
// the host kernel's FUSE client against veil's VFS, and the results must
// match the same commands on a host directory. With --gofer, DIR itself
// must end up holding exactly the tree the mount shows, and nothing
// outside DIR may change.
//
// Needs root (the mount uses allow_other, and one test acts as another
// user), /dev/fuse and a kernel that lets us mount; skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
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
using veil::integration::Shell;
using veil::integration::ShellResult;
using veil::integration::StartVeilFuse;
using veil::integration::VeilFuse;

constexpr auto kMountTimeout = std::chrono::seconds(10);
constexpr auto kExitTimeout = std::chrono::seconds(10);

// Doc directories to copy: those of a few packages every Debian-like host
// has. Some are symlinks to another package's directory (libcc1-0 here),
// which cp -a and tar must keep as symlinks.
std::string DocDirs() {
  std::string dirs;
  for (const char* name : {"bash", "coreutils", "dpkg", "findutils", "tar",
                           "gzip", "sed", "libcc1-0"}) {
    std::string path = std::string("/usr/share/doc/") + name;
    struct stat st;
    if (lstat(path.c_str(), &st) == 0) dirs += " " + path;
  }
  return dirs;
}

// A tree listing that two filesystems of different types agree on: type
// and mode, link count, size (not for directories: their size is the
// filesystem's business), owner, path and symlink target. With `times`,
// also the mtime of everything but symlinks, for trees whose times were
// all copied from a source (cp -a, tar -p).
std::string Listing(bool times) {
  std::string t = times ? " %TY%Tm%Td%TT" : "";
  return "find . -mindepth 1 \\( -type d -printf '%M %n - %u:%g" + t +
         " %P\\n' \\) -o \\( -type l -printf '%M %n %s %u:%g %P -> "
         "%l\\n' \\) -o -printf '%M %n %s %u:%g" +
         t + " %P\\n' | LC_ALL=C sort";
}

// kGoferTinyCache: --gofer with `--dcache 8`, so that nearly every name
// is evicted between two uses and the kernel is asked to forget nearly
// every node: the same commands must give the same results.
enum class Mode { kTmpfs, kGofer, kGoferTinyCache };

// A snapshot of what lies outside the gofer's directory: every entry of
// the test's base directory but the served, mounted and reference trees
// (and the log, which grows), with owner, mode, size and times, and the
// sibling tree `outside` in full.
std::string OutsideState(const std::string& base) {
  return Shell("cd " + base +
               " && find . -path ./served -prune -o -path ./mnt -prune -o "
               "-path ./host -prune -o -path ./veil.log -prune -o "
               "-printf '%M %n %s %u:%g %T@ %C@ %p\\n' | LC_ALL=C sort")
      .output;
}

class FuseMountTest : public ::testing::TestWithParam<Mode> {
 protected:
  bool gofer() const { return GetParam() != Mode::kTmpfs; }

  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (allow_other, setpriv)";
    if (access("/dev/fuse", R_OK | W_OK) != 0)
      GTEST_SKIP() << "/dev/fuse is not usable: " << strerror(errno);
    char tmpl[] = "/tmp/veil-fuse-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    base_ = tmpl;
    mnt_ = base_ + "/mnt";
    host_ = base_ + "/host";
    served_ = base_ + "/served";
    // Tests that act as another user need to reach both directories.
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
    ASSERT_EQ(mkdir(host_.c_str(), 0755), 0);
    if (gofer()) {
      ASSERT_EQ(mkdir(served_.c_str(), 0755), 0);
      // A neighbour of DIR that the gofer must never touch.
      ASSERT_EQ(Shell("cd " + base_ +
                      " && mkdir outside && echo x > "
                      "outside/f && ln -s ../served outside/l")
                    .status,
                0);
    }
    std::string log = base_ + "/veil.log";

    std::vector<std::string> args = {"--tmpfs"};
    if (gofer()) args = {"--gofer", served_};
    if (GetParam() == Mode::kGoferTinyCache)
      args = {"--dcache", "8", "--gofer", served_};
    VeilFuse child = StartVeilFuse(VEIL_BINARY, args, mnt_, log, kMountTimeout);
    pid_ = child.pid;
    // Exit status 1 is veil's "cannot mount MNT" (no FUSE here, or not
    // allowed); anything else is a bug worth failing on.
    if (child.cannot_mount())
      GTEST_SKIP() << "veil fuse could not mount: " << ReadFile(log);
    ASSERT_FALSE(child.exited) << "veil fuse died before mounting (status "
                               << child.status << "): " << ReadFile(log);
    ASSERT_FALSE(child.timed_out) << "no FUSE mount on " << mnt_
                                  << " after 10 s: " << ReadFile(log);
    outside_ = OutsideState(base_);
  }

  void TearDown() override {
    if (pid_ > 0) {
      // --gofer: DIR holds exactly what the mount shows, times included.
      if (gofer()) ExpectSameTrees(mnt_, served_, Times::kCompare);
      // SIGTERM must unmount cleanly and exit 0.
      EXPECT_EQ(kill(pid_, SIGTERM), 0);
      int status = 0;
      auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
      pid_t got = 0;
      while ((got = waitpid(pid_, &status, WNOHANG)) == 0 &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(20));
      if (got != pid_) {
        ADD_FAILURE() << "veil fuse did not exit after SIGTERM";
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
      } else {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "status " << status << ": " << ReadFile(base_ + "/veil.log");
      }
      EXPECT_FALSE(IsFuseMount(mnt_)) << "still mounted after exit";
      if (IsFuseMount(mnt_)) umount2(mnt_.c_str(), MNT_DETACH);
      EXPECT_EQ(OutsideState(base_), outside_)
          << "something outside the served directory changed";
    }
    if (!base_.empty()) Shell("rm -rf " + base_);
  }

  // Runs `script` in the host directory and in the mount; both must
  // succeed with the same output. $VEIL_FUSE_MODE is "tmpfs" or "gofer"
  // in both, for the few steps a mode cannot take (see its users).
  void RunInBoth(const std::string& script) {
    std::string env = std::string("export VEIL_FUSE_MODE=") +
                      (gofer() ? "gofer" : "tmpfs") + " && ";
    ShellResult host = Shell(env + "cd " + host_ + " && " + script);
    ShellResult mnt = Shell(env + "cd " + mnt_ + " && " + script);
    EXPECT_EQ(host.status, 0) << host.output;
    EXPECT_EQ(mnt.status, 0) << mnt.output;
    EXPECT_EQ(host.output, mnt.output);
  }

  enum class Times { kCompare, kIgnore };
  static void ExpectSameTrees(const std::string& a, const std::string& b,
                              Times times) {
    std::string listing = Listing(times == Times::kCompare);
    ShellResult la = Shell("cd " + a + " && " + listing);
    ShellResult lb = Shell("cd " + b + " && " + listing);
    ASSERT_EQ(la.status, 0) << la.output;
    ASSERT_EQ(lb.status, 0) << lb.output;
    EXPECT_EQ(la.output, lb.output) << a << " vs " << b;
    // diff reports any two special files as different; their types and
    // modes are in the listings above.
    ShellResult diff =
        Shell("diff -r --no-dereference " + a + " " + b +
              " | grep -Ev '^File .* is a (fifo|socket|character special "
              "file|block special file) while file .* is a '");
    EXPECT_EQ(diff.output, "");
  }
  void ExpectSameTree(Times times) {
    EXPECT_FALSE(Shell("ls -A " + host_).output.empty());
    ExpectSameTrees(host_, mnt_, times);
    // --gofer: and the host directory behind the mount holds it too.
    if (gofer()) ExpectSameTrees(host_, served_, times);
  }

  std::string base_, mnt_, host_, served_, outside_;
  pid_t pid_ = -1;
};

TEST_P(FuseMountTest, RootIsOwnedByCallerWithMode0755) {
  // --tmpfs makes its root so; with --gofer the root is DIR, which SetUp
  // made as root with mode 0755.
  struct stat st;
  ASSERT_EQ(stat(mnt_.c_str(), &st), 0);
  EXPECT_EQ(st.st_mode, S_IFDIR | 0755u);
  EXPECT_EQ(st.st_uid, getuid());
  EXPECT_EQ(st.st_gid, getgid());
  ShellResult mounts = Shell("grep ' " + mnt_ + " ' /proc/mounts");
  std::string type = gofer() ? " fuse.veil-gofer" : " fuse.veil-tmpfs";
  EXPECT_NE(mounts.output.find("veil " + mnt_ + type), std::string::npos)
      << mounts.output;
}

TEST_P(FuseMountTest, CopyArchiveMatchesHost) {
  std::string docs = DocDirs();
  ASSERT_FALSE(docs.empty()) << "no /usr/share/doc directories to copy";
  RunInBoth("cp -a" + docs + " .");
  ExpectSameTree(Times::kCompare);
  // Reading back through the mount gives the original bytes.
  for (const char* name : {"bash", "tar", "dpkg"}) {
    std::string src = std::string("/usr/share/doc/") + name;
    if (access(src.c_str(), F_OK) != 0) continue;
    ShellResult d = Shell("diff -r " + src + " " + mnt_ + "/" + name);
    EXPECT_EQ(d.status, 0) << d.output;
  }
}

TEST_P(FuseMountTest, TarRoundTripMatchesHost) {
  std::string docs = DocDirs();
  ASSERT_FALSE(docs.empty());
  RunInBoth("tar -C /usr/share/doc -cf - " +
            Shell("cd /usr/share/doc && ls -d" + docs +
                  " | sed 's,.*/,,' | tr '\\n' ' '")
                .output +
            " | tar -xpf - && tar -cf - . | tar -tvf - | "
            // The top directory's own mtime is the test's, not the tar's.
            "grep -v ' \\./$' | LC_ALL=C sort");
  ExpectSameTree(Times::kCompare);
}

TEST_P(FuseMountTest, InodeNumbersAreTheVfsOwn) {
  if (Shell("command -v python3").status != 0) GTEST_SKIP() << "no python3";
  // A whiteout (rename with RENAME_WHITEOUT) takes a VFS inode number the
  // kernel never looks up, so the next file's VFS inode number and its
  // FUSE node id differ. stat(2) (st_ino), getdents (d_ino) and `find
  // -ls` must all show the VFS's number.
  ShellResult r = Shell("cd " + mnt_ + R"( && python3 - <<'EOF'
import ctypes, os, stat, subprocess
libc = ctypes.CDLL(None, use_errno=True)
open('a', 'w').close()
assert libc.renameat2(-100, b'a', -100, b'b', 4) == 0, ctypes.get_errno()
st = os.lstat('a')
assert stat.S_ISCHR(st.st_mode) and st.st_rdev == 0, st
open('c', 'w').close()
os.mkdir('d')
os.link('c', 'd/c2')
for e in list(os.scandir('.')) + list(os.scandir('d')):
    assert e.inode() == os.lstat(e.path).st_ino, (e.path, e.inode())
ls = subprocess.run(['find', '.', '-ls'], capture_output=True, text=True,
                    check=True).stdout
for line in ls.splitlines():
    ino, name = int(line.split()[0]), line.split()[-1]
    assert ino == os.lstat(name).st_ino, line
assert os.lstat('c').st_ino == os.lstat('d/c2').st_ino
print('ok')
EOF
)");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "ok\n");
}

TEST_P(FuseMountTest, SyscallResultsMatchHost) {
  if (Shell("command -v python3").status != 0) GTEST_SKIP() << "no python3";
  // errnos and data for the calls the adapter maps one to one.
  RunInBoth(R"(python3 - <<'EOF'
import ctypes, errno, hashlib, mmap, os, random
libc = ctypes.CDLL(None, use_errno=True)
def e(f, *a, **k):
    try:
        r = f(*a, **k)
        return 'ok' if r is None else r
    except OSError as x:
        return errno.errorcode[x.errno]
def rn(a, b, flags):
    r = libc.renameat2(-100, a.encode(), -100, b.encode(), flags)
    return 'ok' if r == 0 else errno.errorcode[ctypes.get_errno()]
out = []
fd = os.open('f', os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
out.append(e(os.open, 'f', os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640))
os.write(fd, b'hello world')
os.ftruncate(fd, 5)
out.append(os.pread(fd, 100, 0))
m = mmap.mmap(fd, 5)
m[0:1] = b'J'
m.flush()
m.close()
out.append(os.pread(fd, 5, 0))
os.close(fd)
fd = os.open('f', os.O_WRONLY | os.O_APPEND)
os.lseek(fd, 0, os.SEEK_SET)
os.write(fd, b'!')
os.close(fd)
out.append(open('f', 'rb').read())
os.truncate('f', 3)
out.append(os.stat('f').st_size)
fd = os.open('f', os.O_WRONLY | os.O_TRUNC)
os.close(fd)
out.append(os.stat('f').st_size)
data = random.Random(1).randbytes(3000123)
with open('big', 'wb') as b:
    b.write(data)
with open('big', 'r+b') as b:
    b.seek(1000000)
    b.write(b'x' * 70000)
out.append(hashlib.sha256(open('big', 'rb').read()).hexdigest())
out.append(e(os.setxattr, 'f', 'user.a', b'1'))
out.append(e(os.setxattr, 'f', 'user.a', b'2', os.XATTR_CREATE))
out.append(e(os.setxattr, 'f', 'user.b', b'2', os.XATTR_REPLACE))
out.append(e(os.getxattr, 'f', 'user.a'))
out.append(e(os.getxattr, 'f', 'user.zz'))
out.append(sorted(os.listxattr('f')))
out.append(e(os.removexattr, 'f', 'user.a'))
out.append(e(os.removexattr, 'f', 'user.a'))
os.symlink('f', 'l')
out.append(e(os.setxattr, 'l', 'user.a', b'1', follow_symlinks=False))
out.append(e(os.open, 'l', os.O_RDONLY | os.O_NOFOLLOW))
open('g', 'w').write('g')
out += [rn('f', 'g', 1), rn('f', 'g', 2), open('g').read(), rn('f', 'no', 2)]
os.mkdir('d')
open('d/x', 'w').close()
out += [e(os.rmdir, 'd'), e(os.unlink, 'd'), e(os.mkdir, 'd'),
        e(os.rename, 'd', 'g'), e(os.rename, 'g', 'd'),
        e(os.rename, 'd', 'd/sub'), e(os.link, 'd', 'dl'),
        e(os.readlink, 'g'), e(os.open, 'd/x/y', os.O_RDONLY),
        e(os.mkdir, 'd/x/y'), e(os.unlink, 'd/'), e(os.rmdir, 'd/x')]
os.chmod('d', 0o2755)
os.mkdir('d/sub')
out.append(oct(os.stat('d/sub').st_mode))
os.utime('f', ns=(1000000001, 2000000002))
out.append((os.stat('f').st_atime_ns, os.stat('f').st_mtime_ns))
os.utime('l', ns=(3, 4), follow_symlinks=False)
out.append(os.lstat('l').st_mtime_ns)
os.mkfifo('p', 0o600)
out.append(oct(os.lstat('p').st_mode))
# The gofer refuses device nodes by policy (gofer/server/host_backend.h).
if os.environ['VEIL_FUSE_MODE'] != 'gofer':
    os.mknod('cdev', 0o600 | 0o020000, os.makedev(1, 3))
    out.append((oct(os.lstat('cdev').st_mode), os.lstat('cdev').st_rdev))
import socket
socket.socket(socket.AF_UNIX).bind('sock')
out.append(oct(os.lstat('sock').st_mode))
print(out)
EOF
)");
}

TEST_P(FuseMountTest, HardLinksShareOneInode) {
  std::string script =
      "mkdir d && echo data > d/f && ln d/f d/g && ln d/f h && "
      "stat -c '%h' d/f && "
      "test \"$(stat -c %i d/f)\" = \"$(stat -c %i d/g)\" && "
      "test \"$(stat -c %i d/f)\" = \"$(stat -c %i h)\" && "
      "echo more >> d/g && cat h && rm d/f && stat -c '%h' h && "
      // cp -a must see the links and keep them.
      "cp -a d e && test \"$(stat -c %i d/g)\" != \"$(stat -c %i e/g)\" && "
      "mkdir l && ln h l/1 && ln h l/2 && cp -a l m && "
      "test \"$(stat -c %i m/1)\" = \"$(stat -c %i m/2)\" && "
      "stat -c '%h' m/1";
  RunInBoth(script);
  ExpectSameTree(Times::kIgnore);
}

TEST_P(FuseMountTest, ChmodMoveLinkRemoveMatchHost) {
  std::string docs = DocDirs();
  ASSERT_FALSE(docs.empty());
  RunInBoth(
      "cp -a" + docs +
      " . && chmod -R go-rwx,u+rwX . && chmod -R a+rX bash && "
      "mkdir -p moved/deeper && mv tar moved/deeper/ && mv dpkg moved/pkg && "
      "ln -s moved/deeper/tar tarlink && ln -s ../nowhere dangling && "
      "ln -s tarlink chain && ls chain/ >/dev/null && "
      "mv moved/pkg moved/deeper/tar/ && rm -rf coreutils && "
      "mkdir -p x/y/z && touch x/y/z/f && chmod 0 x/y/z/f && "
      "chmod 1777 x && chmod 2750 x/y && rm -rf x/y/z && "
      "readlink tarlink dangling chain");
  ExpectSameTree(Times::kIgnore);
}

TEST_P(FuseMountTest, OtherUsersGetTheirOwnPermissions) {
  if (Shell("command -v setpriv").status != 0) GTEST_SKIP() << "no setpriv";
  // The VFS, not the kernel, checks permissions, with the caller's ids.
  ASSERT_EQ(Shell("cd " + mnt_ +
                  " && mkdir pub priv && chmod 1777 pub && chmod 0700 priv && "
                  "touch pub/rootfile")
                .status,
            0);
  std::string as_nobody =
      "setpriv --reuid=65534 --regid=65534 --clear-groups sh -c ";
  ShellResult r = Shell(as_nobody + "'cd " + mnt_ +
                        " && umask 027 && touch pub/mine && mkdir pub/dir && "
                        "stat -c \"%U %a\" pub/mine pub/dir && "
                        "if touch denied 2>/dev/null; then echo BAD1; fi && "
                        "if ls priv 2>/dev/null; then echo BAD2; fi && "
                        "if rm -f pub/rootfile 2>/dev/null; then echo BAD3; "
                        "fi && rm pub/mine && echo done'");
  EXPECT_EQ(r.status, 0) << r.output;
  EXPECT_EQ(r.output, "nobody 640\nnobody 750\ndone\n");
}

TEST_P(FuseMountTest, WriteByAnotherUserDropsSetuidAsOnHost) {
  // The kernel removes setuid/setgid before a non-owner's write with a
  // chmod sent as that writer; the adapter must let exactly that through
  // and still refuse a non-owner's chmod that the writer could not do.
  if (Shell("command -v setpriv").status != 0) GTEST_SKIP() << "no setpriv";
  RunInBoth(
      "echo a > f && chmod 6777 f && echo a > g && chmod 4755 g && "
      "echo a > h && chmod 2766 h && echo a > t && chmod 4777 t && "
      "setpriv --reuid=1000 --regid=1000 --clear-groups sh -c "
      "'echo b >> f; chmod u-s g 2>/dev/null || echo refused; "
      "echo c >> h; truncate -s 1 t' && stat -c '%n %a %s' f g h t");
}

INSTANTIATE_TEST_SUITE_P(Modes, FuseMountTest,
                         ::testing::Values(Mode::kTmpfs, Mode::kGofer,
                                           Mode::kGoferTinyCache),
                         [](const ::testing::TestParamInfo<Mode>& info) {
                           switch (info.param) {
                             case Mode::kTmpfs:
                               return "Tmpfs";
                             case Mode::kGofer:
                               return "Gofer";
                             case Mode::kGoferTinyCache:
                               return "GoferTinyCache";
                           }
                           return "Unknown";
                         });

}  // namespace
