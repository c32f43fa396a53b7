// SPDX-License-Identifier: Apache-2.0
//
// Test harness for the gofer: scratch directories and a real gofer process
// (RunGoferServer in a forked child, confined unless asked otherwise)
// serving one of them to a lisafs::Client or to a raw channel.
//
//   Scratch scratch;                       // base/root (served), base/outside
//   GoferProcess gofer(scratch.root(), {});
//   ASSERT_TRUE(gofer.Start());
//   auto walked = gofer.client().Call(lisafs::WalkReq{gofer.root_fd(), {"f"}});
//   EXPECT_EQ(gofer.Stop(), 0);           // The child's exit status.
//
// Used by tests/unit/gofer and tests/escape. Not thread-safe; one harness
// per test.
#pragma once

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <memory>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "gofer/server/gofer.h"
#include "lisafs/channel.h"
#include "lisafs/client.h"

namespace veil::gofer::testing {

// 0 for success, else the errno.
template <typename T>
int ErrnoOf(const Result<T>& result) {
  return result.has_value() ? 0 : result.error().code();
}

// Why confinement cannot run here, or nullopt if it can: it needs root and
// a kernel that lets us unshare a mount namespace (probed in a child).
inline std::optional<std::string> WhyNoConfinement() {
  if (::geteuid() != 0) return "confinement needs root (unshare, pivot_root)";
  const pid_t pid = ::fork();
  if (pid == 0) _exit(::unshare(CLONE_NEWNS) == 0 ? 0 : 1);
  int status = 0;
  if (pid < 0 || ::waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
      WEXITSTATUS(status) != 0) {
    return "the kernel refuses unshare(CLONE_NEWNS) here";
  }
  return std::nullopt;
}

// base/ (removed at the end) holding root/ (what the gofer serves) and
// outside/ (what it must never touch), side by side.
class Scratch {
 public:
  Scratch() {
    char tmpl[] = "/tmp/veil-gofer-test-XXXXXX";
    const char* made = ::mkdtemp(tmpl);
    EXPECT_NE(made, nullptr) << std::strerror(errno);
    base_ = made ? made : "/nonexistent";
    std::filesystem::create_directory(root());
    std::filesystem::create_directory(outside());
  }
  ~Scratch() {
    std::error_code ignored;
    std::filesystem::remove_all(base_, ignored);
  }
  Scratch(const Scratch&) = delete;
  Scratch& operator=(const Scratch&) = delete;

  std::string base() const { return base_; }
  std::string root() const { return base_ + "/root"; }
  std::string outside() const { return base_ + "/outside"; }
  std::string InRoot(const std::string& rel) const {
    return root() + "/" + rel;
  }

 private:
  std::string base_;
};

inline void WriteFile(const std::string& path, const std::string& data) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out << data;
}

inline std::string ReadFile(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// A gofer in a forked child, and the client end of its socket.
class GoferProcess {
 public:
  struct Options {
    Access access = Access::kReadWrite;
    Confinement confinement = Confinement::kFull;
    // Runs in the child just before RunGoferServer (e.g. to mount
    // something inside the export); a non-zero return makes it exit 3.
    std::function<int()> before_serve;
    // GoferOptions' policy (export_policy.h) and send timeout.
    SetIdBits setid = SetIdBits::kStrip;
    std::optional<IdRange> ids;
    std::chrono::milliseconds send_timeout{60'000};
    // GoferOptions' budgets (0: the gofer's defaults).
    size_t max_node_fds = 0;
    size_t max_open_files = 0;
    size_t max_nodes = 0;
  };

  GoferProcess(std::string root, Options options)
      : root_(std::move(root)), options_(std::move(options)) {}
  ~GoferProcess() {
    if (pid_ > 0) Stop();
  }
  GoferProcess(const GoferProcess&) = delete;
  GoferProcess& operator=(const GoferProcess&) = delete;

  // Forks the gofer and returns the client end of its channel. The caller
  // should have no threads running (fork).
  lisafs::Channel Fork() {
    auto pair = VEIL_MUST(lisafs::Channel::CreatePair());
    // No buffered output may be flushed twice.
    std::fflush(nullptr);
    pid_ = ::fork();
    if (pid_ == 0) {
      if (options_.before_serve && options_.before_serve() != 0) _exit(3);
      // RunGoferServer closes the client end (and everything else).
      GoferOptions options;
      options.root = root_;
      options.access = options_.access;
      options.confinement = options_.confinement;
      options.setid = options_.setid;
      options.ids = options_.ids;
      options.send_timeout = options_.send_timeout;
      options.max_node_fds = options_.max_node_fds;
      options.max_open_files = options_.max_open_files;
      options.max_nodes = options_.max_nodes;
      const int fd = ::fcntl(pair.second.fd(), F_DUPFD_CLOEXEC, 0);
      Result<void> served = RunGoferServer(options, UniqueFd(fd));
      if (!served) {
        std::fprintf(stderr, "gofer child: %s: %s\n",
                     served.error().message() ? served.error().message() : "",
                     std::strerror(served.error().code()));
      }
      _exit(served ? 0 : 1);
    }
    return std::move(pair.first);
  }

  // Forks the gofer and mounts a Client on it.
  ::testing::AssertionResult Start() {
    Result<std::unique_ptr<lisafs::Client>> client =
        lisafs::Client::Create(Fork());
    if (!client) {
      return ::testing::AssertionFailure()
             << "Client::Create: " << std::strerror(client.error().code())
             << "; gofer " << Describe(Stop());
    }
    client_ = std::move(*client);
    return ::testing::AssertionSuccess();
  }

  lisafs::Client& client() { return *client_; }
  // The gofer child's pid (-1 once reaped).
  pid_t pid() const { return pid_; }
  lisafs::FdId root_fd() const { return client_->root().control_fd; }

  // Hangs up and reaps the child; returns its wait status. Safe to call
  // twice (returns the first status).
  int Stop() {
    client_.reset();
    if (pid_ > 0) {
      while (::waitpid(pid_, &status_, 0) < 0 && errno == EINTR) {
      }
      pid_ = -1;
    }
    return status_;
  }

  static std::string Describe(int status) {
    std::ostringstream out;
    if (WIFEXITED(status)) {
      out << "exited " << WEXITSTATUS(status);
    } else if (WIFSIGNALED(status)) {
      out << "killed by signal " << WTERMSIG(status)
          << (WTERMSIG(status) == SIGSYS ? " (seccomp: a system call outside "
                                           "the allowlist)"
                                         : "");
    } else {
      out << "status " << status;
    }
    return out.str();
  }

 private:
  const std::string root_;
  const Options options_;
  pid_t pid_ = -1;
  int status_ = 0;
  std::unique_ptr<lisafs::Client> client_;
};

// Convenience calls over a Client, failing the test on transport errors.
// Each returns the call's Result so tests can assert errnos.
class Ops {
 public:
  explicit Ops(lisafs::Client& client) : client_(client) {}

  lisafs::FdId root() const { return client_.root().control_fd; }

  Result<lisafs::WalkResp> Walk(lisafs::FdId dir,
                                std::vector<std::string> names) {
    return Message(client_.Call(lisafs::WalkReq{dir, std::move(names)}));
  }
  // The control FDID of the last component, if every one was walked.
  Result<lisafs::FdId> WalkTo(std::vector<std::string> names) {
    const size_t n = names.size();
    lisafs::WalkResp walked = VEIL_TRY(Walk(root(), std::move(names)));
    if (walked.inodes.size() != n) return Errno(ENOENT);
    return walked.inodes.back().control_fd;
  }
  Result<lisafs::Statx> Stat(lisafs::FdId fd) {
    return VEIL_TRY(Message(client_.Call(lisafs::FStatReq{fd}))).stat;
  }
  // An open FDID, and the donated descriptor if any.
  Result<lisafs::Reply<lisafs::OpenAtResp>> Open(lisafs::FdId fd,
                                                 uint32_t flags) {
    return client_.Call(lisafs::OpenAtReq{fd, flags});
  }
  Result<std::string> Read(lisafs::FdId open_fd, uint64_t offset = 0,
                           uint32_t count = 4096) {
    lisafs::PReadResp resp = VEIL_TRY(
        Message(client_.Call(lisafs::PReadReq{open_fd, offset, count})));
    return std::string(resp.data.begin(), resp.data.end());
  }
  // Reads the whole file at `names` through the server (not the donated
  // descriptor).
  Result<std::string> ReadPath(std::vector<std::string> names) {
    lisafs::FdId fd = VEIL_TRY(WalkTo(std::move(names)));
    lisafs::FdId open_fd = VEIL_TRY(Open(fd, O_RDONLY)).message.open_fd;
    return Read(open_fd, 0, 1 << 16);
  }
  Result<uint64_t> Write(lisafs::FdId open_fd, const std::string& data,
                         uint64_t offset = 0) {
    lisafs::PWriteReq req{open_fd, offset,
                          std::vector<uint8_t>(data.begin(), data.end())};
    return VEIL_TRY(Message(client_.Call(req))).count;
  }
  Result<std::vector<lisafs::Dirent64>> ReadDir(lisafs::FdId dir) {
    lisafs::FdId open_fd =
        VEIL_TRY(Open(dir, O_RDONLY | O_DIRECTORY)).message.open_fd;
    std::vector<lisafs::Dirent64> all;
    while (true) {
      auto resp = Message(client_.Call(lisafs::Getdents64Req{open_fd, 4096}));
      if (!resp || resp->dirents.empty()) {
        (void)Close(open_fd);
        if (!resp) return resp.error();
        return all;
      }
      all.insert(all.end(), resp->dirents.begin(), resp->dirents.end());
    }
  }
  Result<void> Close(lisafs::FdId fd) { return Close(std::vector{fd}); }
  Result<void> Close(std::vector<lisafs::FdId> fds) {
    VEIL_TRY(client_.Call(lisafs::CloseReq{std::move(fds)}));
    return Ok();
  }

  template <typename Req>
  Result<typename Req::Response> Call(const Req& req) {
    return Message(client_.Call(req));
  }

 private:
  template <typename T>
  static Result<T> Message(Result<lisafs::Reply<T>> reply) {
    if (!reply) return reply.error();
    return std::move(reply->message);
  }

  lisafs::Client& client_;
};

}  // namespace veil::gofer::testing
