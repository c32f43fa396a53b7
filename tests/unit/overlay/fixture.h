// SPDX-License-Identifier: Apache-2.0
//
// An overlay over tmpfs layers for the overlay unit tests: build the lower
// tree through its own Vfs, Mount(), then work through the overlay's Vfs
// and look at the layers directly to check what landed where.
#pragma once

#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "overlay/overlay.h"
#include "tests/util/matchers.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::overlay::testing {

using ::testing::ElementsAre;
using ::testing::IsEmpty;
using ::veil::testing::ErrnoIs;
using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;
using vfs::Attr;
using vfs::Context;
using vfs::FileDescription;
using vfs::OpenHow;
using vfs::Vfs;

MATCHER_P(TimeIs, ts,
          "is the time " + std::to_string(ts.tv_sec) + "." +
              std::to_string(ts.tv_nsec)) {
  return arg.tv_sec == ts.tv_sec && arg.tv_nsec == ts.tv_nsec;
}

inline std::span<const uint8_t> Bytes(std::string_view s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

// Short calls on any Vfs, as root.
class VfsOps {
 public:
  explicit VfsOps(Vfs& vfs) : vfs_(vfs), ctx_(vfs.RootContext()) {
    ctx_.umask = 0;
  }
  Vfs& vfs() { return vfs_; }
  Context& ctx() { return ctx_; }

  Result<Ref<FileDescription>> Open(std::string_view path, int flags,
                                    mode_t mode = 0644) {
    return vfs_.OpenAt(ctx_, ctx_.cwd, path, OpenHow{flags, mode, 0});
  }
  Result<void> Mkdir(std::string_view path, mode_t mode = 0755) {
    return vfs_.MkdirAt(ctx_, ctx_.cwd, path, mode);
  }
  Result<Attr> Lstat(std::string_view path) {
    return vfs_.StatAt(ctx_, ctx_.cwd, path, AT_SYMLINK_NOFOLLOW);
  }
  Result<void> Unlink(std::string_view path) {
    return vfs_.UnlinkAt(ctx_, ctx_.cwd, path, 0);
  }
  Result<void> Rmdir(std::string_view path) {
    return vfs_.UnlinkAt(ctx_, ctx_.cwd, path, AT_REMOVEDIR);
  }
  Result<void> Rename(std::string_view from, std::string_view to,
                      unsigned flags = 0) {
    return vfs_.RenameAt(ctx_, ctx_.cwd, from, ctx_.cwd, to, flags);
  }
  Result<std::string> GetXattr(std::string_view path, std::string_view name) {
    return vfs_.GetXattrAt(ctx_, ctx_.cwd, path, name, AT_SYMLINK_NOFOLLOW);
  }
  Result<std::vector<std::string>> ListXattr(std::string_view path) {
    return vfs_.ListXattrAt(ctx_, ctx_.cwd, path, AT_SYMLINK_NOFOLLOW);
  }
  Result<void> SetXattr(std::string_view path, std::string_view name,
                        std::string_view value) {
    return vfs_.SetXattrAt(ctx_, ctx_.cwd, path, name, value, 0,
                           AT_SYMLINK_NOFOLLOW);
  }
  // Creates (or replaces) a file holding `data` with mode `mode`.
  void WriteFile(std::string_view path, std::string_view data,
                 mode_t mode = 0644) {
    auto f = Open(path, O_CREAT | O_WRONLY | O_TRUNC, mode);
    ASSERT_THAT(f, IsOk()) << path;
    ASSERT_THAT((*f)->Write(Bytes(data)), IsOkAndHolds(data.size()));
    ASSERT_THAT(vfs_.ChmodAt(ctx_, ctx_.cwd, path, mode, 0), IsOk());
  }
  std::string ReadAll(FileDescription& f) {
    std::string out;
    uint8_t buf[4096];
    for (int64_t off = 0;;) {
      auto n = f.PRead(buf, off);
      if (!n || *n == 0) break;
      out.append(reinterpret_cast<char*>(buf), *n);
      off += static_cast<int64_t>(*n);
    }
    return out;
  }
  std::string ReadFile(std::string_view path) {
    auto f = Open(path, O_RDONLY);
    if (!f) return "<error>";
    return ReadAll(**f);
  }
  // (name, d_ino, d_type) of a directory, "." and ".." left out, by name.
  struct Entry {
    std::string name;
    uint64_t ino;
    uint8_t type;
  };
  static std::vector<Entry> Entries(FileDescription& dir) {
    std::vector<Entry> out;
    std::vector<uint8_t> buf(4096);
    for (;;) {
      auto n = dir.Getdents64(buf);
      if (!n || *n == 0) break;
      for (size_t pos = 0; pos < *n;) {
        uint64_t ino;
        uint16_t reclen;
        std::memcpy(&ino, buf.data() + pos, 8);
        std::memcpy(&reclen, buf.data() + pos + 16, 2);
        std::string name(reinterpret_cast<char*>(buf.data() + pos + 19));
        if (name != "." && name != "..")
          out.push_back(Entry{name, ino, buf[pos + 18]});
        pos += reclen;
      }
    }
    std::sort(out.begin(), out.end(),
              [](const Entry& a, const Entry& b) { return a.name < b.name; });
    return out;
  }
  std::vector<std::string> List(std::string_view path) {
    auto f = Open(path, O_RDONLY | O_DIRECTORY);
    if (!f) return {"<error>"};
    std::vector<std::string> names;
    for (const Entry& e : Entries(**f)) names.push_back(e.name);
    return names;
  }

 private:
  Vfs& vfs_;
  Context ctx_;
};

class OverlayTest : public ::testing::Test {
 protected:
  OverlayTest()
      : lower_(vfs::tmpfs::Tmpfs::Create({0755, 0, 0})),
        upper_(vfs::tmpfs::Tmpfs::Create({0755, 0, 0})),
        lower_vfs_(std::make_unique<Vfs>(lower_)),
        lower_ops_(*lower_vfs_) {}

  // The lower tree, built before Mount().
  VfsOps& lower() { return lower_ops_; }
  void LowerFile(std::string_view path, std::string_view data,
                 mode_t mode = 0644) {
    lower_ops_.WriteFile(path, data, mode);
  }

  // Mounts the overlay: upper_ over lower_ (and `more` below it).
  void Mount(std::vector<Ref<vfs::Filesystem>> more = {},
             const OverlayOptions& options = {}) {
    std::vector<Ref<vfs::Filesystem>> lowers{lower_};
    for (auto& fs : more) lowers.push_back(fs);
    auto ofs = OverlayFs::Create(upper_, lowers, options);
    ASSERT_THAT(ofs, IsOk());
    ofs_ = RefPtr<OverlayFs>(*ofs);
    vfs_ = std::make_unique<Vfs>(*ofs);
    ops_ = std::make_unique<VfsOps>(*vfs_);
    alice_.emplace(vfs_->RootContext());
    alice_->creds = vfs::Credentials::User(1000, 1000, {1000});
  }

  // The overlay.
  VfsOps& ov() { return *ops_; }
  Vfs& vfs() { return *vfs_; }

  // A fresh look at the upper layer (a new Vfs, so no cached names).
  Result<Attr> UpperLstat(std::string_view path) {
    Vfs v(upper_);
    return VfsOps(v).Lstat(path);
  }
  Result<std::string> UpperXattr(std::string_view path, std::string_view name) {
    Vfs v(upper_);
    return VfsOps(v).GetXattr(path, name);
  }
  std::vector<std::string> UpperList(std::string_view path) {
    Vfs v(upper_);
    return VfsOps(v).List(path);
  }
  bool UpperIsWhiteout(std::string_view path) {
    auto st = UpperLstat(path);
    return st && S_ISCHR(st->mode) && st->rdev == 0;
  }
  Result<Attr> LowerLstat(std::string_view path) {
    Vfs v(lower_);
    return VfsOps(v).Lstat(path);
  }

  Ref<vfs::tmpfs::Tmpfs> lower_;
  Ref<vfs::tmpfs::Tmpfs> upper_;
  std::unique_ptr<Vfs> lower_vfs_;
  VfsOps lower_ops_;
  RefPtr<OverlayFs> ofs_;
  std::unique_ptr<Vfs> vfs_;
  std::unique_ptr<VfsOps> ops_;
  std::optional<Context> alice_;  // uid 1000, on the overlay
};

}  // namespace veil::overlay::testing
