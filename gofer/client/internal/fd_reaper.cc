// SPDX-License-Identifier: Apache-2.0
#include "gofer/client/internal/fd_reaper.h"

#include <algorithm>

#include "base/logging.h"

namespace veil::gofer::client::internal {

FdReaper::FdReaper(lisafs::Client& client)
    : client_(client), thread_([this] { Loop(); }) {}

FdReaper::~FdReaper() {
  {
    MutexLock lock(mu_);
    stop_ = true;
  }
  work_cv_.Signal();
  thread_.join();
}

void FdReaper::Release(lisafs::FdId fd) {
  if (fd == lisafs::kNoFdId) return;
  bool wake;
  {
    MutexLock lock(mu_);
    pending_.push_back(fd);
    ++queued_;
    // The first starts the batch's clock; a full batch goes at once.
    wake = pending_.size() == 1 || pending_.size() == kBatch;
  }
  if (wake) work_cv_.Signal();
}

void FdReaper::Flush() {
  MutexLock lock(mu_);
  const uint64_t target = queued_;
  if (closed_ >= target) return;
  flush_target_ = std::max(flush_target_, target);
  work_cv_.Signal();
  while (closed_ < target) done_cv_.Wait(mu_);
}

uint64_t FdReaper::BatchesSentForTesting() {
  MutexLock lock(mu_);
  return batches_;
}

void FdReaper::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && pending_.empty()) work_cv_.Wait(mu_);
    if (pending_.empty()) return;  // stop_, and nothing left to close
    // Let the batch fill, unless someone waits for it or we are stopping.
    const auto deadline = std::chrono::steady_clock::now() + kMaxDelay;
    while (!stop_ && pending_.size() < kBatch && flush_target_ <= closed_ &&
           work_cv_.WaitUntil(mu_, deadline)) {
    }
    const size_t n = std::min(pending_.size(), lisafs::kMaxBatchFds);
    lisafs::CloseReq req;
    req.fds.assign(pending_.begin(),
                   pending_.begin() + static_cast<ptrdiff_t>(n));
    pending_.erase(pending_.begin(),
                   pending_.begin() + static_cast<ptrdiff_t>(n));
    mu_.Unlock();
    auto reply = client_.Call(req);
    // EBADF means we closed an FDID twice or never had it: a bug worth a
    // line. A lost connection has released every FDID already.
    if (!reply && reply.error().code() != ECONNRESET &&
        reply.error().code() != EPIPE) {
      VEIL_LOG(kWarning) << "gofer client: Close of " << n
                         << " FDIDs failed, errno " << reply.error().code();
    }
    mu_.Lock();
    ++batches_;
    closed_ += n;
    done_cv_.SignalAll();
  }
}

}  // namespace veil::gofer::client::internal
