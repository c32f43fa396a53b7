// SPDX-License-Identifier: Apache-2.0
//
// Decoding and validating the manifest (overlay/FORMAT.md, "Manifest"),
// from memory or straight from an image.
//
// An image is untrusted, and so are the sizes it claims. The manifest is
// read a step (kReadStep) at a time as the decoder needs its bytes, and
// each step is dropped once decoded: what a manifest costs in memory is
// what it decodes to (a constant times the bytes that hold real records),
// never the size its trailer claims. A sparse 1 TiB image whose manifest
// is a few valid records and then zeros is refused where the records end,
// after reading a step, not after reading (or allocating) 1 TiB. Counts
// are checked against the bytes that remain before a loop starts, but
// vectors grow with what is decoded, not with what a count says.
//
// The checksum covers the whole manifest, so it is computed over the
// steps as they are read, and checked once the decoder is done. A
// damaged manifest usually fails to decode before its end; its checksum
// is then still computed (reading the rest without keeping it), so that a
// flipped bit reads as "checksum mismatch", unless the rest is larger
// than what was decoded and kChecksumSlack: then the decoder's message
// stands, and nobody waits for a terabyte of zeros to be hashed.
#include <lz4.h>
#include <xxhash.h>

#include <algorithm>
#include <cstring>
#include <limits>
#include <memory>
#include <optional>
#include <string_view>
#include <utility>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/io.h"

namespace veil::snapshot {
namespace {

constexpr size_t kReadStep = 1 << 20;
constexpr uint64_t kChecksumSlack = 64u << 20;
// Vectors are reserved up to this many records from a count, and grow
// past it only as records decode.
constexpr uint64_t kReserveMax = 1 << 12;

// A cursor over untrusted bytes, read from `source` as needed. Every read
// checks what remains first; a failed read leaves the outputs untouched
// and returns false (and so do all later ones after an I/O error).
class Decoder {
 public:
  // The `size` bytes at `offset` of `source`, which must outlive this.
  Decoder(ByteSource& source, uint64_t offset, uint64_t size)
      : source_(source),
        offset_(offset),
        size_(size),
        state_(XXH3_createState(), &XXH3_freeState) {
    if (!state_) std::abort();  // a small malloc: as good as a crash
    XXH3_64bits_reset(state_.get());
  }

  // Bytes not yet decoded, as the trailer claims them.
  uint64_t remaining() const { return size_ - consumed(); }
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
  // `n` is at most a name's or a value's largest length (64 KiB).
  bool Bytes(size_t n, std::string* out) {
    if (!Need(n)) return false;
    out->assign(reinterpret_cast<const char*>(buf_.data() + pos_), n);
    pos_ += n;
    return true;
  }
  // True if `count` records of at least `min_size` bytes each can still
  // fit in what the trailer claims: a quick refusal of absurd counts.
  bool CanHold(uint64_t count, uint64_t min_size) const {
    return count <= remaining() / min_size;
  }

  // Set once a read of the source failed.
  const std::optional<SnapshotError>& io_error() const { return io_error_; }
  uint64_t read() const { return read_; }
  uint64_t unread() const { return size_ - read_; }

  // Reads the bytes not read yet (without keeping them) and returns the
  // XXH3-64 of all `size` bytes.
  SnapshotResult<uint64_t> FinishChecksum() {
    buf_.clear();
    pos_ = 0;
    while (unread() != 0 && Fill(std::min<uint64_t>(unread(), kReadStep)))
      buf_.clear();
    if (io_error_) return *io_error_;
    return XXH3_64bits_digest(state_.get());
  }

 private:
  uint64_t consumed() const { return read_ - (buf_.size() - pos_); }

  // Makes `n` bytes available at pos_, reading a step if need be.
  bool Need(size_t n) {
    if (buf_.size() - pos_ >= n) return true;
    if (io_error_ || n > remaining()) return false;
    buf_.erase(buf_.begin(), buf_.begin() + static_cast<ptrdiff_t>(pos_));
    pos_ = 0;
    // n <= remaining() means the missing bytes are all unread ones.
    const uint64_t want =
        std::min<uint64_t>(std::max(n - buf_.size(), kReadStep), unread());
    return Fill(static_cast<size_t>(want));
  }

  // Appends the next `n` unread bytes to buf_ and to the checksum.
  bool Fill(size_t n) {
    const size_t old = buf_.size();
    buf_.resize(old + n);
    auto got = source_.ReadAt(offset_ + read_,
                              std::span<uint8_t>(buf_).subspan(old, n));
    if (!got) {
      io_error_ = got.error();
      buf_.resize(old);
      return false;
    }
    XXH3_64bits_update(state_.get(), buf_.data() + old, n);
    read_ += n;
    return true;
  }

  template <typename T>
  bool Le(T* v, size_t n) {
    if (!Need(n)) return false;
    uint64_t acc = 0;
    for (size_t i = 0; i < n; ++i) acc |= uint64_t{buf_[pos_ + i]} << (8 * i);
    pos_ += n;
    *v = static_cast<T>(acc);
    return true;
  }

  ByteSource& source_;
  const uint64_t offset_;
  const uint64_t size_;
  std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state_;
  // The bytes read and not yet decoded are buf_[pos_..].
  std::vector<uint8_t> buf_;
  size_t pos_ = 0;
  uint64_t read_ = 0;  // bytes read from the source so far
  std::optional<SnapshotError> io_error_;
};

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
  chunks->reserve(std::min<uint64_t>(count, kReserveMax));
  uint64_t expect = kHeaderSize;
  for (uint32_t i = 0; i < count; ++i) {
    ChunkRecord& c = chunks->emplace_back();
    uint32_t codec = 0, reserved = 0;
    if (!(d.U64(&c.offset) && d.U32(&c.stored_size) && d.U32(&c.raw_size) &&
          d.U32(&codec) && d.U32(&reserved) && d.U64(&c.checksum) &&
          d.U64(&c.content.low) && d.U64(&c.content.high)))
      return Bad("chunk table truncated");
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

// The part of an entry after its names: xattrs and the type's fields.
// `named` prefixes a message with the entry and its path.
template <typename Named, typename Truncated>
SnapshotResult<void> DecodeEntryRest(Decoder& d, const Manifest& m, Entry* e,
                                     const Named& named,
                                     const Truncated& truncated) {
  uint32_t xattrs = 0;
  if (!d.U32(&xattrs)) return truncated();
  if (!d.CanHold(xattrs, 7)) return truncated();
  e->xattrs.reserve(std::min<uint64_t>(xattrs, kReserveMax));
  for (uint32_t i = 0; i < xattrs; ++i) {
    Xattr& x = e->xattrs.emplace_back();
    uint16_t name_len = 0;
    uint32_t value_len = 0;
    if (!d.U16(&name_len) || !d.Bytes(name_len, &x.name)) return truncated();
    if (!ValidXattrName(x.name, e->type)) return named("invalid xattr name");
    if (!d.U32(&value_len)) return truncated();
    if (value_len > kXattrValueMax) return named("xattr value too long");
    if (!d.Bytes(value_len, &x.value)) return truncated();
  }
  std::vector<std::string_view> xnames;
  for (const Xattr& x : e->xattrs) xnames.push_back(x.name);
  std::sort(xnames.begin(), xnames.end());
  if (std::adjacent_find(xnames.begin(), xnames.end()) != xnames.end())
    return named("duplicate xattr");

  switch (e->type) {
    case EntryType::kRegular: {
      uint32_t count = 0;
      if (!d.U64(&e->size) || !d.U32(&count)) return truncated();
      if (e->size > kMaxFileSize) return named("size out of range");
      if (!d.CanHold(count, 12)) return truncated();
      e->extents.reserve(std::min<uint64_t>(count, kReserveMax));
      uint64_t end = 0;
      for (uint32_t i = 0; i < count; ++i) {
        Extent& x = e->extents.emplace_back();
        if (!d.U64(&x.file_offset) || !d.U32(&x.chunk)) return truncated();
        if (x.chunk >= m.chunks.size())
          return named("extent names chunk " + std::to_string(x.chunk) +
                       " of " + std::to_string(m.chunks.size()));
        uint64_t len = m.chunks[x.chunk].raw_size;
        if (x.file_offset < end || x.file_offset > e->size ||
            len > e->size - x.file_offset)
          return named("extent at " + std::to_string(x.file_offset) +
                       " overlaps or lies outside the file");
        end = x.file_offset + len;
      }
      break;
    }
    case EntryType::kSymlink: {
      uint32_t len = 0;
      if (!d.U32(&len)) return truncated();
      if (len == 0 || len > kSymlinkMax) return named("invalid target");
      if (!d.Bytes(len, &e->symlink_target)) return truncated();
      if (e->symlink_target.find('\0') != std::string::npos)
        return named("invalid target");
      break;
    }
    case EntryType::kCharDevice:
    case EntryType::kBlockDevice:
      if (!d.U32(&e->rdev_major) || !d.U32(&e->rdev_minor)) return truncated();
      // mknod would store a truncated number (and `veil fuse --image`
      // show one): Linux keeps 12 bits of major and 20 of minor.
      if (e->rdev_major > kDevMajorMax || e->rdev_minor > kDevMinorMax)
        return named("device number " + std::to_string(e->rdev_major) + "," +
                     std::to_string(e->rdev_minor) +
                     " out of range (Linux: major at most " +
                     std::to_string(kDevMajorMax) + ", minor at most " +
                     std::to_string(kDevMinorMax) + ")");
      break;
    case EntryType::kDirectory:
    case EntryType::kFifo:
    case EntryType::kSocket:
      break;
  }
  return Done();
}

// Decodes entry `index`; `m` holds the entries before it.
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
  e->names.reserve(std::min<uint64_t>(names, kReserveMax));
  for (uint32_t i = 0; i < names; ++i) {
    EntryName& n = e->names.emplace_back();
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
  // From here on messages can name the entry's path.
  auto named = [&](const std::string& what) {
    return Bad(at + " ('" +
               (index == 0
                    ? std::string("/")
                    : EntryPath(m, e->names[0].parent, e->names[0].name)) +
               "'): " + what);
  };
  return DecodeEntryRest(d, m, e, named, truncated);
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
    return Bad("directory entry " + std::to_string(dup->first) + " ('" +
               EntryPath(m, dup->first) + "') holds two entries named '" +
               Escape(dup->second) + "'");
  return Done();
}

SnapshotResult<Manifest> Decode(Decoder& d, const Header& header,
                                uint64_t data_end) {
  uint32_t chunk_count = 0, entry_count = 0;
  if (!d.U32(&chunk_count) || !d.U32(&entry_count)) return Bad("truncated");
  Manifest m;
  VEIL_SNAP_TRY_VOID(DecodeChunks(d, chunk_count, header, data_end, &m.chunks));
  // The smallest entry (a fifo) is 45 bytes.
  if (entry_count == 0) return Bad("no root entry");
  if (!d.CanHold(entry_count, 45))
    return Bad("entry table truncated (" + std::to_string(entry_count) +
               " entries claimed)");
  m.entries.reserve(std::min<uint64_t>(entry_count, kReserveMax));
  for (uint32_t i = 0; i < entry_count; ++i) {
    Entry e;
    VEIL_SNAP_TRY_VOID(DecodeEntry(d, i, m, &e));
    m.entries.push_back(std::move(e));
  }
  // Known without reading them: the trailer claims more than the entries
  // hold (say, a sparse terabyte of zeros after them).
  if (d.remaining() != 0)
    return Bad(std::to_string(d.remaining()) + " trailing bytes");
  VEIL_SNAP_TRY_VOID(CheckTree(m));
  return m;
}

}  // namespace

SnapshotResult<Manifest> DecodeManifest(std::span<const uint8_t> bytes,
                                        const Header& header,
                                        uint64_t data_end) {
  MemorySource source(bytes);
  Decoder d(source, 0, bytes.size());
  return Decode(d, header, data_end);
}

SnapshotResult<Manifest> ReadManifest(ByteSource& source, const Header& header,
                                      const Trailer& trailer) {
  Decoder d(source, trailer.manifest_offset, trailer.manifest_size);
  SnapshotResult<Manifest> manifest =
      Decode(d, header, trailer.manifest_offset);
  if (d.io_error()) return *d.io_error();
  // See the file comment: the decoder's message stands when the checksum
  // would cost more than the decoding did.
  if (!manifest && d.unread() > std::max<uint64_t>(kChecksumSlack, d.read()))
    return manifest;
  const uint64_t checksum = VEIL_SNAP_TRY(d.FinishChecksum());
  if (checksum != trailer.manifest_checksum)
    return Damaged("manifest at offset " +
                   std::to_string(trailer.manifest_offset) +
                   ": checksum mismatch");
  return manifest;
}

}  // namespace veil::snapshot
