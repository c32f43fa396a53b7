// SPDX-License-Identifier: Apache-2.0
//
// Encoding and bounds-checked decoding of the header, trailer and manifest
// (overlay/FORMAT.md).
//
// The decoder's input is untrusted (a damaged or hostile image; it is
// fuzzed): every count, length and offset is checked against the bytes that
// remain before it is used, nothing is allocated from a count or a size
// the image claims (vectors grow as records decode), and a decoded manifest is
// validated as a whole (a tree rooted at entry 0, valid names, no duplicate
// names, extents inside their file and on existing chunks, chunks laid out back
// to back inside the data region) so that the restore code can trust it.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "overlay/snapshot/error.h"
#include "overlay/snapshot/format.h"
#include "overlay/snapshot/io.h"

namespace veil::snapshot {

std::string EncodeHeader(const Header& header);
std::string EncodeTrailer(const Trailer& trailer);
std::string EncodeManifest(const Manifest& manifest);

// `bytes` must be kHeaderSize / kTrailerSize long. Checks magic, checksum
// and version, in that order (so a genuine newer image says "unsupported
// format version N" and a damaged one "checksum mismatch").
SnapshotResult<Header> DecodeHeader(std::span<const uint8_t> bytes);
SnapshotResult<Trailer> DecodeTrailer(std::span<const uint8_t> bytes);

// Decodes and validates a manifest (its checksum is not checked). The
// chunk data region is [kHeaderSize, data_end).
SnapshotResult<Manifest> DecodeManifest(std::span<const uint8_t> bytes,
                                        const Header& header,
                                        uint64_t data_end);

// Reads, decodes and validates the manifest `trailer` places in `source`
// (offset and size already checked against the source's size), and
// checks its checksum. Reads in bounded steps as it decodes and keeps
// only what it decoded: memory is a constant plus the decoded manifest,
// whatever size the trailer claims; a claim the records do not fill is
// refused where they end.
SnapshotResult<Manifest> ReadManifest(ByteSource& source, const Header& header,
                                      const Trailer& trailer);

// Checks a decoded manifest against the target's limits: total file data
// (EFBIG), each file's size (EFBIG), names per inode (EMLINK), xattrs per
// inode (ENOSPC), directory depth (EMFILE). The
// messages give what the image claims and the limit.
SnapshotResult<void> CheckLimits(const Manifest& manifest,
                                 const ImageLimits& limits);

// Decodes one chunk's stored bytes into `raw` (resized to its raw size):
// LZ4_decompress_safe or a copy, and the size check. Messages are bare
// ("LZ4 data is corrupt"); the caller names the chunk.
SnapshotResult<void> DecodeChunk(const ChunkRecord& chunk,
                                 std::span<const uint8_t> stored,
                                 std::vector<uint8_t>* raw);

// Whether an xattr `name` on an entry of `type` can be stored: what Linux
// (and the VFS) let a restore set, a known namespace (user., trusted.,
// security.) with a non-empty suffix, user.* only on regular files and
// directories. The writer leaves out the others (POSIX ACLs in system.*).
bool ValidXattrName(std::string_view name, EntryType type);

// XXH3-64 of `bytes` (the checksum used everywhere in the format).
uint64_t Checksum(std::span<const uint8_t> bytes);
Hash128 ContentHash(std::span<const uint8_t> bytes);

}  // namespace veil::snapshot
