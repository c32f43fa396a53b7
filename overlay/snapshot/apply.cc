// SPDX-License-Identifier: Apache-2.0
//
// Image::Apply: creates a verified image's tree in an empty directory.
//
// Order matters for what can be restored exactly:
//  1. each entry is created under its first name, in manifest order (a
//     parent always precedes its children), a file's data written, then
//     owner, mode, xattrs and times set through the TargetNode the
//     creation returned (never by name), in that order: chown clears
//     setuid/setgid bits and (on Linux) security.capability, so it goes
//     before chmod and the xattrs; anything that writes goes before the
//     times;
//  2. the other names of hard-link groups are linked (link(2) changes only
//     the inode's ctime, which cannot be restored anyway);
//  3. directories get their metadata last, deepest first, because adding
//     entries changed their mtime and a read-only mode would have stopped
//     the adding.
//
// File data comes from a ChunkReader (pipeline.h): worker threads read,
// check and decompress the chunks a few ahead, in the order pass 1 writes
// them, while this thread writes.
#include <sys/sysmacros.h>

#include <memory>
#include <string>
#include <vector>

#include "overlay/snapshot/pipeline.h"
#include "overlay/snapshot/snapshot.h"

namespace veil::snapshot {
namespace {

timespec ToTimespec(const Timestamp& t) {
  return timespec{static_cast<time_t>(t.sec), static_cast<long>(t.nsec)};
}

mode_t TypeBits(EntryType type) {
  switch (type) {
    case EntryType::kCharDevice:
      return S_IFCHR;
    case EntryType::kBlockDevice:
      return S_IFBLK;
    case EntryType::kFifo:
      return S_IFIFO;
    case EntryType::kSocket:
      return S_IFSOCK;
    default:
      return S_IFREG;
  }
}

class Applier {
 public:
  Applier(Image& image, const ProgressFn& progress)
      : image_(image),
        m_(image.manifest()),
        progress_(progress),
        dirs_(m_.entries.size()),
        owned_dirs_(m_.entries.size()),
        absent_(m_.entries.size()) {}

  SnapshotResult<RestoreStats> Run(TargetDir& target);

 private:
  // "restoring /a/b: <what>: <strerror>".
  template <typename T>
  SnapshotResult<T> Check(Result<T> r, uint32_t index, const char* what) {
    return WithContext(std::move(r), [&] {
      return "restoring " + EntryPath(m_, index) + ": " + what + " (" +
             LeftBehind(index) + ")";
    });
  }
  // What the target holds after a failure at entry `index`.
  std::string LeftBehind(uint32_t index) const {
    const std::string total = std::to_string(m_.entries.size() - 1);
    switch (pass_) {
      case Pass::kCreate:
        return "the target is partly restored: it holds the " +
               std::to_string(index - 1) + " entries before this one of " +
               total + ", in manifest order";
      case Pass::kLink:
        return "the target is partly restored: all " + total +
               " entries exist, some hard links are missing";
      case Pass::kDirectories:
        break;
    }
    return "the target is partly restored: all " + total +
           " entries exist; this directory and the ones above it still "
           "have mode 0700 and the restore's times";
  }

  SnapshotResult<void> Create(uint32_t index);
  SnapshotResult<std::unique_ptr<TargetNode>> WriteData(
      uint32_t index, TargetDir& dir, const std::string& name);
  SnapshotResult<void> SetMetadata(uint32_t index, TargetNode& node);
  void Report() {
    if (progress_) progress_(progress_state_);
  }

  Image& image_;
  const Manifest& m_;
  const ProgressFn& progress_;
  // Each directory entry once created (entry 0: the target); the others
  // owned by owned_dirs_.
  std::vector<TargetDir*> dirs_;
  std::vector<std::unique_ptr<TargetDir>> owned_dirs_;
  // Entries the target did not create (TargetNode::Exists): no links.
  std::vector<bool> absent_;
  RestoreStats stats_;
  Progress progress_state_;
  enum class Pass { kCreate, kLink, kDirectories } pass_ = Pass::kCreate;
  // Every extent's chunk, in the order Create writes them, and the
  // workers that read and decode them ahead of the writes.
  std::vector<uint32_t> order_;
  std::unique_ptr<internal::ChunkReader> chunks_;
};

SnapshotResult<std::unique_ptr<TargetNode>> Applier::WriteData(
    uint32_t index, TargetDir& dir, const std::string& name) {
  const Entry& e = m_.entries[index];
  // Sized first: the ranges no extent covers stay holes.
  auto file =
      VEIL_SNAP_TRY(Check(dir.CreateFile(name, e.size), index, "create"));
  for (const Extent& x : e.extents) {
    // Verified already; read again checked, in case the file changed.
    auto read = chunks_->Next();
    if (!read)
      return SnapshotError{read.error().code,
                           read.error().message +
                               " (the image changed after it was verified; "
                               "the target is partly restored)"};
    const std::span<const uint8_t> raw = *read;
    size_t done = 0;
    while (done < raw.size()) {
      size_t n = VEIL_SNAP_TRY(
          Check(file->PWrite(raw.subspan(done),
                             static_cast<int64_t>(x.file_offset + done)),
                index, "write"));
      if (n == 0) return SnapshotError{EIO, "restoring: short write"};
      done += n;
    }
    stats_.data_bytes += raw.size();
    progress_state_.bytes = stats_.data_bytes;
    Report();
  }
  return std::unique_ptr<TargetNode>(std::move(file));
}

SnapshotResult<void> Applier::SetMetadata(uint32_t index, TargetNode& node) {
  const Entry& e = m_.entries[index];
  VEIL_SNAP_TRY_VOID(Check(node.Chown(e.uid, e.gid), index, "chown"));
  if (e.type != EntryType::kSymlink)
    VEIL_SNAP_TRY_VOID(Check(node.Chmod(e.perm), index, "chmod"));
  for (const Xattr& x : e.xattrs)
    VEIL_SNAP_TRY_VOID(Check(node.SetXattr(x.name, x.value), index, "setxattr"));
  const timespec times[2] = {ToTimespec(e.atime), ToTimespec(e.mtime)};
  return Check(node.Utimens(times), index, "utimensat");
}

SnapshotResult<void> Applier::Create(uint32_t index) {
  const Entry& e = m_.entries[index];
  const EntryName& first = e.names[0];
  // Validated: the first parent precedes this entry and is a directory.
  TargetDir& parent = *dirs_[first.parent];
  std::unique_ptr<TargetNode> node;
  switch (e.type) {
    case EntryType::kDirectory:
      owned_dirs_[index] =
          VEIL_SNAP_TRY(Check(parent.MakeDir(first.name), index, "mkdir"));
      dirs_[index] = owned_dirs_[index].get();
      return Done();  // metadata in pass 3
    case EntryType::kRegular:
      node = VEIL_SNAP_TRY(WriteData(index, parent, first.name));
      break;
    case EntryType::kSymlink:
      node = VEIL_SNAP_TRY(Check(parent.Symlink(e.symlink_target, first.name),
                                 index, "symlink"));
      break;
    default: {
      dev_t rdev = makedev(e.rdev_major, e.rdev_minor);
      node = VEIL_SNAP_TRY(
          Check(parent.Mknod(first.name, TypeBits(e.type) | 0600, rdev), index,
                "mknod"));
      break;
    }
  }
  if (!node->Exists()) {
    absent_[index] = true;
    return Done();
  }
  // The node (and a host target's descriptor) is dropped once set up.
  return SetMetadata(index, *node);
}

SnapshotResult<RestoreStats> Applier::Run(TargetDir& target) {
  bool empty = VEIL_SNAP_TRY(WithContext(target.IsEmpty(), [] {
    return std::string("listing the restore target");
  }));
  if (!empty)
    return SnapshotError{ENOTEMPTY, "the restore target is not empty"};
  progress_state_.total_bytes = image_.DataBytes();
  progress_state_.total_files = m_.entries.size();
  progress_state_.bytes = 0;
  progress_state_.files = 0;
  dirs_[0] = &target;
  for (const Entry& e : m_.entries)
    for (const Extent& x : e.extents) order_.push_back(x.chunk);
  chunks_ = std::make_unique<internal::ChunkReader>(
      [this](uint32_t chunk, std::vector<uint8_t>* raw,
             std::vector<uint8_t>* scratch) {
        return image_.ReadChunk(chunk, raw, scratch, Image::Check::kStored);
      },
      order_, 0);
  for (uint32_t i = 1; i < m_.entries.size(); ++i) {
    VEIL_SNAP_TRY_VOID(Create(i));
    ++stats_.names;
    progress_state_.files = i;
    Report();
  }
  pass_ = Pass::kLink;
  for (uint32_t i = 1; i < m_.entries.size(); ++i) {
    const Entry& e = m_.entries[i];
    if (absent_[i]) continue;
    for (size_t n = 1; n < e.names.size(); ++n) {
      VEIL_SNAP_TRY_VOID(Check(
          dirs_[e.names[n].parent]->Link(*dirs_[e.names[0].parent],
                                         e.names[0].name, e.names[n].name),
          i, "link"));
      ++stats_.names;
    }
  }
  pass_ = Pass::kDirectories;
  for (uint32_t i = static_cast<uint32_t>(m_.entries.size()); i-- > 0;) {
    if (m_.entries[i].type == EntryType::kDirectory)
      VEIL_SNAP_TRY_VOID(SetMetadata(i, *dirs_[i]));
  }
  stats_.entries = m_.entries.size();
  progress_state_.files = m_.entries.size();
  Report();
  return stats_;
}

}  // namespace

SnapshotResult<RestoreStats> Image::Apply(TargetDir& target,
                                          const ProgressFn& progress) {
  if (!verified_)
    return SnapshotError{EINVAL,
                         "the image must be verified before it is "
                         "applied"};
  Applier applier(*this, progress);
  return applier.Run(target);
}

SnapshotResult<RestoreStats> Image::Apply(vfs::Vfs& vfs,
                                          const vfs::Location& target,
                                          const ProgressFn& progress) {
  return Apply(*VfsTarget(vfs, target), progress);
}

}  // namespace veil::snapshot
