// SPDX-License-Identifier: Apache-2.0
//
// HostTarget: a host directory as the TargetDir that `veil restore IMG
// DIR` applies the image into (see snapshot_host.h for the rules).
//
// Why every step is the way it is: the restore usually runs as root, and
// DIR may sit where other users can write. A name is used once, to create
// the entry (mkdirat, openat(O_CREAT|O_EXCL|O_NOFOLLOW), symlinkat,
// mknodat); an entry that is not a regular file is then opened O_PATH |
// O_NOFOLLOW and checked to be of the type just made and owned by us, so
// a swap in between is refused; owner, mode, xattrs and times go through
// that descriptor. Every directory below DIR is the caller's and mode
// 0700 until the last pass sets its metadata, so only DIR itself could
// be reached by anyone else, and OpenRestoreDir (restore_dir.cc) refuses
// such a DIR unless told otherwise.
#include <dirent.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/xattr.h>
#include <unistd.h>

#include <cstdio>
#include <cstring>
#include <memory>
#include <string_view>
#include <utility>

#include "tools/snapshot_host.h"

namespace veil::tools {
namespace {

using snapshot::TargetDir;
using snapshot::TargetFile;
using snapshot::TargetNode;

constexpr uint64_t kSkipsNamed = 5;
constexpr char kCapabilityXattr[] = "security.capability";

#ifndef SYS_fchmodat2
#define SYS_fchmodat2 452
#endif

Result<void> Check(int rc) {
  if (rc != 0) return Errno::FromErrno();
  return {};
}

// What every node of one restore shares.
struct Shared {
  Privileged privileged;
  RestoreReport* report;  // borrowed: see HostTarget
  uid_t euid;
};

class HostTargetDir;

// Where an entry is, for warnings only: its parent and its name. O(1)
// memory per entry; the path is built when a warning is printed.
struct Place {
  const HostTargetDir* parent;  // null for DIR itself; see HostTargetDir
  std::string name;             // DIR's display name for DIR itself
};
std::string PathOf(const Place& place);

// The metadata calls on a descriptor of the entry itself. `kind` says
// what the descriptor is: a regular file or directory opened for I/O
// (f*() calls work), or an O_PATH one (the *at(AT_EMPTY_PATH) calls, and
// /proc/self/fd/N for what has none).
enum class FdKind { kOpen, kPath };

// The TargetNode calls on `Base` (TargetNode, TargetFile or TargetDir).
template <typename Base>
class HostNode : public Base {
 public:
  HostNode(UniqueFd fd, FdKind kind, mode_t type, Place place,
           const Shared& shared)
      : fd_(std::move(fd)),
        kind_(kind),
        type_(type),
        place_(std::move(place)),
        shared_(shared) {}

  Result<void> Chown(uid_t uid, gid_t gid) override {
    if (fchownat(fd_.get(), "", uid, gid, AT_EMPTY_PATH) == 0) return {};
    return Skip(errno, "chown");
  }
  Result<void> Chmod(mode_t perm) override {
    // setgid on a directory only makes new entries inherit its group:
    // not a privilege, so it stays.
    const mode_t privileged_bits = S_ISDIR(type_) ? S_ISUID : S_ISUID | S_ISGID;
    if ((perm & privileged_bits) != 0 &&
        shared_.privileged == Privileged::kStrip) {
      const mode_t stripped = perm & privileged_bits;
      perm &= ~privileged_bits;
      Strip(stripped == (S_ISUID | S_ISGID) ? "setuid and setgid bits"
            : stripped == S_ISUID           ? "setuid bit"
                                            : "setgid bit");
    }
    if (kind_ == FdKind::kOpen) return Check(fchmod(fd_.get(), perm));
    if (syscall(SYS_fchmodat2, fd_.get(), "", perm, AT_EMPTY_PATH) == 0)
      return {};
    if (errno != ENOSYS && errno != EINVAL) return Errno::FromErrno();
    return Check(chmod(internal::ProcFdPath(fd_.get()).c_str(), perm));
  }
  Result<void> SetXattr(const std::string& xattr,
                        const std::string& value) override {
    if (xattr == kCapabilityXattr && shared_.privileged == Privileged::kStrip) {
      Strip("file capabilities");
      return {};
    }
    int rc = kind_ == FdKind::kOpen
                 ? fsetxattr(fd_.get(), xattr.c_str(), value.data(),
                             value.size(), 0)
                 : setxattr(internal::ProcFdPath(fd_.get()).c_str(),
                            xattr.c_str(), value.data(), value.size(), 0);
    if (rc == 0) return {};
    const int e = errno;
    return Skip(e, ("setxattr " + xattr).c_str());
  }
  Result<void> Utimens(const timespec times[2]) override {
    if (kind_ == FdKind::kOpen) return Check(futimens(fd_.get(), times));
    return Check(utimensat(fd_.get(), "", times, AT_EMPTY_PATH));
  }

  // After a call failed with `e`: a refusal for lack of privilege is counted,
  // warned about and skipped; anything else is the error.
  Result<void> Skip(int e, const char* what) const {
    return SkipAt(place_, e, what);
  }
  Result<void> SkipAt(const Place& place, int e, const char* what) const {
    if (e != EPERM && e != EACCES) return Errno(e);
    if (shared_.report->skipped++ < kSkipsNamed)
      std::fprintf(stderr, "veil restore: warning: %s %s: %s (skipped)\n", what,
                   PathOf(place).c_str(), std::strerror(e));
    return {};
  }

 protected:
  void Strip(const char* what) const { StripAt(place_, what); }
  void StripAt(const Place& place, const char* what) const {
    if (shared_.report->stripped++ < kSkipsNamed)
      std::fprintf(stderr, "veil restore: %s: %s left out\n",
                   PathOf(place).c_str(), what);
  }

  UniqueFd fd_;
  const FdKind kind_;
  const mode_t type_;  // S_IF* of the entry
  const Place place_;
  const Shared& shared_;  // borrowed: owned by the root HostTargetDir
};

class HostTargetFile final : public HostNode<TargetFile> {
 public:
  HostTargetFile(UniqueFd fd, Place place, const Shared& shared)
      : HostNode(std::move(fd), FdKind::kOpen, S_IFREG, std::move(place),
                 shared) {}
  Result<size_t> PWrite(std::span<const uint8_t> buf, int64_t offset) override {
    for (;;) {
      ssize_t n = pwrite(fd_.get(), buf.data(), buf.size(), offset);
      if (n >= 0) return static_cast<size_t>(n);
      if (errno != EINTR) return Errno::FromErrno();
    }
  }
};

// A device node that was not created (stripped, or refused by the host):
// there is nothing to set metadata on.
class AbsentNode final : public TargetNode {
 public:
  Result<void> Chown(uid_t, gid_t) override { return {}; }
  Result<void> Chmod(mode_t) override { return {}; }
  Result<void> SetXattr(const std::string&, const std::string&) override {
    return {};
  }
  Result<void> Utimens(const timespec[2]) override { return {}; }
  bool Exists() const override { return false; }
};

// Lifetime: the applier keeps every directory it made until the restore
// ends (their metadata comes last), and the root one longer, so a child
// never outlives its parent_ while a warning can name it.
class HostTargetDir final : public HostNode<TargetDir> {
 public:
  // DIR itself: owns the state every node shares.
  HostTargetDir(UniqueFd fd, std::string display,
                std::unique_ptr<Shared> shared)
      : HostNode(std::move(fd), FdKind::kOpen, S_IFDIR,
                 Place{nullptr, std::move(display)}, *shared),
        root_shared_(std::move(shared)) {}
  HostTargetDir(UniqueFd fd, Place place, const Shared& shared)
      : HostNode(std::move(fd), FdKind::kOpen, S_IFDIR, std::move(place),
                 shared) {}

  Result<bool> IsEmpty() override { return internal::IsEmptyDir(fd_.get()); }
  Result<std::unique_ptr<TargetDir>> MakeDir(const std::string& name) override {
    VEIL_TRY_VOID(Check(mkdirat(fd_.get(), name.c_str(), 0700)));
    UniqueFd fd = VEIL_TRY(OpenMade(name, O_RDONLY | O_DIRECTORY, S_IFDIR));
    return std::unique_ptr<TargetDir>(
        new HostTargetDir(std::move(fd), Place{this, name}, shared_));
  }
  Result<std::unique_ptr<TargetFile>> CreateFile(const std::string& name,
                                                 uint64_t size) override {
    UniqueFd fd(openat(fd_.get(), name.c_str(),
                       O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW | O_CLOEXEC,
                       0600));
    if (!fd) return Errno::FromErrno();
    if (size != 0)
      VEIL_TRY_VOID(Check(ftruncate(fd.get(), static_cast<off_t>(size))));
    return std::unique_ptr<TargetFile>(
        new HostTargetFile(std::move(fd), Place{this, name}, shared_));
  }
  Result<std::unique_ptr<TargetNode>> Symlink(
      const std::string& target, const std::string& name) override {
    VEIL_TRY_VOID(Check(symlinkat(target.c_str(), fd_.get(), name.c_str())));
    return PathNode(name, S_IFLNK);
  }
  Result<std::unique_ptr<TargetNode>> Mknod(const std::string& name,
                                            mode_t mode, dev_t rdev) override {
    const mode_t type = mode & S_IFMT;
    const bool device = type == S_IFCHR || type == S_IFBLK;
    // A 0:0 character device is an overlay whiteout, not a device.
    const bool whiteout = type == S_IFCHR && rdev == makedev(0, 0);
    if (device && !whiteout && shared_.privileged == Privileged::kStrip) {
      StripAt(Place{this, name}, "device node");
      return std::unique_ptr<TargetNode>(new AbsentNode);
    }
    if (mknodat(fd_.get(), name.c_str(), mode, rdev) != 0) {
      VEIL_TRY_VOID(SkipAt(Place{this, name}, errno, "mknod"));
      return std::unique_ptr<TargetNode>(new AbsentNode);
    }
    return PathNode(name, type);
  }
  Result<void> Link(TargetDir& old_dir, const std::string& old_name,
                    const std::string& name) override {
    // Apply links only within one target tree, so of this kind. By name:
    // links come after all metadata and set none, so a source swapped
    // meanwhile (possible only in a DIR opened with --force) would gain
    // nothing but a second name in the tree.
    auto& from = static_cast<HostTargetDir&>(old_dir);
    return Check(
        linkat(from.fd_.get(), old_name.c_str(), fd_.get(), name.c_str(), 0));
  }

  // For PathOf.
  const Place& place() const { return place_; }

 private:
  // Opens the entry `name` just made with `flags` | O_NOFOLLOW and checks
  // that it is still what was made: of `type` and owned by this process.
  // Anything else was put there by someone else in between: ESTALE.
  Result<UniqueFd> OpenMade(const std::string& name, int flags, mode_t type) {
    UniqueFd fd(
        openat(fd_.get(), name.c_str(), flags | O_NOFOLLOW | O_CLOEXEC));
    if (!fd) return Errno::FromErrno();
    struct stat st;
    if (fstat(fd.get(), &st) != 0) return Errno::FromErrno();
    if ((st.st_mode & S_IFMT) != type || st.st_uid != shared_.euid)
      return Errno(ESTALE);
    return fd;
  }
  Result<std::unique_ptr<TargetNode>> PathNode(const std::string& name,
                                               mode_t type) {
    UniqueFd fd = VEIL_TRY(OpenMade(name, O_PATH, type));
    return std::unique_ptr<TargetNode>(new HostNode<TargetNode>(
        std::move(fd), FdKind::kPath, type, Place{this, name}, shared_));
  }

  std::unique_ptr<Shared> root_shared_;  // DIR's own object only
};

std::string RawPathOf(const Place& place) {
  if (place.parent == nullptr) return place.name;
  std::string parent = RawPathOf(place.parent->place());
  return parent == "/" ? "/" + place.name : parent + "/" + place.name;
}

// For messages: names come from the image, so escaped and shortened.
std::string PathOf(const Place& place) {
  return snapshot::MessagePath(RawPathOf(place));
}

}  // namespace

std::unique_ptr<TargetDir> HostTarget(UniqueFd dir, std::string display,
                                      Privileged privileged,
                                      RestoreReport* report) {
  return std::make_unique<HostTargetDir>(
      std::move(dir), std::move(display),
      std::make_unique<Shared>(Shared{privileged, report, geteuid()}));
}

namespace internal {

// Whether the directory open at `fd` has no entries but "." and "..".
Result<bool> IsEmptyDir(int fd) {
  // A descriptor of its own: readdir moves the offset it reads from.
  int own = openat(fd, ".", O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  DIR* dir = own < 0 ? nullptr : fdopendir(own);
  if (dir == nullptr) {
    Errno e = Errno::FromErrno();
    if (own >= 0) close(own);
    return e;
  }
  bool empty = true;
  while (dirent* e = readdir(dir)) {
    std::string_view n = e->d_name;
    if (n != "." && n != "..") {
      empty = false;
      break;
    }
  }
  closedir(dir);
  return empty;
}

}  // namespace internal
}  // namespace veil::tools
