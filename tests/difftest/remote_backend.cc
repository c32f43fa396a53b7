// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/remote_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cstring>

#include "tests/difftest/wire.h"

namespace veil::difftest {

using wire::kMaxFrame;
using wire::WireOp;
using wire::WireReader;
using wire::WireWriter;
using wire::ReadStat;

namespace {

WireWriter Req(WireOp op) {
  WireWriter w;
  w.U8(static_cast<uint8_t>(op));
  return w;
}

}  // namespace

Result<std::unique_ptr<RemoteBackend>> RemoteBackend::Start(
    std::string name, const std::vector<std::string>& argv,
    const std::string& log_path) {
  if (argv.empty()) return Errno(EINVAL, "no command for the runner");
  // A runner that died must not take the harness with it: a request to
  // its closed stdin is EPIPE (the backend breaks), not SIGPIPE.
  signal(SIGPIPE, SIG_IGN);
  int to[2], from[2];
  if (pipe2(to, O_CLOEXEC) != 0) return Errno(errno, "pipe2 failed");
  UniqueFd to_r(to[0]), to_w(to[1]);
  if (pipe2(from, O_CLOEXEC) != 0) return Errno(errno, "pipe2 failed");
  UniqueFd from_r(from[0]), from_w(from[1]);
  UniqueFd log(open(log_path.c_str(),
                    O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0600));
  if (!log) return Errno(errno, "cannot open the runner's log");
  std::vector<char*> args;
  for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
  args.push_back(nullptr);
  pid_t parent = getpid();
  pid_t pid = fork();
  if (pid < 0) return Errno(errno, "fork failed");
  if (pid == 0) {
    // Only async-signal-safe calls from here on.
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (getppid() != parent) _exit(127);
    if (dup2(to_r.get(), 0) < 0 || dup2(from_w.get(), 1) < 0 ||
        dup2(log.get(), 2) < 0)
      _exit(127);
    execv(args[0], args.data());
    _exit(127);
  }
  std::unique_ptr<RemoteBackend> backend(new RemoteBackend(
      std::move(name), pid, std::move(to_w), std::move(from_r)));
  to_r.reset();
  from_w.reset();
  std::string body;
  if (!backend->ReadFrame(&body)) {
    return Errno(EPIPE, "the runner exited or spoke garbage before its hello");
  }
  WireReader r(body);
  int64_t hello = r.I64();
  if (!r.done()) return Errno(EPROTO, "malformed hello from the runner");
  if (hello != 0) {
    backend->hello_errno_ = static_cast<int>(-hello);
    return Errno(static_cast<int>(-hello), "the runner could not enter its root");
  }
  return backend;
}

RemoteBackend::~RemoteBackend() {
  to_.reset();  // EOF: the runner exits
  from_.reset();
  if (pid_ <= 0) return;
  int status;
  for (int tries = 0; tries < 500; ++tries) {  // 5 s
    if (waitpid(pid_, &status, WNOHANG) == pid_) return;
    struct timespec nap = {0, 10 * 1000 * 1000};
    nanosleep(&nap, nullptr);
  }
  kill(pid_, SIGKILL);
  waitpid(pid_, &status, 0);
}

void RemoteBackend::Break(const std::string& why) {
  if (failure_.empty()) failure_ = name_ + ": " + why;
}

bool RemoteBackend::ReadFrame(std::string* body) {
  auto read_full = [&](char* buf, size_t n) {
    while (n > 0) {
      ssize_t got = read(from_.get(), buf, n);
      if (got < 0 && errno == EINTR) continue;
      if (got <= 0) return false;
      buf += got;
      n -= static_cast<size_t>(got);
    }
    return true;
  };
  char len_bytes[4];
  if (!read_full(len_bytes, 4)) {
    Break("the runner closed its stdout (exited?)");
    return false;
  }
  uint32_t len;
  std::memcpy(&len, len_bytes, 4);
  if (len > kMaxFrame) {
    Break("a response frame of " + std::to_string(len) + " bytes");
    return false;
  }
  body->assign(len, '\0');
  if (!read_full(body->data(), len)) {
    Break("a truncated response frame");
    return false;
  }
  return true;
}

bool RemoteBackend::Call(const WireWriter& request, std::string* body) {
  if (!failure_.empty()) return false;
  ++calls_;
  std::string frame = request.Frame();
  size_t done = 0;
  while (done < frame.size()) {
    ssize_t n = write(to_.get(), frame.data() + done, frame.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      Break(std::string("writing a request: ") + strerror(errno));
      return false;
    }
    done += static_cast<size_t>(n);
  }
  return ReadFrame(body);
}

int RemoteBackend::Simple(const WireWriter& request) {
  std::string body;
  if (!Call(request, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  if (!r.done() || rc > 0x7fffffff || rc < -4095) {
    Break("malformed response");
    return -EIO;
  }
  return static_cast<int>(rc);
}

void RemoteBackend::SetCreds(const Creds& creds) {
  if (creds.uid == creds_.uid && creds.gid == creds_.gid &&
      creds.groups == creds_.groups)
    return;
  WireWriter w = Req(WireOp::kSetCreds);
  w.I64(creds.uid);
  w.I64(creds.gid);
  w.I64(static_cast<int64_t>(creds.groups.size()));
  for (gid_t g : creds.groups) w.I64(g);
  int rc = Simple(w);
  if (rc != 0) {
    Break("the runner cannot switch to uid " + std::to_string(creds.uid) +
          ": " + strerror(-rc));
    return;
  }
  creds_ = creds;
}

int RemoteBackend::Open(const std::string& path, int flags, mode_t mode) {
  WireWriter w = Req(WireOp::kOpen);
  w.Str(path);
  w.I64(flags);
  w.I64(mode);
  return Simple(w);
}

int RemoteBackend::Close(int fd) {
  WireWriter w = Req(WireOp::kClose);
  w.I64(fd);
  return Simple(w);
}

int RemoteBackend::Mkdir(const std::string& path, mode_t mode) {
  WireWriter w = Req(WireOp::kMkdir);
  w.Str(path);
  w.I64(mode);
  return Simple(w);
}

int RemoteBackend::Mknod(const std::string& path, mode_t mode, dev_t dev) {
  WireWriter w = Req(WireOp::kMknod);
  w.Str(path);
  w.I64(mode);
  w.I64(static_cast<int64_t>(dev));
  return Simple(w);
}

int RemoteBackend::Symlink(const std::string& target, const std::string& path) {
  WireWriter w = Req(WireOp::kSymlink);
  w.Str(target);
  w.Str(path);
  return Simple(w);
}

int RemoteBackend::Link(const std::string& oldpath, const std::string& newpath,
                        int flags) {
  WireWriter w = Req(WireOp::kLink);
  w.Str(oldpath);
  w.Str(newpath);
  w.I64(flags);
  return Simple(w);
}

int RemoteBackend::Unlink(const std::string& path) {
  WireWriter w = Req(WireOp::kUnlink);
  w.Str(path);
  return Simple(w);
}

int RemoteBackend::Rmdir(const std::string& path) {
  WireWriter w = Req(WireOp::kRmdir);
  w.Str(path);
  return Simple(w);
}

int RemoteBackend::Rename(const std::string& oldpath,
                          const std::string& newpath, unsigned flags) {
  WireWriter w = Req(WireOp::kRename);
  w.Str(oldpath);
  w.Str(newpath);
  w.I64(flags);
  return Simple(w);
}

int RemoteBackend::Stat(const std::string& path, int at_flags,
                        StatResult* out) {
  WireWriter w = Req(WireOp::kStat);
  w.Str(path);
  w.I64(at_flags);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  if (rc == 0 && !ReadStat(r, out)) rc = 1;
  if (!r.done() || rc > 0 || rc < -4095) {
    Break("malformed stat response");
    return -EIO;
  }
  return static_cast<int>(rc);
}

int RemoteBackend::Readlink(const std::string& path, std::string* out) {
  WireWriter w = Req(WireOp::kReadlink);
  w.Str(path);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::string data = rc >= 0 ? r.Str() : "";
  if (!r.done() || rc < -4095 ||
      (rc >= 0 && static_cast<size_t>(rc) != data.size())) {
    Break("malformed readlink response");
    return -EIO;
  }
  if (rc >= 0) *out = std::move(data);
  return static_cast<int>(rc);
}

int RemoteBackend::Chmod(const std::string& path, mode_t mode) {
  WireWriter w = Req(WireOp::kChmod);
  w.Str(path);
  w.I64(mode);
  return Simple(w);
}

int RemoteBackend::Chown(const std::string& path, uid_t uid, gid_t gid,
                         int at_flags) {
  WireWriter w = Req(WireOp::kChown);
  w.Str(path);
  w.I64(uid);
  w.I64(gid);
  w.I64(at_flags);
  return Simple(w);
}

int RemoteBackend::Utimens(const std::string& path,
                           const struct timespec times[2], int at_flags) {
  WireWriter w = Req(WireOp::kUtimens);
  w.Str(path);
  w.I64(at_flags);
  w.I64(times != nullptr ? 1 : 0);
  for (int i = 0; i < 2; ++i) {
    w.I64(times != nullptr ? times[i].tv_sec : 0);
    w.I64(times != nullptr ? times[i].tv_nsec : 0);
  }
  return Simple(w);
}

int RemoteBackend::Truncate(const std::string& path, off_t length) {
  WireWriter w = Req(WireOp::kTruncate);
  w.Str(path);
  w.I64(length);
  return Simple(w);
}

int RemoteBackend::Access(const std::string& path, int mode, int at_flags) {
  WireWriter w = Req(WireOp::kAccess);
  w.Str(path);
  w.I64(mode);
  w.I64(at_flags);
  return Simple(w);
}

int RemoteBackend::SetXattr(const std::string& path, const std::string& name,
                            const std::string& value, int flags) {
  WireWriter w = Req(WireOp::kSetXattr);
  w.Str(path);
  w.Str(name);
  w.Str(value);
  w.I64(flags);
  return Simple(w);
}

int RemoteBackend::GetXattr(const std::string& path, const std::string& name,
                            std::string* value) {
  WireWriter w = Req(WireOp::kGetXattr);
  w.Str(path);
  w.Str(name);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::string data = rc >= 0 ? r.Str() : "";
  if (!r.done() || rc < -4095 ||
      (rc >= 0 && static_cast<size_t>(rc) != data.size())) {
    Break("malformed getxattr response");
    return -EIO;
  }
  if (rc >= 0) *value = std::move(data);
  return static_cast<int>(rc);
}

int RemoteBackend::ListXattr(const std::string& path,
                             std::vector<std::string>* names) {
  WireWriter w = Req(WireOp::kListXattr);
  w.Str(path);
  std::string body;
  if (!Call(w, &body)) return -EIO;
  WireReader r(body);
  int64_t rc = r.I64();
  std::string buf = rc >= 0 ? r.Str() : "";
  if (!r.done() || rc < -4095 ||
      (rc >= 0 && static_cast<size_t>(rc) != buf.size())) {
    Break("malformed listxattr response");
    return -EIO;
  }
  if (rc < 0) return static_cast<int>(rc);
  names->clear();
  for (size_t pos = 0; pos < buf.size();) {
    size_t end = buf.find('\0', pos);
    if (end == std::string::npos) end = buf.size();
    names->push_back(buf.substr(pos, end - pos));
    pos = end + 1;
  }
  return static_cast<int>(rc);
}

int RemoteBackend::RemoveXattr(const std::string& path,
                               const std::string& name) {
  WireWriter w = Req(WireOp::kRemoveXattr);
  w.Str(path);
  w.Str(name);
  return Simple(w);
}

}  // namespace veil::difftest
