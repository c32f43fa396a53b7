// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes the overlay's reading of its layers' on-layer metadata. An upper
// layer may come from a snapshot image and a lower from anywhere, so the
// overlay must survive whatever they hold: whiteouts (0:0 character
// devices) in odd places, opaque/impure/redirect/origin xattrs with
// malformed values, escaped and unescaped trusted.overlay.* names, hard
// links, names that are a directory in one layer and a file in another.
//
// Each input builds an upper and one or two lower tmpfs layers from the
// bytes, mounts an OverlayFs over them and runs operations on the merged
// view: lookups, stat, readdir, xattr calls, open/read/write (copy-up),
// chmod, truncate, create, link, unlink, rmdir, rename. Results may be
// errors; what is checked, beyond "no crash, no sanitizer report":
//  - a directory listing never shows a name twice, and no name it shows is
//    missing (ENOENT) or a whiteout on lookup (except as Linux does, see
//    CheckDir); one that can be looked up has the listing's d_ino and
//    d_type;
//  - every inode reports the overlay's one st_dev;
//  - every name listxattr shows appears once and can be read with
//    getxattr;
//  - chmod (a metadata copy-up) keeps st_ino of a directory or of a file
//    with one link, as the overlay's xino rules promise.
// The whole merged tree is checked this way at the end of every input.
//
// Input layout (FuzzedDataProvider): a layer count bit, up to 24 layer
// entries (layer, parent, name, kind, xattrs), then operations until the
// input ends. Seeds: fuzz/corpus/overlay_layers/, written by
// fuzz/make_seeds.py.
#include <dirent.h>
#include <fcntl.h>
#include <fuzzer/FuzzedDataProvider.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <iterator>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "overlay/overlay.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace {

using veil::Ref;
using veil::vfs::Attr;
using veil::vfs::Context;
using veil::vfs::OpenHow;
using veil::vfs::Vfs;

void Require(bool condition, const char* what, const std::string& path) {
  if (!condition) {
    std::fprintf(stderr, "overlay_layers fuzzer: property violated: %s (%s)\n",
                 what, path.c_str());
    std::abort();
  }
}

// VEIL_FUZZ_TRACE=1 prints the layers built and the operations run, to
// turn a crashing input into a readable reproducer.
bool Trace() {
  static const bool trace = std::getenv("VEIL_FUZZ_TRACE") != nullptr;
  return trace;
}

template <typename T>
int Code(const veil::Result<T>& r) {
  return r ? 0 : r.error().code();
}

constexpr int kMaxEntries = 24;
constexpr int kMaxOps = 64;
const char* const kNames[] = {"a", "b", "c", "d", "e"};
const char* const kTargets[] = {"a", "../a", "/a", "b/c", "/", "..", "x"};
const char* const kXattrNames[] = {
    "trusted.overlay.opaque",         "trusted.overlay.veil.origin",
    "trusted.overlay.impure",         "trusted.overlay.redirect",
    "trusted.overlay.origin",         "trusted.overlay.overlay.opaque",
    "trusted.overlay.overlay.x",      "trusted.overlay.x",
    "trusted.overlay.",               "trusted.overlay.overlay.",
    "user.a",                         "trusted.a",
    "security.a"};
// Names a user can set through the overlay.
const char* const kUserXattrs[] = {"user.a", "trusted.overlay.x",
                                   "trusted.overlay.opaque", "trusted.a"};

std::string Value(FuzzedDataProvider& in) {
  switch (in.ConsumeIntegralInRange(0, 6)) {
    case 0: return "y";
    case 1: return "n";
    case 2: return "";
    case 3: {  // An origin: 8 bytes little endian.
      uint64_t ino = in.ConsumeBool() ? in.ConsumeIntegralInRange(0, 64)
                                      : in.ConsumeIntegral<uint64_t>();
      std::string v(8, '\0');
      for (int i = 0; i < 8; ++i) v[i] = static_cast<char>(ino >> (8 * i));
      return v;
    }
    case 4: return in.ConsumeRandomLengthString(16);
    case 5: return std::string("y\0", 2);
    default: return "Y";
  }
}

// Builds one layer through its own Vfs, as an image restore would.
class LayerBuilder {
 public:
  LayerBuilder(Ref<veil::vfs::tmpfs::Tmpfs> fs, size_t index)
      : vfs_(fs), ctx_(vfs_.RootContext()), index_(index) {
    ctx_.umask = 0;
  }

  void AddEntry(FuzzedDataProvider& in) {
    const std::string parent =
        dirs_[in.ConsumeIntegralInRange<size_t>(0, dirs_.size() - 1)];
    const std::string path = parent + "/" + in.PickValueInArray(kNames);
    bool made = false;
    const int kind = in.ConsumeIntegralInRange(0, 7);
    switch (kind) {
      case 0:
        made = vfs_.MkdirAt(ctx_, ctx_.cwd, path, 0755).has_value();
        if (made) dirs_.push_back(path);
        break;
      case 1: {
        auto f = vfs_.OpenAt(ctx_, ctx_.cwd, path,
                             OpenHow{O_CREAT | O_WRONLY | O_EXCL, 0644, 0});
        if (f) {
          std::string data = in.ConsumeRandomLengthString(64);
          (void)(*f)->Write(std::span<const uint8_t>(
              reinterpret_cast<const uint8_t*>(data.data()), data.size()));
          files_.push_back(path);
          made = true;
        }
        break;
      }
      case 2:
        made = vfs_.SymlinkAt(ctx_, in.PickValueInArray(kTargets), ctx_.cwd,
                              path)
                   .has_value();
        break;
      case 3:  // A whiteout, anywhere (even in the lowest layer).
        made = vfs_.MknodAt(ctx_, ctx_.cwd, path, S_IFCHR, makedev(0, 0))
                   .has_value();
        break;
      case 4:
        made = vfs_.MknodAt(ctx_, ctx_.cwd, path, S_IFIFO | 0644, 0)
                   .has_value();
        break;
      case 5:  // A character device that is not a whiteout.
        made = vfs_.MknodAt(ctx_, ctx_.cwd, path, S_IFCHR | 0644,
                            makedev(1, 3))
                   .has_value();
        break;
      case 6:
        if (!files_.empty()) {
          const std::string& target =
              files_[in.ConsumeIntegralInRange<size_t>(0, files_.size() - 1)];
          made = vfs_.LinkAt(ctx_, ctx_.cwd, target, ctx_.cwd, path, 0)
                     .has_value();
        }
        break;
      default: {  // Only xattrs, on the parent directory.
        SetXattrs(in, parent.empty() ? "/" : parent);
        return;
      }
    }
    if (Trace()) {
      std::fprintf(stderr, "layer %zu: %s kind %d%s\n", index_, path.c_str(),
                   kind, made ? "" : " (failed)");
    }
    if (made) SetXattrs(in, path);
  }

 private:
  void SetXattrs(FuzzedDataProvider& in, const std::string& path) {
    for (int n = in.ConsumeIntegralInRange(0, 2); n > 0; --n) {
      const std::string name = in.PickValueInArray(kXattrNames);
      const std::string value = Value(in);
      auto set = vfs_.SetXattrAt(ctx_, ctx_.cwd, path, name, value, 0,
                                 AT_SYMLINK_NOFOLLOW);
      if (Trace()) {
        std::string hex;
        for (unsigned char c : value) hex += "0123456789abcdef"[c >> 4],
                                         hex += "0123456789abcdef"[c & 15];
        std::fprintf(stderr, "layer %zu: %s xattr %s=%s -> %d\n", index_,
                     path.c_str(), name.c_str(), hex.c_str(), Code(set));
      }
    }
  }

  Vfs vfs_;
  Context ctx_;
  const size_t index_;  // 0 is the upper.
  std::vector<std::string> dirs_ = {""};
  std::vector<std::string> files_;
};

class Merged {
 public:
  Merged(Ref<veil::overlay::OverlayFs> ofs, Ref<veil::vfs::Filesystem> upper)
      : vfs_(ofs), upper_(upper), ctx_(vfs_.RootContext()) {
    ctx_.umask = 0;
    auto root = vfs_.StatAt(ctx_, ctx_.cwd, "/", 0);
    Require(root.has_value(), "the root can be stat'ed", "/");
    dev_ = root->dev;
  }

  veil::Result<Attr> Lstat(const std::string& path) {
    auto st = vfs_.StatAt(ctx_, ctx_.cwd, path, AT_SYMLINK_NOFOLLOW);
    if (st) Require(st->dev == dev_, "one st_dev for the whole overlay", path);
    return st;
  }

  // The listing invariants of the file comment; recurses `depth` levels.
  void CheckDir(const std::string& path, int depth) {
    auto dir = vfs_.OpenAt(ctx_, ctx_.cwd, path,
                           OpenHow{O_RDONLY | O_DIRECTORY, 0, 0});
    if (!dir) return;
    std::set<std::string> seen;
    std::vector<uint8_t> buf(200);  // Small: listings span several calls.
    for (int calls = 0; calls < 1000; ++calls) {
      auto n = (*dir)->Getdents64(buf);
      if (!n || *n == 0) break;
      for (size_t pos = 0; pos + 19 < *n;) {
        uint64_t ino;
        uint16_t reclen;
        std::memcpy(&ino, buf.data() + pos, 8);
        std::memcpy(&reclen, buf.data() + pos + 16, 2);
        const uint8_t type = buf[pos + 18];
        const std::string name(
            reinterpret_cast<const char*>(buf.data() + pos + 19));
        Require(reclen > 0 && pos + reclen <= *n, "sane dirent record", path);
        pos += reclen;
        if (name == "." || name == "..") continue;
        const std::string child = path == "/" ? "/" + name : path + "/" + name;
        Require(seen.insert(name).second, "a listing shows a name once",
                child);
        auto st = Lstat(child);
        // NOTE: a directory only in the upper, without origin, is listed
        // straight from the layer, as Linux does (OVL_WHITEOUTS unset): a
        // whiteout placed there by a restored image shows as a character
        // device that lookup calls ENOENT. Linux's overlay never makes one.
        if (!st && st.error().code() == ENOENT && type == DT_CHR) continue;
        // Metadata lookup refuses (a malformed redirect: EINVAL, as Linux)
        // is no reason to hide the name; only "not there" would be wrong.
        if (!st && st.error().code() != ENOENT) continue;
        Require(st.has_value(), "a listed name can be looked up", child);
        Require(st->ino == ino || OriginUnlisted(path, child) ||
                    KnownLinkIntoImpure(*st, child),
                "d_ino is the entry's st_ino",
                child + ": d_ino " + std::to_string(ino) + ", st_ino " +
                    std::to_string(st->ino));
        Require(type == IFTODT(st->type()), "d_type is the entry's type",
                child);
        Require(!(S_ISCHR(st->mode) && st->rdev == 0),
                "a listing never shows a whiteout", child);
        if (depth > 0 && st->IsDir()) CheckDir(child, depth - 1);
      }
    }
    CheckXattrs(path);
  }

  // NOTE: as in Linux, only an impure directory ("trusted.overlay.impure"
  // = "y") that is not merged looks its entries up for d_ino, and the
  // overlay marks one impure whenever it puts an entry with an origin in
  // it. An upper layer from elsewhere can hold an entry with an origin in
  // a directory not so marked: then d_ino is the upper number and st_ino
  // the origin, in Linux too.
  bool OriginUnlisted(const std::string& dir, const std::string& entry) {
    Vfs upper(upper_);
    Context ctx = upper.RootContext();
    auto impure = upper.GetXattrAt(ctx, ctx.cwd, dir, "trusted.overlay.impure",
                                   AT_SYMLINK_NOFOLLOW);
    return !(impure && *impure == "y") &&
           upper
               .GetXattrAt(ctx, ctx.cwd, entry, "trusted.overlay.veil.origin",
                           AT_SYMLINK_NOFOLLOW)
               .has_value();
  }

  // Linux's own behaviour, kept by veil: linking a file with an origin
  // into an impure directory whose listing was read before leaves d_ino at
  // the upper number while lookup reports the origin (lower files /a and
  // /c, an upper directory /b; rename /a to /b/a, readdir /b, link /c to
  // /b/e, readdir /b). Seen on the host's overlayfs (6.18): d_ino of e is
  // its upper inode, st_ino the lower c's; ovl_create_upper notes the
  // change with impurity false, so the impure cache is kept. Allowed here;
  // VEIL_FUZZ_STRICT=1 flags it anyway.
  bool KnownLinkIntoImpure(const Attr& st, const std::string& entry) {
    static const bool strict = std::getenv("VEIL_FUZZ_STRICT") != nullptr;
    if (strict || st.nlink < 2) return false;
    Vfs upper(upper_);
    Context ctx = upper.RootContext();
    return upper
        .GetXattrAt(ctx, ctx.cwd, entry, "trusted.overlay.veil.origin",
                    AT_SYMLINK_NOFOLLOW)
        .has_value();
  }

  void CheckXattrs(const std::string& path) {
    auto names = vfs_.ListXattrAt(ctx_, ctx_.cwd, path, AT_SYMLINK_NOFOLLOW);
    if (!names) return;
    std::set<std::string> seen;
    for (const std::string& name : *names) {
      // A listed trusted.overlay.X is the user's own (stored escaped), so
      // private names cannot be told apart here; but each must read back.
      Require(seen.insert(name).second, "listxattr shows a name once",
              path + " " + name);
      auto value =
          vfs_.GetXattrAt(ctx_, ctx_.cwd, path, name, AT_SYMLINK_NOFOLLOW);
      Require(value.has_value() || value.error().code() == EOPNOTSUPP,
              "a listed xattr can be read", path + " " + name);
    }
  }

  void Op(FuzzedDataProvider& in) {
    const std::string path = Path(in);
    const int op = in.ConsumeIntegralInRange(0, 17);
    if (Trace()) std::fprintf(stderr, "op %d on %s\n", op, path.c_str());
    switch (op) {
      case 0: (void)Lstat(path); break;
      case 1: (void)vfs_.StatAt(ctx_, ctx_.cwd, path, 0); break;
      case 2:
        // CheckDir may consult the upper layer by path: no symlinks in it.
        if (IsPlainDir(path)) CheckDir(path, 0);
        break;
      case 3: CheckXattrs(path); break;
      case 4:
        (void)vfs_.GetXattrAt(ctx_, ctx_.cwd, path,
                              in.PickValueInArray(kXattrNames),
                              AT_SYMLINK_NOFOLLOW);
        break;
      case 5: {
        auto f = vfs_.OpenAt(ctx_, ctx_.cwd, path,
                             OpenHow{O_RDONLY | O_NONBLOCK, 0, 0});
        uint8_t buf[64];
        if (f) (void)(*f)->PRead(buf, 0);
        break;
      }
      case 6: {  // Open for write: copy-up.
        const int flags = in.ConsumeBool() ? O_RDWR : O_WRONLY | O_TRUNC;
        auto f = vfs_.OpenAt(ctx_, ctx_.cwd, path,
                             OpenHow{flags | O_NONBLOCK, 0, 0});
        static const uint8_t kData[] = {'x', 'y'};
        if (f) (void)(*f)->PWrite(kData, 1);
        break;
      }
      case 7: {  // chmod: a metadata copy-up that keeps st_ino.
        auto before = Lstat(path);
        if (!vfs_.ChmodAt(ctx_, ctx_.cwd, path, 0700, AT_SYMLINK_NOFOLLOW))
          break;
        auto after = Lstat(path);
        Require(after.has_value(), "chmod'ed file still there", path);
        if (before && (before->IsDir() || before->nlink == 1))
          Require(before->ino == after->ino, "copy-up keeps st_ino", path);
        break;
      }
      case 8: {
        // Named steps: argument evaluation order is unspecified, and a
        // seed must read the same under g++ and clang.
        const std::string name = in.PickValueInArray(kUserXattrs);
        const std::string value = Value(in);
        (void)vfs_.SetXattrAt(ctx_, ctx_.cwd, path, name, value, 0,
                              AT_SYMLINK_NOFOLLOW);
        break;
      }
      case 9:
        (void)vfs_.RemoveXattrAt(ctx_, ctx_.cwd, path,
                                 in.PickValueInArray(kUserXattrs),
                                 AT_SYMLINK_NOFOLLOW);
        break;
      case 10: (void)vfs_.UnlinkAt(ctx_, ctx_.cwd, path, 0); break;
      case 11: (void)vfs_.UnlinkAt(ctx_, ctx_.cwd, path, AT_REMOVEDIR); break;
      case 12: {
        static constexpr unsigned kFlags[] = {
            0, RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT};
        const std::string to = Path(in);
        const unsigned flags = in.PickValueInArray(kFlags);
        auto renamed = vfs_.RenameAt(ctx_, ctx_.cwd, path, ctx_.cwd, to, flags);
        if (Trace()) {
          std::fprintf(stderr, "  rename to %s flags %u: %d\n", to.c_str(),
                       flags, Code(renamed));
        }
        break;
      }
      case 13: (void)vfs_.MkdirAt(ctx_, ctx_.cwd, path, 0755); break;
      case 14: {
        auto f = vfs_.OpenAt(ctx_, ctx_.cwd, path,
                             OpenHow{O_CREAT | O_WRONLY, 0644, 0});
        (void)f;
        break;
      }
      case 15: {
        const std::string to = Path(in);
        auto linked = vfs_.LinkAt(ctx_, ctx_.cwd, path, ctx_.cwd, to, 0);
        if (Trace()) std::fprintf(stderr, "  link to %s: %d\n", to.c_str(),
                                  Code(linked));
        break;
      }
      case 16:
        (void)vfs_.TruncateAt(ctx_, ctx_.cwd, path,
                              in.ConsumeIntegralInRange(0, 8192));
        break;
      default:  // A whiteout made by a user: EPERM on Linux's overlay.
        (void)vfs_.MknodAt(ctx_, ctx_.cwd, path, S_IFCHR, makedev(0, 0));
        break;
    }
  }

 private:
  // Whether `path` and each directory above it is a directory, not a
  // symlink, so that it names the same entry in the upper layer.
  bool IsPlainDir(const std::string& path) {
    for (size_t end = path.find('/', 1);; end = path.find('/', end + 1)) {
      auto st = Lstat(path.substr(0, end));
      if (!st || !st->IsDir()) return false;
      if (end == std::string::npos) return true;
    }
  }

  static std::string Path(FuzzedDataProvider& in) {
    std::string path;
    for (int n = in.ConsumeIntegralInRange(1, 3); n > 0; --n) {
      path += "/";
      path += in.PickValueInArray(kNames);
    }
    return path;
  }

  Vfs vfs_;
  const Ref<veil::vfs::Filesystem> upper_;  // Read only to explain d_ino.
  Context ctx_;
  uint64_t dev_ = 0;
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzedDataProvider in(data, size);
  namespace tmpfs = veil::vfs::tmpfs;
  const size_t num_lowers = in.ConsumeBool() ? 2 : 1;
  std::vector<Ref<tmpfs::Tmpfs>> layers;  // [0] is the upper.
  for (size_t i = 0; i <= num_lowers; ++i)
    layers.push_back(tmpfs::Tmpfs::Create({0755, 0, 0}));
  {
    std::vector<std::unique_ptr<LayerBuilder>> builders;
    for (size_t i = 0; i < layers.size(); ++i)
      builders.push_back(std::make_unique<LayerBuilder>(layers[i], i));
    const int entries = in.ConsumeIntegralInRange(0, kMaxEntries);
    for (int i = 0; i < entries && in.remaining_bytes() > 0; ++i) {
      builders[in.ConsumeIntegralInRange<size_t>(0, layers.size() - 1)]
          ->AddEntry(in);
    }
  }  // The builders' Vfs (and their cached names) go away before mounting.
  std::vector<Ref<veil::vfs::Filesystem>> lowers(layers.begin() + 1,
                                                 layers.end());
  auto ofs = veil::overlay::OverlayFs::Create(layers[0], lowers);
  Require(ofs.has_value(), "the overlay mounts", "/");
  Merged merged(*ofs, layers[0]);
  for (int i = 0; i < kMaxOps && in.remaining_bytes() > 0; ++i) {
    merged.Op(in);
    // Tracing: stop right after the operation that broke the tree.
    if (Trace()) merged.CheckDir("/", 4);
  }
  merged.CheckDir("/", 4);
  return 0;
}
