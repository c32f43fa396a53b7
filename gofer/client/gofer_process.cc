// SPDX-License-Identifier: Apache-2.0
#include "gofer/client/gofer_process.h"

#include <fcntl.h>
#include <linux/close_range.h>
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <thread>
#include <vector>

namespace veil::gofer {

namespace {
// The descriptor number the gofer finds its socket at.
constexpr int kChildSocketFd = 3;
constexpr auto kDefaultGrace = std::chrono::seconds(2);

// Runs in the forked child of a possibly multi-threaded parent: only
// async-signal-safe calls, nothing allocated. Never returns.
[[noreturn]] void ExecChild(const char* path, char* const* argv,
                            char* const* envp, int socket, int report) {
  // Out of the way of descriptor 3 first (either may be 3 now).
  int sock = fcntl(socket, F_DUPFD_CLOEXEC, 10);
  int err = fcntl(report, F_DUPFD_CLOEXEC, 10);
  if (sock >= 0 && err >= 0 && dup2(sock, kChildSocketFd) == kChildSocketFd) {
    // Everything else we hold stays behind at exec (the gofer closes
    // strays itself too; this keeps them from even reaching it).
    syscall(SYS_close_range, kChildSocketFd + 1, ~0U, CLOSE_RANGE_CLOEXEC);
    sigset_t none;
    sigemptyset(&none);
    sigprocmask(SIG_SETMASK, &none, nullptr);
    execve(path, argv, envp);
  }
  int e = errno;
  if (err >= 0) (void)!write(err, &e, sizeof e);
  _exit(127);
}
// The gofer's environment: ours, except that in sanitized builds
// LeakSanitizer is off in it. Its check at exit stops the world with
// clone and ptrace, which the gofer's seccomp filter rightly kills; the
// gofer's code is leak-checked in-process by the server tests instead.
std::vector<std::string> GoferEnvironment() {
  std::vector<std::string> env;
  for (char** e = environ; *e != nullptr; ++e) env.emplace_back(*e);
#if defined(__SANITIZE_ADDRESS__)
  bool found = false;
  for (std::string& e : env) {
    if (e.rfind("ASAN_OPTIONS=", 0) == 0) {
      e += ":detect_leaks=0";
      found = true;
    }
  }
  if (!found) env.emplace_back("ASAN_OPTIONS=detect_leaks=0");
#endif
  return env;
}

}  // namespace

GoferProcess::GoferProcess(pid_t pid, UniqueFd socket)
    : pid_(pid), parent_(getpid()), socket_(std::move(socket)) {}

GoferProcess::GoferProcess(GoferProcess&& other) noexcept
    : pid_(std::exchange(other.pid_, -1)),
      parent_(other.parent_),
      socket_(std::move(other.socket_)) {}

GoferProcess& GoferProcess::operator=(GoferProcess&& other) noexcept {
  if (this != &other) {
    (void)Stop(kDefaultGrace);
    pid_ = std::exchange(other.pid_, -1);
    parent_ = other.parent_;
    socket_ = std::move(other.socket_);
  }
  return *this;
}

GoferProcess::~GoferProcess() {
  // A socket never handed out is a client that will never come: closing
  // it lets the gofer see the hang-up and exit by itself.
  socket_.reset();
  (void)Stop(kDefaultGrace);
}

Result<GoferProcess> GoferProcess::Start(const std::string& veil_binary,
                                         const std::string& dir,
                                         GoferAccess access,
                                         size_t max_node_fds,
                                         GoferClient client,
                                         GoferDonation donation) {
  int pair[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Errno::FromErrno();
  UniqueFd ours(pair[0]), theirs(pair[1]);
  int report_pipe[2];
  if (pipe2(report_pipe, O_CLOEXEC) != 0) return Errno::FromErrno();
  UniqueFd report_read(report_pipe[0]), report_write(report_pipe[1]);

  // Everything the child needs, built before fork.
  std::vector<std::string> args = {
      "veil", "gofer", "--root", dir, "--fd", std::to_string(kChildSocketFd)};
  if (access == GoferAccess::kReadOnly) args.push_back("--ro");
  if (client == GoferClient::kHostUsers) {
    for (const char* arg : {"--allow-suid", "--ids", "0:4294967296"}) {
      args.push_back(arg);
    }
  }
  if (donation == GoferDonation::kWritableToo)
    args.push_back("--donate-writable");
  if (max_node_fds != 0) {
    args.push_back("--max-node-fds");
    args.push_back(std::to_string(max_node_fds));
  }
  std::vector<char*> argv;
  for (std::string& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  std::vector<std::string> env = GoferEnvironment();
  std::vector<char*> envp;
  for (std::string& e : env) envp.push_back(e.data());
  envp.push_back(nullptr);

  pid_t pid = fork();
  if (pid < 0) return Errno::FromErrno();
  if (pid == 0) {
    ExecChild(veil_binary.c_str(), argv.data(), envp.data(), theirs.get(),
              report_write.get());
  }
  theirs.reset();
  report_write.reset();
  // exec closes the pipe's write end: EOF means the gofer is running; an
  // int means exec (or the setup before it) failed with that errno.
  int child_errno = 0;
  ssize_t n;
  do {
    n = read(report_read.get(), &child_errno, sizeof child_errno);
  } while (n < 0 && errno == EINTR);
  if (n > 0) {
    int status;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR) {
    }
    return Errno(child_errno != 0 ? child_errno : EIO,
                 "gofer: cannot execute the veil binary");
  }
  return GoferProcess(pid, std::move(ours));
}

Result<int> GoferProcess::Stop(std::chrono::milliseconds grace) {
  if (pid_ <= 0 || getpid() != parent_) return Errno(ECHILD);
  const pid_t pid = std::exchange(pid_, -1);
  const auto deadline = std::chrono::steady_clock::now() + grace;
  // The child's exit makes its pidfd readable: waited for in poll, not
  // by sleeping between checks (a gofer usually exits just after its
  // client hung up, and a 5 ms nap was most of a short `veil do`'s exit).
  // Without pidfd_open (Linux < 5.3), a check every millisecond.
  UniqueFd pidfd(static_cast<int>(syscall(SYS_pidfd_open, pid, 0)));
  int status = 0;
  for (;;) {
    pid_t r = waitpid(pid, &status, WNOHANG);
    if (r == pid) return status;
    if (r < 0 && errno != EINTR) return Errno::FromErrno();
    const auto now = std::chrono::steady_clock::now();
    if (now >= deadline) break;
    if (pidfd) {
      const auto left =
          std::chrono::ceil<std::chrono::milliseconds>(deadline - now);
      pollfd p{pidfd.get(), POLLIN, 0};
      (void)poll(&p, 1, static_cast<int>(left.count()));
    } else {
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
  kill(pid, SIGKILL);
  while (waitpid(pid, &status, 0) < 0) {
    if (errno != EINTR) return Errno::FromErrno();
  }
  return status;
}

}  // namespace veil::gofer
