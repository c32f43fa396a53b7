// SPDX-License-Identifier: Apache-2.0
//
// FdReaper: closes FDIDs on the server in the background.
//
// Inodes and open files die wherever their last reference goes, often with
// the filesystem mutex held (an unlink drops the dentry under it, the
// dentry cache evicts under it). Closing their FDIDs there would make
// every such path wait for a round trip, so Release() only queues the
// FDID; one thread sends the queue as batched Close requests. A batch is
// sent once kBatch FDIDs are queued, kMaxDelay after the first of them
// was, or at once when someone waits in Flush(): a walk that evicts one
// inode per name looked up costs one Close per kBatch names, not one per
// name. FDIDs are never reused within a connection, so a late Close can
// never hit someone else's file.
//
// Ownership: borrows the client, which outlives the reaper (GoferFs
// destroys the reaper first). Destruction closes everything still queued,
// then joins the thread. Thread-safety: all methods are thread-safe; mu_
// is a leaf lock, never held across a server call.
#pragma once

#include <chrono>
#include <cstdint>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "lisafs/client.h"

namespace veil::gofer::client::internal {

class FdReaper final {
 public:
  // FDIDs that make a batch worth sending at once (at most
  // lisafs::kMaxBatchFds go in one Close).
  static constexpr size_t kBatch = 256;
  // How long a queued FDID may wait for its batch to fill.
  static constexpr std::chrono::milliseconds kMaxDelay{20};

  explicit FdReaper(lisafs::Client& client);
  ~FdReaper();
  FdReaper(const FdReaper&) = delete;
  FdReaper& operator=(const FdReaper&) = delete;

  // Queues `fd` for Close; kNoFdId is ignored.
  void Release(lisafs::FdId fd);
  // Sends what is queued now and waits until every FDID queued before the
  // call has been sent and answered.
  void Flush();
  // Close requests sent so far (for tests).
  uint64_t BatchesSentForTesting();

 private:
  void Loop();

  // Borrowed: GoferFs destroys this reaper before its client.
  lisafs::Client& client_;
  Mutex mu_;
  CondVar work_cv_;  // pending_ non-empty or stop_
  CondVar done_cv_;  // closed_ advanced
  std::vector<lisafs::FdId> pending_ VEIL_GUARDED_BY(mu_);
  uint64_t queued_ VEIL_GUARDED_BY(mu_) = 0;
  uint64_t closed_ VEIL_GUARDED_BY(mu_) = 0;
  // queued_ at the latest Flush: that batch goes without waiting to fill.
  uint64_t flush_target_ VEIL_GUARDED_BY(mu_) = 0;
  uint64_t batches_ VEIL_GUARDED_BY(mu_) = 0;
  bool stop_ VEIL_GUARDED_BY(mu_) = false;
  std::thread thread_;
};

}  // namespace veil::gofer::client::internal
