// SPDX-License-Identifier: Apache-2.0
//
// Fuzzes snapshot image reading: any byte string must be a valid image or
// a clean error, never undefined behaviour, and a valid one must restore
// (or fail cleanly) into a fresh tmpfs.
//
// Input layout: the image, then one mode byte.
//   bit 0 clear: the image is read as is. Checksums stop almost every
//                mutation at the first check, which is what a damaged file
//                meets, so this mode exercises the framing.
//   bit 0 set:   "fix-up": before reading, the header, trailer and
//                manifest checksums are recomputed, and once the manifest
//                decodes, every chunk's checksum and content hash too, so
//                mutations reach the manifest decoder, its validation and
//                the restore code as a hostile (not merely damaged) image
//                would.
//   bit 1 set:   "sparse": the image is read as if its manifest were
//                followed by a hole of zeros up to 1 TiB (the trailer
//                moved to the end and claiming it all), as a sparse file
//                on disk would be.
// Properties checked beyond "no crash, no sanitizer report": a manifest
// that decodes re-encodes to exactly its bytes (the encoding is canonical),
// and an image that verifies restores without touching anything it should
// not (the restore either succeeds or reports an error). The bounds
// (FORMAT.md, "Limits"): Image::Open with small ImageLimits refuses any
// image that would write more file data than kMaxRestoreBytes (however
// few bytes it stores: deduplication bombs), nest directories deeper than
// kMaxDepth, hold a file larger than kMaxFile, or more links or xattrs
// than kMaxLinks, kMaxXattr*; what opens respects them and the kernel's
// device numbers, and
// restores at most that much data. A sparse image is refused after
// reading a bounded number of bytes of its hole.
#include <algorithm>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <span>
#include <string>
#include <vector>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/snapshot.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace {

using namespace veil::snapshot;  // NOLINT: a fuzzer's one translation unit

// Restoring writes every extent; a hostile image can name one chunk many
// times (4 MiB of zeros compress to a few KiB). Bound the work per input.
constexpr uint64_t kMaxRestoreBytes = 16u << 20;
constexpr uint32_t kMaxDepth = 64;
constexpr uint64_t kMaxFile = uint64_t{1} << 44;
// Smaller than Linux's, so that seeds past them stay small.
constexpr uint32_t kMaxLinks = 16;
constexpr uint64_t kMaxXattrList = 1024;
constexpr uint64_t kMaxXattrBytes = 4096;
constexpr uint64_t kSparseSize = uint64_t{1} << 40;
// What reading a manifest may read past the real bytes: its read-ahead
// steps, never the hole.
constexpr uint64_t kMaxHoleRead = 4u << 20;

void Require(bool condition) {
  if (!condition) std::abort();
}

std::span<const uint8_t> Bytes(const std::string& s) {
  return {reinterpret_cast<const uint8_t*>(s.data()), s.size()};
}

void PutLe64(std::string& s, size_t at, uint64_t v) {
  for (int i = 0; i < 8; ++i) s[at + i] = static_cast<char>(v >> (8 * i));
}

// Recomputes what a forger would: header and trailer checksums, the
// manifest checksum, then (if the manifest decodes) each chunk's checksum
// and content hash, re-encoding the manifest.
void FixUp(std::string& image) {
  if (image.size() < kHeaderSize + kTrailerSize) return;
  PutLe64(image, 24, Checksum(Bytes(image).first(24)));
  const size_t tail = image.size() - kTrailerSize;
  uint64_t offset = 0, size = 0;
  for (int i = 7; i >= 0; --i) {
    offset = offset << 8 | static_cast<uint8_t>(image[tail + i]);
    size = size << 8 | static_cast<uint8_t>(image[tail + 8 + i]);
  }
  if (offset < kHeaderSize || offset > tail || size != tail - offset) return;
  auto header = DecodeHeader(Bytes(image).first(kHeaderSize));
  if (!header) return;
  auto manifest =
      DecodeManifest(Bytes(image).subspan(offset, size), *header, offset);
  if (manifest) {
    std::vector<uint8_t> raw;
    for (ChunkRecord& c : manifest->chunks) {
      auto stored = Bytes(image).subspan(c.offset, c.stored_size);
      c.checksum = Checksum(stored);
      if (!DecodeChunk(c, stored, &raw)) continue;  // for Verify to refuse
      c.content = ContentHash(raw);
    }
    std::string encoded = EncodeManifest(*manifest);
    Require(encoded.size() == size);
    image.replace(offset, size, encoded);
  }
  Trailer trailer{offset, size, Checksum(Bytes(image).subspan(offset, size))};
  image.replace(tail, kTrailerSize, EncodeTrailer(trailer));
}

// `head` at 0, `trailer` at the end of `size` bytes, zeros between;
// counts the bytes read from the zeros.
class SparseSource final : public ByteSource {
 public:
  SparseSource(std::string head, std::string trailer, uint64_t size)
      : head_(std::move(head)), trailer_(std::move(trailer)), size_(size) {}
  uint64_t size() const override { return size_; }
  SnapshotResult<void> ReadAt(uint64_t offset,
                              std::span<uint8_t> out) override {
    Require(offset <= size_ && out.size() <= size_ - offset);
    const uint64_t tail = size_ - trailer_.size();
    // By ranges, not bytes: the reader takes 1 MiB steps.
    while (!out.empty()) {
      size_t n;
      if (offset < head_.size()) {
        n = std::min<uint64_t>(out.size(), head_.size() - offset);
        std::memcpy(out.data(), head_.data() + offset, n);
      } else if (offset >= tail) {
        n = out.size();
        std::memcpy(out.data(), trailer_.data() + (offset - tail), n);
      } else {
        n = std::min<uint64_t>(out.size(), tail - offset);
        std::memset(out.data(), 0, n);
        hole_read_ += n;
      }
      out = out.subspan(n);
      offset += n;
    }
    return Done();
  }
  uint64_t hole_read() const { return hole_read_; }

 private:
  std::string head_;
  std::string trailer_;
  uint64_t size_;
  uint64_t hole_read_ = 0;
};

void CheckBounds(const Image& image) {
  const Manifest& m = image.manifest();
  Require(image.DataBytes() <= kMaxRestoreBytes);
  std::vector<uint32_t> depth(m.entries.size(), 0);
  for (uint32_t i = 1; i < m.entries.size(); ++i) {
    const Entry& e = m.entries[i];
    Require(e.names.size() <= kMaxLinks);
    Require(e.size <= kMaxFile);
    if (e.type == EntryType::kDirectory) {
      depth[i] = depth[e.names[0].parent] + 1;
      Require(depth[i] <= kMaxDepth);
    }
    Require(e.rdev_major <= kDevMajorMax && e.rdev_minor <= kDevMinorMax);
    uint64_t list = 0, xattr_bytes = 0;
    for (const Xattr& x : e.xattrs) {
      list += x.name.size() + 1;
      xattr_bytes += x.name.size() + x.value.size();
    }
    Require(list <= kMaxXattrList && xattr_bytes <= kMaxXattrBytes);
  }
}

// The sparse mode: refused, and without reading the hole.
void CheckSparse(const std::string& image) {
  if (image.size() < kHeaderSize + kTrailerSize) return;
  auto trailer = DecodeTrailer(Bytes(image).last(kTrailerSize));
  if (!trailer || trailer->manifest_offset > image.size() - kTrailerSize)
    return;
  Trailer claimed = *trailer;
  claimed.manifest_size = kSparseSize - kTrailerSize - claimed.manifest_offset;
  SparseSource source(image.substr(0, image.size() - kTrailerSize),
                      EncodeTrailer(claimed), kSparseSize);
  ImageLimits limits;
  limits.max_data_bytes = kMaxRestoreBytes;
  auto opened = Image::Open(source, limits);
  Require(!opened && !opened.error().message.empty());
  Require(source.hole_read() <= kMaxHoleRead);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string image(reinterpret_cast<const char*>(data), size - 1);
  if (data[size - 1] & 1) FixUp(image);
  if (data[size - 1] & 2) {
    CheckSparse(image);
    return 0;
  }

  MemorySource source(Bytes(image));
  ImageLimits limits;
  limits.max_data_bytes = kMaxRestoreBytes;
  limits.max_depth = kMaxDepth;
  limits.max_file_size = kMaxFile;
  limits.max_links = kMaxLinks;
  limits.max_xattr_list = kMaxXattrList;
  limits.max_xattr_bytes = kMaxXattrBytes;
  auto opened = Image::Open(source, limits);
  if (!opened) {
    Require(!opened.error().message.empty());
    return 0;
  }
  // Canonical encoding: what decoded re-encodes to the same bytes.
  const auto& chunks = opened->manifest().chunks;
  const uint64_t offset =
      chunks.empty() ? kHeaderSize
                     : chunks.back().offset + chunks.back().stored_size;
  Require(EncodeManifest(opened->manifest()) ==
          image.substr(offset, image.size() - kTrailerSize - offset));

  auto verified = opened->Verify({});
  if (!verified) {
    Require(!verified.error().message.empty());
    return 0;
  }
  CheckBounds(*opened);
  veil::vfs::Vfs vfs(veil::vfs::tmpfs::Tmpfs::Create());
  auto restored = opened->Apply(vfs, vfs.RootLocation(), {});
  if (!restored) Require(!restored.error().message.empty());
  if (restored) Require(restored->data_bytes <= kMaxRestoreBytes);
  return 0;
}
