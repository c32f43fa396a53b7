// SPDX-License-Identifier: Apache-2.0
//
// Image::Open and Image::Verify: everything a restore checks before it
// creates the first file.
#include <string>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/snapshot.h"

namespace veil::snapshot {

SnapshotResult<Image> Image::Open(ByteSource& source) {
  const uint64_t size = source.size();
  if (size < kHeaderSize + kTrailerSize) {
    return Damaged(size < kHeaderSize ? "not a veil snapshot image (" +
                                            std::to_string(size) + " bytes)"
                                      : "image truncated (no trailer)");
  }
  uint8_t fixed[kHeaderSize];
  VEIL_SNAP_TRY_VOID(source.ReadAt(0, fixed));
  Header header = VEIL_SNAP_TRY(DecodeHeader(fixed));

  uint8_t tail[kTrailerSize];
  VEIL_SNAP_TRY_VOID(source.ReadAt(size - kTrailerSize, tail));
  Trailer trailer = VEIL_SNAP_TRY(DecodeTrailer(tail));
  // The manifest ends where the trailer begins; anything else means bytes
  // were cut out or added.
  const uint64_t manifest_end = size - kTrailerSize;
  if (trailer.manifest_offset < kHeaderSize ||
      trailer.manifest_offset > manifest_end ||
      trailer.manifest_size != manifest_end - trailer.manifest_offset)
    return Damaged("manifest truncated (trailer says " +
                   std::to_string(trailer.manifest_size) + " bytes at " +
                   std::to_string(trailer.manifest_offset) + ", image has " +
                   std::to_string(size) + ")");

  // Bounded by the image size, which the check above tied it to.
  std::vector<uint8_t> bytes(trailer.manifest_size);
  VEIL_SNAP_TRY_VOID(source.ReadAt(trailer.manifest_offset, bytes));
  if (Checksum(bytes) != trailer.manifest_checksum)
    return Damaged("manifest at offset " +
                   std::to_string(trailer.manifest_offset) +
                   ": checksum mismatch");
  Manifest manifest =
      VEIL_SNAP_TRY(DecodeManifest(bytes, header, trailer.manifest_offset));
  return Image(source, header, std::move(manifest));
}

uint64_t Image::DataBytes() const {
  uint64_t total = 0;
  for (const Entry& e : manifest_.entries)
    for (const Extent& x : e.extents)
      total += manifest_.chunks[x.chunk].raw_size;
  return total;
}

SnapshotResult<void> Image::ReadChunk(uint32_t index, std::vector<uint8_t>* raw,
                                      std::vector<uint8_t>* scratch) {
  // The manifest decoder checked index, offsets and sizes.
  const ChunkRecord& c = manifest_.chunks.at(index);
  auto where = [&] {
    return "chunk " + std::to_string(index) + " at offset " +
           std::to_string(c.offset) + ": ";
  };
  scratch->resize(c.stored_size);
  VEIL_SNAP_TRY_VOID(source_->ReadAt(c.offset, *scratch));
  if (Checksum(*scratch) != c.checksum)
    return Damaged(where() + "checksum mismatch");
  auto decoded = DecodeChunk(c, *scratch, raw);
  if (!decoded) return Damaged(where() + decoded.error().message);
  if (ContentHash(*raw) != c.content)
    return Damaged(where() + "content hash mismatch");
  return Done();
}

SnapshotResult<void> Image::Verify(const ProgressFn& progress) {
  std::vector<uint8_t> raw, scratch;
  Progress p;
  for (const ChunkRecord& c : manifest_.chunks) p.total_bytes += c.raw_size;
  for (uint32_t i = 0; i < manifest_.chunks.size(); ++i) {
    VEIL_SNAP_TRY_VOID(ReadChunk(i, &raw, &scratch));
    p.bytes += raw.size();
    if (progress) progress(p);
  }
  verified_ = true;
  return Done();
}

SnapshotResult<Image> VerifyImage(ByteSource& source,
                                  const ProgressFn& progress) {
  Image image = VEIL_SNAP_TRY(Image::Open(source));
  VEIL_SNAP_TRY_VOID(image.Verify(progress));
  return image;
}

SnapshotResult<RestoreStats> RestoreImage(ByteSource& source, vfs::Vfs& vfs,
                                          const vfs::Location& target,
                                          const ProgressFn& progress) {
  Image image = VEIL_SNAP_TRY(VerifyImage(source, progress));
  return image.Apply(vfs, target, progress);
}

}  // namespace veil::snapshot
