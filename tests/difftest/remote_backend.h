// SPDX-License-Identifier: Apache-2.0
//
// RemoteBackend: a Backend whose every call is a real syscall made by a
// syscall_runner process (syscall_runner.cc), one request/response frame
// pair per call over two pipes (wire.h). The runner is started by the
// command the caller gives: the runner binary itself on the host (it
// chroots into a scratch directory), or `veil do --rootfs R -- /runner ...`
// so that the calls are a sandboxed task's, served by the sentry. The
// sentry difftest runs one of each: same binary, same requests.
//
// Trust: the runner's bytes are untrusted (it may be a sandboxed task).
// A frame over wire::kMaxFrame, a short or malformed response, or an
// exited runner breaks the backend: failure() says why, and every call
// from then on answers -EIO without talking to the runner, so the
// differential run stops at the next comparison.
//
// Credentials: SetCreds sends a switch only when the credentials change
// (the runner starts as root). A switch the runner refuses breaks the
// backend (a runner inside `veil do` cannot switch yet: the sentry does
// not serve setfsuid & co.).
//
// Not thread-safe: one call at a time, as every Backend.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>
#include <vector>

#include "base/result.h"
#include "base/unique_fd.h"
#include "tests/difftest/backend.h"

namespace veil::difftest {

namespace wire {
class WireWriter;
}

class RemoteBackend final : public Backend {
 public:
  // Starts `argv` (argv[0] a path, run with execv) with its stdin and stdout
  // on pipes to this backend and its stderr appended to `log_path`, killed
  // if this process dies; waits for the runner's hello. Fails if it cannot
  // start or its hello is not rc 0 (the message then names the errno, and
  // the log holds what the command printed). Sets SIGPIPE to SIG_IGN in
  // this process (as HostBackend does).
  static Result<std::unique_ptr<RemoteBackend>> Start(
      std::string name, const std::vector<std::string>& argv,
      const std::string& log_path);

  // Closes the runner's stdin (it exits) and reaps it; SIGKILL if it has
  // not exited within a few seconds.
  ~RemoteBackend() override;
  RemoteBackend(const RemoteBackend&) = delete;
  RemoteBackend& operator=(const RemoteBackend&) = delete;

  // "" while healthy; else why the backend broke.
  const std::string& failure() const { return failure_; }
  // The runner's first error code when it refused to start (0 otherwise).
  int hello_errno() const { return hello_errno_; }
  // Requests sent so far.
  uint64_t calls() const { return calls_; }

  const char* Name() const override { return name_.c_str(); }
  void SetCreds(const Creds& creds) override;

  int Open(const std::string& path, int flags, mode_t mode) override;
  int Close(int fd) override;
  int Mkdir(const std::string& path, mode_t mode) override;
  int Mknod(const std::string& path, mode_t mode, dev_t dev) override;
  int Symlink(const std::string& target, const std::string& path) override;
  int Link(const std::string& oldpath, const std::string& newpath,
           int flags) override;
  int Unlink(const std::string& path) override;
  int Rmdir(const std::string& path) override;
  int Rename(const std::string& oldpath, const std::string& newpath,
             unsigned flags) override;
  int Stat(const std::string& path, int at_flags, StatResult* out) override;
  int Readlink(const std::string& path, std::string* out) override;
  int Chmod(const std::string& path, mode_t mode) override;
  int Chown(const std::string& path, uid_t uid, gid_t gid,
            int at_flags) override;
  int Utimens(const std::string& path, const struct timespec times[2],
              int at_flags) override;
  int Truncate(const std::string& path, off_t length) override;
  int Access(const std::string& path, int mode, int at_flags) override;
  int SetXattr(const std::string& path, const std::string& name,
               const std::string& value, int flags) override;
  int GetXattr(const std::string& path, const std::string& name,
               std::string* value) override;
  int ListXattr(const std::string& path,
                std::vector<std::string>* names) override;
  int RemoveXattr(const std::string& path, const std::string& name) override;

  int Pread(int fd, size_t count, off_t offset, std::string* out) override;
  int Pwrite(int fd, const std::string& data, off_t offset) override;
  int Read(int fd, size_t count, std::string* out) override;
  int Write(int fd, const std::string& data) override;
  off_t Lseek(int fd, off_t offset, int whence) override;
  int Ftruncate(int fd, off_t length) override;
  int Fallocate(int fd, int mode, off_t offset, off_t length) override;
  int Fstat(int fd, StatResult* out) override;
  int Fchmod(int fd, mode_t mode) override;
  int Getdents(int fd, std::vector<DirEntry>* out) override;

 private:
  RemoteBackend(std::string name, pid_t pid, UniqueFd to, UniqueFd from)
      : name_(std::move(name)),
        pid_(pid),
        to_(std::move(to)),
        from_(std::move(from)) {}

  // Sends `request`, reads the response body into *body. False (and the
  // backend broken) on any failure.
  bool Call(const wire::WireWriter& request, std::string* body);
  // Reads one frame's body.
  bool ReadFrame(std::string* body);
  void Break(const std::string& why);
  // A call that returns only rc.
  int Simple(const wire::WireWriter& request);

  std::string name_;
  pid_t pid_;
  UniqueFd to_, from_;  // the runner's stdin and stdout
  std::string failure_;
  int hello_errno_ = 0;
  uint64_t calls_ = 0;
  Creds creds_;  // as last switched (root at start)
};

}  // namespace veil::difftest
