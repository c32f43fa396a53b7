// SPDX-License-Identifier: Apache-2.0
//
// OverlayInode: construction, attributes, symlinks and xattrs
// (fs/overlayfs/inode.c ovl_getattr, ovl_setattr, ovl_update_time;
// xattrs.c ovl_xattr_get/set, ovl_listxattr).
#include "overlay/internal/inode.h"

#include <sys/stat.h>
#include <sys/xattr.h>

#include <cstring>

namespace veil::overlay::internal {
namespace {

bool HasPrefix(std::string_view s, std::string_view prefix) {
  return s.substr(0, prefix.size()) == prefix;
}

// A user's xattr name as stored on a layer: "trusted.overlay.X" is escaped
// to "trusted.overlay.overlay.X" (Linux >= 6.7), so users can neither read
// nor forge the overlay's own xattrs.
std::string ToLayerName(std::string_view name) {
  if (!HasPrefix(name, kPrivatePrefix)) return std::string(name);
  std::string out(kEscapedPrefix);
  out.append(name.substr(kPrivatePrefix.size()));
  return out;
}

// The inverse; nullopt for the overlay's private names (ovl_can_list).
std::optional<std::string> FromLayerName(std::string_view name) {
  if (HasPrefix(name, kEscapedPrefix)) {
    std::string out(kPrivatePrefix);
    out.append(name.substr(kEscapedPrefix.size()));
    return out;
  }
  if (HasPrefix(name, kPrivatePrefix)) return std::nullopt;
  return std::string(name);
}

// What the layer's own xattr_resolve_name answers (tmpfs: user, trusted
// and security): EOPNOTSUPP for another namespace, EINVAL for a bare
// prefix. The overlay's catch-all handler forwards everything, so on a
// change this comes after the copy-up (see ResolvesXattrNamespaces).
Result<void> CheckLayerNamespace(std::string_view name) {
  for (std::string_view prefix : {"user.", "trusted.", "security."}) {
    if (HasPrefix(name, prefix))
      return name.size() == prefix.size() ? Result<void>(Errno(EINVAL)) : Ok();
  }
  return Errno(EOPNOTSUPP);
}

}  // namespace

std::optional<uint64_t> ReadOriginXattrLocked(vfs::Inode& upper) {
  Result<std::string> v = upper.GetXattrLocked(kOriginXattr);
  if (!v || v->size() != sizeof(uint64_t)) return std::nullopt;
  uint64_t ino = 0;
  for (size_t i = 0; i < sizeof(uint64_t); ++i)
    ino |= uint64_t{static_cast<uint8_t>((*v)[i])} << (8 * i);
  return ino;
}

namespace {

uint64_t InitialIno(OverlayFs& fs, const Layers& layers) {
  if (layers.upper) {
    if (layers.origin) return *layers.origin;
    return fs.MapInoLocked(0, layers.upper->ino());
  }
  const LowerEntry& lower = layers.lowers.front();
  return fs.MapInoLocked(fs.FsidOfLower(lower.layer), lower.inode->ino());
}

uint32_t TypeOf(const Layers& layers) {
  return layers.upper ? layers.upper->type() : layers.lowers[0].inode->type();
}

}  // namespace

std::string EncodeOrigin(uint64_t ino) {
  std::string v(sizeof(uint64_t), '\0');
  for (size_t i = 0; i < sizeof(uint64_t); ++i)
    v[i] = static_cast<char>((ino >> (8 * i)) & 0xff);
  return v;
}

OverlayInode::OverlayInode(OverlayFs& fs, Layers layers,
                           RefPtr<OverlayInode> parent, std::string_view name)
    : vfs::Inode(fs, InitialIno(fs, layers), TypeOf(layers)),
      upper_(std::move(layers.upper)),
      lowers_(std::move(layers.lowers)),
      origin_(layers.origin),
      redirect_(std::move(layers.redirect)),
      opaque_(layers.opaque),
      impure_(layers.impure),
      parent_(std::move(parent)),
      name_(name) {
  // ovl_get_inode / ovl_get_root: the root, merged directories and copied
  // up directories may hold whiteouts in their upper.
  if (IsDir()) whiteouts_ = !parent_ || IsMerged() || origin_.has_value();
}

OverlayInode::~OverlayInode() = default;

Result<void> OverlayInode::SetImpureLocked() {
  if (impure_) return Ok();
  MutexLock lock(upper_->fs().mutex());
  Result<void> r = upper_->SetXattrLocked(kImpureXattr, "y", 0);
  // "Do not fail when upper doesn't support xattrs."
  if (!r && r.error().code() != EOPNOTSUPP) return r;
  if (r) impure_ = true;
  return Ok();
}

uint64_t OverlayInode::CurrentIno() {
  if (upper_) return origin_ ? *origin_ : ofs().MapInoLocked(0, upper_->ino());
  const LowerEntry& lower = lowers_.front();
  return ofs().MapInoLocked(ofs().FsidOfLower(lower.layer), lower.inode->ino());
}

uint64_t OverlayInode::EntryInoLocked(const LowerEntry* lower,
                                      vfs::Inode* upper_entry) {
  if (upper_entry) {
    std::optional<uint64_t> origin;
    {
      MutexLock lock(upper_entry->fs().mutex());
      origin = ReadOriginXattrLocked(*upper_entry);
    }
    if (origin) return *origin;
    return ofs().MapInoLocked(0, upper_entry->ino());
  }
  return ofs().MapInoLocked(ofs().FsidOfLower(lower->layer),
                            lower->inode->ino());
}

// ovl_getattr: the real inode's attributes on the overlay's st_dev, with
// the overlay's inode number; a merged directory reports one link
// ("nlink=1 seems to be a good enough approximation").
vfs::Attr OverlayInode::GetAttrLocked() {
  vfs::Inode& r = real();
  vfs::Attr attr;
  {
    MutexLock lock(r.fs().mutex());
    attr = r.GetAttrLocked();
  }
  attr.dev = fs().dev();
  attr.ino = CurrentIno();
  if (IsDir() && IsMerged()) attr.nlink = 1;
  return attr;
}

// ovl_setattr: copy up (with data: a size change needs it), then change
// the upper copy.
Result<void> OverlayInode::SetAttrLocked(const vfs::SetAttr& attr) {
  VEIL_TRY_VOID(CopyUpLocked());
  MutexLock lock(upper_->fs().mutex());
  return upper_->SetAttrLocked(attr);
}

// ovl_update_time: only an upper copy records accesses; lower layers are
// mounted noatime.
void OverlayInode::TouchAtimeLocked() {
  if (!upper_) return;
  MutexLock lock(upper_->fs().mutex());
  upper_->TouchAtimeLocked();
}

Result<std::string> OverlayInode::ReadlinkLocked() {
  vfs::Inode& r = real();
  MutexLock lock(r.fs().mutex());
  return r.ReadlinkLocked();
}

// --- Extended attributes --------------------------------------------------

Result<std::string> OverlayInode::GetXattrLocked(std::string_view name) {
  vfs::Inode& r = real();
  MutexLock lock(r.fs().mutex());
  return r.GetXattrLocked(ToLayerName(name));
}

Result<std::vector<std::string>> OverlayInode::ListXattrLocked() {
  vfs::Inode& r = real();
  std::vector<std::string> names;
  {
    MutexLock lock(r.fs().mutex());
    names = VEIL_TRY(r.ListXattrLocked());
  }
  std::vector<std::string> out;
  for (const std::string& n : names) {
    if (std::optional<std::string> shown = FromLayerName(n))
      out.push_back(std::move(*shown));
  }
  return out;
}

Result<void> OverlayInode::SetXattrLocked(std::string_view name,
                                          std::string_view value, int flags) {
  VEIL_TRY_VOID(CopyUpLocked());
  VEIL_TRY_VOID(CheckLayerNamespace(name));
  MutexLock lock(upper_->fs().mutex());
  return upper_->SetXattrLocked(ToLayerName(name), value, flags);
}

// ovl_xattr_set: removing an xattr a lower file lacks fails before any
// copy-up.
Result<void> OverlayInode::RemoveXattrLocked(std::string_view name) {
  std::string layer_name = ToLayerName(name);
  if (!upper_) {
    VEIL_TRY_VOID(CheckLayerNamespace(name));
    vfs::Inode& lower = *lowers_[0].inode;
    MutexLock lock(lower.fs().mutex());
    VEIL_TRY(lower.GetXattrLocked(layer_name));
  }
  VEIL_TRY_VOID(CopyUpLocked());
  VEIL_TRY_VOID(CheckLayerNamespace(name));
  MutexLock lock(upper_->fs().mutex());
  return upper_->RemoveXattrLocked(layer_name);
}

}  // namespace veil::overlay::internal
