// SPDX-License-Identifier: Apache-2.0
//
// Rootfs snapshot and restore: one image file for a filesystem tree (the
// overlay's upper layer). Format: overlay/FORMAT.md.
//
//   // Write: walks the tree under `root` as root and streams the image.
//   auto stats = WriteImage(vfs, root, sink, {});
//
//   // Restore: verifies everything, then applies into an empty directory.
//   auto stats = RestoreImage(source, vfs, target, {});
//
// A restore verifies the manifest and every chunk (checksum, decompressed
// size, content hash) before it creates anything, so a damaged image leaves
// the target as it was. Once applying has begun, only a failure of the
// target filesystem (ENOSPC, say) or an image file changed underneath it
// can stop it half way; the error says so.
//
// Memory is bounded by the number of entries (the manifest, as decoded:
// never a size the image claims) plus a fixed number of chunks in flight:
// file data streams through. What a restore writes can be far more than
// the image (deduplicated chunks); ImageLimits bounds it up front. Writing,
// verifying and applying run LZ4 and XXH3 on worker threads (one per CPU;
// WriteOptions::threads for writing); progress callbacks and the walk of
// the tree stay on the calling thread, and the image is the same bytes
// whatever the number of threads.
//
// The tree is read through a SourceDir and restored through a TargetDir
// (tree.h); the vfs overloads wrap a VFS directory in one.
//
// Thread-safety: the functions may run concurrently on different images;
// an Image is used by one thread at a time.
#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "overlay/snapshot/error.h"
#include "overlay/snapshot/format.h"
#include "overlay/snapshot/io.h"
#include "overlay/snapshot/tree.h"
#include "vfs/vfs.h"

namespace veil::snapshot {

// Work done so far, reported after each chunk and each entry.
struct Progress {
  uint64_t bytes = 0;        // file data read (write) or written (restore)
  uint64_t total_bytes = 0;  // 0 when unknown (writing)
  uint64_t files = 0;        // entries done
  uint64_t total_files = 0;  // 0 when unknown (writing)
};
using ProgressFn = std::function<void(const Progress&)>;

struct WriteOptions {
  uint32_t chunk_size = kDefaultChunkSize;  // kMinChunkSize..kMaxChunkSize
  ProgressFn progress;                      // may be empty
  unsigned threads = 0;  // compressing threads; 0: one per CPU
};

struct WriteStats {
  uint64_t entries = 0;       // inodes, the root included
  uint64_t names = 0;         // directory entries (hard links count each)
  uint64_t data_bytes = 0;    // file data read (holes excluded)
  uint64_t chunks = 0;        // chunks stored
  uint64_t chunk_refs = 0;    // chunks referenced (>= chunks: dedupe)
  uint64_t stored_bytes = 0;  // chunk bytes in the image
  uint64_t image_bytes = 0;   // the whole image
  // Xattrs an image cannot keep (ValidXattrName in codec.h: system.*
  // ACLs, say), left out; the first few as "NAME of /PATH".
  uint64_t xattrs_skipped = 0;
  std::vector<std::string> skipped_xattrs;
};

// Writes an image of the tree under `root` (which must be a directory) to
// `out`, reading as root. The tree is read on the calling thread; `out` is
// written from one pipeline thread (never two at once), which stops at
// the first failed write. Does not cross into other mounts: a directory on
// another filesystem is stored without its contents. The tree should not
// change meanwhile (the overlay's upper is frozen while it is written); a
// file that changes is stored as some mix of old and new bytes.
SnapshotResult<WriteStats> WriteImage(vfs::Vfs& vfs, const vfs::Location& root,
                                      ByteSink& out,
                                      const WriteOptions& options);
// The same from any tree.
SnapshotResult<WriteStats> WriteImage(SourceDir& root, ByteSink& out,
                                      const WriteOptions& options);

struct RestoreStats {
  uint64_t entries = 0;
  uint64_t names = 0;
  uint64_t data_bytes = 0;  // file bytes written (holes excluded)
};

// A parsed image: header, trailer and manifest checked and decoded.
class Image final {
 public:
  // Reads and validates everything but the chunk data, and checks what
  // the image would restore against `limits` (EFBIG, EMLINK, ENOSPC,
  // EMFILE; codec.h, CheckLimits). Memory is
  // a constant plus the manifest's decoded size, whatever the image
  // claims. `source` is borrowed and must outlive the Image.
  static SnapshotResult<Image> Open(ByteSource& source,
                                    const ImageLimits& limits = {});

  const Header& header() const { return header_; }
  const Manifest& manifest() const { return manifest_; }
  // Total file data the image restores (holes excluded; a chunk counts
  // once per extent that names it).
  uint64_t DataBytes() const;

  // Reads every chunk once and checks its checksum, decompressed size and
  // content hash, on worker threads (one per CPU). Errors name the chunk
  // and its offset (the first damaged chunk by index).
  SnapshotResult<void> Verify(const ProgressFn& progress);

  // Creates the tree in the empty directory `target` (ENOTEMPTY
  // otherwise), as root: entry 0's metadata goes to `target` itself.
  // Fails (EINVAL) unless Verify() succeeded first.
  SnapshotResult<RestoreStats> Apply(vfs::Vfs& vfs, const vfs::Location& target,
                                     const ProgressFn& progress);
  // The same into any tree.
  SnapshotResult<RestoreStats> Apply(TargetDir& target,
                                     const ProgressFn& progress);

  // How much ReadChunk checks. kStored is for reading a chunk again after
  // Verify: stored bytes that still match their checksum are the bytes
  // verified, and decompress (deterministically) to the content verified,
  // so the content hash is not computed again; the size still is.
  enum class Check { kFull, kStored };
  // Reads chunk `index` into `raw` (resized to its raw size), checking it.
  // May be called from several threads at once.
  SnapshotResult<void> ReadChunk(uint32_t index, std::vector<uint8_t>* raw,
                                 std::vector<uint8_t>* scratch,
                                 Check check = Check::kFull) const;

 private:
  Image(ByteSource& source, Header header, Manifest manifest)
      : source_(&source), header_(header), manifest_(std::move(manifest)) {}

  // Borrowed: Open's caller keeps the source alive (see Open).
  ByteSource* source_;
  Header header_;
  Manifest manifest_;
  bool verified_ = false;
};

// Verify-only: Open + Verify.
SnapshotResult<Image> VerifyImage(ByteSource& source,
                                  const ProgressFn& progress);

// Open + Verify + Apply.
SnapshotResult<RestoreStats> RestoreImage(ByteSource& source, vfs::Vfs& vfs,
                                          const vfs::Location& target,
                                          const ProgressFn& progress);

}  // namespace veil::snapshot
