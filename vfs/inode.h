// SPDX-License-Identifier: Apache-2.0
//
// Inode: one file of a filesystem. Linux analogue: struct inode plus its
// inode_operations. Filesystems (tmpfs, gofer client, overlay) subclass it.
//
// Every `...Locked` hook is called by the VFS with fs().mutex() held, after
// the VFS has done the generic checks (permissions, sticky bits, name
// validity, existence); a hook does the filesystem's part: change its
// structures, link counts and the timestamps Linux's filesystem code would
// change. Defaults return what Linux returns when the corresponding
// inode_operations hook is NULL.
//
// Names passed to hooks have passed IsValidName(): non-empty, not "." or
// "..", no '/', at most NAME_MAX bytes.
//
// File locks (fcntl record locks, OFD locks, flock) live on the Inode the
// VFS sees, created on first use (locks()): for an overlay file that is the
// overlay inode, which survives a copy-up. See vfs/file_lock.h.
//
// Ownership: refcounted. Dentries and open files hold references to
// inodes. An inode does NOT hold its Filesystem (a filesystem owns its root
// inode, which would make a cycle); instead everything that holds an inode
// reference from outside the filesystem also holds the filesystem: a Dentry
// holds both, and an open file holds its dentry.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "vfs/attr.h"
#include "vfs/filesystem.h"

namespace veil::vfs {

class FileImpl;
struct Location;
class FileLocks;

// What to create: the type and permission bits, owner, device number and
// for symlinks the target.
struct CreateSpec {
  uint32_t mode = 0;  // S_IFMT | permission bits, umask already applied
  uint32_t uid = 0;
  uint32_t gid = 0;
  uint64_t rdev = 0;
  std::string_view symlink_target;
};

struct DirEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;         // DT_*
  uint64_t next_cookie = 0;  // d_off: where to resume after this entry
};

// Called for each entry by ReadDirLocked; returning false stops early (the
// entry is not consumed).
using DirEmitter = std::function<bool(const DirEntry&)>;

// setxattr flags and limits as Linux.
inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrSizeMax = 65536;

class Inode : public RefCounted<Inode> {
 public:
  virtual ~Inode();

  Filesystem& fs() const { return fs_; }
  uint64_t ino() const { return ino_; }
  // S_IFMT bits; a file's type never changes.
  uint32_t type() const { return type_; }
  bool IsDir() const { return type_ == S_IFDIR; }
  bool IsSymlink() const { return type_ == S_IFLNK; }
  bool IsRegular() const { return type_ == S_IFREG; }

  // This file's lock table, created on first use; thread-safe.
  FileLocks& locks();
  // The lock table if any lock call ever made one, else null (the close
  // path need not create one).
  FileLocks* locks_if_any() const {
    return locks_.load(std::memory_order_acquire);
  }

  // --- Any inode ---------------------------------------------------------

  // Whether the VFS may drop an unused dentry of this inode from its
  // filesystem's DentryCache, to look the name up again when needed. The
  // default, yes, fits a filesystem whose lookup of the same name gives
  // back this inode or one that answers the same (tmpfs keeps its inodes
  // in its directories; the gofer client finds a live inode by host
  // identity). A filesystem whose inode carries state a lookup could not
  // rebuild, or that makes a new inode per lookup while the old one may
  // live on, says no (overlay: see overlay/README.md).
  virtual bool MayEvictDentryLocked() { return true; }

  virtual Attr GetAttrLocked() = 0;
  // Applies `attr` as given (the VFS computed modes and did the checks).
  // A size change also sets mtime and ctime to now (as shmem_setattr);
  // other times change only as the mask says.
  virtual Result<void> SetAttrLocked(const SetAttr& attr) = 0;
  // Marks an access (atime), following the relatime rule. A filesystem's
  // own data path may mark accesses without the mutex, under locks of its
  // own (tmpfs: the inode's metadata lock).
  virtual void TouchAtimeLocked() {}
  // Marks a data change: mtime and ctime to now (file_update_time).
  virtual void StampModifiedLocked() {}

  // Open: per-open state. `flags` are the open(2) flags. Linux: ENXIO for
  // a node nobody serves (a socket), the default here.
  virtual Result<std::unique_ptr<FileImpl>> OpenLocked(int flags);

  // --- Directories (defaults: ENOTDIR, as lookup on a non-directory) ----

  virtual Result<Ref<Inode>> LookupLocked(std::string_view name);
  // Creates `name`, which does not exist.
  virtual Result<Ref<Inode>> CreateLocked(std::string_view name,
                                          const CreateSpec& spec);
  // Adds `name` as a new link to `target` (not a directory).
  virtual Result<void> LinkLocked(std::string_view name, Inode& target);
  // Removes `name`, which refers to `child`. For a directory child the
  // filesystem checks emptiness (ENOTEMPTY).
  virtual Result<void> UnlinkLocked(std::string_view name, Inode& child);
  // Moves `name` (-> `child`) to `new_dir`/`new_name`, replacing
  // `replaced` if non-null (already checked compatible; the filesystem
  // checks emptiness of a replaced directory). `flags` are renameat2's:
  // RENAME_EXCHANGE (swap the two); RENAME_NOREPLACE (already checked);
  // RENAME_WHITEOUT, for which the VFS creates the whiteout itself
  // afterwards, unless the filesystem refuses the flag (overlayfs: EINVAL).
  virtual Result<void> RenameLocked(std::string_view name, Inode& child,
                                    Inode& new_dir, std::string_view new_name,
                                    Inode* replaced, unsigned flags);
  // Emits entries from `cookie` on, "." and ".." first (cookies 0 and 1).
  virtual Result<void> ReadDirLocked(uint64_t cookie, const DirEmitter& emit);
  virtual bool IsEmptyDirLocked() { return false; }

  // --- Symlinks (default: EINVAL, as readlink on a non-symlink) --------

  virtual Result<std::string> ReadlinkLocked();
  // A magic link (Linux nd_jump_link, /proc/PID/fd/N and friends): where
  // following it lands, instead of resolving its text; nullopt for an
  // ordinary symlink (the default). readlink(2) still reads the text.
  virtual Result<std::optional<Location>> JumpLocked();

  // --- Extended attributes (default: EOPNOTSUPP) ------------------------

  virtual Result<std::string> GetXattrLocked(std::string_view name);
  virtual Result<void> SetXattrLocked(std::string_view name,
                                      std::string_view value, int flags);
  virtual Result<std::vector<std::string>> ListXattrLocked();
  virtual Result<void> RemoveXattrLocked(std::string_view name);

 protected:
  Inode(Filesystem& fs, uint64_t ino, uint32_t type);

 private:
  // Borrowed: see "Ownership" above for why the filesystem outlives us.
  Filesystem& fs_;
  const uint64_t ino_;
  const uint32_t type_;
  std::atomic<FileLocks*> locks_{nullptr};  // owned; deleted in ~Inode
};

// Fails with the errno Linux gives for a bad path component name:
// ENAMETOOLONG over NAME_MAX; EINVAL for "", ".", ".." or a '/'.
Result<void> CheckName(std::string_view name);

}  // namespace veil::vfs
