// SPDX-License-Identifier: Apache-2.0
//
// OverlayInode: one overlay file — the layer inodes that make it up and
// the overlay's own state. Linux analogue: struct ovl_inode plus the
// dentry's ovl_entry (veil has no per-filesystem dentries, so the
// name-dependent state lives here: every lower-backed inode has exactly
// one name, because a lower hard link gets one overlay inode per name, as
// in Linux without index=on).
//
// Internal to overlay/. All members are guarded by the overlay's mutex
// (Filesystem::mutex()), except has_upper_ (an atomic, for open files);
// layer inodes are called with their own filesystem's mutex taken just
// for that call (see overlay.h).
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "base/ref.h"
#include "base/result.h"
#include "overlay/overlay.h"
#include "vfs/fifo.h"
#include "vfs/file_description.h"
#include "vfs/inode.h"

namespace veil::overlay::internal {

// Private xattr names on layer files (see overlay.h).
inline constexpr std::string_view kPrivatePrefix = "trusted.overlay.";
inline constexpr std::string_view kEscapedPrefix = "trusted.overlay.overlay.";
inline constexpr std::string_view kOpaqueXattr = "trusted.overlay.opaque";
inline constexpr std::string_view kOriginXattr = "trusted.overlay.veil.origin";
inline constexpr std::string_view kImpureXattr = "trusted.overlay.impure";
// A directory moved away from its lower path names that path (Linux
// redirect_dir): "name" in the parent's lower directories, or "/a/b" from
// the lower roots.
inline constexpr std::string_view kRedirectXattr = "trusted.overlay.redirect";
// Linux's redirect_max module parameter: a longer absolute redirect makes
// the rename fail with EXDEV.
inline constexpr size_t kRedirectMax = 256;

// The position past the last entry of an upper directory read straight
// from its layer (Linux tmpfs: DIR_OFFSET_EOD). Entries created later need
// a rewind to be seen.
inline constexpr uint64_t kRealDirEod = 0x7fffffff;

struct LowerEntry {
  Ref<vfs::Inode> inode;
  uint32_t layer = 0;  // index into the overlay's lowers, topmost = 0
};

// The layers a name resolves to.
struct Layers {
  RefPtr<vfs::Inode> upper;
  std::vector<LowerEntry> lowers;  // non-directories: at most one
  bool opaque = false;             // the upper directory is opaque
  bool impure = false;             // the upper directory is marked impure
  std::optional<uint64_t> origin;  // upper's inherited inode number
  // The path the upper directory redirects its lower lookups to.
  std::optional<std::string> redirect;
};

// One entry of a merged directory listing (Linux ovl_cache_entry).
struct DirCacheEntry {
  std::string name;
  uint64_t ino = 0;
  uint8_t type = 0;
  bool whiteout = false;  // kept so that positions match Linux's
};

// A merged listing, shared by the open descriptions that read it while the
// directory is unchanged (Linux ovl_dir_cache).
struct DirCache {
  uint64_t version = 0;
  std::vector<DirCacheEntry> entries;
};

class OverlayInode final : public vfs::Inode {
 public:
  // `parent` and `name` locate the inode for copy-up (null for the root).
  OverlayInode(OverlayFs& fs, Layers layers, RefPtr<OverlayInode> parent,
               std::string_view name);
  ~OverlayInode() override;

  // ^vfs::Inode
  // The VFS may drop this inode's dentry only while that dentry is all
  // that holds the inode: every overlay lookup makes a new inode, so one
  // held elsewhere too (a child's parent link; a second name link(2) made
  // with the same inode) would get a twin with copy-up state of its own.
  // Everything else an overlay inode knows is on its layers (origin,
  // redirect, opaque and impure xattrs) and comes back with the lookup.
  bool MayEvictDentryLocked() override { return RefCount() == 1; }
  vfs::Attr GetAttrLocked() override;
  Result<void> SetAttrLocked(const vfs::SetAttr& attr) override;
  void TouchAtimeLocked() override;
  Result<std::unique_ptr<vfs::FileImpl>> OpenLocked(int flags) override;
  Result<Ref<vfs::Inode>> LookupLocked(std::string_view name) override;
  Result<Ref<vfs::Inode>> CreateLocked(std::string_view name,
                                       const vfs::CreateSpec& spec) override;
  Result<void> LinkLocked(std::string_view name, vfs::Inode& target) override;
  Result<void> UnlinkLocked(std::string_view name, vfs::Inode& child) override;
  Result<void> RenameLocked(std::string_view name, vfs::Inode& child,
                            vfs::Inode& new_dir, std::string_view new_name,
                            vfs::Inode* replaced, unsigned flags) override;
  Result<void> ReadDirLocked(uint64_t cookie,
                             const vfs::DirEmitter& emit) override;
  bool IsEmptyDirLocked() override;
  Result<std::string> ReadlinkLocked() override;
  Result<std::string> GetXattrLocked(std::string_view name) override;
  Result<void> SetXattrLocked(std::string_view name, std::string_view value,
                              int flags) override;
  Result<std::vector<std::string>> ListXattrLocked() override;
  Result<void> RemoveXattrLocked(std::string_view name) override;

  // --- Overlay state (caller holds the overlay mutex) --------------------

  OverlayFs& ofs() const { return static_cast<OverlayFs&>(fs()); }
  vfs::Inode* upper() const { return upper_.get(); }
  // Whether upper() is set, for a caller without the overlay mutex: once
  // true, it stays true and upper() never changes again.
  bool HasUpper() const { return has_upper_.load(std::memory_order_acquire); }
  const std::vector<LowerEntry>& lowers() const { return lowers_; }
  // The layer inode whose attributes and data the overlay shows.
  vfs::Inode& real() const { return upper_ ? *upper_ : *lowers_[0].inode; }
  // st_ino now (it changes when a lower hard link is copied up).
  uint64_t CurrentIno();
  OverlayInode* parent() const { return parent_.get(); }
  bool dead() const { return dead_; }

  // Directories: upper and lower, or several lowers (Linux OVL_TYPE_MERGE).
  bool IsMerged() const {
    return (upper_ && !lowers_.empty()) || lowers_.size() > 1;
  }
  // Directories read through the merged listing rather than straight from
  // their one layer (Linux: !ovl_dir_is_real, the OVL_WHITEOUTS flag).
  bool MayHaveWhiteouts() const { return whiteouts_ || IsMerged(); }
  // Directories neither merged nor copied up (Linux ovl_pure_upper).
  bool PureUpper() const { return upper_ && lowers_.empty() && !whiteouts_; }

  // Copy-up (copy_up.cc): gives this inode, and first its ancestors, an
  // upper copy. `data` = false skips file data (open with O_TRUNC).
  // EEXIST if the name was removed or replaced since this inode was looked
  // up; ENOENT if its directory was removed (Linux's answers).
  enum class CopyData { kYes, kNo };
  Result<void> CopyUpLocked(CopyData data = CopyData::kYes);

  // file_remove_privs on the overlay file: drops setuid/setgid of the
  // upper copy as a data change by `creds` would (file.cc).
  Result<void> RemovePrivsLocked(const vfs::Credentials& creds);

  // Directory helpers (lookup.cc).
  Result<Layers> LookupLayersLocked(std::string_view name);
  // Linux ovl_lower_positive: whether a lower layer holds `name` here.
  bool LowerPositiveLocked(std::string_view name, const OverlayInode& child);
  // The merged listing (readdir.cc), "." and ".." included.
  Result<std::shared_ptr<DirCache>> DirCacheLocked();
  // Whether a merged directory holds anything but whiteouts; the upper
  // whiteouts go to `*upper_whiteouts` (Linux ovl_check_empty_dir).
  Result<void> CheckEmptyLocked(std::vector<std::string>* upper_whiteouts);
  uint64_t dir_version() const { return dir_version_; }
  // Directories read straight from the upper: the entries whose d_ino is
  // not their upper inode number (copied up, with an origin), or null if
  // there are none (Linux ovl_cache_get_impure, cached while unchanged).
  const std::map<std::string, uint64_t, std::less<>>* ImpureInosLocked();
  // The inode number of a directory entry as stat(2) would report it.
  uint64_t EntryInoLocked(const LowerEntry* lower, vfs::Inode* upper_entry);

 private:
  friend class ::veil::overlay::OverlayFs;

  Result<void> CopyUpOneLocked(CopyData data);
  // ovl_set_impure: marks this directory's upper (once).
  Result<void> SetImpureLocked();
  Result<void> CopyDataLocked(vfs::Inode& lower, vfs::Inode& upper,
                              uint64_t size);
  // Removes upper whiteouts named in `names` from this directory's upper.
  Result<void> ClearWhiteoutsLocked(const std::vector<std::string>& names);
  // ovl_dir_modified: a change in this directory. Directories read
  // straight from their layer note only changes to entries with an origin
  // (`impurity`), since only those are in their cache; Linux does not count
  // a new hard link as one, so a cached listing keeps the link's upper
  // d_ino until something else changes, and so does veil.
  void BumpVersion(bool impurity) {
    if (MayHaveWhiteouts() || impurity) ++dir_version_;
  }
  // Whether the upper copy is a copy-up with an origin (OVL_TYPE_ORIGIN).
  bool HasOrigin() const { return upper_ && origin_.has_value(); }
  // ovl_type_merge_or_lower: a directory with lower layers, whose move
  // needs a redirect.
  bool MergeOrLower() const { return !lowers_.empty(); }
  // ovl_get_redirect: the redirect this directory needs to be moved, in
  // its place before the move: its own name within the same directory,
  // otherwise its absolute lower path. EXDEV past kRedirectMax.
  Result<std::string> RedirectForMoveLocked(bool samedir) const;

  RefPtr<vfs::Inode> upper_;
  // upper_ is set (for good): for open files, which check it without the
  // overlay mutex (HasUpper).
  std::atomic<bool> has_upper_;
  std::vector<LowerEntry> lowers_;
  std::optional<uint64_t> origin_;
  // The redirect of a directory moved from its lower path (kRedirectXattr).
  std::optional<std::string> redirect_;
  // Directories that were merged or copied up keep reading through the
  // merged listing even when their lowers are gone (Linux OVL_WHITEOUTS).
  bool whiteouts_ = false;
  bool opaque_ = false;
  // Directories holding (or having held) an entry with an origin: their
  // d_ino values need looking up. Kept, as Linux does, as an xattr on the
  // upper directory, whose setting and removal change its ctime.
  bool impure_ = false;
  bool dead_ = false;  // a removed directory
  RefPtr<OverlayInode> parent_;
  std::string name_;
  uint64_t dir_version_ = 1;
  std::weak_ptr<DirCache> dir_cache_;
  std::optional<uint64_t> impure_version_;
  std::map<std::string, uint64_t, std::less<>> impure_inos_;
  // FIFOs: the pipe lives on the overlay inode, as Linux's i_pipe does,
  // so it survives a copy-up.
  std::unique_ptr<vfs::FifoPipe> fifo_;
};

// An open directory (readdir.cc) and regular file (file.cc).
std::unique_ptr<vfs::FileImpl> NewDirFile(Ref<OverlayInode> inode);

// --- Layer access ----------------------------------------------------------

// Whiteout: a 0:0 character device (Linux ovl_is_whiteout). Takes the
// layer's lock.
bool IsWhiteout(vfs::Inode& inode);
bool IsWhiteoutLocked(vfs::Inode& inode);
// Opaque directory: trusted.overlay.opaque = "y". Takes the layer's lock.
bool IsOpaqueDir(vfs::Inode& inode);
// Impure directory: trusted.overlay.impure = "y". Caller holds the lock.
bool IsImpureDirLocked(vfs::Inode& inode);
// The spec of a whiteout as the kernel makes one (mode 0, root-owned).
vfs::CreateSpec WhiteoutSpec();
// The origin xattr's value for inode number `ino`, and back (nullopt when
// absent or malformed). Caller holds the layer's lock.
std::string EncodeOrigin(uint64_t ino);
std::optional<uint64_t> ReadOriginXattrLocked(vfs::Inode& upper);

}  // namespace veil::overlay::internal
