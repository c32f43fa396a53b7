// SPDX-License-Identifier: Apache-2.0
//
// WriteImage: walks a tree (tree.h) breadth first and streams the image.
// File data goes out chunk by chunk as it is read, through the bounded
// ChunkWriter pipeline (pipeline.h: LZ4 and checksums on worker threads);
// only the manifest (one Entry per inode, one ChunkRecord per stored
// chunk) stays in memory until the end, where it is written after the
// data.
#include <sys/sysmacros.h>

#include <algorithm>
#include <cstring>
#include <deque>
#include <memory>
#include <string>
#include <unordered_map>
#include <utility>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/pipeline.h"
#include "overlay/snapshot/snapshot.h"

namespace veil::snapshot {
namespace {

constexpr uint64_t kSkipsNamed = 5;

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
  Writer(ByteSink& out, const WriteOptions& options)
      : out_(out), options_(options) {}

  SnapshotResult<WriteStats> Run(SourceDir& root);

 private:
  struct PendingDir {
    std::unique_ptr<SourceDir> dir;  // null for the root (root_)
    uint32_t entry;
  };

  SnapshotResult<void> Emit(std::span<const uint8_t> bytes) {
    VEIL_SNAP_TRY_VOID(out_.Write(bytes));
    offset_ += bytes.size();
    return Done();
  }
  SnapshotResult<uint32_t> StoreChunk(internal::ChunkWriter::Slot* slot);
  SnapshotResult<void> AddChild(SourceDir& dir, uint32_t parent,
                                const std::string& name);
  SnapshotResult<void> ReadXattrs(SourceDir& dir, const std::string& name,
                                  const std::string& path, Entry* entry);
  SnapshotResult<void> ReadData(SourceDir& dir, const std::string& name,
                                const std::string& path, Entry* entry);
  void Report() {
    if (options_.progress)
      options_.progress(Progress{stats_.data_bytes, 0, stats_.entries, 0});
  }

  ByteSink& out_;
  const WriteOptions& options_;
  uint64_t root_dev_ = 0;
  uint64_t offset_ = 0;
  Manifest manifest_;
  WriteStats stats_;
  std::deque<PendingDir> pending_;
  std::unique_ptr<internal::ChunkWriter> chunks_;  // while the data goes out
  uint32_t next_chunk_ = 0;
  std::unordered_map<ChunkKey, uint32_t, ChunkKeyHash> chunks_by_content_;
  std::unordered_map<uint64_t, uint32_t> entries_by_ino_;  // hard links
};

// Dedupe happens here, on the walker's thread and in walk order; only a
// chunk not seen before goes to the pipeline (and is compressed).
SnapshotResult<uint32_t> Writer::StoreChunk(internal::ChunkWriter::Slot* slot) {
  ++stats_.chunk_refs;
  ChunkRecord& r = slot->record;
  r.content = ContentHash(std::span(slot->raw).first(r.raw_size));
  ChunkKey key{r.content, r.raw_size};
  auto [it, fresh] = chunks_by_content_.emplace(key, next_chunk_);
  if (!fresh) {
    chunks_->Release(slot);
    return it->second;
  }
  chunks_->Submit(slot, next_chunk_);
  ++stats_.chunks;
  return next_chunk_++;
}

SnapshotResult<void> Writer::ReadXattrs(SourceDir& dir, const std::string& name,
                                        const std::string& path, Entry* entry) {
  auto listed = dir.ListXattrs(name);
  if (!listed &&
      (listed.error().code() == EOPNOTSUPP || listed.error().code() == ENOTSUP))
    return Done();  // a filesystem without xattrs has none to keep
  std::vector<std::string> names = VEIL_SNAP_TRY(WithContext(
      std::move(listed), [&] { return "listing xattrs of " + path; }));
  std::sort(names.begin(), names.end());
  for (std::string& xname : names) {
    if (!ValidXattrName(xname, entry->type)) {
      if (stats_.xattrs_skipped++ < kSkipsNamed)
        stats_.skipped_xattrs.push_back(Escape(xname) + " of " + path);
      continue;
    }
    auto value = dir.GetXattr(name, xname);
    // Removed since it was listed: the tree changed under us; skip it.
    if (!value && value.error().code() == ENODATA) continue;
    std::string v = VEIL_SNAP_TRY(WithContext(std::move(value), [&] {
      return "reading xattr " + Escape(xname) + " of " + path;
    }));
    entry->xattrs.push_back(Xattr{std::move(xname), std::move(v)});
  }
  return Done();
}

SnapshotResult<void> Writer::ReadData(SourceDir& dir, const std::string& name,
                                      const std::string& path, Entry* entry) {
  if (entry->size == 0) return Done();
  auto file = VEIL_SNAP_TRY(
      WithContext(dir.OpenFile(name), [&] { return "opening " + path; }));
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
      const auto want = static_cast<size_t>(end - p);
      internal::ChunkWriter::Slot* slot = VEIL_SNAP_TRY(chunks_->Acquire());
      size_t got = 0;
      while (got < want) {
        auto n = file->PRead(std::span(slot->raw).subspan(got, want - got),
                             p + static_cast<int64_t>(got));
        if (!n) {
          chunks_->Release(slot);
          return FromErrno(n.error(), "reading " + path);
        }
        if (*n == 0) break;  // shrank while we read it
        got += *n;
      }
      if (got == 0) {
        chunks_->Release(slot);
        return Done();
      }
      slot->record.raw_size = static_cast<uint32_t>(got);
      uint32_t index = VEIL_SNAP_TRY(StoreChunk(slot));
      entry->extents.push_back(Extent{static_cast<uint64_t>(p), index});
      stats_.data_bytes += got;
      Report();
      if (got < want) return Done();
      p = end;
    }
    pos = hole;
  }
  return Done();
}

SnapshotResult<void> Writer::AddChild(SourceDir& dir, uint32_t parent,
                                      const std::string& name) {
  // For messages only: escaped, and cut short in a deep tree.
  const std::string path = EntryPath(manifest_, parent, name);
  // Stat before reading anything: reads would move the atime we keep.
  vfs::Attr attr = VEIL_SNAP_TRY(
      WithContext(dir.Stat(name), [&] { return "stat " + path; }));
  ++stats_.names;
  const auto index = static_cast<uint32_t>(manifest_.entries.size());
  if (!attr.IsDir() && attr.nlink > 1 && attr.dev == root_dev_) {
    auto [it, fresh] = entries_by_ino_.emplace(attr.ino, index);
    if (!fresh) {
      manifest_.entries[it->second].names.push_back(EntryName{parent, name});
      return Done();
    }
  }
  Entry entry = EntryFromAttr(attr);
  entry.names.push_back(EntryName{parent, name});
  VEIL_SNAP_TRY_VOID(ReadXattrs(dir, name, path, &entry));
  switch (entry.type) {
    case EntryType::kRegular:
      entry.size = attr.size;
      VEIL_SNAP_TRY_VOID(ReadData(dir, name, path, &entry));
      break;
    case EntryType::kSymlink:
      entry.symlink_target = VEIL_SNAP_TRY(
          WithContext(dir.Readlink(name), [&] { return "readlink " + path; }));
      break;
    case EntryType::kDirectory:
      // Another filesystem mounted here: keep the directory, not its
      // contents (as tar --one-file-system).
      if (attr.dev == root_dev_) {
        auto opened = VEIL_SNAP_TRY(
            WithContext(dir.OpenDir(name), [&] { return "opening " + path; }));
        pending_.push_back(PendingDir{std::move(opened), index});
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

SnapshotResult<WriteStats> Writer::Run(SourceDir& root) {
  if (options_.chunk_size < kMinChunkSize ||
      options_.chunk_size > kMaxChunkSize)
    return SnapshotError{EINVAL, "chunk size out of range"};
  vfs::Attr attr = VEIL_SNAP_TRY(
      WithContext(root.Stat("."), [] { return std::string("stat /"); }));
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
  pending_.push_back(PendingDir{nullptr, 0});

  // From here until Finish, the pipeline's writer thread owns out_.
  chunks_ = std::make_unique<internal::ChunkWriter>(
      out_, offset_, options_.chunk_size, options_.threads);
  std::vector<std::string> names;
  while (!pending_.empty()) {
    PendingDir pending = std::move(pending_.front());
    pending_.pop_front();
    SourceDir& dir = pending.dir ? *pending.dir : root;
    names.clear();
    VEIL_SNAP_TRY_VOID(WithContext(dir.List(&names), [&] {
      return "listing " + EntryPath(manifest_, pending.entry);
    }));
    // Sorted, so that one tree always gives the same image.
    std::sort(names.begin(), names.end());
    for (const std::string& name : names)
      VEIL_SNAP_TRY_VOID(AddChild(dir, pending.entry, name));
  }
  VEIL_SNAP_TRY_VOID(chunks_->Finish(&manifest_.chunks, &offset_));
  chunks_.reset();
  for (const ChunkRecord& c : manifest_.chunks)
    stats_.stored_bytes += c.stored_size;

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

SnapshotResult<WriteStats> WriteImage(SourceDir& root, ByteSink& out,
                                      const WriteOptions& options) {
  Writer writer(out, options);
  return writer.Run(root);
}

SnapshotResult<WriteStats> WriteImage(vfs::Vfs& vfs, const vfs::Location& root,
                                      ByteSink& out,
                                      const WriteOptions& options) {
  return WriteImage(*VfsSource(vfs, root), out, options);
}

}  // namespace veil::snapshot
