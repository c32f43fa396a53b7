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
  {
    MutexLock lock(mu_);
    pending_.push_back(fd);
    ++queued_;
  }
  work_cv_.Signal();
}

void FdReaper::Flush() {
  MutexLock lock(mu_);
  const uint64_t target = queued_;
  while (closed_ < target) done_cv_.Wait(mu_);
}

void FdReaper::Loop() {
  MutexLock lock(mu_);
  for (;;) {
    while (!stop_ && pending_.empty()) work_cv_.Wait(mu_);
    if (pending_.empty()) return;  // stop_, and nothing left to close
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
    closed_ += n;
    done_cv_.SignalAll();
  }
}

}  // namespace veil::gofer::client::internal
