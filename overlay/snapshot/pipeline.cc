// SPDX-License-Identifier: Apache-2.0
#include "overlay/snapshot/pipeline.h"

#include <lz4.h>

#include <algorithm>

#include "overlay/snapshot/codec.h"

namespace veil::snapshot::internal {
namespace {

// Enough slots that a worker finds the next chunk waiting while the
// writer is busy with an earlier one, few enough to bound memory (at the
// 4 MiB maximum chunk size and two CPUs, 8 slots hold about 64 MiB).
constexpr unsigned kSlotsPerWorker = 3;
constexpr unsigned kMaxWorkers = 16;

// LZ4 unless it does not make the chunk smaller; the checksum covers the
// bytes stored.
void Pack(ChunkWriter::Slot& slot) {
  ChunkRecord& r = slot.record;
  std::span<const uint8_t> raw = std::span(slot.raw).first(r.raw_size);
  int packed = LZ4_compress_default(reinterpret_cast<const char*>(raw.data()),
                                    reinterpret_cast<char*>(slot.packed.data()),
                                    static_cast<int>(raw.size()),
                                    static_cast<int>(slot.packed.size()));
  std::span<const uint8_t> stored = raw;
  r.codec = Codec::kRaw;
  if (packed > 0 && static_cast<size_t>(packed) < raw.size()) {
    r.codec = Codec::kLz4;
    stored = std::span<const uint8_t>(slot.packed)
                 .first(static_cast<size_t>(packed));
  }
  r.stored_size = static_cast<uint32_t>(stored.size());
  r.checksum = Checksum(stored);
}

std::span<const uint8_t> Stored(const ChunkWriter::Slot& slot) {
  const auto& bytes = slot.record.codec == Codec::kLz4 ? slot.packed : slot.raw;
  return std::span(bytes).first(slot.record.stored_size);
}

}  // namespace

unsigned WorkerCount(unsigned requested) {
  unsigned n = requested ? requested : std::thread::hardware_concurrency();
  return std::clamp(n, 1u, kMaxWorkers);
}

ChunkWriter::ChunkWriter(ByteSink& out, uint64_t offset, uint32_t chunk_size,
                         unsigned workers)
    : out_(out), offset_(offset) {
  workers = WorkerCount(workers);
  const size_t bound =
      static_cast<size_t>(LZ4_compressBound(static_cast<int>(chunk_size)));
  for (unsigned i = 0; i < workers * kSlotsPerWorker; ++i) {
    auto slot = std::make_unique<Slot>();
    slot->raw.resize(chunk_size);
    slot->packed.resize(bound);
    free_.push_back(slot.get());
    slots_.push_back(std::move(slot));
  }
  for (unsigned i = 0; i < workers; ++i)
    threads_.emplace_back([this] { Work(); });
  threads_.emplace_back([this] { WriteInOrder(); });
}

ChunkWriter::~ChunkWriter() { Stop(); }

void ChunkWriter::Stop() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  write_cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
  threads_.clear();
}

SnapshotResult<ChunkWriter::Slot*> ChunkWriter::Acquire() {
  MutexLock lock(mu_);
  while (!failed_ && free_.empty()) walker_cv_.Wait(mu_);
  if (failed_) return error_;
  Slot* slot = free_.back();
  free_.pop_back();
  return slot;
}

// Only the walker waits for a free slot, and it is the caller.
void ChunkWriter::Release(Slot* slot) {
  MutexLock lock(mu_);
  free_.push_back(slot);
}

void ChunkWriter::Submit(Slot* slot, uint32_t index) {
  slot->index = index;
  {
    MutexLock lock(mu_);
    queued_.push_back(slot);
    ++submitted_;
  }
  work_cv_.Signal();
}

void ChunkWriter::Work() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && !failed_ && queued_.empty()) work_cv_.Wait(mu_);
    if (stop_ || failed_) return;
    Slot* slot = queued_.front();
    queued_.pop_front();
    mu_.Unlock();
    Pack(*slot);
    mu_.Lock();
    ready_.emplace(slot->index, slot);
    // The writer waits for this very chunk only; if it is busy writing the
    // one before, it finds this one when it looks again.
    if (slot->index == records_.size()) write_cv_.Signal();
  }
}

void ChunkWriter::WriteInOrder() {
  MutexLock lock(mu_);
  for (;;) {
    const auto next = static_cast<uint32_t>(records_.size());
    while (!stop_ && !failed_ &&
           (ready_.empty() || ready_.begin()->first != next))
      write_cv_.Wait(mu_);
    if (stop_ || failed_) return;
    Slot* slot = ready_.begin()->second;
    ready_.erase(ready_.begin());
    mu_.Unlock();
    // Only this thread writes and moves offset_.
    auto written = out_.Write(Stored(*slot));
    mu_.Lock();
    if (!written) {
      failed_ = true;
      error_ = written.error();
    } else {
      slot->record.offset = offset_;
      offset_ += slot->record.stored_size;
      records_.push_back(slot->record);
      free_.push_back(slot);
    }
    if (failed_) work_cv_.SignalAll();
    walker_cv_.Signal();
  }
}

SnapshotResult<void> ChunkWriter::Finish(std::vector<ChunkRecord>* records,
                                         uint64_t* offset) {
  {
    MutexLock lock(mu_);
    while (!failed_ && records_.size() != submitted_) walker_cv_.Wait(mu_);
  }
  Stop();
  // The threads are gone: the lock only satisfies the analysis.
  MutexLock lock(mu_);
  if (failed_) return error_;
  *records = std::move(records_);
  *offset = offset_;
  return Done();
}

ChunkReader::ChunkReader(ReadFn read, const std::vector<uint32_t>& order,
                         unsigned workers)
    : read_(std::move(read)), order_(order) {
  workers = WorkerCount(workers);
  slots_.resize(workers * kSlotsPerWorker);
  for (unsigned i = 0; i < workers; ++i)
    threads_.emplace_back([this] { Work(); });
}

ChunkReader::~ChunkReader() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  work_cv_.SignalAll();
  for (std::thread& t : threads_) t.join();
}

void ChunkReader::Work() {
  MutexLock lock(mu_);
  for (;;) {
    // Position p reuses the slot of position p - size, so it waits until
    // the consumer has released that one.
    while (!stop_ &&
           (taken_ >= order_.size() || taken_ >= released_ + slots_.size()))
      work_cv_.Wait(mu_);
    if (stop_) return;
    const size_t p = taken_++;
    Slot& slot = slots_[p % slots_.size()];
    slot.position = p;
    slot.ready = false;
    mu_.Unlock();
    slot.result = read_(order_[p], &slot.raw, &slot.scratch);
    mu_.Lock();
    slot.ready = true;
    // The consumer waits for position returned_ - 1 only.
    if (p + 1 == returned_) consumer_cv_.Signal();
  }
}

SnapshotResult<std::span<const uint8_t>> ChunkReader::Next() {
  MutexLock lock(mu_);
  // The consumer is done with the chunks it was given before.
  released_ = returned_;
  if (returned_ >= order_.size())
    return SnapshotError{EINVAL, "read past the last chunk"};
  const size_t p = returned_++;
  Slot& slot = slots_[p % slots_.size()];
  // One more slot is free (the one of the chunk given out last time).
  if (p > 0) work_cv_.Signal();
  while (!slot.ready || slot.position != p) consumer_cv_.Wait(mu_);
  if (!slot.result) return slot.result.error();
  return std::span<const uint8_t>(slot.raw);
}

}  // namespace veil::snapshot::internal
