// SPDX-License-Identifier: Apache-2.0
//
// Hostile images for the tests and the fuzz corpus: valid framing and
// checksums (as a forger makes them), contents built to make a restore
// blow up: deduplication bombs, deep trees, device numbers and link
// counts past what Linux keeps, xattrs past what a filesystem stores, and
// manifests that claim far more bytes than they hold.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "overlay/snapshot/format.h"

namespace veil::snapshot::testing {

// A valid image of a tree with one file, /zeros, of `chunk_size` zero
// bytes: one LZ4 chunk of a few KiB.
std::string ZeroChunkImage(uint32_t chunk_size = kMaxChunkSize);

// `image` (valid) with its manifest decoded, edited and re-encoded, and
// the trailer's checksum fixed: the chunk data is unchanged.
std::string EditManifest(const std::string& image,
                         const std::function<void(Manifest&)>& edit);

// Entries to add with EditManifest.
Entry DirEntry(uint32_t parent, std::string name);
Entry FileEntry(uint32_t parent, std::string name);

// One file whose extents all name ZeroChunkImage(chunk_size)'s chunk,
// end to end: `data_bytes` (a multiple of chunk_size) from an image of a
// few KiB.
std::string DedupBomb(uint64_t data_bytes,
                      uint32_t chunk_size = kMaxChunkSize);
// Directories nested `depth` deep, each name `name_length` bytes.
std::string DeepTree(uint32_t depth, size_t name_length);
// A character device numbered major,minor.
std::string DeviceImage(uint32_t major, uint32_t minor);
// One file with `names` names (hard links), spread over a few
// directories so that the names stay short.
std::string LinksImage(uint32_t names);
// A file with `count` user.* xattrs of `value_size` bytes each.
std::string XattrImage(uint32_t count, size_t value_size);
// A file whose size is `size` (all hole).
std::string HugeFileImage(uint64_t size);

// `image` with its manifest followed by zeros up to `apparent_size` bytes
// of image: header, chunks and the real manifest first, the trailer last
// (claiming the whole span as manifest, its checksum left stale), a hole
// between. Returns the bytes to write at 0 and, separately, the trailer
// to write at apparent_size - kTrailerSize.
struct SparseImage {
  std::string head;
  std::string trailer;
};
SparseImage SparseManifest(const std::string& image, uint64_t apparent_size);

}  // namespace veil::snapshot::testing
