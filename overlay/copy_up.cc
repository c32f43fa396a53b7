// SPDX-License-Identifier: Apache-2.0
//
// Copy-up: giving a lower file an upper copy (fs/overlayfs/copy_up.c
// ovl_copy_up_flags, ovl_copy_up_one, ovl_copy_up_file, ovl_set_attr).
//
// Linux builds the copy in a work directory and renames (or links) it into
// place, so that a crash never leaves half a copy. veil's layers are in
// memory and the overlay mutex hides the intermediate states from every
// other caller, so the copy is built in place and removed again on
// failure; the visible result is the same: the new upper entry, the
// parent's atime and mtime restored (ovl_set_timestamps) and its ctime
// changed.
#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>

#include "overlay/internal/inode.h"
#include "vfs/credentials.h"

namespace veil::overlay::internal {
namespace {

// OVL_COPY_UP_CHUNK_SIZE.
constexpr uint64_t kChunk = 1 << 20;

bool IsPrivateXattr(std::string_view name) {
  return name.substr(0, kPrivatePrefix.size()) == kPrivatePrefix &&
         name.substr(0, kEscapedPrefix.size()) != kEscapedPrefix;
}

// What a copy needs from the lower file, read under the lower's lock.
struct Source {
  vfs::Attr attr;
  std::string target;  // symlinks
  std::vector<std::pair<std::string, std::string>> xattrs;
};

Result<Source> ReadSource(vfs::Inode& lower) {
  MutexLock lock(lower.fs().mutex());
  Source src;
  src.attr = lower.GetAttrLocked();
  if (lower.IsSymlink()) src.target = VEIL_TRY(lower.ReadlinkLocked());
  // ovl_copy_xattr: every xattr but the overlay's own (escaped user names
  // are copied as they are stored).
  Result<std::vector<std::string>> names = lower.ListXattrLocked();
  if (!names) {
    if (names.error().code() != EOPNOTSUPP) return names.error();
    return src;
  }
  for (const std::string& name : *names) {
    if (IsPrivateXattr(name)) continue;
    Result<std::string> value = lower.GetXattrLocked(name);
    if (!value) {
      if (value.error().code() == ENODATA) continue;  // gone meanwhile
      return value.error();
    }
    src.xattrs.emplace_back(name, std::move(*value));
  }
  return src;
}

}  // namespace

Result<void> OverlayInode::CopyUpLocked(CopyData data) {
  if (upper_) return Ok();
  // ovl_copy_up_flags: from the topmost ancestor without an upper copy
  // down to this inode. The root always has one.
  std::vector<OverlayInode*> chain;
  for (OverlayInode* p = this; !p->upper_; p = p->parent_.get())
    chain.push_back(p);
  for (auto it = chain.rbegin(); it != chain.rend(); ++it) {
    VEIL_TRY_VOID((*it)->CopyUpOneLocked(*it == this ? data : CopyData::kNo));
  }
  return Ok();
}

Result<void> OverlayInode::CopyUpOneLocked(CopyData data) {
  OverlayInode& parent = *parent_;
  vfs::Inode& udir = *parent.upper_;
  vfs::Inode& lower = *lowers_.front().inode;
  Source src = VEIL_TRY(ReadSource(lower));
  // ovl_do_copy_up: the copy keeps the lower's identity (its inode number)
  // unless it breaks a lower hard link.
  std::optional<uint64_t> origin;
  if (IsDir() || src.attr.nlink == 1) origin = CurrentIno();

  // ovl_do_copy_up: the directory may now hold an entry with an origin
  // (marked before anything can fail, so even a failed copy-up changes
  // the directory's ctime, as in Linux).
  VEIL_TRY_VOID(parent.SetImpureLocked());
  // Linux copies a regular file up with O_TMPFILE and links it into place;
  // everything else is built in the work directory and renamed into place.
  // The two fail differently when the name or the directory went away
  // under an open file (see below).
  const bool by_rename = !IsRegular();
  vfs::Attr pattr;
  RefPtr<vfs::Inode> copy;
  RefPtr<vfs::Inode> occupant;  // what the rename into place replaces
  std::string build_name = name_;
  {
    MutexLock lock(udir.fs().mutex());
    pattr = udir.GetAttrLocked();
    // The directory was removed after this inode was looked up (an open
    // file in it): linking into it fails as in any deleted directory;
    // ovl_lock_rename_workdir finds it unhashed (EIO).
    if (parent.dead_ || pattr.nlink == 0)
      return Errno(by_rename ? EIO : ENOENT);
    Result<Ref<vfs::Inode>> taken = udir.LookupLocked(name_);
    if (taken) {
      // The name now holds a whiteout or another file. The link fails
      // (EEXIST); the rename replaces it, as rename(2) would: Linux
      // resurrects an unlinked FIFO this way.
      if (!by_rename) return Errno(EEXIST);
      occupant = RefPtr<vfs::Inode>(std::move(*taken));
      if (IsDir() && !occupant->IsDir()) return Errno(ENOTDIR);
      if (!IsDir() && occupant->IsDir()) return Errno(EISDIR);
      if (occupant->IsDir() && !occupant->IsEmptyDirLocked())
        return Errno(ENOTEMPTY);
      build_name = "#veil-copy-up";
      while (udir.LookupLocked(build_name)) build_name += "_";
    } else if (taken.error().code() != ENOENT) {
      return taken.error();
    }
    vfs::CreateSpec spec;
    spec.mode = src.attr.mode;
    spec.uid = src.attr.uid;
    spec.gid = src.attr.gid;
    spec.rdev = src.attr.rdev;
    spec.symlink_target = src.target;
    copy = RefPtr<vfs::Inode>(VEIL_TRY(udir.CreateLocked(build_name, spec)));
  }
  auto finish = [&]() -> Result<void> {
    if (IsRegular() && data == CopyData::kYes && src.attr.size > 0)
      VEIL_TRY_VOID(CopyDataLocked(lower, *copy, src.attr.size));
    MutexLock lock(udir.fs().mutex());
    for (const auto& [name, value] : src.xattrs)
      VEIL_TRY_VOID(copy->SetXattrLocked(name, value, 0));
    if (origin)
      VEIL_TRY_VOID(
          copy->SetXattrLocked(kOriginXattr, EncodeOrigin(*origin), 0));
    // ovl_set_size + ovl_set_attr: the size (a trailing hole is not
    // copied) and then the lower's atime and mtime; mode and owner were
    // given at creation.
    vfs::SetAttr attr;
    attr.mask = vfs::kSetAtime | vfs::kSetMtime;
    attr.atime = src.attr.atime;
    attr.mtime = src.attr.mtime;
    if (IsRegular()) {
      attr.mask |= vfs::kSetSize;
      attr.size = data == CopyData::kYes ? src.attr.size : 0;
    }
    VEIL_TRY_VOID(copy->SetAttrLocked(attr));
    if (occupant) {
      VEIL_TRY_VOID(
          udir.RenameLocked(build_name, *copy, udir, name_, occupant.get(), 0));
      build_name = name_;
    }
    // Restore the parent's timestamps (best effort, as Linux).
    vfs::SetAttr times;
    times.mask = vfs::kSetAtime | vfs::kSetMtime;
    times.atime = pattr.atime;
    times.mtime = pattr.mtime;
    (void)udir.SetAttrLocked(times);
    return Ok();
  };
  if (Result<void> r = finish(); !r) {
    MutexLock lock(udir.fs().mutex());
    (void)udir.UnlinkLocked(build_name, *copy);
    return r;
  }
  upper_ = copy;
  has_upper_.store(true, std::memory_order_release);
  origin_ = origin;
  if (IsDir()) whiteouts_ = true;
  return Ok();
}

// ovl_copy_up_file: chunks of 1 MiB; a hole found by SEEK_DATA at a chunk
// boundary is skipped, holes inside a chunk are written as zeros (so the
// copy allocates what Linux's does).
Result<void> OverlayInode::CopyDataLocked(vfs::Inode& lower, vfs::Inode& upper,
                                          uint64_t size) {
  std::unique_ptr<vfs::FileImpl> in, out;
  {
    MutexLock lock(lower.fs().mutex());
    // Lower layers are mounted noatime: reading them leaves no trace.
    in = VEIL_TRY(lower.OpenLocked(O_RDONLY | O_NOATIME));
  }
  {
    MutexLock lock(upper.fs().mutex());
    out = VEIL_TRY(upper.OpenLocked(O_WRONLY));
  }
  // The mounter's credentials: writing keeps setuid/setgid bits.
  const vfs::Credentials mounter = vfs::Credentials::Root();
  std::vector<uint8_t> buf(std::min(size, kChunk));
  int64_t pos = 0;
  int64_t data_pos = -1;
  uint64_t len = size;
  bool skip_holes = true;
  while (len > 0) {
    size_t this_len = static_cast<size_t>(std::min(len, kChunk));
    if (skip_holes && data_pos < pos) {
      Result<int64_t> next = in->Seek(pos, SEEK_DATA, pos);
      if (next) {
        data_pos = *next;
        if (data_pos > pos) {
          len -= static_cast<uint64_t>(data_pos - pos);
          pos = data_pos;
          continue;
        }
      } else if (next.error().code() == ENXIO) {
        break;  // only a hole is left
      } else {
        skip_holes = false;  // the layer cannot tell holes apart
      }
    }
    size_t n = VEIL_TRY(in->PRead(std::span(buf.data(), this_len), pos));
    if (n == 0) break;
    int64_t wpos = pos;
    for (size_t done = 0; done < n;) {
      size_t w = VEIL_TRY(out->PWrite(
          mounter, std::span<const uint8_t>(buf.data() + done, n - done), &wpos,
          vfs::WriteAt::kOffset));
      if (w == 0) return Errno(EIO);
      done += w;
    }
    pos += static_cast<int64_t>(n);
    len -= n;
  }
  return Ok();
}

}  // namespace veil::overlay::internal
