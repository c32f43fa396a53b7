// SPDX-License-Identifier: Apache-2.0
//
// Image::Open and Image::Verify: everything a restore checks before it
// creates the first file.
#include <algorithm>
#include <atomic>
#include <cstdint>
#include <string>
#include <thread>

#include "overlay/snapshot/codec.h"
#include "overlay/snapshot/pipeline.h"
#include "overlay/snapshot/snapshot.h"

namespace veil::snapshot {

SnapshotResult<Image> Image::Open(ByteSource& source,
                                  const ImageLimits& limits) {
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

  // Read in bounded steps, as it decodes: never sized from the trailer.
  Manifest manifest = VEIL_SNAP_TRY(ReadManifest(source, header, trailer));
  VEIL_SNAP_TRY_VOID(CheckLimits(manifest, limits));
  return Image(source, header, std::move(manifest));
}

uint64_t Image::DataBytes() const { return snapshot::DataBytes(manifest_); }

SnapshotResult<void> Image::ReadChunk(uint32_t index, std::vector<uint8_t>* raw,
                                      std::vector<uint8_t>* scratch,
                                      Check check) const {
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
  if (check == Check::kFull && ContentHash(*raw) != c.content)
    return Damaged(where() + "content hash mismatch");
  return Done();
}

// Chunks are handed out by an atomic counter to the calling thread and
// the workers; each keeps its own buffers. The calling thread alone
// reports progress. On damage the others stop taking chunks; a chunk once
// taken is checked, and chunks are taken in index order, so the error
// reported (the lowest damaged index checked) is the first damaged chunk,
// the same on every run.
SnapshotResult<void> Image::Verify(const ProgressFn& progress) {
  Progress p;
  for (const ChunkRecord& c : manifest_.chunks) p.total_bytes += c.raw_size;
  const auto count = static_cast<uint32_t>(manifest_.chunks.size());
  std::atomic<uint32_t> next{0};
  std::atomic<uint64_t> bytes{0};
  std::atomic<bool> failed{false};
  Mutex mu;
  uint32_t error_index = UINT32_MAX;
  SnapshotError error;
  auto run = [&](bool report) {
    std::vector<uint8_t> raw, scratch;
    for (uint32_t i;
         !failed.load(std::memory_order_relaxed) &&
         (i = next.fetch_add(1, std::memory_order_relaxed)) < count;) {
      auto read = ReadChunk(i, &raw, &scratch);
      if (!read) {
        MutexLock lock(mu);
        if (i < error_index) error_index = i, error = read.error();
        failed = true;
        return;
      }
      uint64_t done =
          bytes.fetch_add(raw.size(), std::memory_order_relaxed) + raw.size();
      if (report && progress) {
        p.bytes = done;
        progress(p);
      }
    }
  };
  const unsigned workers =
      std::min<unsigned>(internal::WorkerCount(0), std::max(count, 1u)) - 1;
  std::vector<std::thread> threads;
  for (unsigned t = 0; t < workers; ++t) threads.emplace_back(run, false);
  run(true);
  for (std::thread& t : threads) t.join();
  if (failed) return error;
  if (progress) {
    p.bytes = bytes;
    progress(p);
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
