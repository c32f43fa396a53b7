// SPDX-License-Identifier: Apache-2.0
//
// syscall_runner ROOT: performs the differential harness's Backend calls as
// real syscalls, one request frame from stdin at a time, one response frame
// to stdout each (wire.h). Statically linked, so that the very same binary
// runs as a plain host process and as a task inside `veil do` (which runs
// static programs only): the sentry difftest compares the two streams.
//
// Start-up: mkdir(ROOT) (an existing one is fine), chroot(ROOT), chdir("/"),
// umask(022); then the hello frame (rc 0, or -errno of the failed step).
// After the chroot every path the harness sends resolves inside ROOT:
// absolute paths and symlink targets from ROOT, ".." at ROOT stays there.
//
// Credentials: kSetCreds switches the process's fs ids and groups with
// setgroups/setfsgid/setfsuid and, for a non-root uid, clears the effective
// capability set (backend.h's "no capabilities"); root gets its saved
// effective set back. A switch to the credentials already in force makes no
// syscall, so a runner inside `veil do` (whose sentry does not serve the id
// calls yet) answers root-only runs without ever touching them.
//
// Safety on the host (it runs as root): only descriptors this runner opened
// are ever passed to an fd call (others: EBADF, as HostBackend), so stdin
// and stdout cannot be touched; mknod of a character or block device aborts
// unless its major is in 60..63 (no driver); the runner never opens
// anything outside ROOT after the chroot. Everything it reads is checked by
// WireReader; a malformed frame ends the runner (exit 2).
#include <fcntl.h>
#include <limits.h>
#include <linux/capability.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cerrno>
#include <set>
#include <string>
#include <vector>

#include "tests/difftest/syscall_runner_calls.h"
#include "tests/difftest/wire.h"

namespace {

using veil::difftest::wire::kMaxFrame;
using veil::difftest::wire::WireOp;
using veil::difftest::wire::WireReader;
using veil::difftest::wire::WireWriter;
namespace calls = veil::difftest::runner;

// Reads are clamped here (both sides run this code, so both clamp).
constexpr size_t kMaxRead = 1u << 20;

long Ret(long rc) { return rc < 0 ? -errno : rc; }

void PutStat(const struct stat& st, WireWriter* w) {
  for (int64_t v : {int64_t{st.st_mode}, static_cast<int64_t>(st.st_nlink),
                    int64_t{st.st_uid}, int64_t{st.st_gid},
                    int64_t{st.st_size}, int64_t{st.st_blocks},
                    static_cast<int64_t>(st.st_ino),
                    static_cast<int64_t>(st.st_rdev), int64_t{st.st_atim.tv_sec},
                    int64_t{st.st_atim.tv_nsec}, int64_t{st.st_mtim.tv_sec},
                    int64_t{st.st_mtim.tv_nsec}, int64_t{st.st_ctim.tv_sec},
                    int64_t{st.st_ctim.tv_nsec}})
    w->I64(v);
}

struct CredState {
  uint32_t uid = 0, gid = 0;
  std::vector<gid_t> groups;
  bool known = false;  // false until the first switch: "as started"
};

class Runner {
 public:
  // The answer to one request, or false if the request is malformed.
  bool Serve(const std::string& body, WireWriter* out);

 private:
  // VEIL_RUNNER_FAULT=chmod flips S_IXOTH in every chmod but the harness's
  // own one of "/" at the start:
  // a check that a difference made inside `veil do` is caught.
  const bool fault_chmod_ = [] {
    const char* fault = getenv("VEIL_RUNNER_FAULT");
    return fault != nullptr && std::string(fault) == "chmod";
  }();
  long SetCreds(WireReader& r);
  bool Owns(long fd) const { return fds_.count(static_cast<int>(fd)) != 0; }

  // The next turn of each call kind (syscall_runner_calls.h).
  unsigned Turn(WireOp op) { return turns_[static_cast<int>(op)]++; }
  int FreeFd() const {
    int fd = 60;
    while (fds_.count(fd)) ++fd;
    return fd;
  }

  std::set<int> fds_;
  unsigned turns_[static_cast<int>(WireOp::kLast) + 1] = {};
  CredState creds_;
  struct __user_cap_data_struct saved_caps_[2] = {};
  bool caps_saved_ = false;
};

long Runner::SetCreds(WireReader& r) {
  CredState want;
  want.uid = static_cast<uint32_t>(r.I64());
  want.gid = static_cast<uint32_t>(r.I64());
  int64_t n = r.I64();
  if (!r.ok() || n < 0 || n > 64) return -EINVAL;
  for (int64_t i = 0; i < n; ++i)
    want.groups.push_back(static_cast<gid_t>(r.I64()));
  want.known = true;
  // Root as started needs no switch (see the file comment).
  bool same = creds_.known ? (want.uid == creds_.uid &&
                              want.gid == creds_.gid &&
                              want.groups == creds_.groups)
                           : (want.uid == 0 && want.gid == 0);
  if (same) return 0;
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  if (!caps_saved_) {
    if (syscall(SYS_capget, &hdr, saved_caps_) != 0) return -errno;
    caps_saved_ = true;
  }
  // Full effective set first: setgroups needs CAP_SETGID, setfs* CAP_SETUID.
  if (syscall(SYS_capset, &hdr, saved_caps_) != 0) return -errno;
  if (syscall(SYS_setgroups, want.groups.size(), want.groups.data()) != 0)
    return -errno;
  if (syscall(SYS_setfsgid, want.gid) < 0) return -errno;
  if (syscall(SYS_setfsuid, want.uid) < 0) return -errno;
  if (syscall(SYS_setfsuid, -1) != static_cast<long>(want.uid) ||
      syscall(SYS_setfsgid, -1) != static_cast<long>(want.gid))
    return -EPERM;
  if (want.uid != 0) {
    struct __user_cap_data_struct none[2] = {};
    none[0].permitted = saved_caps_[0].permitted;
    none[1].permitted = saved_caps_[1].permitted;
    if (syscall(SYS_capset, &hdr, none) != 0) return -errno;
  }
  creds_ = want;
  return 0;
}

bool Runner::Serve(const std::string& body, WireWriter* out) {
  WireReader r(body);
  auto op = static_cast<WireOp>(r.U8());
  std::string data;                // returned bytes, if any
  struct stat st = {};
  bool put_data = false, put_stat = false;
  struct Dent {
    std::string name;
    int64_t ino, type;
  };
  std::vector<Dent> dents;  // getdents
  bool put_dents = false;
  long rc = -EINVAL;
  switch (op) {
    case WireOp::kSetCreds:
      rc = SetCreds(r);
      break;
    case WireOp::kOpen: {
      std::string path = r.Str();
      int flags = static_cast<int>(r.I64());
      mode_t mode = static_cast<mode_t>(r.I64());
      if (!r.done()) return false;
      rc = calls::OpenVariant(Turn(op), path.c_str(), flags, mode);
      if (rc >= 0)
        rc = calls::MaybeDuplicate(Turn(op), static_cast<int>(rc), FreeFd());
      if (rc >= 0) fds_.insert(static_cast<int>(rc));
      break;
    }
    case WireOp::kClose: {
      long fd = r.I64();
      if (!r.done()) return false;
      if (!Owns(fd)) {
        rc = -EBADF;
        break;
      }
      fds_.erase(static_cast<int>(fd));
      rc = Ret(close(static_cast<int>(fd)));  // freed even on error (Linux)
      break;
    }
    case WireOp::kMkdir: {
      std::string path = r.Str();
      mode_t mode = static_cast<mode_t>(r.I64());
      if (!r.done()) return false;
      rc = calls::MkdirVariant(Turn(op), path.c_str(), mode);
      break;
    }
    case WireOp::kMknod: {
      std::string path = r.Str();
      mode_t mode = static_cast<mode_t>(r.I64());
      dev_t dev = static_cast<dev_t>(r.I64());
      if (!r.done()) return false;
      if ((S_ISCHR(mode) || S_ISBLK(mode)) &&
          (major(dev) < 60 || major(dev) > 63)) {
        fprintf(stderr, "syscall_runner: refusing a device node %u:%u\n",
                major(dev), minor(dev));
        abort();
      }
      rc = calls::MknodVariant(Turn(op), path.c_str(), mode, dev);
      break;
    }
    case WireOp::kSymlink: {
      std::string target = r.Str(), path = r.Str();
      if (!r.done()) return false;
      rc = calls::SymlinkVariant(Turn(op), target.c_str(), path.c_str());
      break;
    }
    case WireOp::kLink: {
      std::string from = r.Str(), to = r.Str();
      int flags = static_cast<int>(r.I64());
      if (!r.done()) return false;
      rc = calls::LinkVariant(Turn(op), from.c_str(), to.c_str(), flags);
      break;
    }
    case WireOp::kUnlink:
    case WireOp::kRmdir: {
      std::string path = r.Str();
      if (!r.done()) return false;
      rc = calls::UnlinkVariant(Turn(op), path.c_str(),
                                op == WireOp::kRmdir ? AT_REMOVEDIR : 0);
      break;
    }
    case WireOp::kRename: {
      std::string from = r.Str(), to = r.Str();
      unsigned flags = static_cast<unsigned>(r.I64());
      if (!r.done()) return false;
      rc = calls::RenameVariant(Turn(op), from.c_str(), to.c_str(), flags);
      break;
    }
    case WireOp::kStat: {
      std::string path = r.Str();
      int flags = static_cast<int>(r.I64());
      if (!r.done()) return false;
      rc = calls::StatVariant(Turn(op), path.c_str(), flags, &st);
      put_stat = rc == 0;
      break;
    }
    case WireOp::kReadlink: {
      std::string path = r.Str();
      if (!r.done()) return false;
      char buf[PATH_MAX + 1];
      rc = calls::ReadlinkVariant(Turn(op), path.c_str(), buf, sizeof(buf));
      if (rc >= 0) data.assign(buf, static_cast<size_t>(rc));
      put_data = rc >= 0;
      break;
    }
    case WireOp::kChmod: {
      std::string path = r.Str();
      mode_t mode = static_cast<mode_t>(r.I64());
      if (!r.done()) return false;
      if (fault_chmod_ && path != "/") mode ^= S_IXOTH;  // injected fault
      rc = calls::ChmodVariant(Turn(op), path.c_str(), mode);
      break;
    }
    case WireOp::kChown: {
      std::string path = r.Str();
      uid_t uid = static_cast<uid_t>(r.I64());
      gid_t gid = static_cast<gid_t>(r.I64());
      int flags = static_cast<int>(r.I64());
      if (!r.done()) return false;
      rc = calls::ChownVariant(Turn(op), path.c_str(), uid, gid, flags);
      break;
    }
    case WireOp::kUtimens: {
      std::string path = r.Str();
      int flags = static_cast<int>(r.I64());
      bool has_times = r.I64() != 0;
      struct timespec ts[2];
      for (auto& t : ts) {
        t.tv_sec = r.I64();
        t.tv_nsec = r.I64();
      }
      if (!r.done()) return false;
      rc = Ret(utimensat(AT_FDCWD, path.c_str(), has_times ? ts : nullptr,
                         flags));
      break;
    }
    case WireOp::kTruncate: {
      std::string path = r.Str();
      off_t length = r.I64();
      if (!r.done()) return false;
      rc = Ret(truncate(path.c_str(), length));
      break;
    }
    case WireOp::kAccess: {
      std::string path = r.Str();
      int mode = static_cast<int>(r.I64());
      int flags = static_cast<int>(r.I64());
      if (!r.done()) return false;
      // faccessat2(AT_EACCESS): the fs ids, not the real uid (always 0).
      rc = calls::AccessVariant(
          Turn(op), path.c_str(), mode, flags,
          creds_.known && creds_.uid != 0 ? calls::Ids::kOther
                                          : calls::Ids::kRoot);
      break;
    }
    case WireOp::kSetXattr: {
      std::string path = r.Str(), name = r.Str(), value = r.Str();
      int flags = static_cast<int>(r.I64());
      if (!r.done()) return false;
      rc = Ret(lsetxattr(path.c_str(), name.c_str(), value.data(),
                         value.size(), flags));
      break;
    }
    case WireOp::kGetXattr:
    case WireOp::kListXattr: {
      std::string path = r.Str();
      std::string name = op == WireOp::kGetXattr ? r.Str() : "";
      if (!r.done()) return false;
      // Size query, then read; again if it grew in between (ERANGE).
      for (;;) {
        rc = op == WireOp::kGetXattr
                 ? Ret(lgetxattr(path.c_str(), name.c_str(), nullptr, 0))
                 : Ret(llistxattr(path.c_str(), nullptr, 0));
        if (rc < 0) break;
        std::string buf(static_cast<size_t>(rc), '\0');
        rc = op == WireOp::kGetXattr
                 ? Ret(lgetxattr(path.c_str(), name.c_str(), buf.data(),
                                 buf.size()))
                 : Ret(llistxattr(path.c_str(), buf.data(), buf.size()));
        if (rc == -ERANGE) continue;
        if (rc >= 0) data = buf.substr(0, static_cast<size_t>(rc));
        break;
      }
      put_data = rc >= 0;
      break;
    }
    case WireOp::kRemoveXattr: {
      std::string path = r.Str(), name = r.Str();
      if (!r.done()) return false;
      rc = Ret(lremovexattr(path.c_str(), name.c_str()));
      break;
    }
    case WireOp::kPread:
    case WireOp::kRead: {
      long fd = r.I64();
      size_t count = static_cast<size_t>(r.I64());
      off_t offset = op == WireOp::kPread ? r.I64() : 0;
      if (!r.done()) return false;
      if (!Owns(fd)) {
        rc = -EBADF;
        break;
      }
      if (count > kMaxRead) count = kMaxRead;
      data.assign(count, '\0');
      rc = calls::ReadVariant(Turn(op), static_cast<int>(fd), data.data(),
                                 count,
                                 op == WireOp::kPread ? &offset : nullptr);
      if (rc >= 0) data.resize(static_cast<size_t>(rc));
      put_data = rc >= 0;
      break;
    }
    case WireOp::kPwrite:
    case WireOp::kWrite: {
      long fd = r.I64();
      std::string payload = r.Str();
      off_t offset = op == WireOp::kPwrite ? r.I64() : 0;
      if (!r.done()) return false;
      if (!Owns(fd)) {
        rc = -EBADF;
        break;
      }
      rc = calls::WriteVariant(Turn(op), static_cast<int>(fd),
                                  payload.data(), payload.size(),
                                  op == WireOp::kPwrite ? &offset : nullptr);
      break;
    }
    case WireOp::kLseek: {
      long fd = r.I64();
      off_t offset = r.I64();
      int whence = static_cast<int>(r.I64());
      if (!r.done()) return false;
      rc = Owns(fd) ? Ret(lseek(static_cast<int>(fd), offset, whence))
                    : -EBADF;
      break;
    }
    case WireOp::kFtruncate: {
      long fd = r.I64();
      off_t length = r.I64();
      if (!r.done()) return false;
      rc = Owns(fd) ? Ret(ftruncate(static_cast<int>(fd), length)) : -EBADF;
      break;
    }
    case WireOp::kFallocate: {
      long fd = r.I64();
      int mode = static_cast<int>(r.I64());
      off_t offset = r.I64(), length = r.I64();
      if (!r.done()) return false;
      rc = Owns(fd)
               ? Ret(fallocate(static_cast<int>(fd), mode, offset, length))
               : -EBADF;
      break;
    }
    case WireOp::kFstat: {
      long fd = r.I64();
      if (!r.done()) return false;
      rc = Owns(fd) ? calls::FstatVariant(Turn(op), static_cast<int>(fd), &st)
                    : -EBADF;
      put_stat = rc == 0;
      break;
    }
    case WireOp::kFchmod: {
      long fd = r.I64();
      mode_t mode = static_cast<mode_t>(r.I64());
      if (!r.done()) return false;
      rc = Owns(fd) ? Ret(fchmod(static_cast<int>(fd), mode)) : -EBADF;
      break;
    }
    case WireOp::kGetdents: {
      long fd = r.I64();
      if (!r.done()) return false;
      if (!Owns(fd)) {
        rc = -EBADF;
        break;
      }
      // The whole directory from the current position, in chunks.
      alignas(8) static char buf[32768];
      size_t size = calls::DentsBufferSize(Turn(op));
      for (;;) {
        rc = Ret(syscall(SYS_getdents64, fd, buf, size));
        if (rc <= 0) break;
        for (long pos = 0; pos < rc;) {
          struct Dirent64 {
            uint64_t d_ino;
            int64_t d_off;
            unsigned short d_reclen;
            unsigned char d_type;
            char d_name[];
          };
          auto* d = reinterpret_cast<Dirent64*>(buf + pos);
          pos += d->d_reclen;
          dents.push_back({d->d_name, static_cast<int64_t>(d->d_ino),
                           int64_t{d->d_type}});
        }
      }
      put_dents = rc == 0;
      break;
    }
    default:
      return false;
  }
  out->I64(rc);
  if (put_data) out->Str(data);
  if (put_stat) PutStat(st, out);
  if (put_dents) {
    out->I64(static_cast<int64_t>(dents.size()));
    for (const Dent& d : dents) {
      out->Str(d.name);
      out->I64(d.ino);
      out->I64(d.type);
    }
  }
  return true;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    fprintf(stderr, "usage: syscall_runner ROOT\n");
    return 2;
  }
  signal(SIGPIPE, SIG_IGN);  // a FIFO without readers: EPIPE is compared
  long hello = 0;
  if (mkdir(argv[1], 0755) != 0 && errno != EEXIST) hello = -errno;
  if (hello == 0 && chroot(argv[1]) != 0) hello = -errno;
  if (hello == 0 && chdir("/") != 0) hello = -errno;
  umask(022);
  WireWriter w;
  w.I64(hello);
  if (!calls::WriteFull(1, w.Frame()) || hello != 0) return 1;
  Runner runner;
  for (;;) {
    char len_bytes[4];
    if (!calls::ReadFull(0, len_bytes, 4)) return 0;  // the harness is done
    uint32_t len;
    memcpy(&len, len_bytes, 4);
    if (len == 0 || len > kMaxFrame) return 2;
    std::string body(len, '\0');
    if (!calls::ReadFull(0, body.data(), len)) return 2;
    WireWriter out;
    if (!runner.Serve(body, &out)) return 2;
    if (!calls::WriteFull(1, out.Frame())) return 1;
  }
}
