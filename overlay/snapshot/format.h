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

// Limits a restore would otherwise meet half way, refused up front
// instead (FORMAT.md, "Limits"); the device numbers always, the others
// as ImageLimits' defaults:
// - device numbers: the kernel's dev_t keeps 12 bits of major and 20 of
//   minor (MINORBITS); mknod would store others truncated;
inline constexpr uint32_t kDevMajorMax = (1u << 12) - 1;
inline constexpr uint32_t kDevMinorMax = (1u << 20) - 1;
// - names of one inode: ext4's EXT4_LINK_MAX (link(2) fails EMLINK past it);
inline constexpr uint32_t kLinkMax = 65000;
// - xattrs of one inode: listxattr's buffer limit (XATTR_LIST_MAX) for the
//   names, each with its NUL, and for names and values together room for
//   one value of the largest size (XATTR_SIZE_MAX) and its name: what
//   tmpfs and ext4 with large xattrs (ea_inode) hold; anything more is an
//   image made to fail (ENOSPC) half way.
inline constexpr uint64_t kXattrListMax = 65536;
inline constexpr uint64_t kXattrTotalMax = kXattrValueMax + kXattrListMax;
// - file size: Linux's MAX_LFS_FILESIZE on 64-bit (tmpfs and the VFS);
//   other targets pass their own in ImageLimits.
inline constexpr uint64_t kMaxFileSize = (uint64_t{1} << 63) - 1;

// Limits that depend on where an image is restored, checked by
// Image::Open before anything is read beyond the manifest. The defaults
// are what every Linux filesystem veil restores to holds (and no bound on
// data, file size or depth); callers restoring into memory or a disk pass
// what that target holds.
struct ImageLimits {
  // File data the restore writes (Image::DataBytes: every extent counted
  // each time it is used, so a chunk named by many extents -- a
  // deduplication bomb -- counts every time). EFBIG past it.
  uint64_t max_data_bytes = UINT64_MAX;
  // What sets max_data_bytes, for the message ("--max-expanded", say).
  std::string data_limit_source;
  // The largest file size (st_size) the target accepts. EFBIG past it.
  uint64_t max_file_size = kMaxFileSize;
  // Names (hard links) of one inode. EMLINK past it.
  uint32_t max_links = kLinkMax;
  // Xattrs of one inode: the names, each with its NUL, and the names and
  // values together. ENOSPC past them.
  uint64_t max_xattr_list = kXattrListMax;
  uint64_t max_xattr_bytes = kXattrTotalMax;
  // The deepest directory nesting (the root's children are at depth 1).
  // EMFILE past it.
  uint32_t max_depth = UINT32_MAX;
  // The most directories the image may hold, its root not counted: a
  // restore into host directories keeps a descriptor for every directory
  // until it ends (their metadata is set last), not only for the open
  // levels. EMFILE past it.
  uint32_t max_directories = UINT32_MAX;
};

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

// "/a/b" for entry `index` (its first name), for messages only: escaped
// and cut to its last kMessagePathMax bytes (MessagePath in error.h).
// Costs O(kMessagePathMax), whatever the depth.
std::string EntryPath(const Manifest& manifest, uint32_t index);
// The same for a name `leaf` in directory entry `parent`.
std::string EntryPath(const Manifest& manifest, uint32_t parent,
                      std::string_view leaf);

// Total file data a restore of `manifest` writes: every extent's raw size
// (saturating at UINT64_MAX).
uint64_t DataBytes(const Manifest& manifest);

}  // namespace veil::snapshot
