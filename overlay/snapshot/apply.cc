// SPDX-License-Identifier: Apache-2.0
//
// Image::Apply: creates a verified image's tree in an empty directory.
//
// Order matters for what can be restored exactly:
//  1. each entry is created under its first name, in manifest order (a
//     parent always precedes its children), a file's data written, then
//     owner, mode, xattrs and times set, in that order: chown clears
//     setuid/setgid bits and (on Linux) security.capability, so it goes
//     before chmod and the xattrs; anything that writes goes before the
//     times;
//  2. the other names of hard-link groups are linked (link(2) changes only
//     the inode's ctime, which cannot be restored anyway);
//  3. directories get their metadata last, deepest first, because adding
//     entries changed their mtime and a read-only mode would have stopped
//     the adding.
#include <sys/sysmacros.h>

#include <cstring>
#include <optional>
#include <string>

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
  Applier(Image& image, vfs::Vfs& vfs, const ProgressFn& progress)
      : image_(image),
        m_(image.manifest()),
        vfs_(vfs),
        ctx_(vfs.RootContext()),
        progress_(progress),
        dirs_(m_.entries.size()) {
    // Modes are set explicitly; the umask must not mask them meanwhile.
    ctx_.umask = 0;
  }

  SnapshotResult<RestoreStats> Run(const vfs::Location& target);

 private:
  // "restoring /a/b: <what>: <strerror>".
  template <typename T>
  SnapshotResult<T> Check(Result<T> r, uint32_t index, const char* what) {
    return WithContext(std::move(r), [&] {
      return "restoring " + EntryPath(m_, index) + ": " + what +
             " (the target is partly restored)";
    });
  }

  SnapshotResult<void> CheckEmpty(const vfs::Location& target);
  SnapshotResult<void> Create(uint32_t index);
  SnapshotResult<void> WriteData(uint32_t index, const vfs::Location& dir,
                                 const std::string& name);
  SnapshotResult<void> SetMetadata(uint32_t index, const vfs::Location& dir,
                                   std::string_view name);
  void Report() {
    if (progress_) progress_(progress_state_);
  }

  Image& image_;
  const Manifest& m_;
  vfs::Vfs& vfs_;  // borrowed for the duration of Apply
  vfs::Context ctx_;
  const ProgressFn& progress_;
  // The Location of each directory entry once created.
  std::vector<std::optional<vfs::Location>> dirs_;
  RestoreStats stats_;
  Progress progress_state_;
  std::vector<uint8_t> raw_, scratch_;
};

SnapshotResult<void> Applier::CheckEmpty(const vfs::Location& target) {
  auto dir = VEIL_SNAP_TRY(
      WithContext(vfs_.OpenAt(ctx_, target, ".",
                              vfs::OpenHow{O_RDONLY | O_DIRECTORY, 0, 0}),
                  [] { return std::string("opening the restore target"); }));
  std::vector<uint8_t> buf(4096);
  for (;;) {
    size_t n = VEIL_SNAP_TRY(WithContext(dir->Getdents64(buf), [] {
      return std::string("listing the restore target");
    }));
    if (n == 0) return Done();
    for (size_t pos = 0; pos + 19 < n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      if (reclen == 0) break;
      std::string_view name(
          reinterpret_cast<const char*>(buf.data() + pos + 19));
      if (name != "." && name != "..")
        return SnapshotError{ENOTEMPTY, "the restore target is not empty"};
      pos += reclen;
    }
  }
}

SnapshotResult<void> Applier::WriteData(uint32_t index,
                                        const vfs::Location& dir,
                                        const std::string& name) {
  const Entry& e = m_.entries[index];
  auto file = VEIL_SNAP_TRY(Check(
      vfs_.OpenAt(
          ctx_, dir, name,
          vfs::OpenHow{O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0600, 0}),
      index, "create"));
  if (e.size == 0) return Done();
  // Size first: the ranges no extent covers stay holes.
  VEIL_SNAP_TRY_VOID(
      Check(vfs_.Ftruncate(ctx_, *file, static_cast<int64_t>(e.size)), index,
            "truncate"));
  for (const Extent& x : e.extents) {
    // Verified already; read again checked, in case the file changed.
    auto read = image_.ReadChunk(x.chunk, &raw_, &scratch_);
    if (!read)
      return SnapshotError{read.error().code,
                           read.error().message +
                               " (the image changed after it was verified; "
                               "the target is partly restored)"};
    size_t done = 0;
    while (done < raw_.size()) {
      size_t n = VEIL_SNAP_TRY(
          Check(file->PWrite(std::span<const uint8_t>(raw_).subspan(done),
                             static_cast<int64_t>(x.file_offset + done)),
                index, "write"));
      if (n == 0) return SnapshotError{EIO, "restoring: short write"};
      done += n;
    }
    stats_.data_bytes += raw_.size();
    progress_state_.bytes = stats_.data_bytes;
    Report();
  }
  return Done();
}

SnapshotResult<void> Applier::SetMetadata(uint32_t index,
                                          const vfs::Location& dir,
                                          std::string_view name) {
  const Entry& e = m_.entries[index];
  const int nofollow = AT_SYMLINK_NOFOLLOW;
  VEIL_SNAP_TRY_VOID(Check(
      vfs_.ChownAt(ctx_, dir, name, e.uid, e.gid, nofollow), index, "chown"));
  if (e.type != EntryType::kSymlink) {
    VEIL_SNAP_TRY_VOID(
        Check(vfs_.ChmodAt(ctx_, dir, name, e.perm, 0), index, "chmod"));
  }
  for (const Xattr& x : e.xattrs) {
    VEIL_SNAP_TRY_VOID(
        Check(vfs_.SetXattrAt(ctx_, dir, name, x.name, x.value, 0, nofollow),
              index, "setxattr"));
  }
  const timespec times[2] = {ToTimespec(e.atime), ToTimespec(e.mtime)};
  return Check(vfs_.UtimensAt(ctx_, dir, name, times, nofollow), index,
               "utimensat");
}

SnapshotResult<void> Applier::Create(uint32_t index) {
  const Entry& e = m_.entries[index];
  const EntryName& first = e.names[0];
  // Validated: the first parent precedes this entry and is a directory.
  const vfs::Location& parent = *dirs_[first.parent];
  switch (e.type) {
    case EntryType::kDirectory: {
      VEIL_SNAP_TRY_VOID(
          Check(vfs_.MkdirAt(ctx_, parent, first.name, 0700), index, "mkdir"));
      auto opened = VEIL_SNAP_TRY(Check(
          vfs_.OpenAt(ctx_, parent, first.name,
                      vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}),
          index, "open"));
      dirs_[index] = opened->location();
      return Done();  // metadata in pass 3
    }
    case EntryType::kRegular:
      VEIL_SNAP_TRY_VOID(WriteData(index, parent, first.name));
      break;
    case EntryType::kSymlink:
      VEIL_SNAP_TRY_VOID(
          Check(vfs_.SymlinkAt(ctx_, e.symlink_target, parent, first.name),
                index, "symlink"));
      break;
    default: {
      dev_t rdev = makedev(e.rdev_major, e.rdev_minor);
      VEIL_SNAP_TRY_VOID(Check(
          vfs_.MknodAt(ctx_, parent, first.name, TypeBits(e.type) | 0600, rdev),
          index, "mknod"));
      break;
    }
  }
  return SetMetadata(index, parent, first.name);
}

SnapshotResult<RestoreStats> Applier::Run(const vfs::Location& target) {
  VEIL_SNAP_TRY_VOID(CheckEmpty(target));
  progress_state_.total_bytes = image_.DataBytes();
  progress_state_.total_files = m_.entries.size();
  progress_state_.bytes = 0;
  progress_state_.files = 0;
  dirs_[0] = target;
  for (uint32_t i = 1; i < m_.entries.size(); ++i) {
    VEIL_SNAP_TRY_VOID(Create(i));
    ++stats_.names;
    progress_state_.files = i;
    Report();
  }
  for (uint32_t i = 1; i < m_.entries.size(); ++i) {
    const Entry& e = m_.entries[i];
    for (size_t n = 1; n < e.names.size(); ++n) {
      VEIL_SNAP_TRY_VOID(
          Check(vfs_.LinkAt(ctx_, *dirs_[e.names[0].parent], e.names[0].name,
                            *dirs_[e.names[n].parent], e.names[n].name, 0),
                i, "link"));
      ++stats_.names;
    }
  }
  for (uint32_t i = static_cast<uint32_t>(m_.entries.size()); i-- > 0;) {
    if (m_.entries[i].type == EntryType::kDirectory)
      VEIL_SNAP_TRY_VOID(SetMetadata(i, *dirs_[i], "."));
  }
  stats_.entries = m_.entries.size();
  progress_state_.files = m_.entries.size();
  Report();
  return stats_;
}

}  // namespace

SnapshotResult<RestoreStats> Image::Apply(vfs::Vfs& vfs,
                                          const vfs::Location& target,
                                          const ProgressFn& progress) {
  if (!verified_)
    return SnapshotError{EINVAL,
                         "the image must be verified before it is "
                         "applied"};
  Applier applier(*this, vfs, progress);
  return applier.Run(target);
}

}  // namespace veil::snapshot
