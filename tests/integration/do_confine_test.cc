// SPDX-License-Identifier: Apache-2.0
//
// The sentry confines itself (issue #12 item 7), seen from the host while
// `veil do` runs a command that waits on its stdin: the sentry process is
// in user, mount, pid and net namespaces of its own, its root is empty,
// it has no_new_privs and a seccomp filter, it cannot reach a listener on
// the host's loopback; the tasks' root holds the exec stub and nothing
// else, read-only. The command still sees the sandbox's files.
#include <arpa/inet.h>
#include <dirent.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <gtest/gtest.h>

#include "tests/integration/shell_util.h"

namespace {

using veil::integration::Shell;

std::string ReadFile(const std::string& path) {
  std::ifstream in(path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

std::vector<pid_t> ChildrenOf(pid_t pid) {
  std::vector<pid_t> out;
  const std::string dir = "/proc/" + std::to_string(pid) + "/task";
  DIR* d = opendir(dir.c_str());
  if (d == nullptr) return out;
  while (dirent* e = readdir(d)) {
    if (e->d_name[0] == '.') continue;
    std::istringstream in(ReadFile(dir + "/" + e->d_name + "/children"));
    pid_t child;
    while (in >> child) out.push_back(child);
  }
  closedir(d);
  return out;
}

// Names in a directory, "." and ".." left out.
std::set<std::string> Names(const std::string& path) {
  std::set<std::string> out;
  DIR* d = opendir(path.c_str());
  if (d == nullptr) return {"<" + std::string(strerror(errno)) + ">"};
  while (dirent* e = readdir(d)) {
    const std::string name = e->d_name;
    if (name != "." && name != "..") out.insert(name);
  }
  closedir(d);
  return out;
}

std::string Namespace(pid_t pid, const char* kind) {
  char buf[128];
  const std::string link =
      (pid == 0 ? std::string("/proc/self") : "/proc/" + std::to_string(pid)) +
      "/ns/" + kind;
  const ssize_t n = readlink(link.c_str(), buf, sizeof buf - 1);
  return n < 0 ? std::string("?") : std::string(buf, static_cast<size_t>(n));
}

std::string StatusField(pid_t pid, const std::string& field) {
  std::istringstream in(ReadFile("/proc/" + std::to_string(pid) + "/status"));
  std::string line;
  while (std::getline(in, line)) {
    if (line.rfind(field + ":", 0) == 0) {
      std::string v = line.substr(field.size() + 1);
      v.erase(0, v.find_first_not_of(" \t"));
      return v;
    }
  }
  return "";
}

// connect() to 127.0.0.1:port from the net namespace of `pid` (0: ours),
// in a child process (setns is per-thread): 0, or the errno.
int ConnectFrom(pid_t pid, uint16_t port) {
  const pid_t child = fork();
  if (child == 0) {
    if (pid != 0) {
      const std::string ns = "/proc/" + std::to_string(pid) + "/ns/net";
      const int fd = open(ns.c_str(), O_RDONLY | O_CLOEXEC);
      if (fd < 0 || setns(fd, CLONE_NEWNET) != 0) _exit(200);
    }
    const int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (s < 0) _exit(201);
    sockaddr_in addr{};
    addr.sin_family = AF_INET;
    addr.sin_port = htons(port);
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (connect(s, reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0)
      _exit(0);
    _exit(errno);
  }
  int status = 0;
  waitpid(child, &status, 0);
  return WIFEXITED(status) ? WEXITSTATUS(status) : 255;
}

class DoConfineTest : public ::testing::Test {
 protected:
  void SetUp() override {
    if (geteuid() != 0) GTEST_SKIP() << "veil do needs root (the gofer)";
    if (access("/bin/busybox", X_OK) != 0)
      GTEST_SKIP() << "needs busybox-static (/bin/busybox)";
    char tmpl[] = "/tmp/veil-confine-test.XXXXXX";
    ASSERT_NE(mkdtemp(tmpl), nullptr);
    dir_ = tmpl;
    ASSERT_EQ(Shell("mkdir -p " + dir_ + "/root/bin " + dir_ +
                    "/root/data && cp /bin/busybox " + dir_ +
                    "/root/bin/ && echo sandbox-file > " + dir_ +
                    "/root/data/f")
                  .status,
              0);
  }
  void TearDown() override {
    if (veil_ > 0) {
      kill(veil_, SIGKILL);
      waitpid(veil_, nullptr, 0);
    }
    if (!dir_.empty()) (void)Shell("rm -rf " + dir_);
  }

  // Starts `veil do --rootfs ROOT -- busybox sh -c SCRIPT` with pipes on
  // its stdin and stdout, and `env` added to veil's environment.
  void Start(const std::string& script, const char* env = nullptr) {
    int in[2], out[2];
    ASSERT_EQ(pipe2(in, O_CLOEXEC), 0);
    ASSERT_EQ(pipe2(out, O_CLOEXEC), 0);
    const std::string root = dir_ + "/root";
    veil_ = fork();
    ASSERT_GE(veil_, 0);
    if (veil_ == 0) {
      dup2(in[0], 0);
      dup2(out[1], 1);
      if (env != nullptr) putenv(const_cast<char*>(env));
      execl(VEIL_BINARY, VEIL_BINARY, "do", "--rootfs", root.c_str(), "--",
            "/bin/busybox", "sh", "-c", script.c_str(), nullptr);
      _exit(99);
    }
    close(in[0]);
    close(out[1]);
    to_ = in[1];
    from_ = out[0];
  }
  // One line of the command's stdout (blocking: the command writes it).
  std::string ReadLine() {
    std::string line;
    char c;
    while (read(from_, &c, 1) == 1 && c != '\n') line += c;
    return line;
  }
  int Finish() {
    close(to_);
    close(from_);
    int status = 0;
    waitpid(veil_, &status, 0);
    veil_ = -1;
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  }
  // The sentry: veil's child in a pid namespace other than ours (the
  // other children are gofers).
  pid_t Sentry() {
    for (pid_t child : ChildrenOf(veil_)) {
      if (Namespace(child, "pid") != Namespace(0, "pid")) return child;
    }
    return -1;
  }

  std::string dir_;
  pid_t veil_ = -1;
  int to_ = -1;
  int from_ = -1;
};

// The command tells it is running (the sentry serves it by then), then
// waits for a line: everything is looked at while it waits.
constexpr const char kWaitingScript[] =
    "busybox cat /data/f; read line; echo got $line";

TEST_F(DoConfineTest, SentryIsInNamespacesOfItsOwnWithAnEmptyRoot) {
  Start(kWaitingScript);
  ASSERT_EQ(ReadLine(), "sandbox-file");
  const pid_t sentry = Sentry();
  ASSERT_GT(sentry, 0);
  for (const char* kind : {"user", "mnt", "pid", "net"}) {
    EXPECT_NE(Namespace(sentry, kind), Namespace(0, kind)) << kind;
  }
  EXPECT_EQ(Names("/proc/" + std::to_string(sentry) + "/root"),
            std::set<std::string>{});
  EXPECT_EQ(StatusField(sentry, "NoNewPrivs"), "1");
  EXPECT_EQ(StatusField(sentry, "Seccomp"), "2");
  // Root inside, our uid outside, one id.
  std::istringstream map(
      ReadFile("/proc/" + std::to_string(sentry) + "/uid_map"));
  uint64_t inside = 1, outside = 1, count = 0;
  map >> inside >> outside >> count;
  EXPECT_EQ(inside, 0u);
  EXPECT_EQ(outside, geteuid());
  EXPECT_EQ(count, 1u);
  ASSERT_EQ(write(to_, "x\n", 2), 2);
  EXPECT_EQ(ReadLine(), "got x");
  EXPECT_EQ(Finish(), 0);
}

TEST_F(DoConfineTest, TasksRootHoldsOnlyTheStubReadOnly) {
  Start(kWaitingScript);
  ASSERT_EQ(ReadLine(), "sandbox-file");
  const pid_t sentry = Sentry();
  ASSERT_GT(sentry, 0);
  const std::vector<pid_t> tasks = ChildrenOf(sentry);
  ASSERT_FALSE(tasks.empty());
  const std::string task = "/proc/" + std::to_string(tasks.front());
  EXPECT_EQ(Names(task + "/root"), std::set<std::string>{"veil-exec-stub"});
  // One mount: the read-only tmpfs (no /proc, no host mount).
  const std::string mounts = ReadFile(task + "/mountinfo");
  EXPECT_EQ(std::count(mounts.begin(), mounts.end(), '\n'), 1) << mounts;
  EXPECT_NE(mounts.find(" / / ro,"), std::string::npos) << mounts;
  EXPECT_NE(mounts.find(" - tmpfs "), std::string::npos) << mounts;
  EXPECT_NE(Namespace(tasks.front(), "mnt"), Namespace(sentry, "mnt"));
  ASSERT_EQ(write(to_, "y\n", 2), 2);
  EXPECT_EQ(ReadLine(), "got y");
  EXPECT_EQ(Finish(), 0);
}

TEST_F(DoConfineTest, SentryCannotReachTheHostsLoopback) {
  const int listener = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
  ASSERT_GE(listener, 0);
  sockaddr_in addr{};
  addr.sin_family = AF_INET;
  addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  ASSERT_EQ(bind(listener, reinterpret_cast<sockaddr*>(&addr), sizeof addr),
            0);
  ASSERT_EQ(listen(listener, 4), 0);
  socklen_t len = sizeof addr;
  ASSERT_EQ(getsockname(listener, reinterpret_cast<sockaddr*>(&addr), &len),
            0);
  const uint16_t port = ntohs(addr.sin_port);
  // The control: from our namespace the listener answers.
  ASSERT_EQ(ConnectFrom(0, port), 0);
  Start(kWaitingScript);
  ASSERT_EQ(ReadLine(), "sandbox-file");
  const pid_t sentry = Sentry();
  ASSERT_GT(sentry, 0);
  // A namespace of its own: its loopback is up, and no one listens there.
  EXPECT_EQ(ConnectFrom(sentry, port), ECONNREFUSED);
  ASSERT_EQ(write(to_, "z\n", 2), 2);
  EXPECT_EQ(ReadLine(), "got z");
  EXPECT_EQ(Finish(), 0);
  close(listener);
}

TEST_F(DoConfineTest, UnconfinedIsTheDebuggingEscapeHatch) {
  Start(kWaitingScript, "VEIL_UNCONFINED=1");
  ASSERT_EQ(ReadLine(), "sandbox-file");
  // veil serves the sandbox itself, in our namespaces, unfiltered.
  for (const char* kind : {"user", "mnt", "net"}) {
    EXPECT_EQ(Namespace(veil_, kind), Namespace(0, kind)) << kind;
  }
  EXPECT_EQ(StatusField(veil_, "Seccomp"), "0");
  ASSERT_EQ(write(to_, "w\n", 2), 2);
  EXPECT_EQ(ReadLine(), "got w");
  EXPECT_EQ(Finish(), 0);
}

}  // namespace
