// SPDX-License-Identifier: Apache-2.0
//
// The two sides of the file-lock difftest (difftest_locks_test.cc): the
// host, where each lock owner is a forked process holding its own
// descriptors of two host files and running commands sent over a pipe,
// and veil's VFS, where each owner is a LockOwner with its own
// FileDescriptions of two tmpfs files. Both run a Command and answer a
// Reply (the syscall's result or -errno, and the struct flock after
// F_GETLK).
//
// Thread-safety: one test thread drives both; a host process runs one
// command at a time, so a blocking one (F_SETLKW, flock without LOCK_NB)
// is sent with Send() and its reply collected later with Receive().
#pragma once

#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <optional>
#include <string>

#include "vfs/fcntl_lock.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::difftest {

constexpr int kProcs = 3;
constexpr int kSlots = 3;  // descriptors per process
constexpr int kFileSize = 10;

enum class Op : int {
  kSetLk,
  kGetLk,
  kFlock,
  kSeek,
  kTruncate,
  kReopen,
  kDupClose
};

struct Command {
  Op op;
  int slot;
  int cmd;  // fcntl command
  struct flock fl;
  int64_t arg;  // flock operation, seek offset, truncate length
};

struct Reply {
  int64_t ret;  // >= 0, or -errno
  struct flock fl;
};

// Slot s of process p: which file and how it is open.
inline const char* SlotFile(int s) { return s == 2 ? "b" : "a"; }
inline int SlotMode(int p, int s) {
  if (s == 1) return p == 1 ? O_WRONLY : O_RDONLY;
  return O_RDWR;
}

// --- Host side: one forked process per owner -------------------------------

// A fresh host directory (on /dev/shm's tmpfs when there is one) holding
// files a and b of kFileSize bytes; removed when destroyed.
class HostDir {
 public:
  HostDir() {
    char shm[] = "/dev/shm/veil-locks-XXXXXX";
    char tmp[] = "/tmp/veil-locks-XXXXXX";
    const char* dir = mkdtemp(shm);
    if (dir == nullptr) dir = mkdtemp(tmp);
    if (dir == nullptr) return;
    path_ = dir;
    for (const char* name : {"a", "b"}) {
      int fd = open((path_ + "/" + name).c_str(), O_CREAT | O_RDWR, 0644);
      if (fd < 0 || ftruncate(fd, kFileSize) != 0) path_.clear();
      if (fd >= 0) close(fd);
    }
  }
  ~HostDir() {
    if (path_.empty()) return;
    for (const char* name : {"a", "b"}) unlink((path_ + "/" + name).c_str());
    rmdir(path_.c_str());
  }
  // Empty if the directory could not be made.
  const std::string& path() const { return path_; }

 private:
  std::string path_;
};

class HostProc {
 public:
  bool Start(const std::string& dir, int p) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return false;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      close(to_child[1]);
      close(from_child[0]);
      ChildLoop(dir, p, to_child[0], from_child[1]);
    }
    close(to_child[0]);
    close(from_child[1]);
    out_ = to_child[1];
    in_ = from_child[0];
    return true;
  }
  ~HostProc() {
    if (pid_ <= 0) return;
    close(out_);
    close(in_);
    kill(pid_, SIGKILL);  // it may be blocked in a lock call
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  Reply Run(const Command& c) {
    Send(c);
    return Receive(-1).value_or(Reply{-1000, {}});
  }
  void Send(const Command& c) {
    if (write(out_, &c, sizeof c) != sizeof c) dead_ = true;
  }
  // The reply to the command sent last, waiting up to `timeout_ms` (-1:
  // for ever); nullopt if it has not come. A dead child answers -1000,
  // which never matches veil.
  std::optional<Reply> Receive(int timeout_ms) {
    Reply r{};
    r.ret = -1000;
    if (dead_) return r;
    pollfd pfd{in_, POLLIN, 0};
    if (poll(&pfd, 1, timeout_ms) == 0) return std::nullopt;
    if (read(in_, &r, sizeof r) != sizeof r) {
      dead_ = true;
      r.ret = -1000;
    }
    return r;
  }

 private:
  // Runs in the child: only plain syscalls, then _exit.
  [[noreturn]] static void ChildLoop(const std::string& dir, int p, int in,
                                     int out);

  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
  bool dead_ = false;
};

// --- veil side
// ------------------------------------------------------------------

class VfsSide {
 public:
  explicit VfsSide(const pid_t (&pids)[kProcs])
      : vfs_(vfs::tmpfs::Tmpfs::Create(vfs::tmpfs::TmpfsOptions{0755, 0, 0})),
        ctx_(vfs_.RootContext()) {
    for (const char* name : {"a", "b"}) {
      auto f = VEIL_MUST(Open(std::string("/") + name, O_CREAT | O_RDWR));
      std::string data(kFileSize, 'x');
      (void)VEIL_MUST(f->Write(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    }
    for (int p = 0; p < kProcs; ++p) {
      owners_[p] = vfs::LockOwner::Process(1000 + p, pids[p]);
      for (int s = 0; s < kSlots; ++s)
        slots_[p][s] =
            VEIL_MUST(Open(std::string("/") + SlotFile(s), SlotMode(p, s)));
    }
  }

  // As the host runs `c` in process `p`; a blocking command blocks the
  // calling thread in `waiter` (null: never block).
  Reply Run(int p, const Command& c, vfs::ThreadLockWaiter* waiter = nullptr);

 private:
  Result<Ref<vfs::FileDescription>> Open(const std::string& path, int flags) {
    return vfs_.OpenAt(ctx_, ctx_.cwd, path, vfs::OpenHow{flags, 0644, 0});
  }

  vfs::Vfs vfs_;
  vfs::Context ctx_;
  vfs::LockOwner owners_[kProcs];
  RefPtr<vfs::FileDescription> slots_[kProcs][kSlots];
};

inline std::string Describe(int p, const Command& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "proc %d slot %d op %d cmd %d type %d whence %d start %lld "
                "len %lld pid %d arg %lld",
                p, c.slot, static_cast<int>(c.op), c.cmd, c.fl.l_type,
                c.fl.l_whence, static_cast<long long>(c.fl.l_start),
                static_cast<long long>(c.fl.l_len), c.fl.l_pid,
                static_cast<long long>(c.arg));
  return buf;
}

inline std::string Show(const Reply& r, const Command& c) {
  std::string s = "ret " + std::to_string(r.ret);
  if (c.op == Op::kGetLk && r.ret == 0) {
    s += " type " + std::to_string(r.fl.l_type);
    if (r.fl.l_type != F_UNLCK)
      s += " whence " + std::to_string(r.fl.l_whence) + " start " +
           std::to_string(r.fl.l_start) + " len " + std::to_string(r.fl.l_len) +
           " pid " + std::to_string(r.fl.l_pid);
  }
  return s;
}

}  // namespace veil::difftest
