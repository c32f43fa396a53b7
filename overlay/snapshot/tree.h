// SPDX-License-Identifier: Apache-2.0
//
// The trees an image is written from and applied to, as narrow interfaces.
//
// WriteImage reads through a SourceDir and Apply creates through a
// TargetDir. The product path is a veil VFS tree (the sandbox's upper is a
// tmpfs): VfsSource()/VfsTarget() wrap one. `veil snapshot`/`veil restore`
// on plain host directories implement the same interfaces over host
// descriptors (tools/snapshot_host.h), so the CLI need not stage the whole
// tree in a veil tmpfs first: that copy cost as much as the image itself.
//
// Names are single path components ("." means the directory itself where
// stated). Errors are the errnos the underlying calls return; the callers
// add the path and the operation to the message. Nothing here follows a
// symlink. One object is used by one thread at a time.
#pragma once

#include <sys/types.h>
#include <time.h>

#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "base/result.h"
#include "vfs/attr.h"
#include "vfs/vfs.h"

namespace veil::snapshot {

// A regular file open for reading.
class SourceFile {
 public:
  virtual ~SourceFile() = default;
  // lseek(2) with SEEK_DATA or SEEK_HOLE: ENXIO at or past the last data;
  // any other error makes the writer store every byte.
  virtual Result<int64_t> Seek(int64_t offset, int whence) = 0;
  // pread(2): 0 at the end of the file.
  virtual Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) = 0;
};

class SourceDir {
 public:
  virtual ~SourceDir() = default;
  // Appends the names of the directory's entries but "." and "..", in any
  // order.
  virtual Result<void> List(std::vector<std::string>* names) = 0;
  // lstat(2) of `name`, or of the directory itself for ".".
  virtual Result<vfs::Attr> Stat(const std::string& name) = 0;
  // llistxattr(2)/lgetxattr(2) of `name` (or "."). EOPNOTSUPP where the
  // filesystem keeps none.
  virtual Result<std::vector<std::string>> ListXattrs(
      const std::string& name) = 0;
  virtual Result<std::string> GetXattr(const std::string& name,
                                       const std::string& xattr) = 0;
  virtual Result<std::string> Readlink(const std::string& name) = 0;
  // Opens a regular file for reading without moving its atime where the
  // filesystem allows (O_NOATIME).
  virtual Result<std::unique_ptr<SourceFile>> OpenFile(
      const std::string& name) = 0;
  virtual Result<std::unique_ptr<SourceDir>> OpenDir(
      const std::string& name) = 0;
};

// An entry the applier created, on which it then sets the metadata. A
// host target acts on the entry's own descriptor, never on its name
// again: a name can be swapped for a symlink between two calls, the
// object behind a descriptor cannot (tools/snapshot_host.h).
class TargetNode {
 public:
  virtual ~TargetNode() = default;
  // lchown(2); clears setuid/setgid bits and security.capability, so the
  // applier calls it before Chmod and SetXattr.
  virtual Result<void> Chown(uid_t uid, gid_t gid) = 0;
  // chmod(2) of the permission bits; never called on a symlink.
  virtual Result<void> Chmod(mode_t perm) = 0;
  virtual Result<void> SetXattr(const std::string& xattr,
                                const std::string& value) = 0;
  // utimensat(2) of atime and mtime, without following a symlink.
  virtual Result<void> Utimens(const timespec times[2]) = 0;
  // False for an entry the target chose not to create (a device node a
  // host restore leaves out): its other names are not linked either.
  virtual bool Exists() const { return true; }
};

// A regular file created for writing.
class TargetFile : public TargetNode {
 public:
  virtual Result<size_t> PWrite(std::span<const uint8_t> buf,
                                int64_t offset) = 0;
};

// A directory being filled; as a TargetNode, the directory itself.
class TargetDir : public TargetNode {
 public:
  // Whether the directory has no entries but "." and "..".
  virtual Result<bool> IsEmpty() = 0;
  // mkdir(2) with mode 0700, then opens it.
  virtual Result<std::unique_ptr<TargetDir>> MakeDir(
      const std::string& name) = 0;
  // Creates a new regular file (O_EXCL, mode 0600) `size` bytes long (the
  // bytes not written later stay holes).
  virtual Result<std::unique_ptr<TargetFile>> CreateFile(
      const std::string& name, uint64_t size) = 0;
  virtual Result<std::unique_ptr<TargetNode>> Symlink(
      const std::string& target, const std::string& name) = 0;
  // mknod(2) of a device, FIFO or socket (`mode` holds the type and 0600).
  virtual Result<std::unique_ptr<TargetNode>> Mknod(const std::string& name,
                                                    mode_t mode,
                                                    dev_t rdev) = 0;
  // link(2) from `old_name` in `old_dir` (a TargetDir of the same kind).
  // Links are made after every entry got its metadata and set none.
  virtual Result<void> Link(TargetDir& old_dir, const std::string& old_name,
                            const std::string& name) = 0;
};

// The directory `dir` of `vfs`, accessed as root; `vfs` is borrowed and
// must outlive the result. The target creates with a umask of 0.
std::unique_ptr<SourceDir> VfsSource(vfs::Vfs& vfs, const vfs::Location& dir);
std::unique_ptr<TargetDir> VfsTarget(vfs::Vfs& vfs, const vfs::Location& dir);

}  // namespace veil::snapshot
