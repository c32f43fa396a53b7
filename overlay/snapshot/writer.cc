// SPDX-License-Identifier: Apache-2.0
//
// WriteImage: walks a vfs tree breadth first and streams the image. File
// data goes out chunk by chunk as it is read; only the manifest (one Entry
// per inode, one ChunkRecord per stored chunk) stays in memory until the
// end, where it is written after the data.
#include <lz4.h>
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <string>
#include <unordered_map>
#include <utility>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/snapshot.h"

namespace veil::snapshot {
namespace {

struct ChunkKey {
  Hash128 content;
  uint32_t length;
  friend bool operator==(const ChunkKey&, const ChunkKey&) = default;
};
struct ChunkKeyHash {
  size_t operator()(const ChunkKey& k) const {
    return static_cast<size_t>(k.content.low ^ k.length);
  }
};

Timestamp FromTimespec(const timespec& t) {
  return Timestamp{t.tv_sec, static_cast<uint32_t>(t.tv_nsec)};
}

EntryType TypeOf(const vfs::Attr& attr) {
  switch (attr.type()) {
    case S_IFDIR:
      return EntryType::kDirectory;
    case S_IFLNK:
      return EntryType::kSymlink;
    case S_IFCHR:
      return EntryType::kCharDevice;
    case S_IFBLK:
      return EntryType::kBlockDevice;
    case S_IFIFO:
      return EntryType::kFifo;
    case S_IFSOCK:
      return EntryType::kSocket;
    default:
      return EntryType::kRegular;
  }
}

Entry EntryFromAttr(const vfs::Attr& attr) {
  Entry e;
  e.type = TypeOf(attr);
  e.perm = attr.mode & 07777;
  e.uid = attr.uid;
  e.gid = attr.gid;
  e.atime = FromTimespec(attr.atime);
  e.mtime = FromTimespec(attr.mtime);
  if (e.type == EntryType::kCharDevice || e.type == EntryType::kBlockDevice) {
    e.rdev_major = major(attr.rdev);
    e.rdev_minor = minor(attr.rdev);
  }
  return e;
}

class Writer {
 public:
  Writer(vfs::Vfs& vfs, ByteSink& out, const WriteOptions& options)
      : vfs_(vfs), ctx_(vfs.RootContext()), out_(out), options_(options) {}

  SnapshotResult<WriteStats> Run(const vfs::Location& root);

 private:
  struct PendingDir {
    vfs::Location location;
    uint32_t entry;
  };

  SnapshotResult<void> Emit(std::span<const uint8_t> bytes) {
    VEIL_SNAP_TRY_VOID(out_.Write(bytes));
    offset_ += bytes.size();
    return Done();
  }
  SnapshotResult<uint32_t> StoreChunk(std::span<const uint8_t> raw);
  SnapshotResult<void> ListDir(const PendingDir& dir,
                               std::vector<std::string>* names);
  SnapshotResult<void> AddChild(const PendingDir& dir, const std::string& name);
  SnapshotResult<void> ReadXattrs(const vfs::Location& dir,
                                  const std::string& name,
                                  const std::string& path, Entry* entry);
  SnapshotResult<void> ReadData(const vfs::Location& dir,
                                const std::string& name,
                                const std::string& path, Entry* entry);
  void Report() {
    if (options_.progress)
      options_.progress(Progress{stats_.data_bytes, 0, stats_.entries, 0});
  }

  vfs::Vfs& vfs_;  // borrowed for the duration of WriteImage
  vfs::Context ctx_;
  ByteSink& out_;
  const WriteOptions& options_;
  uint64_t root_dev_ = 0;
  uint64_t offset_ = 0;
  Manifest manifest_;
  WriteStats stats_;
  std::deque<PendingDir> pending_;
  std::unordered_map<ChunkKey, uint32_t, ChunkKeyHash> chunks_by_content_;
  std::unordered_map<uint64_t, uint32_t> entries_by_ino_;  // hard links
  std::vector<uint8_t> raw_;
  std::vector<uint8_t> packed_;
};

SnapshotResult<uint32_t> Writer::StoreChunk(std::span<const uint8_t> raw) {
  ++stats_.chunk_refs;
  ChunkKey key{ContentHash(raw), static_cast<uint32_t>(raw.size())};
  auto found = chunks_by_content_.find(key);
  if (found != chunks_by_content_.end()) return found->second;

  ChunkRecord record;
  record.offset = offset_;
  record.raw_size = key.length;
  record.content = key.content;
  packed_.resize(
      static_cast<size_t>(LZ4_compressBound(static_cast<int>(raw.size()))));
  int packed = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()),
                                    reinterpret_cast<char*>(packed_.data()),
                                    static_cast<int>(raw.size()),
                                    static_cast<int>(packed_.size()));
  std::span<const uint8_t> stored = raw;
  if (packed > 0 && static_cast<size_t>(packed) < raw.size()) {
    record.codec = Codec::kLz4;
    stored =
        std::span<const uint8_t>(packed_).first(static_cast<size_t>(packed));
  }
  record.stored_size = static_cast<uint32_t>(stored.size());
  record.checksum = Checksum(stored);
  VEIL_SNAP_TRY_VOID(Emit(stored));

  uint32_t index = static_cast<uint32_t>(manifest_.chunks.size());
  manifest_.chunks.push_back(record);
  chunks_by_content_.emplace(key, index);
  ++stats_.chunks;
  stats_.stored_bytes += stored.size();
  return index;
}

SnapshotResult<void> Writer::ListDir(const PendingDir& dir,
                                     std::vector<std::string>* names) {
  auto path = [&] { return EntryPath(manifest_, dir.entry); };
  auto file = VEIL_SNAP_TRY(
      WithContext(vfs_.OpenAt(ctx_, dir.location, ".",
                              vfs::OpenHow{O_RDONLY | O_DIRECTORY, 0, 0}),
                  [&] { return "opening " + path(); }));
  std::vector<uint8_t> buf(64 * 1024);
  for (;;) {
    size_t n = VEIL_SNAP_TRY(WithContext(file->Getdents64(buf),
                                         [&] { return "listing " + path(); }));
    if (n == 0) break;
    // struct linux_dirent64: d_ino, d_off, d_reclen (u16 at 16), d_type,
    // NUL-terminated name at 19.
    for (size_t pos = 0; pos + 19 < n;) {
      uint16_t reclen;
      std::memcpy(&reclen, buf.data() + pos + 16, 2);
      if (reclen == 0 || pos + reclen > n) break;
      const char* name = reinterpret_cast<const char*>(buf.data() + pos + 19);
      std::string_view sv(name, strnlen(name, reclen - 19));
      if (sv != "." && sv != "..") names->emplace_back(sv);
      pos += reclen;
    }
  }
  // Sorted, so that one tree always gives the same image.
  std::sort(names->begin(), names->end());
  return Done();
}

SnapshotResult<void> Writer::ReadXattrs(const vfs::Location& dir,
                                        const std::string& name,
                                        const std::string& path, Entry* entry) {
  auto listed = vfs_.ListXattrAt(ctx_, dir, name, AT_SYMLINK_NOFOLLOW);
  if (!listed &&
      (listed.error().code() == EOPNOTSUPP || listed.error().code() == ENOTSUP))
    return Done();  // a filesystem without xattrs has none to keep
  std::vector<std::string> names = VEIL_SNAP_TRY(WithContext(
      std::move(listed), [&] { return "listing xattrs of " + path; }));
  std::sort(names.begin(), names.end());
  for (std::string& xname : names) {
    auto value = vfs_.GetXattrAt(ctx_, dir, name, xname, AT_SYMLINK_NOFOLLOW);
    // Removed since it was listed: the tree changed under us; skip it.
    if (!value && value.error().code() == ENODATA) continue;
    std::string v = VEIL_SNAP_TRY(WithContext(std::move(value), [&] {
      return "reading xattr " + xname + " of " + path;
    }));
    entry->xattrs.push_back(Xattr{std::move(xname), std::move(v)});
  }
  return Done();
}

SnapshotResult<void> Writer::ReadData(const vfs::Location& dir,
                                      const std::string& name,
                                      const std::string& path, Entry* entry) {
  if (entry->size == 0) return Done();
  // O_NOATIME (root has CAP_FOWNER): taking a snapshot leaves the files'
  // atimes alone. Listing directories still moves theirs, as on Linux.
  auto file = VEIL_SNAP_TRY(WithContext(
      vfs_.OpenAt(ctx_, dir, name,
                  vfs::OpenHow{O_RDONLY | O_NOFOLLOW | O_NOATIME, 0, 0}),
      [&] { return "opening " + path; }));
  const int64_t size = static_cast<int64_t>(entry->size);
  const int64_t chunk = options_.chunk_size;
  bool seek_data = true;
  for (int64_t pos = 0; pos < size;) {
    int64_t data = pos, hole = size;
    if (seek_data) {
      auto d = file->Seek(pos, SEEK_DATA);
      if (!d && d.error().code() == ENXIO) break;  // only a hole remains
      if (d) {
        data = *d;
        auto h = file->Seek(data, SEEK_HOLE);
        hole = h ? std::min(*h, size) : size;
      } else {
        seek_data = false;  // no SEEK_DATA here: store every byte
      }
    }
    // Chunks are aligned to multiples of the chunk size in the file, so
    // equal data at equal alignment dedupes across files.
    for (int64_t p = data; p < hole;) {
      int64_t end = std::min(hole, (p / chunk + 1) * chunk);
      raw_.resize(static_cast<size_t>(end - p));
      size_t got = 0;
      while (got < raw_.size()) {
        size_t n = VEIL_SNAP_TRY(
            WithContext(file->PRead(std::span(raw_).subspan(got),
                                    p + static_cast<int64_t>(got)),
                        [&] { return "reading " + path; }));
        if (n == 0) break;  // shrank while we read it
        got += n;
      }
      if (got == 0) return Done();
      uint32_t index = VEIL_SNAP_TRY(StoreChunk(std::span(raw_).first(got)));
      entry->extents.push_back(Extent{static_cast<uint64_t>(p), index});
      stats_.data_bytes += got;
      Report();
      if (got < raw_.size()) return Done();
      p = end;
    }
    pos = hole;
  }
  return Done();
}

SnapshotResult<void> Writer::AddChild(const PendingDir& dir,
                                      const std::string& name) {
  std::string path = EntryPath(manifest_, dir.entry);
  path = (path == "/" ? "" : path) + "/" + name;
  // Stat before reading anything: reads would move the atime we keep.
  vfs::Attr attr = VEIL_SNAP_TRY(
      WithContext(vfs_.StatAt(ctx_, dir.location, name, AT_SYMLINK_NOFOLLOW),
                  [&] { return "stat " + path; }));
  ++stats_.names;
  const auto index = static_cast<uint32_t>(manifest_.entries.size());
  if (!attr.IsDir() && attr.nlink > 1 && attr.dev == root_dev_) {
    auto [it, fresh] = entries_by_ino_.emplace(attr.ino, index);
    if (!fresh) {
      manifest_.entries[it->second].names.push_back(EntryName{dir.entry, name});
      return Done();
    }
  }
  Entry entry = EntryFromAttr(attr);
  entry.names.push_back(EntryName{dir.entry, name});
  VEIL_SNAP_TRY_VOID(ReadXattrs(dir.location, name, path, &entry));
  switch (entry.type) {
    case EntryType::kRegular:
      entry.size = attr.size;
      VEIL_SNAP_TRY_VOID(ReadData(dir.location, name, path, &entry));
      break;
    case EntryType::kSymlink:
      entry.symlink_target =
          VEIL_SNAP_TRY(WithContext(vfs_.ReadlinkAt(ctx_, dir.location, name),
                                    [&] { return "readlink " + path; }));
      break;
    case EntryType::kDirectory:
      // Another filesystem mounted here: keep the directory, not its
      // contents (as tar --one-file-system).
      if (attr.dev == root_dev_) {
        auto opened = VEIL_SNAP_TRY(WithContext(
            vfs_.OpenAt(ctx_, dir.location, name,
                        vfs::OpenHow{O_PATH | O_DIRECTORY | O_NOFOLLOW, 0, 0}),
            [&] { return "opening " + path; }));
        pending_.push_back(PendingDir{opened->location(), index});
      }
      break;
    default:
      break;
  }
  manifest_.entries.push_back(std::move(entry));
  ++stats_.entries;
  Report();
  return Done();
}

SnapshotResult<WriteStats> Writer::Run(const vfs::Location& root) {
  if (options_.chunk_size < kMinChunkSize ||
      options_.chunk_size > kMaxChunkSize)
    return SnapshotError{EINVAL, "chunk size out of range"};
  vfs::Attr attr = VEIL_SNAP_TRY(WithContext(
      vfs_.StatAt(ctx_, root, ".", 0), [] { return std::string("stat /"); }));
  if (!attr.IsDir())
    return SnapshotError{ENOTDIR, "the snapshot root is not a directory"};
  root_dev_ = attr.dev;
  const std::string header =
      EncodeHeader(Header{kFormatVersion, options_.chunk_size});
  VEIL_SNAP_TRY_VOID(Emit(std::span(
      reinterpret_cast<const uint8_t*>(header.data()), header.size())));
  Entry root_entry = EntryFromAttr(attr);
  VEIL_SNAP_TRY_VOID(ReadXattrs(root, ".", "/", &root_entry));
  manifest_.entries.push_back(std::move(root_entry));
  ++stats_.entries;
  pending_.push_back(PendingDir{root, 0});

  std::vector<std::string> names;
  while (!pending_.empty()) {
    PendingDir dir = std::move(pending_.front());
    pending_.pop_front();
    names.clear();
    VEIL_SNAP_TRY_VOID(ListDir(dir, &names));
    for (const std::string& name : names)
      VEIL_SNAP_TRY_VOID(AddChild(dir, name));
  }

  Trailer trailer;
  trailer.manifest_offset = offset_;
  std::string manifest = EncodeManifest(manifest_);
  std::span<const uint8_t> bytes(
      reinterpret_cast<const uint8_t*>(manifest.data()), manifest.size());
  trailer.manifest_size = bytes.size();
  trailer.manifest_checksum = Checksum(bytes);
  VEIL_SNAP_TRY_VOID(Emit(bytes));
  std::string tail = EncodeTrailer(trailer);
  VEIL_SNAP_TRY_VOID(Emit(
      std::span(reinterpret_cast<const uint8_t*>(tail.data()), tail.size())));
  stats_.image_bytes = offset_;
  return stats_;
}

}  // namespace

SnapshotResult<WriteStats> WriteImage(vfs::Vfs& vfs, const vfs::Location& root,
                                      ByteSink& out,
                                      const WriteOptions& options) {
  Writer writer(vfs, out, options);
  return writer.Run(root);
}

}  // namespace veil::snapshot
