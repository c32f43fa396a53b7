// SPDX-License-Identifier: Apache-2.0
//
// SourceDir and TargetDir over a veil VFS directory (tree.h).
#include <fcntl.h>

#include <cstring>
#include <string_view>
#include <utility>

#include "overlay/snapshot/tree.h"

namespace veil::snapshot {
namespace {

constexpr int kNoFollow = AT_SYMLINK_NOFOLLOW;

// Calls `fn` with each name in a getdents64 buffer of `n` bytes. struct
// linux_dirent64: d_ino, d_off, d_reclen (u16 at 16), d_type, then the
// NUL-terminated name at 19.
template <typename Fn>
void ForEachDirent(std::span<const uint8_t> buf, size_t n, Fn&& fn) {
  for (size_t pos = 0; pos + 19 < n;) {
    uint16_t reclen;
    std::memcpy(&reclen, buf.data() + pos + 16, 2);
    if (reclen <= 19 || pos + reclen > n) break;
    const char* name = reinterpret_cast<const char*>(buf.data() + pos + 19);
    std::string_view sv(name, strnlen(name, reclen - 19));
    if (sv != "." && sv != "..") fn(sv);
    pos += reclen;
  }
}

// Lists `dir`, calling `fn` per name until it returns false.
template <typename Fn>
Result<void> ListVfsDir(vfs::Vfs& vfs, const vfs::Context& ctx,
                        const vfs::Location& dir, Fn&& fn) {
  auto file = VEIL_TRY(
      vfs.OpenAt(ctx, dir, ".", vfs::OpenHow{O_RDONLY | O_DIRECTORY, 0, 0}));
  std::vector<uint8_t> buf(64 * 1024);
  bool more = true;
  while (more) {
    size_t n = VEIL_TRY(file->Getdents64(buf));
    if (n == 0) break;
    ForEachDirent(buf, n, [&](std::string_view name) {
      if (more) more = fn(name);
    });
  }
  return {};
}

class VfsSourceFile final : public SourceFile {
 public:
  explicit VfsSourceFile(Ref<vfs::FileDescription> file)
      : file_(std::move(file)) {}
  Result<int64_t> Seek(int64_t offset, int whence) override {
    return file_->Seek(offset, whence);
  }
  Result<size_t> PRead(std::span<uint8_t> buf, int64_t offset) override {
    return file_->PRead(buf, offset);
  }

 private:
  Ref<vfs::FileDescription> file_;
};

class VfsSourceDir final : public SourceDir {
 public:
  VfsSourceDir(vfs::Vfs& vfs, vfs::Location dir)
      : vfs_(vfs), ctx_(vfs.RootContext()), dir_(std::move(dir)) {}

  Result<void> List(std::vector<std::string>* names) override {
    return ListVfsDir(vfs_, ctx_, dir_, [&](std::string_view name) {
      names->emplace_back(name);
      return true;
    });
  }
  Result<vfs::Attr> Stat(const std::string& name) override {
    return vfs_.StatAt(ctx_, dir_, name, kNoFollow);
  }
  Result<std::vector<std::string>> ListXattrs(
      const std::string& name) override {
    return vfs_.ListXattrAt(ctx_, dir_, name, kNoFollow);
  }
  Result<std::string> GetXattr(const std::string& name,
                               const std::string& xattr) override {
    return vfs_.GetXattrAt(ctx_, dir_, name, xattr, kNoFollow);
  }
  Result<std::string> Readlink(const std::string& name) override {
    return vfs_.ReadlinkAt(ctx_, dir_, name);
  }
  Result<std::unique_ptr<SourceFile>> OpenFile(
      const std::string& name) override {
    // O_NOATIME (root has CAP_FOWNER): taking a snapshot leaves the files'
    // atimes alone. Listing directories still moves theirs, as on Linux.
    auto file = VEIL_TRY(
        vfs_.OpenAt(ctx_, dir_, name,
                    vfs::OpenHow{O_RDONLY | O_NOFOLLOW | O_NOATIME, 0, 0}));
    return std::unique_ptr<SourceFile>(new VfsSourceFile(std::move(file)));
  }
  Result<std::unique_ptr<SourceDir>> OpenDir(const std::string& name) override {
    auto opened = VEIL_TRY(
        vfs_.OpenAt(ctx_, dir_, name,
                    vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}));
    return std::unique_ptr<SourceDir>(
        new VfsSourceDir(vfs_, opened->location()));
  }

 private:
  vfs::Vfs& vfs_;  // borrowed: see VfsSource
  vfs::Context ctx_;
  vfs::Location dir_;
};

// A TargetNode by name: the VFS tree being restored into is the
// process's own (a tmpfs not yet mounted anywhere), so nobody can swap a
// name between the calls.
template <typename Base>
class VfsNode : public Base {
 public:
  VfsNode(vfs::Vfs& vfs, const vfs::Context& ctx, vfs::Location dir,
          std::string name)
      : vfs_(vfs), ctx_(ctx), dir_(std::move(dir)), name_(std::move(name)) {}

  Result<void> Chown(uid_t uid, gid_t gid) override {
    return vfs_.ChownAt(ctx_, dir_, name_, uid, gid, kNoFollow);
  }
  Result<void> Chmod(mode_t perm) override {
    return vfs_.ChmodAt(ctx_, dir_, name_, perm, 0);
  }
  Result<void> SetXattr(const std::string& xattr,
                        const std::string& value) override {
    return vfs_.SetXattrAt(ctx_, dir_, name_, xattr, value, 0, kNoFollow);
  }
  Result<void> Utimens(const timespec times[2]) override {
    return vfs_.UtimensAt(ctx_, dir_, name_, times, kNoFollow);
  }

 protected:
  vfs::Vfs& vfs_;  // borrowed: see VfsTarget
  vfs::Context ctx_;
  vfs::Location dir_;
  std::string name_;  // "." for a directory itself
};

class VfsTargetFile final : public VfsNode<TargetFile> {
 public:
  VfsTargetFile(vfs::Vfs& vfs, const vfs::Context& ctx, vfs::Location dir,
                std::string name, Ref<vfs::FileDescription> file)
      : VfsNode(vfs, ctx, std::move(dir), std::move(name)),
        file_(std::move(file)) {}
  Result<size_t> PWrite(std::span<const uint8_t> buf, int64_t offset) override {
    return file_->PWrite(buf, offset);
  }

 private:
  Ref<vfs::FileDescription> file_;
};

class VfsTargetDir final : public VfsNode<TargetDir> {
 public:
  VfsTargetDir(vfs::Vfs& vfs, vfs::Location dir)
      : VfsNode(vfs, UmaskZero(vfs), std::move(dir), ".") {}

  Result<bool> IsEmpty() override {
    bool empty = true;
    VEIL_TRY_VOID(ListVfsDir(vfs_, ctx_, dir_,
                             [&](std::string_view) { return empty = false; }));
    return empty;
  }
  Result<std::unique_ptr<TargetDir>> MakeDir(const std::string& name) override {
    VEIL_TRY_VOID(vfs_.MkdirAt(ctx_, dir_, name, 0700));
    auto opened = VEIL_TRY(
        vfs_.OpenAt(ctx_, dir_, name,
                    vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}));
    return std::unique_ptr<TargetDir>(
        new VfsTargetDir(vfs_, opened->location()));
  }
  Result<std::unique_ptr<TargetFile>> CreateFile(const std::string& name,
                                                 uint64_t size) override {
    auto file = VEIL_TRY(vfs_.OpenAt(
        ctx_, dir_, name,
        vfs::OpenHow{O_CREAT | O_EXCL | O_WRONLY | O_NOFOLLOW, 0600, 0}));
    if (size != 0)
      VEIL_TRY_VOID(vfs_.Ftruncate(ctx_, *file, static_cast<int64_t>(size)));
    return std::unique_ptr<TargetFile>(
        new VfsTargetFile(vfs_, ctx_, dir_, name, std::move(file)));
  }
  Result<std::unique_ptr<TargetNode>> Symlink(
      const std::string& target, const std::string& name) override {
    VEIL_TRY_VOID(vfs_.SymlinkAt(ctx_, target, dir_, name));
    return Node(name);
  }
  Result<std::unique_ptr<TargetNode>> Mknod(const std::string& name,
                                            mode_t mode, dev_t rdev) override {
    VEIL_TRY_VOID(vfs_.MknodAt(ctx_, dir_, name, mode, rdev));
    return Node(name);
  }
  Result<void> Link(TargetDir& old_dir, const std::string& old_name,
                    const std::string& name) override {
    // Apply links only within one target tree, so of this kind.
    auto& from = static_cast<VfsTargetDir&>(old_dir);
    return vfs_.LinkAt(ctx_, from.dir_, old_name, dir_, name, 0);
  }

 private:
  // Modes are set explicitly; the umask must not mask them meanwhile.
  static vfs::Context UmaskZero(vfs::Vfs& vfs) {
    vfs::Context ctx = vfs.RootContext();
    ctx.umask = 0;
    return ctx;
  }
  std::unique_ptr<TargetNode> Node(const std::string& name) {
    return std::make_unique<VfsNode<TargetNode>>(vfs_, ctx_, dir_, name);
  }
};

}  // namespace

std::unique_ptr<SourceDir> VfsSource(vfs::Vfs& vfs, const vfs::Location& dir) {
  return std::make_unique<VfsSourceDir>(vfs, dir);
}

std::unique_ptr<TargetDir> VfsTarget(vfs::Vfs& vfs, const vfs::Location& dir) {
  return std::make_unique<VfsTargetDir>(vfs, dir);
}

}  // namespace veil::snapshot
