// SPDX-License-Identifier: Apache-2.0
//
// Vfs: the mount namespace and the syscall-level file operations on it.
// Linux analogue: fs/namei.c, fs/open.c, fs/stat.c, fs/xattr.c and
// fs/namespace.c for one mount namespace.
//
// Every operation takes a Context (who asks, their root, cwd and umask) and
// a starting directory: `ctx.cwd` for AT_FDCWD or a dirfd's Location. Paths
// are resolved with Linux's openat2(2) semantics (internal/resolver.cc);
// failures are the errno Linux returns for the same call, in Linux's order
// of checks. fd-based calls (fchmod, fstat, ...) are the path calls with an
// empty path and AT_EMPTY_PATH on the description's Location.
//
// Thread-safety: all methods may be called concurrently. Lock order: the
// mount table lock, then at most one Filesystem mutex (see filesystem.h).
#pragma once

#include <sys/stat.h>
#include <sys/statfs.h>

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "vfs/attr.h"
#include "vfs/char_device.h"
#include "vfs/credentials.h"
#include "vfs/file_description.h"
#include "vfs/mount.h"

namespace veil::vfs {

struct Context {
  Credentials creds = Credentials::Root();
  Location root;
  Location cwd;
  mode_t umask = 022;
};

// openat2(2)'s struct open_how.
struct OpenHow {
  int flags = O_RDONLY;
  mode_t mode = 0;
  uint64_t resolve = 0;  // RESOLVE_* bits
};

// Tunables Linux exposes as sysctls (fs.protected_*).
struct VfsOptions {
  bool protected_hardlinks = true;  // Debian default: 1
  bool protected_symlinks = false;
  int protected_regular = 0;  // 0, 1 or 2, as the sysctl
  int protected_fifos = 0;
};

// The mount tree of one namespace (Linux: the mount hash and each mount's
// mnt_parent/mnt_mountpoint, under mount_lock). Lookups take mutex()
// shared, mount and unmount exclusively.
class MountTable final {
 public:
  // The mount attached at (mount, dentry), or null.
  Mount* FindChildLocked(const Mount& mount, const Dentry& dentry) const
      VEIL_REQUIRES_SHARED(mutex_);
  // Where `mount` is attached, as a Location in its parent mount (Linux:
  // follow_up's mnt_parent and mnt_mountpoint), or nullopt for the
  // namespace root and a detached mount. Takes the lock. The one way up
  // the mount tree: `..`, path naming and the FUSE adapter all climb
  // through it.
  std::optional<Location> MountPointOf(const Mount& mount) const
      VEIL_EXCLUDES(mutex_);
  // Whether `mount` is attached (not the root, not unmounted).
  bool AttachedLocked(const Mount& mount) const VEIL_REQUIRES_SHARED(mutex_);
  void AttachLocked(Ref<Mount> child, Ref<Mount> parent,
                    Ref<Dentry> mountpoint) VEIL_REQUIRES(mutex_);
  Result<void> DetachLocked(Mount& child) VEIL_REQUIRES(mutex_);
  bool HasChildrenLocked(const Mount& mount) const
      VEIL_REQUIRES_SHARED(mutex_);
  // Every attached mount (takes the lock).
  std::vector<Ref<Mount>> All() const VEIL_EXCLUDES(mutex_);

  SharedMutex& mutex() const VEIL_RETURN_CAPABILITY(mutex_) { return mutex_; }

 private:
  mutable SharedMutex mutex_;
  std::map<std::pair<const Mount*, const Dentry*>, Ref<Mount>> children_
      VEIL_GUARDED_BY(mutex_);
};

class Vfs final {
 public:
  // A namespace whose root is `root_fs`'s root directory.
  Vfs(Ref<Filesystem> root_fs, VfsOptions options = {});
  ~Vfs();
  Vfs(const Vfs&) = delete;
  Vfs& operator=(const Vfs&) = delete;

  // The root Location, and a root context for tools and tests.
  Location RootLocation() const;
  Context RootContext() const;

  // --- Names --------------------------------------------------------------
  Result<Ref<FileDescription>> OpenAt(const Context& ctx, const Location& dir,
                                      std::string_view path,
                                      const OpenHow& how);
  // open(2) of a file found already (a live view's FDID): OpenAt's checks
  // and effects on `loc` itself (permission, EROFS, O_TRUNC, devices), no
  // O_CREAT (EINVAL), a symlink never followed (ELOOP unless O_PATH).
  Result<Ref<FileDescription>> OpenLocation(const Context& ctx,
                                            const Location& loc, int flags);
  Result<void> MkdirAt(const Context& ctx, const Location& dir,
                       std::string_view path, mode_t mode);
  Result<void> MknodAt(const Context& ctx, const Location& dir,
                       std::string_view path, mode_t mode, dev_t dev);
  Result<void> SymlinkAt(const Context& ctx, std::string_view target,
                         const Location& dir, std::string_view path);
  // linkat(2); flags: AT_SYMLINK_FOLLOW, AT_EMPTY_PATH.
  Result<void> LinkAt(const Context& ctx, const Location& old_dir,
                      std::string_view old_path, const Location& new_dir,
                      std::string_view new_path, int flags);
  // unlinkat(2); flags: AT_REMOVEDIR.
  Result<void> UnlinkAt(const Context& ctx, const Location& dir,
                        std::string_view path, int flags);
  // renameat2(2); flags: RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT.
  Result<void> RenameAt(const Context& ctx, const Location& old_dir,
                        std::string_view old_path, const Location& new_dir,
                        std::string_view new_path, unsigned flags);
  Result<std::string> ReadlinkAt(const Context& ctx, const Location& dir,
                                 std::string_view path);
  // The Location `path` names (Linux: filename_lookup into a struct
  // path), for the calls that need an object rather than an open file:
  // exec, unix-socket bind and connect, /proc links, the FUSE adapter.
  // `at_flags`: AT_SYMLINK_NOFOLLOW (a final symlink is the result),
  // AT_EMPTY_PATH (an empty path names `dir` itself); `resolve`: openat2's
  // RESOLVE_* flags. Search permission is checked on every directory
  // walked. Errors as openat2(O_PATH) gives them: ENOENT, ENOTDIR, EACCES,
  // ELOOP, ENAMETOOLONG, EXDEV (RESOLVE_BENEATH/NO_XDEV), EINVAL for an
  // unknown flag.
  Result<Location> ResolveAt(const Context& ctx, const Location& dir,
                             std::string_view path, int at_flags,
                             uint64_t resolve = 0);
  // The child `name` (one component) of directory `dir`, mounts on it
  // crossed and a symlink not followed, with no permission check: for a
  // caller re-finding a name that a checked lookup already let it reach
  // (the FUSE adapter's nodes, whose kernel checked it). Errors: ENOTDIR,
  // ENOENT (also in a removed directory), ENAMETOOLONG, and the
  // filesystem's lookup errors.
  Result<Location> LookupChildUnchecked(const Location& dir,
                                        std::string_view name);
  // Resolves a directory for chdir(2)/chroot(2)/fchdir (needs search
  // permission on it).
  Result<Location> ResolveDirectory(const Context& ctx, const Location& dir,
                                    std::string_view path);
  // The path of `loc` as seen from `ctx.root` (getcwd(2), /proc fd links).
  // `held`: a filesystem whose mutex the caller holds already (a /proc
  // link read under its own filesystem's lock, for a process whose cwd is
  // in /proc): its names are read under that lock, the others under their
  // own filesystem's, one at a time.
  std::string PathOf(const Context& ctx, const Location& loc,
                     const Filesystem* held = nullptr);

  // --- Metadata (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) ----------------
  Result<Attr> StatAt(const Context& ctx, const Location& dir,
                      std::string_view path, int flags);
  Result<void> ChmodAt(const Context& ctx, const Location& dir,
                       std::string_view path, mode_t mode, int flags);
  // uid/gid of -1 leave the field unchanged.
  Result<void> ChownAt(const Context& ctx, const Location& dir,
                       std::string_view path, uid_t uid, gid_t gid, int flags);
  // times == nullptr: both now. UTIME_NOW / UTIME_OMIT honoured.
  Result<void> UtimensAt(const Context& ctx, const Location& dir,
                         std::string_view path, const timespec* times,
                         int flags);
  Result<void> TruncateAt(const Context& ctx, const Location& dir,
                          std::string_view path, int64_t length);
  Result<void> Ftruncate(const Context& ctx, FileDescription& file,
                         int64_t length);
  // faccessat2(2); flags: AT_EACCESS (ignored: fs ids are used),
  // AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH.
  Result<void> AccessAt(const Context& ctx, const Location& dir,
                        std::string_view path, int mode, int flags);
  Result<struct statfs> StatFsAt(const Context& ctx, const Location& dir,
                                 std::string_view path, int flags);

  // --- Extended attributes (flags: AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH) -----
  Result<void> SetXattrAt(const Context& ctx, const Location& dir,
                          std::string_view path, std::string_view name,
                          std::string_view value, int xattr_flags, int flags);
  Result<std::string> GetXattrAt(const Context& ctx, const Location& dir,
                                 std::string_view path, std::string_view name,
                                 int flags);
  Result<std::vector<std::string>> ListXattrAt(const Context& ctx,
                                               const Location& dir,
                                               std::string_view path,
                                               int flags);
  Result<void> RemoveXattrAt(const Context& ctx, const Location& dir,
                             std::string_view path, std::string_view name,
                             int flags);

  // --- Mounts --------------------------------------------------------------
  // Mounts `fs` on the directory at `path`.
  Result<void> MountAt(const Context& ctx, Ref<Filesystem> fs,
                       const Location& dir, std::string_view path,
                       uint32_t mount_flags);
  // Bind-mounts the tree at `source` on the directory at `target`.
  Result<void> BindMountAt(const Context& ctx, const Location& src_dir,
                           std::string_view source, const Location& dst_dir,
                           std::string_view target, uint32_t mount_flags);
  // EINVAL if `path` is not a mount root; EBUSY while it has submounts or
  // anyone holds a Location on it.
  Result<void> UnmountAt(const Context& ctx, const Location& dir,
                         std::string_view path);

  const VfsOptions& options() const { return options_; }
  MountTable& mounts() { return mounts_; }

  // --- Devices -------------------------------------------------------------
  // Opens of character device nodes numbered makedev(major, minor) go to
  // `driver` (vfs/char_device.h); a later registration replaces it.
  void RegisterCharDevice(uint64_t rdev, std::shared_ptr<CharDevice> driver)
      VEIL_EXCLUDES(devices_mu_);
  // The driver of `rdev`, or null.
  std::shared_ptr<CharDevice> FindCharDevice(uint64_t rdev)
      VEIL_EXCLUDES(devices_mu_);

 private:
  friend class Resolver;
  // OpenAt and OpenLocation once the file is found: may_open, the
  // truncate, the file's own open.
  Result<Ref<FileDescription>> FinishOpen(const Context& ctx, Location loc,
                                          int flags, int acc_mode,
                                          bool created);
  const VfsOptions options_;
  Ref<Mount> root_mount_;
  MountTable mounts_;
  Mutex devices_mu_;  // a leaf
  std::map<uint64_t, std::shared_ptr<CharDevice>> devices_
      VEIL_GUARDED_BY(devices_mu_);
};

}  // namespace veil::vfs
