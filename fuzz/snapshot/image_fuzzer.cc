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
// Properties checked beyond "no crash, no sanitizer report": a manifest
// that decodes re-encodes to exactly its bytes (the encoding is canonical),
// and an image that verifies restores without touching anything it should
// not (the restore either succeeds or reports an error).
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
constexpr uint64_t kMaxRestoreBytes = 64u << 20;

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

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  std::string image(reinterpret_cast<const char*>(data), size - 1);
  if (data[size - 1] & 1) FixUp(image);

  MemorySource source(Bytes(image));
  auto opened = Image::Open(source);
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
  if (opened->DataBytes() > kMaxRestoreBytes) return 0;
  veil::vfs::Vfs vfs(veil::vfs::tmpfs::Tmpfs::Create());
  auto restored = opened->Apply(vfs, vfs.RootLocation(), {});
  if (!restored) Require(!restored.error().message.empty());
  return 0;
}
