// SPDX-License-Identifier: Apache-2.0
//
// The snapshot image format, version 1 (overlay/FORMAT.md is the byte-level
// specification; keep the two in step) and the in-memory manifest model
// that the writer fills and the reader decodes into.
//
//   header (32 bytes) | chunk data ... | manifest | trailer (40 bytes)
//
// All integers are little-endian. Every byte of the file is covered by a
// checksum (XXH3-64): the header and the trailer checksum themselves, the
// trailer holds the manifest's, the manifest holds each chunk's.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace veil::snapshot {

inline constexpr char kHeaderMagic[8] = {'V', 'E', 'I', 'L',
                                         'S', 'N', 'A', 'P'};
inline constexpr char kTrailerMagic[8] = {'V', 'E', 'I', 'L',
                                          'S', 'E', 'N', 'D'};
inline constexpr uint32_t kFormatVersion = 1;
inline constexpr uint64_t kHeaderSize = 32;
inline constexpr uint64_t kTrailerSize = 40;
inline constexpr uint64_t kChunkRecordSize = 48;

// Raw chunk sizes a writer may choose; the reader refuses others, which
// bounds the memory one chunk can make it allocate.
inline constexpr uint32_t kMinChunkSize = 4096;
inline constexpr uint32_t kMaxChunkSize = 4u << 20;
inline constexpr uint32_t kDefaultChunkSize = 256u << 10;

// Linux limits the manifest is checked against (PATH_MAX includes the NUL).
inline constexpr size_t kNameMax = 255;
inline constexpr size_t kSymlinkMax = 4095;
inline constexpr size_t kXattrNameMax = 255;
inline constexpr size_t kXattrValueMax = 65536;

enum class Codec : uint32_t {
  kRaw = 0,  // stored as is (compression did not make it smaller)
  kLz4 = 1,  // one LZ4 block (LZ4_compress_default), no frame
};

enum class EntryType : uint8_t {
  kRegular = 1,
  kDirectory = 2,
  kSymlink = 3,
  kCharDevice = 4,  // whiteouts are character devices 0:0
  kBlockDevice = 5,
  kFifo = 6,
  kSocket = 7,
};

struct Hash128 {
  uint64_t low = 0;
  uint64_t high = 0;
  friend bool operator==(const Hash128&, const Hash128&) = default;
};

// One stored chunk: `stored_size` bytes at `offset` in the image, which
// decode with `codec` to `raw_size` bytes of file data.
struct ChunkRecord {
  uint64_t offset = 0;
  uint32_t stored_size = 0;
  uint32_t raw_size = 0;
  Codec codec = Codec::kRaw;
  uint64_t checksum = 0;  // XXH3-64 of the stored bytes
  Hash128 content;        // XXH3-128 of the raw bytes (the dedupe key)
};

// The chunk's raw bytes sit at `file_offset` in the file.
struct Extent {
  uint64_t file_offset = 0;
  uint32_t chunk = 0;
};

struct EntryName {
  uint32_t parent = 0;  // index of a directory entry
  std::string name;     // one path component
};

struct Xattr {
  std::string name;
  std::string value;
};

struct Timestamp {
  int64_t sec = 0;
  uint32_t nsec = 0;
  friend bool operator==(const Timestamp&, const Timestamp&) = default;
};

// One inode. Entry 0 is the root directory and has no names; a regular
// file with several names is a hard-link group.
struct Entry {
  EntryType type = EntryType::kRegular;
  uint32_t perm = 0;  // the 07777 bits
  uint32_t uid = 0;
  uint32_t gid = 0;
  Timestamp atime;
  Timestamp mtime;
  std::vector<EntryName> names;
  std::vector<Xattr> xattrs;
  uint64_t size = 0;            // kRegular
  std::vector<Extent> extents;  // kRegular, by increasing file_offset
  std::string symlink_target;   // kSymlink
  uint32_t rdev_major = 0;      // kCharDevice, kBlockDevice
  uint32_t rdev_minor = 0;
};

struct Manifest {
  std::vector<ChunkRecord> chunks;
  std::vector<Entry> entries;
};

// The fixed-size parts, decoded.
struct Header {
  uint32_t version = 0;
  uint32_t chunk_size = 0;
};
struct Trailer {
  uint64_t manifest_offset = 0;
  uint64_t manifest_size = 0;
  uint64_t manifest_checksum = 0;
};

// "/a/b" for entry `index` (its first name), for messages.
std::string EntryPath(const Manifest& manifest, uint32_t index);

}  // namespace veil::snapshot
