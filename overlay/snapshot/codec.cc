// SPDX-License-Identifier: Apache-2.0
#include "overlay/snapshot/codec.h"

#include <lz4.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <string_view>
#include <utility>

namespace veil::snapshot {
namespace {

class Encoder {
 public:
  void U8(uint8_t v) { out_.push_back(static_cast<char>(v)); }
  void U16(uint16_t v) { Le(v, 2); }
  void U32(uint32_t v) { Le(v, 4); }
  void U64(uint64_t v) { Le(v, 8); }
  void I64(int64_t v) { Le(static_cast<uint64_t>(v), 8); }
  void Raw(std::string_view s) { out_.append(s); }
  std::string& out() { return out_; }

 private:
  void Le(uint64_t v, int n) {
    for (int i = 0; i < n; ++i) out_.push_back(static_cast<char>(v >> (8 * i)));
  }
  std::string out_;
};

// A cursor over untrusted bytes. Every read checks what remains first; a
// failed read leaves the outputs untouched and returns false.
class Decoder {
 public:
  explicit Decoder(std::span<const uint8_t> bytes) : bytes_(bytes) {}

  size_t remaining() const { return bytes_.size() - pos_; }
  bool U8(uint8_t* v) { return Le(v, 1); }
  bool U16(uint16_t* v) { return Le(v, 2); }
  bool U32(uint32_t* v) { return Le(v, 4); }
  bool U64(uint64_t* v) { return Le(v, 8); }
  bool I64(int64_t* v) {
    uint64_t u;
    if (!Le(&u, 8)) return false;
    *v = static_cast<int64_t>(u);
    return true;
  }
  bool Bytes(size_t n, std::string* out) {
    if (n > remaining()) return false;
    out->assign(reinterpret_cast<const char*>(bytes_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  // True if `count` records of at least `min_size` bytes each can still
  // fit: lets the caller reserve memory for them without trusting `count`.
  bool CanHold(uint64_t count, uint64_t min_size) const {
    return count <= remaining() / min_size;
  }

 private:
  template <typename T>
  bool Le(T* v, size_t n) {
    if (n > remaining()) return false;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; ++i) acc |= uint64_t{bytes_[pos_ + i]} << (8 * i);
    pos_ += n;
    *v = static_cast<T>(acc);
    return true;
  }
  std::span<const uint8_t> bytes_;
  size_t pos_ = 0;
};

uint64_t ReadLe64(std::span<const uint8_t> b, size_t at) {
  uint64_t v = 0;
  for (size_t i = 0; i < 8; ++i) v |= uint64_t{b[at + i]} << (8 * i);
  return v;
}
uint32_t ReadLe32(std::span<const uint8_t> b, size_t at) {
  uint32_t v = 0;
  for (size_t i = 0; i < 4; ++i) v |= uint32_t{b[at + i]} << (8 * i);
  return v;
}

SnapshotError Bad(const std::string& what) {
  return Damaged("manifest: " + what);
}
std::string At(uint32_t entry) { return "entry " + std::to_string(entry); }

bool ValidName(std::string_view name) {
  return !name.empty() && name.size() <= kNameMax && name != "." &&
         name != ".." && name.find('/') == std::string_view::npos &&
         name.find('\0') == std::string_view::npos;
}

SnapshotResult<void> DecodeChunks(Decoder& d, uint32_t count,
                                  const Header& header, uint64_t data_end,
                                  std::vector<ChunkRecord>* chunks) {
  if (!d.CanHold(count, kChunkRecordSize))
    return Bad("chunk table truncated (" + std::to_string(count) +
               " chunks claimed)");
  chunks->resize(count);
  uint64_t expect = kHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    ChunkRecord& c = (*chunks)[i];
    uint32_t codec = 0, reserved = 0;
    // CanHold above guarantees these reads succeed.
    (void)(d.U64(&c.offset) && d.U32(&c.stored_size) && d.U32(&c.raw_size) &&
           d.U32(&codec) && d.U32(&reserved) && d.U64(&c.checksum) &&
           d.U64(&c.content.low) && d.U64(&c.content.high));
    std::string where = "chunk " + std::to_string(i);
    if (codec > static_cast<uint32_t>(Codec::kLz4) || reserved != 0)
      return Bad(where + ": unknown codec " + std::to_string(codec));
    c.codec = static_cast<Codec>(codec);
    if (c.raw_size == 0 || c.raw_size > header.chunk_size)
      return Bad(where + ": raw size " + std::to_string(c.raw_size) +
                 " out of range");
    uint32_t max_stored = c.codec == Codec::kRaw
                              ? c.raw_size
                              : static_cast<uint32_t>(LZ4_compressBound(
                                    static_cast<int>(c.raw_size)));
    if (c.stored_size == 0 || c.stored_size > max_stored ||
        (c.codec == Codec::kRaw && c.stored_size != c.raw_size))
      return Bad(where + ": stored size " + std::to_string(c.stored_size) +
                 " inconsistent with raw size " + std::to_string(c.raw_size));
    // Chunks are laid out back to back from the header on, so every byte
    // of the data region belongs to exactly one checksummed chunk.
    if (c.offset != expect || c.stored_size > data_end - expect)
      return Bad(where + ": offset " + std::to_string(c.offset) +
                 " outside the data region");
    expect += c.stored_size;
  }
  if (expect != data_end)
    return Bad(std::to_string(data_end - expect) +
               " bytes of data belong to no chunk");
  return Done();
}

SnapshotResult<void> DecodeEntry(Decoder& d, uint32_t index, const Manifest& m,
                                 Entry* e) {
  const std::string at = At(index);
  auto truncated = [&] { return Bad(at + ": truncated"); };
  uint8_t type = 0;
  if (!d.U8(&type) || !d.U32(&e->perm) || !d.U32(&e->uid) || !d.U32(&e->gid) ||
      !d.I64(&e->atime.sec) || !d.U32(&e->atime.nsec) ||
      !d.I64(&e->mtime.sec) || !d.U32(&e->mtime.nsec))
    return truncated();
  if (type < 1 || type > static_cast<uint8_t>(EntryType::kSocket))
    return Bad(at + ": unknown type " + std::to_string(type));
  e->type = static_cast<EntryType>(type);
  if (e->perm & ~07777u) return Bad(at + ": invalid mode");
  // (uid_t)-1 means "leave unchanged" to chown(2): no inode has it.
  if (e->uid == UINT32_MAX || e->gid == UINT32_MAX)
    return Bad(at + ": invalid owner");
  if (e->atime.nsec >= 1'000'000'000 || e->mtime.nsec >= 1'000'000'000)
    return Bad(at + ": invalid timestamp");

  uint32_t names = 0;
  if (!d.U32(&names)) return truncated();
  const bool dir = e->type == EntryType::kDirectory;
  if (index == 0 ? (names != 0 || !dir) : (names == 0 || (dir && names != 1)))
    return Bad(at + ": wrong number of names (" + std::to_string(names) + ")");
  if (!d.CanHold(names, 7)) return truncated();
  e->names.resize(names);
  for (EntryName& n : e->names) {
    uint16_t len = 0;
    if (!d.U32(&n.parent) || !d.U16(&len) || !d.Bytes(len, &n.name))
      return truncated();
    if (!ValidName(n.name)) return Bad(at + ": invalid name");
  }
  // The first name's parent comes earlier, so creating entries in order
  // always finds the parent made, and directories form a tree (each has
  // one name whose parent precedes it: no cycles).
  if (index != 0 && e->names[0].parent >= index)
    return Bad(at + ": parent " + std::to_string(e->names[0].parent) +
               " does not precede it");

  uint32_t xattrs = 0;
  if (!d.U32(&xattrs)) return truncated();
  if (!d.CanHold(xattrs, 7)) return truncated();
  e->xattrs.resize(xattrs);
  for (Xattr& x : e->xattrs) {
    uint16_t name_len = 0;
    uint32_t value_len = 0;
    if (!d.U16(&name_len) || !d.Bytes(name_len, &x.name)) return truncated();
    if (!ValidXattrName(x.name, e->type))
      return Bad(at + ": invalid xattr name");
    if (!d.U32(&value_len)) return truncated();
    if (value_len > kXattrValueMax) return Bad(at + ": xattr value too long");
    if (!d.Bytes(value_len, &x.value)) return truncated();
  }
  std::vector<std::string_view> xnames;
  for (const Xattr& x : e->xattrs) xnames.push_back(x.name);
  std::sort(xnames.begin(), xnames.end());
  if (std::adjacent_find(xnames.begin(), xnames.end()) != xnames.end())
    return Bad(at + ": duplicate xattr");

  switch (e->type) {
    case EntryType::kRegular: {
      uint32_t count = 0;
      if (!d.U64(&e->size) || !d.U32(&count)) return truncated();
      if (e->size > static_cast<uint64_t>(std::numeric_limits<int64_t>::max()))
        return Bad(at + ": size out of range");
      if (!d.CanHold(count, 12)) return truncated();
      e->extents.resize(count);
      uint64_t end = 0;
      for (Extent& x : e->extents) {
        (void)(d.U64(&x.file_offset) && d.U32(&x.chunk));
        if (x.chunk >= m.chunks.size())
          return Bad(at + ": extent names chunk " + std::to_string(x.chunk) +
                     " of " + std::to_string(m.chunks.size()));
        uint64_t len = m.chunks[x.chunk].raw_size;
        if (x.file_offset < end || x.file_offset > e->size ||
            len > e->size - x.file_offset)
          return Bad(at + ": extent at " + std::to_string(x.file_offset) +
                     " overlaps or lies outside the file");
        end = x.file_offset + len;
      }
      break;
    }
    case EntryType::kSymlink: {
      uint32_t len = 0;
      if (!d.U32(&len)) return truncated();
      if (len == 0 || len > kSymlinkMax) return Bad(at + ": invalid target");
      if (!d.Bytes(len, &e->symlink_target)) return truncated();
      if (e->symlink_target.find('\0') != std::string::npos)
        return Bad(at + ": invalid target");
      break;
    }
    case EntryType::kCharDevice:
    case EntryType::kBlockDevice:
      if (!d.U32(&e->rdev_major) || !d.U32(&e->rdev_minor)) return truncated();
      break;
    case EntryType::kDirectory:
    case EntryType::kFifo:
    case EntryType::kSocket:
      break;
  }
  return Done();
}

// Every name's parent is a directory entry, and no directory holds two
// entries of one name.
SnapshotResult<void> CheckTree(const Manifest& m) {
  std::vector<std::pair<uint32_t, std::string_view>> all;
  for (uint32_t i = 0; i < m.entries.size(); ++i) {
    for (const EntryName& n : m.entries[i].names) {
      if (n.parent >= m.entries.size() ||
          m.entries[n.parent].type != EntryType::kDirectory)
        return Bad(At(i) + ": parent " + std::to_string(n.parent) +
                   " is not a directory");
      all.emplace_back(n.parent, n.name);
    }
  }
  std::sort(all.begin(), all.end());
  auto dup = std::adjacent_find(all.begin(), all.end());
  if (dup != all.end())
    return Bad("directory entry " + std::to_string(dup->first) +
               " holds two entries named '" + std::string(dup->second) + "'");
  return Done();
}

}  // namespace

// What Linux (and the VFS) let a restore set: a known namespace and a
// non-empty suffix, and user.* only on regular files and directories
// (xattr_permission). Anything else would fail half way through a restore.
bool ValidXattrName(std::string_view name, EntryType type) {
  if (name.size() > kXattrNameMax || name.find('\0') != name.npos) return false;
  for (std::string_view prefix : {"user.", "trusted.", "security."}) {
    if (name.size() > prefix.size() && name.starts_with(prefix)) {
      return prefix != "user." || type == EntryType::kRegular ||
             type == EntryType::kDirectory;
    }
  }
  return false;
}

SnapshotResult<void> DecodeChunk(const ChunkRecord& c,
                                 std::span<const uint8_t> stored,
                                 std::vector<uint8_t>* raw) {
  if (stored.size() != c.stored_size) return Damaged("wrong stored size");
  raw->resize(c.raw_size);
  if (c.codec == Codec::kRaw) {
    if (c.raw_size != c.stored_size) return Damaged("wrong raw size");
    std::memcpy(raw->data(), stored.data(), stored.size());
    return Done();
  }
  int n = LZ4_decompress_safe(reinterpret_cast<const char*>(stored.data()),
                              reinterpret_cast<char*>(raw->data()),
                              static_cast<int>(stored.size()),
                              static_cast<int>(raw->size()));
  if (n < 0) return Damaged("LZ4 data is corrupt");
  if (static_cast<uint32_t>(n) != c.raw_size)
    return Damaged("decompressed to " + std::to_string(n) +
                   " bytes, expected " + std::to_string(c.raw_size));
  return Done();
}

uint64_t Checksum(std::span<const uint8_t> bytes) {
  return XXH3_64bits(bytes.data(), bytes.size());
}

Hash128 ContentHash(std::span<const uint8_t> bytes) {
  XXH128_hash_t h = XXH3_128bits(bytes.data(), bytes.size());
  return Hash128{h.low64, h.high64};
}

std::string EncodeHeader(const Header& header) {
  Encoder e;
  e.Raw(std::string_view(kHeaderMagic, 8));
  e.U32(header.version);
  e.U32(0);  // flags
  e.U32(header.chunk_size);
  e.U32(0);  // reserved
  std::string& out = e.out();
  e.U64(Checksum({reinterpret_cast<const uint8_t*>(out.data()), 24}));
  return std::move(out);
}

std::string EncodeTrailer(const Trailer& trailer) {
  Encoder e;
  e.U64(trailer.manifest_offset);
  e.U64(trailer.manifest_size);
  e.U64(trailer.manifest_checksum);
  std::string& out = e.out();
  e.U64(Checksum({reinterpret_cast<const uint8_t*>(out.data()), 24}));
  e.Raw(std::string_view(kTrailerMagic, 8));
  return std::move(out);
}

SnapshotResult<Header> DecodeHeader(std::span<const uint8_t> b) {
  if (b.size() != kHeaderSize || std::memcmp(b.data(), kHeaderMagic, 8) != 0)
    return Damaged("not a veil snapshot image (bad header magic)");
  if (ReadLe64(b, 24) != Checksum(b.first(24)))
    return Damaged("header: checksum mismatch");
  Header h;
  h.version = ReadLe32(b, 8);
  if (h.version != kFormatVersion)
    return SnapshotError{
        ENOTSUP, "unsupported format version " + std::to_string(h.version)};
  h.chunk_size = ReadLe32(b, 16);
  if (ReadLe32(b, 12) != 0 || ReadLe32(b, 20) != 0)
    return Damaged("header: unknown flags");
  if (h.chunk_size < kMinChunkSize || h.chunk_size > kMaxChunkSize)
    return Damaged("header: chunk size " + std::to_string(h.chunk_size) +
                   " out of range");
  return h;
}

SnapshotResult<Trailer> DecodeTrailer(std::span<const uint8_t> b) {
  if (b.size() != kTrailerSize ||
      std::memcmp(b.data() + 32, kTrailerMagic, 8) != 0)
    return Damaged("image truncated (no trailer at the end)");
  if (ReadLe64(b, 24) != Checksum(b.first(24)))
    return Damaged("trailer: checksum mismatch");
  return Trailer{ReadLe64(b, 0), ReadLe64(b, 8), ReadLe64(b, 16)};
}

std::string EncodeManifest(const Manifest& m) {
  Encoder e;
  e.U32(static_cast<uint32_t>(m.chunks.size()));
  e.U32(static_cast<uint32_t>(m.entries.size()));
  for (const ChunkRecord& c : m.chunks) {
    e.U64(c.offset);
    e.U32(c.stored_size);
    e.U32(c.raw_size);
    e.U32(static_cast<uint32_t>(c.codec));
    e.U32(0);
    e.U64(c.checksum);
    e.U64(c.content.low);
    e.U64(c.content.high);
  }
  for (const Entry& x : m.entries) {
    e.U8(static_cast<uint8_t>(x.type));
    e.U32(x.perm);
    e.U32(x.uid);
    e.U32(x.gid);
    e.I64(x.atime.sec);
    e.U32(x.atime.nsec);
    e.I64(x.mtime.sec);
    e.U32(x.mtime.nsec);
    e.U32(static_cast<uint32_t>(x.names.size()));
    for (const EntryName& n : x.names) {
      e.U32(n.parent);
      e.U16(static_cast<uint16_t>(n.name.size()));
      e.Raw(n.name);
    }
    e.U32(static_cast<uint32_t>(x.xattrs.size()));
    for (const Xattr& a : x.xattrs) {
      e.U16(static_cast<uint16_t>(a.name.size()));
      e.Raw(a.name);
      e.U32(static_cast<uint32_t>(a.value.size()));
      e.Raw(a.value);
    }
    switch (x.type) {
      case EntryType::kRegular:
        e.U64(x.size);
        e.U32(static_cast<uint32_t>(x.extents.size()));
        for (const Extent& ext : x.extents) {
          e.U64(ext.file_offset);
          e.U32(ext.chunk);
        }
        break;
      case EntryType::kSymlink:
        e.U32(static_cast<uint32_t>(x.symlink_target.size()));
        e.Raw(x.symlink_target);
        break;
      case EntryType::kCharDevice:
      case EntryType::kBlockDevice:
        e.U32(x.rdev_major);
        e.U32(x.rdev_minor);
        break;
      case EntryType::kDirectory:
      case EntryType::kFifo:
      case EntryType::kSocket:
        break;
    }
  }
  return std::move(e.out());
}

SnapshotResult<Manifest> DecodeManifest(std::span<const uint8_t> bytes,
                                        const Header& header,
                                        uint64_t data_end) {
  Decoder d(bytes);
  uint32_t chunk_count = 0, entry_count = 0;
  if (!d.U32(&chunk_count) || !d.U32(&entry_count)) return Bad("truncated");
  Manifest m;
  VEIL_SNAP_TRY_VOID(DecodeChunks(d, chunk_count, header, data_end, &m.chunks));
  // The smallest entry (a fifo) is 45 bytes.
  if (entry_count == 0) return Bad("no root entry");
  if (!d.CanHold(entry_count, 45))
    return Bad("entry table truncated (" + std::to_string(entry_count) +
               " entries claimed)");
  m.entries.resize(entry_count);
  for (uint32_t i = 0; i < entry_count; ++i)
    VEIL_SNAP_TRY_VOID(DecodeEntry(d, i, m, &m.entries[i]));
  if (d.remaining() != 0)
    return Bad(std::to_string(d.remaining()) + " trailing bytes");
  VEIL_SNAP_TRY_VOID(CheckTree(m));
  return m;
}

std::string EntryPath(const Manifest& m, uint32_t index) {
  std::vector<std::string_view> parts;
  // Bounded: a validated manifest's first-name parents strictly decrease.
  while (index != 0 && index < m.entries.size() &&
         !m.entries[index].names.empty()) {
    const EntryName& n = m.entries[index].names[0];
    parts.push_back(n.name);
    if (n.parent >= index) break;
    index = n.parent;
  }
  if (parts.empty()) return "/";
  std::string path;
  for (auto it = parts.rbegin(); it != parts.rend(); ++it) {
    path += '/';
    path += *it;
  }
  return path;
}

}  // namespace veil::snapshot
