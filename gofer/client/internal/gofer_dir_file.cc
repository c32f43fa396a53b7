// SPDX-License-Identifier: Apache-2.0
//
// Open directories of a GoferFs: getdents64 over the server's Getdents64.
//
// The server's directory stream only goes forward, so each open directory
// keeps the entries it has read, in the server's order, and hands out
// cookies of its own: 0 and 1 are "." and "..", 2 + i is the i-th entry
// read. Seeking back to any cookie replays the same entries; seeking to 0
// (rewinddir) starts a fresh stream, so entries made since are seen, as on
// Linux. Entries created or removed while a stream is being read are seen
// or not as the host's directory iteration decides (tmpfs: a name is
// neither repeated nor skipped). In an immutable tree (FileAccess::
// kImmutable) the first complete listing is kept in the inode and every
// later open is served from it, with no request.
#include <dirent.h>

#include <vector>

#include "base/logging.h"
#include "gofer/client/internal/gofer_inode.h"

namespace veil::gofer::client::internal {

namespace {

class GoferDirFile final : public vfs::FileImpl {
 public:
  // Made under the filesystem mutex (OpenDirLocked), which key() needs.
  explicit GoferDirFile(Ref<GoferInode> dir)
      : dir_(std::move(dir)), dir_key_(dir_->key()) {}
  ~GoferDirFile() override { dir_->gofer().ReleaseFd(stream_); }

  // Linux generic_read_dir.
  Result<size_t> PRead(std::span<uint8_t>, int64_t) override {
    return Errno(EISDIR);
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t>,
                        int64_t*, vfs::WriteAt) override {
    return Errno(EISDIR);
  }

  Result<void> ReadDir(uint64_t* cookie, const vfs::DirEmitter& emit) override {
    MutexLock lock(mu_);
    {
      MutexLock fs_lock(dir_->fs().mutex());
      VEIL_TRY_VOID(dir_->CheckUsableLocked());
      // iterate_dir on a removed directory (IS_DEADDIR).
      if (dir_->removed_locked()) return Errno(ENOENT);
    }
    if (*cookie == 0 && (stream_ != lisafs::kNoFdId || eof_)) Rewind();
    fetched_ = false;
    uint64_t c = *cookie;
    bool stopped = false;
    if (c == 0) {
      stopped = !emit(vfs::DirEntry{".", dir_->ino(), DT_DIR, 1});
      if (!stopped) *cookie = c = 1;
    }
    if (!stopped && c == 1) {
      stopped = !emit(vfs::DirEntry{"..", dir_->parent_ino(), DT_DIR, 2});
      if (!stopped) *cookie = c = 2;
    }
    for (size_t i = c - 2; !stopped; ++i) {
      while (i >= entries_.size() && !eof_) VEIL_TRY_VOID(FetchLocked());
      if (i >= entries_.size()) break;
      const Entry& e = entries_[i];
      if (!emit(vfs::DirEntry{e.name, e.ino, e.type, i + 3})) break;
      *cookie = i + 3;
    }
    // Every getdents64 marks the directory accessed on Linux (iterate_dir's
    // file_accessed), even one answered from what we hold: let the host
    // see a call whenever relatime would move the atime.
    bool touch;
    {
      MutexLock fs_lock(dir_->fs().mutex());
      touch = !fetched_ && !immutable() && dir_->AtimeWouldUpdateLocked();
    }
    if (touch) VEIL_TRY_VOID(FetchLocked());
    if (fetched_) {
      MutexLock fs_lock(dir_->fs().mutex());
      dir_->NoteAccessLocked();
    }
    return Ok();
  }

 private:
  using Entry = GoferInode::ListedEntry;

  bool immutable() const { return dir_->gofer().immutable(); }

  void Rewind() VEIL_REQUIRES(mu_) {
    dir_->gofer().ReleaseFd(stream_);
    stream_ = lisafs::kNoFdId;
    entries_.clear();
    eof_ = false;
  }

  // Reads the next batch of entries from the server.
  Result<void> FetchLocked() VEIL_REQUIRES(mu_) {
    lisafs::Client& client = dir_->client();
    if (stream_ == lisafs::kNoFdId && immutable() && entries_.empty()) {
      MutexLock fs_lock(dir_->fs().mutex());
      if (const std::vector<Entry>* listing = dir_->listing_locked()) {
        entries_ = *listing;
        eof_ = true;
        return Ok();
      }
    }
    if (stream_ == lisafs::kNoFdId) {
      auto opened = VEIL_TRY(client.Call(
          lisafs::OpenAtReq{dir_->control_fd(), O_RDONLY | O_DIRECTORY}));
      // A donated descriptor of a directory is of no use: dropped.
      stream_ = opened.message.open_fd;
    }
    fetched_ = true;
    auto reply = VEIL_TRY(client.Call(lisafs::Getdents64Req{
        stream_, static_cast<uint32_t>(lisafs::kMaxGetdentsBytes)}));
    const std::vector<lisafs::Dirent64>& got = reply.message.dirents;
    if (got.empty()) {
      eof_ = true;
      if (immutable()) {
        MutexLock fs_lock(dir_->fs().mutex());
        dir_->set_listing_locked(entries_);
      }
      return Ok();
    }
    const HostKey& dir_key = dir_key_;
    for (const lisafs::Dirent64& d : got) {
      // The codec checked the name's shape; check it as the VFS does, so
      // that nothing the VFS could not look up is ever listed.
      if (!vfs::CheckName(d.name)) {
        VEIL_LOG(kWarning) << "gofer client: server listed a bad name";
        return Errno(EIO);
      }
      // getdents64 has no device; a server that leaves it 0:0 means the
      // directory's own.
      HostKey key{d.dev_major, d.dev_minor, d.ino};
      if (d.dev_major == 0 && d.dev_minor == 0) {
        key.dev_major = dir_key.dev_major;
        key.dev_minor = dir_key.dev_minor;
      }
      entries_.push_back(Entry{d.name, dir_->gofer().InoFor(key), d.type});
    }
    return Ok();
  }

  const Ref<GoferInode> dir_;
  const HostKey dir_key_;
  Mutex mu_;  // taken before the filesystem mutex
  lisafs::FdId stream_ VEIL_GUARDED_BY(mu_) = lisafs::kNoFdId;
  std::vector<Entry> entries_ VEIL_GUARDED_BY(mu_);
  bool eof_ VEIL_GUARDED_BY(mu_) = false;
  bool fetched_ VEIL_GUARDED_BY(mu_) = false;  // this ReadDir asked the server
};

}  // namespace

Result<void> GoferInode::ReadDirLocked(uint64_t cookie,
                                       const vfs::DirEmitter& emit) {
  // Not a directory: Linux's iterate_dir without ->iterate_shared.
  if (!IsDir()) return Errno(ENOTDIR);
  VEIL_TRY_VOID(CheckUsableLocked());
  // iterate_dir on a removed directory (IS_DEADDIR).
  if (removed_) return Errno(ENOENT);
  std::vector<ListedEntry> read;
  const std::vector<ListedEntry>* entries = listing_locked();
  if (entries == nullptr) {
    read = VEIL_TRY(FetchListingLocked());
    if (gofer().immutable()) {
      set_listing_locked(std::move(read));
      entries = listing_locked();
    } else {
      NoteAccessLocked();
      entries = &read;
    }
  }
  if (cookie <= 0 && !emit(vfs::DirEntry{".", ino(), DT_DIR, 1})) return Ok();
  if (cookie <= 1 && !emit(vfs::DirEntry{"..", parent_ino(), DT_DIR, 2}))
    return Ok();
  for (uint64_t i = cookie > 2 ? cookie - 2 : 0; i < entries->size(); ++i) {
    const ListedEntry& e = (*entries)[i];
    if (!emit(vfs::DirEntry{e.name, e.ino, e.type, i + 3})) break;
  }
  return Ok();
}

Result<std::vector<GoferInode::ListedEntry>>
GoferInode::FetchListingLocked() {
  auto opened = VEIL_TRY(client().Call(
      lisafs::OpenAtReq{control_fd(), O_RDONLY | O_DIRECTORY}));
  const lisafs::FdId stream = opened.message.open_fd;
  std::vector<ListedEntry> entries;
  const HostKey own = key();
  Result<void> result = Ok();
  for (bool more = true; more;) {
    auto reply = client().Call(lisafs::Getdents64Req{
        stream, static_cast<uint32_t>(lisafs::kMaxGetdentsBytes)});
    if (!reply) {
      result = reply.error();
      break;
    }
    const std::vector<lisafs::Dirent64>& got = reply->message.dirents;
    if (got.empty()) break;
    for (const lisafs::Dirent64& d : got) {
      // As GoferDirFile::FetchLocked: names checked, device 0:0 is ours.
      if (!vfs::CheckName(d.name)) {
        VEIL_LOG(kWarning) << "gofer client: server listed a bad name";
        result = Errno(EIO);
        more = false;
        break;
      }
      HostKey entry{d.dev_major, d.dev_minor, d.ino};
      if (d.dev_major == 0 && d.dev_minor == 0) {
        entry.dev_major = own.dev_major;
        entry.dev_minor = own.dev_minor;
      }
      entries.push_back(ListedEntry{d.name, gofer().InoFor(entry), d.type});
    }
  }
  gofer().ReleaseFd(stream);
  if (!result) return result.error();
  return entries;
}

Result<std::unique_ptr<vfs::FileImpl>> GoferInode::OpenDirLocked() {
  return std::unique_ptr<vfs::FileImpl>(
      new GoferDirFile(Ref<GoferInode>(*this)));
}

}  // namespace veil::gofer::client::internal
