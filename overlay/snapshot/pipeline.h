// SPDX-License-Identifier: Apache-2.0
//
// The chunk pipelines of WriteImage and Image::Verify: LZ4 and XXH3 on
// worker threads while the caller's thread walks the tree (or the image).
//
// ChunkWriter: the walker reads a new chunk (one whose content hash it has
// not seen: dedupe stays on the walker's thread, in walk order) into a
// slot and submits it under the next chunk index; a worker compresses it
// and checksums the stored bytes; one writer thread appends the chunks to
// the sink strictly by index, so one tree always gives the same image.
// Memory is bounded by the slots: a fixed number of chunks in flight
// (kSlotsPerWorker per worker), each at most chunk_size raw plus its
// LZ4 bound. The first error (a failed write) stops everything: Acquire
// and Finish return it, and nothing more is written.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "overlay/snapshot/error.h"
#include "overlay/snapshot/format.h"
#include "overlay/snapshot/io.h"

namespace veil::snapshot::internal {

// Worker threads for `requested` (0: one per CPU), at least 1.
unsigned WorkerCount(unsigned requested);

class ChunkWriter final {
 public:
  struct Slot {
    std::vector<uint8_t> raw;     // chunk_size bytes; the first raw_size used
    std::vector<uint8_t> packed;  // the LZ4 output
    ChunkRecord record;           // raw_size and content set by the walker
    uint32_t index = 0;
  };

  // Writes chunks starting at image offset `offset` (after the header).
  ChunkWriter(ByteSink& out, uint64_t offset, uint32_t chunk_size,
              unsigned workers);
  ~ChunkWriter();  // stops the threads; what was not written is dropped
  ChunkWriter(const ChunkWriter&) = delete;
  ChunkWriter& operator=(const ChunkWriter&) = delete;

  // A free slot to read the next chunk into; waits while all are in
  // flight. Fails with the pipeline's first error.
  SnapshotResult<Slot*> Acquire();
  // Gives back a slot that is not submitted (a duplicate chunk).
  void Release(Slot* slot);
  // Queues `slot` as chunk `index`; indices are submitted 0, 1, 2, ...
  void Submit(Slot* slot, uint32_t index);
  // Waits until every submitted chunk is written; the records (by index)
  // and the offset after the last chunk.
  SnapshotResult<void> Finish(std::vector<ChunkRecord>* records,
                              uint64_t* offset);

 private:
  void Work();
  void WriteInOrder();
  void Stop();

  ByteSink& out_;  // borrowed for the duration of WriteImage
  std::vector<std::unique_ptr<Slot>> slots_;
  // Each thread waits on its own condition variable and is woken only
  // when it can go on: wake-ups cost more than the bookkeeping here.
  Mutex mu_;
  CondVar walker_cv_;  // a free slot, everything written
  CondVar work_cv_;    // a queued slot
  CondVar write_cv_;   // the next chunk to write is ready
  // Guarded by mu_, except offset_: the writer thread's alone until
  // Finish, which reads it after Stop() joined the threads.
  std::vector<Slot*> free_ VEIL_GUARDED_BY(mu_);
  std::deque<Slot*> queued_ VEIL_GUARDED_BY(mu_);  // submitted, not compressed
  std::map<uint32_t, Slot*> ready_ VEIL_GUARDED_BY(mu_);  // compressed, by index
  std::vector<ChunkRecord> records_ VEIL_GUARDED_BY(mu_);  // written, by index
  uint32_t submitted_ VEIL_GUARDED_BY(mu_) = 0;
  uint64_t offset_;
  bool stop_ VEIL_GUARDED_BY(mu_) = false;
  bool failed_ VEIL_GUARDED_BY(mu_) = false;
  SnapshotError error_ VEIL_GUARDED_BY(mu_);
  std::vector<std::thread> threads_;
};

// ChunkReader: reads, checks and decodes the chunks that Image::Apply
// needs, in the order it needs them (`order`, chunk indices, repeats
// allowed), on worker threads, at most a fixed window of chunks ahead of
// the consumer; the consumer writes one chunk's bytes while the workers
// decode the next ones.
class ChunkReader final {
 public:
  // `read` is Image::ReadChunk (thread-safe); borrowed, as `order` is.
  using ReadFn = std::function<SnapshotResult<void>(
      uint32_t index, std::vector<uint8_t>* raw,
      std::vector<uint8_t>* scratch)>;
  ChunkReader(ReadFn read, const std::vector<uint32_t>& order,
              unsigned workers);
  ~ChunkReader();
  ChunkReader(const ChunkReader&) = delete;
  ChunkReader& operator=(const ChunkReader&) = delete;

  // The raw bytes of the next chunk in `order`, valid until the next
  // call; the chunk's read error if it failed.
  SnapshotResult<std::span<const uint8_t>> Next();

 private:
  struct Slot {
    std::vector<uint8_t> raw, scratch;
    size_t position = 0;  // in order_, once a worker took it
    bool ready = false;   // read (result set) for `position`
    SnapshotResult<void> result;
  };
  void Work();

  ReadFn read_;
  const std::vector<uint32_t>& order_;  // borrowed, outlives the reader
  std::vector<Slot> slots_;             // position p uses slots_[p % size]
  Mutex mu_;
  CondVar work_cv_;      // a slot was released
  CondVar consumer_cv_;  // the awaited chunk is ready
  size_t taken_ VEIL_GUARDED_BY(mu_) = 0;     // positions given to workers
  size_t returned_ VEIL_GUARDED_BY(mu_) = 0;  // given to the consumer
  // Positions whose slots the consumer gave back.
  size_t released_ VEIL_GUARDED_BY(mu_) = 0;
  bool stop_ VEIL_GUARDED_BY(mu_) = false;
  std::vector<std::thread> threads_;
};

}  // namespace veil::snapshot::internal
