// SPDX-License-Identifier: Apache-2.0
//
// A running sandbox seen from outside (#14): `veil do --name` registers it
// in a runtime directory, `veil ps` lists it with its sentry's figures,
// `veil fuse SANDBOX MNT` mounts its live view (what its tasks write shows
// at once; read-only unless --rw, and with --rw the sandbox sees what is
// written), a name in use is refused, a dead sandbox's leftovers are
// reported once and cleaned, and nobody but root and the owner reaches
// the control socket: not through the file's permissions, and not
// through veil's SO_PEERCRED check when the permissions are opened up.
//
// Needs root (the gofer), /dev/fuse and a kernel that lets us mount;
// skips otherwise.
#include <fcntl.h>
#include <grp.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <thread>
#include <vector>

#include "tests/integration/shell_util.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace {

using veil::integration::IsFuseMount;
using veil::integration::Quote;
using veil::integration::ReadFile;
using veil::integration::Shell;
using veil::integration::StartVeilFuse;
using veil::integration::VeilFuse;

constexpr auto kTimeout = std::chrono::seconds(20);
constexpr uid_t kNobody = 65534;

// The sandbox's loop: a log that grows, and /tmp/in copied to /tmp/out
// whenever it is there (what a --rw view writes, seen by a task).
constexpr char kLoop[] =
    "while :; do date >>/tmp/log; "
    "[ -f /tmp/in ] && cat /tmp/in >/tmp/out; sleep 0.1; done";

size_t Lines(const std::string& s) {
  size_t n = 0;
  for (char c : s) n += c == '\n';
  return n;
}

class LiveSandboxTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "needs root (the gofer)";
    char tmpl[] = "/tmp/veil-live.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr) << strerror(errno);
    base_ = tmpl;
    // Others must reach the base to be refused by what is inside it.
    ASSERT_EQ(chmod(base_.c_str(), 0755), 0);
    root_ = base_ + "/run";
    mnt_ = base_ + "/mnt";
    ASSERT_EQ(mkdir(mnt_.c_str(), 0755), 0);
  }

  void TearDown() override {
    if (fuse_pid_ > 0) {
      kill(fuse_pid_, SIGTERM);
      waitpid(fuse_pid_, nullptr, 0);
    }
    if (do_pid_ > 0) {
      kill(do_pid_, SIGKILL);
      waitpid(do_pid_, nullptr, 0);
    }
    if (!base_.empty()) {
      if (IsFuseMount(mnt_)) Shell("fusermount3 -u " + Quote(mnt_));
      std::error_code ec;
      std::filesystem::remove_all(base_, ec);
    }
  }

  std::string Veil(const std::string& args) {
    return std::string(VEIL_BINARY) + " " + args;
  }

  // Starts `veil do --root ROOT --name NAME -- sh -c SCRIPT` and waits
  // until it is registered with its sentry's pid.
  void StartSandbox(const std::string& name, const char* script = kLoop) {
    const std::string log = base_ + "/do.log";
    const pid_t parent = getpid();
    do_pid_ = fork();
    ASSERT_GE(do_pid_, 0);
    if (do_pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl(VEIL_BINARY, "veil", "do", "--root", root_.c_str(), "--name",
            name.c_str(), "--", "/bin/sh", "-c", script, nullptr);
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + kTimeout;
    for (;;) {
      const std::string state = ReadFile(root_ + "/" + name + "/state");
      if (state.find("sentry_pid ") != std::string::npos &&
          state.find("sentry_pid 0\n") == std::string::npos)
        break;
      int status;
      ASSERT_EQ(waitpid(do_pid_, &status, WNOHANG), 0)
          << "veil do ended: " << ReadFile(log);
      ASSERT_LT(std::chrono::steady_clock::now(), deadline)
          << "sandbox " << name << " not registered: " << ReadFile(log);
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Mounts `veil fuse [--rw] --root ROOT NAME MNT`; false (with the test
  // skipped) where FUSE cannot mount here.
  bool Mount(const std::string& name, bool rw) {
    std::vector<std::string> args;
    if (rw) args.push_back("--rw");
    args.insert(args.end(), {"--root", root_, name});
    const std::string log = base_ + "/fuse.log";
    VeilFuse child = StartVeilFuse(VEIL_BINARY, args, mnt_, log, kTimeout);
    fuse_pid_ = child.pid;
    if (child.cannot_mount() &&
        ReadFile(log).find("sandbox") == std::string::npos) {
      return false;
    }
    EXPECT_FALSE(child.exited) << ReadFile(log);
    EXPECT_FALSE(child.timed_out) << ReadFile(log);
    return !child.exited && !child.timed_out;
  }

  void Unmount() {
    ASSERT_EQ(Shell("fusermount3 -u " + Quote(mnt_)).status, 0);
    int status = 0;
    ASSERT_EQ(waitpid(fuse_pid_, &status, 0), fuse_pid_);
    fuse_pid_ = -1;
    EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
  }

  std::string base_, root_, mnt_;
  pid_t do_pid_ = -1;
  pid_t fuse_pid_ = -1;
};

TEST_F(LiveSandboxTest, PsListsTheRunningSandbox) {
  StartSandbox("t1");
  auto json = Shell(Veil("ps --root " + Quote(root_) + " --format json"));
  ASSERT_EQ(json.status, 0) << json.output;
  EXPECT_NE(json.output.find("\"name\": \"t1\", \"state\": \"running\""),
            std::string::npos)
      << json.output;
  EXPECT_NE(json.output.find("\"command\": [\"/bin/sh\", \"-c\""),
            std::string::npos)
      << json.output;
  for (const char* key : {"\"tasks\": ", "\"open_fds\": ", "\"processes\": ",
                          "\"sentry_host_fds\": ", "\"sentry_rss_bytes\": "})
    EXPECT_NE(json.output.find(key), std::string::npos) << key << json.output;
  auto table = Shell(Veil("ps --root " + Quote(root_)));
  ASSERT_EQ(table.status, 0) << table.output;
  EXPECT_NE(table.output.find("t1 "), std::string::npos) << table.output;
  EXPECT_NE(table.output.find("running"), std::string::npos) << table.output;

  // A second sandbox may not take the name.
  auto again = Shell(Veil("do --root " + Quote(root_) +
                          " --name t1 -- /bin/busybox true"));
  EXPECT_EQ(again.status, 125) << again.output;
  EXPECT_NE(again.output.find("a running sandbox has that name"),
            std::string::npos)
      << again.output;
  // Nor may delete remove it while it runs.
  auto del = Shell(Veil("delete --root " + Quote(root_) + " t1"));
  EXPECT_EQ(del.status, 1) << del.output;
  EXPECT_NE(del.output.find("it is running"), std::string::npos) << del.output;
}

TEST_F(LiveSandboxTest, TheStateGoesWithTheSandbox) {
  auto ran = Shell(Veil("do --root " + Quote(root_) +
                        " --name once --verbose -- /bin/busybox true"));
  ASSERT_EQ(ran.status, 0) << ran.output;
  EXPECT_NE(ran.output.find("veil do: sandbox once"), std::string::npos)
      << ran.output;
  EXPECT_FALSE(std::filesystem::exists(root_ + "/once"));
  // A default name is 8 hex digits, printed with --verbose.
  auto unnamed = Shell(Veil("do --root " + Quote(root_) +
                            " --verbose -- /bin/busybox true"));
  ASSERT_EQ(unnamed.status, 0) << unnamed.output;
  EXPECT_NE(unnamed.output.find("veil do: sandbox "), std::string::npos);
  auto bad = Shell(Veil("do --root " + Quote(root_) +
                        " --name ../x -- /bin/busybox true"));
  EXPECT_EQ(bad.status, 2) << bad.output;
}

TEST_F(LiveSandboxTest, ADeadSandboxIsReportedOnceAndCleaned) {
  // What a veil killed with SIGKILL leaves: its state, naming a process
  // that is gone.
  ASSERT_EQ(mkdir(root_.c_str(), 0711), 0);
  ASSERT_EQ(mkdir((root_ + "/gone").c_str(), 0700), 0);
  std::ofstream(root_ + "/gone/state")
      << "veil-sandbox 1\nname gone\nveil_pid 999999\nveil_start 1\n"
         "sentry_pid 999998\nowner 0\ncreated 1\nrootfs /\narg true\n";
  auto ps = Shell(Veil("ps --root " + Quote(root_)));
  ASSERT_EQ(ps.status, 0) << ps.output;
  EXPECT_NE(ps.output.find("gone"), std::string::npos) << ps.output;
  EXPECT_NE(ps.output.find("stopped"), std::string::npos) << ps.output;
  EXPECT_FALSE(std::filesystem::exists(root_ + "/gone"));
  auto again = Shell(Veil("ps --root " + Quote(root_)));
  EXPECT_EQ(again.output.find("gone"), std::string::npos) << again.output;

  // veil delete cleans one too, and says so for a name it does not know.
  ASSERT_EQ(mkdir((root_ + "/gone2").c_str(), 0700), 0);
  EXPECT_EQ(Shell(Veil("delete --root " + Quote(root_) + " gone2")).status, 0);
  EXPECT_FALSE(std::filesystem::exists(root_ + "/gone2"));
  auto missing = Shell(Veil("delete --root " + Quote(root_) + " gone2"));
  EXPECT_EQ(missing.status, 1);
  EXPECT_NE(missing.output.find("no such sandbox"), std::string::npos);
}

TEST_F(LiveSandboxTest, TheViewShowsWhatTasksDoAndIsReadOnly) {
  if (access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "/dev/fuse is not usable: " << strerror(errno);
  StartSandbox("t1");
  if (!Mount("t1", /*rw=*/false)) GTEST_SKIP() << "FUSE cannot mount here";
  const std::string log = mnt_ + "/tmp/log";
  // The log grows while the view is mounted.
  size_t first = 0;
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while ((first = Lines(ReadFile(log))) == 0)
    ASSERT_LT(std::chrono::steady_clock::now(), deadline) << "no /tmp/log";
  std::this_thread::sleep_for(std::chrono::milliseconds(600));
  EXPECT_GT(Lines(ReadFile(log)), first);
  // The sandbox's own /proc: its first process's command line.
  const std::string cmdline = ReadFile(mnt_ + "/proc/1/cmdline");
  EXPECT_EQ(cmdline, std::string("/bin/sh\0-c\0", 11) + kLoop +
                         std::string(1, '\0'));
  // Read-only: nothing is written.
  errno = 0;
  EXPECT_LT(open((mnt_ + "/tmp/new").c_str(), O_WRONLY | O_CREAT, 0644), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_LT(open(log.c_str(), O_WRONLY | O_APPEND), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(mkdir((mnt_ + "/tmp/d").c_str(), 0755), 0);
  EXPECT_EQ(errno, EROFS);
  EXPECT_NE(unlink(log.c_str()), 0);
  EXPECT_EQ(errno, EROFS);
  Unmount();
}

TEST_F(LiveSandboxTest, AWritableViewReachesTheSandbox) {
  if (access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "/dev/fuse is not usable: " << strerror(errno);
  StartSandbox("t1");
  if (!Mount("t1", /*rw=*/true)) GTEST_SKIP() << "FUSE cannot mount here";
  { std::ofstream(mnt_ + "/tmp/in") << "from the host\n"; }
  // A task of the sandbox copies it: what the view wrote is the sandbox's.
  const auto deadline = std::chrono::steady_clock::now() + kTimeout;
  while (ReadFile(mnt_ + "/tmp/out") != "from the host\n") {
    ASSERT_LT(std::chrono::steady_clock::now(), deadline)
        << "the sandbox never saw /tmp/in";
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  Unmount();
}

// Runs `fn` in a child as uid/gid 65534 and returns what it returned.
template <typename Fn>
std::string AsNobody(Fn fn) {
  int p[2];
  if (pipe(p) != 0) return "pipe";
  pid_t pid = fork();
  if (pid == 0) {
    close(p[0]);
    if (setgroups(0, nullptr) != 0 || setgid(kNobody) != 0 ||
        setuid(kNobody) != 0)
      _exit(100);
    const std::string out = fn();
    (void)!write(p[1], out.data(), out.size());
    _exit(0);
  }
  close(p[1]);
  std::string out;
  char buf[512];
  ssize_t n;
  while ((n = read(p[0], buf, sizeof buf)) > 0) out.append(buf, n);
  close(p[0]);
  waitpid(pid, nullptr, 0);
  return out;
}

// Connects to `path` and returns the reply to `request`, or
// "connect: ERRNO".
std::string AskRaw(const std::string& path,
                   const std::string& request = "veil-control/1 STATUS") {
  int fd = socket(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0);
  struct sockaddr_un addr = {};
  addr.sun_family = AF_UNIX;
  std::strncpy(addr.sun_path, path.c_str(), sizeof(addr.sun_path) - 1);
  if (connect(fd, reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0) {
    std::string e = "connect: " + std::to_string(errno);
    close(fd);
    return e;
  }
  (void)send(fd, request.data(), request.size(), MSG_NOSIGNAL);
  char buf[512];
  ssize_t n = recv(fd, buf, sizeof buf, 0);
  close(fd);
  return n > 0 ? std::string(buf, static_cast<size_t>(n)) : "closed";
}

TEST_F(LiveSandboxTest, OnlyRootAndTheOwnerReachTheSandbox) {
  StartSandbox("t1");
  const std::string socket_path = root_ + "/t1/control";
  EXPECT_NE(AskRaw(socket_path).find("veil-control/1 OK\ntasks "),
            std::string::npos);
  // Another user: the directory's permissions keep it out.
  EXPECT_EQ(AsNobody([&] { return AskRaw(socket_path); }),
            "connect: " + std::to_string(EACCES));
  auto snap = Shell("setpriv --reuid=65534 --regid=65534 --clear-groups " +
                    Veil("snapshot --root " + Quote(root_) +
                         " t1 /tmp/veil-live-nobody.img"));
  EXPECT_EQ(snap.status, 1) << snap.output;
  EXPECT_NE(snap.output.find("permission denied"), std::string::npos)
      << snap.output;
  auto fuse = Shell("setpriv --reuid=65534 --regid=65534 --clear-groups " +
                    Veil("fuse --root " + Quote(root_) + " t1 " + Quote(mnt_)));
  EXPECT_EQ(fuse.status, 1) << fuse.output;
  EXPECT_NE(fuse.output.find("permission denied"), std::string::npos)
      << fuse.output;
  EXPECT_FALSE(IsFuseMount(mnt_));
  // With the permissions opened up, veil's SO_PEERCRED check refuses it.
  ASSERT_EQ(chmod((root_ + "/t1").c_str(), 0755), 0);
  ASSERT_EQ(chmod(socket_path.c_str(), 0666), 0);
  const std::string refused = AsNobody([&] { return AskRaw(socket_path); });
  EXPECT_EQ(refused.rfind("veil-control/1 ERR 13 ", 0), 0u) << refused;
  // A request of another version, or an unknown one, is refused, not
  // misread.
  EXPECT_EQ(AskRaw(socket_path, "veil-control/2 STATUS")
                .rfind("veil-control/1 ERR 93 ", 0),
            0u);
  EXPECT_EQ(AskRaw(socket_path, "veil-control/1 VIEW ../x")
                .rfind("veil-control/1 ERR 22 ", 0),
            0u);
}

// 400 files, each written under a temporary name and renamed: a
// consistent state has each final name whole or absent.
constexpr char kWriter[] =
    "mkdir -p /root/data; i=0; while [ $i -lt 400 ]; do "
    "echo \"file $i\" >/root/data/f$i.tmp && mv /root/data/f$i.tmp "
    "/root/data/f$i; i=$((i+1)); sleep 0.005; done; sleep 30";

// Inside a restored sandbox: each final file whole, and how many.
constexpr char kChecker[] =
    "n=0; for f in /root/data/f*; do case $f in *.tmp) continue;; esac; "
    "k=${f##*/f}; [ \"$(cat $f)\" = \"file $k\" ] || echo BAD $f; "
    "n=$((n+1)); done; echo files $n";

TEST_F(LiveSandboxTest, ASnapshotWhileItRunsIsOneStateAndRestores) {
  StartSandbox("w1", kWriter);
  std::this_thread::sleep_for(std::chrono::milliseconds(700));
  std::vector<std::string> seen;
  for (int k = 0; k < 3; ++k) {
    const std::string img = base_ + "/w" + std::to_string(k) + ".img";
    auto snap = Shell(Veil("snapshot --root " + Quote(root_) + " w1 " +
                           Quote(img)));
    ASSERT_EQ(snap.status, 0) << snap.output << "\nthe sandbox's log:\n"
                              << ReadFile(base_ + "/do.log");
    EXPECT_NE(snap.output.find("while it ran"), std::string::npos);
    auto restored = Shell(Veil("do --restore " + Quote(img) +
                               " -- /bin/sh -c " + Quote(kChecker)));
    ASSERT_EQ(restored.status, 0) << restored.output;
    EXPECT_EQ(restored.output.find("BAD"), std::string::npos)
        << restored.output;
    seen.push_back(restored.output);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
  }
  // The writer went on meanwhile (its tasks were thawed each time).
  EXPECT_NE(seen.front(), seen.back());
  // A name no sandbox has.
  auto none = Shell(Veil("snapshot --root " + Quote(root_) + " nosuch " +
                         Quote(base_ + "/x.img")));
  EXPECT_EQ(none.status, 1) << none.output;
  EXPECT_NE(none.output.find("no such sandbox"), std::string::npos);
  EXPECT_FALSE(std::filesystem::exists(base_ + "/x.img"));
}

TEST_F(LiveSandboxTest, ASqliteDatabaseSnapshotsWhileWritten) {
  if (access("/usr/bin/sqlite3", X_OK) != 0) GTEST_SKIP() << "no sqlite3";
  StartSandbox("db1",
               "sqlite3 /root/db 'create table t(a, b)'; i=0; "
               "while [ $i -lt 2000 ]; do sqlite3 /root/db "
               "\"insert into t values($i, randomblob(3000))\"; "
               "i=$((i+1)); done; sleep 30");
  std::this_thread::sleep_for(std::chrono::milliseconds(800));
  const std::string img = base_ + "/db.img";
  auto snap =
      Shell(Veil("snapshot --root " + Quote(root_) + " db1 " + Quote(img)));
  ASSERT_EQ(snap.status, 0) << snap.output;
  auto check = Shell(Veil("do --restore " + Quote(img) +
                          " -- sqlite3 /root/db 'pragma integrity_check; "
                          "select count(*) > 0 from t'"));
  EXPECT_EQ(check.status, 0) << check.output;
  EXPECT_EQ(check.output, "ok\n1\n");
}

TEST_F(LiveSandboxTest, SnapshotOutSavesWhatTheSandboxChanged) {
  const std::string img = base_ + "/out.img";
  auto first = Shell(Veil("do --snapshot-out " + Quote(img) +
                          " -- /bin/sh -c 'echo one >/root/x; mkdir /etc/new'"));
  ASSERT_EQ(first.status, 0) << first.output;
  // Restored, changed again and saved over itself.
  auto second = Shell(Veil("do --restore " + Quote(img) + " --snapshot-out " +
                           Quote(img) +
                           " -- /bin/sh -c 'cat /root/x; test -d /etc/new && "
                           "echo two >>/root/x'"));
  ASSERT_EQ(second.status, 0) << second.output;
  EXPECT_EQ(second.output, "one\n");
  auto third = Shell(Veil("do --restore " + Quote(img) + " -- cat /root/x"));
  EXPECT_EQ(third.output, "one\ntwo\n");
  // A damaged image is refused and nothing runs.
  { std::ofstream(base_ + "/bad.img") << "not an image"; }
  auto bad = Shell(Veil("do --restore " + Quote(base_ + "/bad.img") +
                        " -- /bin/echo ran"));
  EXPECT_EQ(bad.status, 125) << bad.output;
  EXPECT_EQ(bad.output.find("ran"), std::string::npos);
  // Nothing is left but the image.
  int files = 0;
  for (const auto& e : std::filesystem::directory_iterator(base_))
    files += e.path().string().find(".partial.") != std::string::npos;
  EXPECT_EQ(files, 0);
}

}  // namespace
