// SPDX-License-Identifier: Apache-2.0
//
// Name lookup across the layers (fs/overlayfs/namei.c ovl_lookup,
// ovl_lookup_single, ovl_lower_positive) and the layer helpers.
#include <sys/stat.h>

#include <algorithm>
#include <optional>
#include <string>

#include "overlay/internal/inode.h"

namespace veil::overlay::internal {

bool IsWhiteoutLocked(vfs::Inode& inode) {
  if (inode.type() != S_IFCHR) return false;
  return inode.GetAttrLocked().rdev == 0;
}

bool IsWhiteout(vfs::Inode& inode) {
  if (inode.type() != S_IFCHR) return false;
  MutexLock lock(inode.fs().mutex());
  return IsWhiteoutLocked(inode);
}

namespace {

bool IsOpaqueDirLocked(vfs::Inode& inode) {
  if (!inode.IsDir()) return false;
  Result<std::string> v = inode.GetXattrLocked(kOpaqueXattr);
  return v && *v == "y";
}

}  // namespace

bool IsImpureDirLocked(vfs::Inode& inode) {
  if (!inode.IsDir()) return false;
  Result<std::string> v = inode.GetXattrLocked(kImpureXattr);
  return v && *v == "y";
}

bool IsOpaqueDir(vfs::Inode& inode) {
  MutexLock lock(inode.fs().mutex());
  return IsOpaqueDirLocked(inode);
}

vfs::CreateSpec WhiteoutSpec() {
  // ovl_whiteout/vfs_whiteout: mode 0, owned by the mounter (root).
  vfs::CreateSpec spec;
  spec.mode = S_IFCHR;
  spec.rdev = 0;
  return spec;
}

namespace {

// The state of one name's lookup down the layers (Linux struct
// ovl_lookup_data).
struct Walk {
  // What to look up in the next layer: a name, or after a redirect the
  // redirected name or absolute path ("/a/b", from the lower roots).
  std::string name;
  bool is_dir = false;  // a directory was found: only directories merge
  bool opaque = false;  // the name ended at a whiteout or opaque directory
  bool stop = false;    // no layer below counts
  bool last = false;    // this is the bottom layer
  std::optional<std::string> redirect;  // `name` as a redirect set it
};

// ovl_get_redirect_xattr: nullopt when there is none; EINVAL for a value
// that is neither one name nor an absolute path of non-empty names. Like
// Linux, the value ends at its first NUL.
Result<std::optional<std::string>> ReadRedirectLocked(vfs::Inode& dir) {
  Result<std::string> v = dir.GetXattrLocked(kRedirectXattr);
  if (!v) {
    int err = v.error().code();
    if (err == ENODATA || err == EOPNOTSUPP) return std::optional<std::string>();
    return v.error();
  }
  std::string buf = v->substr(0, v->find('\0'));
  if (!buf.empty() && buf[0] == '/') {
    // "/a/b": every name non-empty ("/", "//a" and "/a/" are not).
    for (size_t pos = 0; pos < buf.size();) {
      size_t next = std::min(buf.find('/', pos + 1), buf.size());
      if (next == pos + 1) return Errno(EINVAL);
      pos = next;
    }
    if (buf.back() == '/') return Errno(EINVAL);
  } else if (buf.find('/') != std::string::npos) {
    return Errno(EINVAL);
  }
  return std::optional<std::string>(std::move(buf));
}

// ovl_check_redirect: a redirect on directory `dir`, found while looking
// up the part of d.name that starts at `prelen` and is followed by
// `post`, replaces that part (relative) or the whole name (absolute).
Result<void> CheckRedirectLocked(vfs::Inode& dir, Walk& d, size_t prelen,
                                 std::string_view post) {
  std::optional<std::string> redirect = VEIL_TRY(ReadRedirectLocked(dir));
  if (!redirect) return Ok();
  std::string name;
  if ((*redirect)[0] == '/') {
    // An absolute redirect below an opaque ancestor of the path still
    // reaches the layers below.
    d.stop = false;
    name = std::move(*redirect);
  } else {
    name = d.name.substr(0, prelen) + *redirect;
  }
  name.append(post);
  d.name = name;
  d.redirect = std::move(name);
  return Ok();
}

// ovl_lookup_single: looks up `component` in layer directory `base`;
// `post` is what follows it in d.name ("" for the last component). A
// negative result is null. Caller holds the layer's lock.
Result<RefPtr<vfs::Inode>> LookupSingleLocked(vfs::Inode& base, Walk& d,
                                              std::string_view component,
                                              size_t prelen,
                                              std::string_view post) {
  // lookup_one_common: "." and ".." (and the empty name a redirect could
  // hold) are refused, so a redirect never leaves its layer.
  if (component.empty() || component == "." || component == "..")
    return Errno(EACCES);
  Result<Ref<vfs::Inode>> found = base.LookupLocked(component);
  if (!found) {
    int err = found.error().code();
    if (err == ENOENT || err == ENAMETOOLONG) return RefPtr<vfs::Inode>();
    return found.error();
  }
  Ref<vfs::Inode>& child = *found;
  // A whiteout hides the name in every layer below.
  if (IsWhiteoutLocked(*child)) {
    d.stop = d.opaque = true;
    return RefPtr<vfs::Inode>();
  }
  const bool last_element = post.empty();
  if (!child->IsDir()) {
    // A non-directory ends the stack, and below a directory (or on the
    // way to a redirect's target) it is not part of the name at all.
    d.stop = true;
    if (d.is_dir || !last_element) return RefPtr<vfs::Inode>();
    return RefPtr<vfs::Inode>(std::move(child));
  }
  if (last_element) d.is_dir = true;
  if (d.last) return RefPtr<vfs::Inode>(std::move(child));
  if (IsOpaqueDirLocked(*child)) {
    d.stop = true;
    if (last_element) d.opaque = true;
    return RefPtr<vfs::Inode>(std::move(child));
  }
  VEIL_TRY_VOID(CheckRedirectLocked(*child, d, prelen, post));
  return RefPtr<vfs::Inode>(std::move(child));
}

// ovl_lookup_layer: d.name in layer directory `base`, component by
// component from the layer's root when it is an absolute redirect. Caller
// holds the layer's lock.
Result<RefPtr<vfs::Inode>> LookupLayerLocked(vfs::Inode& base, Walk& d) {
  if (d.name.empty() || d.name[0] != '/')
    return LookupSingleLocked(base, d, std::string(d.name), 0, "");
  // Counted from the end: a redirect on the way may change the prefix.
  size_t rem = d.name.size() - 1;
  RefPtr<vfs::Inode> dir{Ref<vfs::Inode>(base)};
  RefPtr<vfs::Inode> found;
  while (dir && dir->IsDir()) {
    size_t start = d.name.size() - rem;
    size_t next = std::min(d.name.find('/', start), d.name.size());
    const std::string component = d.name.substr(start, next - start);
    const std::string post = d.name.substr(next);
    found = VEIL_TRY(LookupSingleLocked(*dir, d, component, start, post));
    if (post.empty()) break;
    dir = found;
    rem -= component.size() + 1;
  }
  return found;
}

}  // namespace

// ovl_lookup: the upper layer first, then the lower layers of this
// directory (or, after an absolute redirect, of the root), following
// redirects, until a whiteout, an opaque directory or a non-directory
// stops the stack.
Result<Layers> OverlayInode::LookupLayersLocked(std::string_view name) {
  if (!IsDir()) return Errno(ENOTDIR);
  // A removed directory holds nothing (its upper became a whiteout).
  if (dead_) return Errno(ENOENT);
  Layers out;
  Walk d;
  d.name = std::string(name);
  if (upper_) {
    MutexLock lock(upper_->fs().mutex());
    RefPtr<vfs::Inode> child = VEIL_TRY(LookupSingleLocked(*upper_, d, name, 0, ""));
    if (child) {
      out.origin = ReadOriginXattrLocked(*child);
      out.opaque = d.opaque;
      out.impure = IsImpureDirLocked(*child);
      out.redirect = d.redirect;
      out.upper = std::move(child);
    }
  }
  const std::vector<LowerEntry>* stack = &lowers_;
  OverlayInode& root = static_cast<OverlayInode&>(*ofs().Root());
  if (d.redirect && (*d.redirect)[0] == '/') stack = &root.lowers_;
  for (size_t i = 0; !d.stop && i < stack->size(); ++i) {
    const LowerEntry& lower = (*stack)[i];
    d.last = lower.layer + 1 == ofs().lower_count();
    RefPtr<vfs::Inode> child;
    {
      MutexLock lock(lower.inode->fs().mutex());
      child = VEIL_TRY(LookupLayerLocked(*lower.inode, d));
    }
    if (!child) continue;
    out.lowers.push_back(LowerEntry{child.ToRef(), lower.layer});
    // An absolute redirect in a lower layer continues from the root's
    // stack, with the layer below this one.
    if (!d.stop && d.redirect && (*d.redirect)[0] == '/' &&
        stack != &root.lowers_) {
      stack = &root.lowers_;
      i = lower.layer;
    }
  }
  if (!out.upper && out.lowers.empty()) return Errno(ENOENT);
  return out;
}

Result<Ref<vfs::Inode>> OverlayInode::LookupLocked(std::string_view name) {
  Layers layers = VEIL_TRY(LookupLayersLocked(name));
  return Ref<vfs::Inode>(MakeRef<OverlayInode>(
      ofs(), std::move(layers), RefPtr<OverlayInode>(this), name));
}

bool OverlayInode::LowerPositiveLocked(std::string_view name,
                                       const OverlayInode& child) {
  // A child without an upper copy lives in a lower layer.
  if (!child.upper_) return true;
  for (const LowerEntry& dir : lowers_) {
    MutexLock lock(dir.inode->fs().mutex());
    Result<Ref<vfs::Inode>> found = dir.inode->LookupLocked(name);
    if (!found) {
      int err = found.error().code();
      if (err == ENOENT || err == ENAMETOOLONG) continue;
      return true;  // "assume something is there, we just couldn't access it"
    }
    return !IsWhiteoutLocked(**found);
  }
  return false;
}

}  // namespace veil::overlay::internal
