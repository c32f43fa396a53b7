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

}  // namespace veil::snapshot
