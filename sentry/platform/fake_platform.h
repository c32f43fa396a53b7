// SPDX-License-Identifier: Apache-2.0
//
// FakePlatform: a Platform for unit tests, with no task behind it.
// Requests are scripted (Push), each task's memory is a sparse image of
// mapped regions (Map), and every answer is recorded (answers()) instead
// of reaching a task. Memory access follows platform.h exactly: a range
// that runs into unmapped memory copies the bytes before the hole; EFAULT
// if not one byte could be copied; ESRCH for a tid with no image.
//
// An InstallFd answer is recorded with the identity (st_dev, st_ino) of
// the host fd it names, read at answer time, so a test can tell which
// file was installed after the caller closed its own fd.
//
// Switches: SetStillPending(Pending::kNo) makes StillPending() false (the
// task went away); SetAnswerOutcome(AnswerOutcome::kFailEnoent) makes
// Answer() fail as for an interrupted call (nothing recorded).
//
// Thread-safety: every method takes one mutex; usable from a test's
// threads (a blocked handler on one, its waker on another).
#pragma once

#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <deque>
#include <map>
#include <vector>

#include "base/mutex.h"
#include "sentry/platform/platform.h"

namespace veil::sentry {

class FakePlatform final : public Platform {
 public:
  struct RecordedAnswer {
    SyscallRequest request;
    SyscallAnswer answer;
    // For kInstallFd: the installed host file's identity, or {0, 0} if
    // the fd was not open.
    dev_t installed_dev = 0;
    ino_t installed_ino = 0;
  };

  // Queues a request for Receive(). The tid gets an (empty) memory image.
  void Push(const SyscallRequest& req) {
    MutexLock lock(mu_);
    queue_.push_back(req);
    memory_[req.tid];
  }
  // Once nothing is queued: Receive answers ECANCELED (no task left).
  void Finish() {
    MutexLock lock(mu_);
    finished_ = true;
  }

  // Maps [addr, addr + size) in `tid`'s memory, zero-filled (or replaces
  // a region that starts at the same address). Regions must not overlap.
  void Map(pid_t tid, uint64_t addr, size_t size) {
    MutexLock lock(mu_);
    memory_[tid][addr] = std::vector<uint8_t>(size, 0);
  }
  // Removes the region starting at `addr`.
  void Unmap(pid_t tid, uint64_t addr) {
    MutexLock lock(mu_);
    memory_[tid].erase(addr);
  }
  // Test-side access to task memory: no partial semantics, aborts the
  // test's assumptions loudly (returns false) if any byte is unmapped.
  bool Poke(pid_t tid, uint64_t addr, std::span<const uint8_t> bytes) {
    MutexLock lock(mu_);
    return CopyLocked(tid, addr, const_cast<uint8_t*>(bytes.data()),
                      bytes.size(), Direction::kIn) == bytes.size();
  }
  bool Peek(pid_t tid, uint64_t addr, std::span<uint8_t> out) {
    MutexLock lock(mu_);
    return CopyLocked(tid, addr, out.data(), out.size(), Direction::kOut) ==
           out.size();
  }

  enum class Pending : uint8_t { kNo, kYes };
  enum class AnswerOutcome : uint8_t { kRecord, kFailEnoent };
  void SetStillPending(Pending pending) {
    MutexLock lock(mu_);
    still_pending_ = pending == Pending::kYes;
  }
  void SetAnswerOutcome(AnswerOutcome outcome) {
    MutexLock lock(mu_);
    fail_answers_ = outcome == AnswerOutcome::kFailEnoent;
  }

  std::vector<RecordedAnswer> answers() {
    MutexLock lock(mu_);
    return answers_;
  }

  // Every successful ReadMemory, as (address, bytes copied), in order: a
  // test can check that no byte of task memory was read twice.
  struct MemoryRead {
    uint64_t addr;
    size_t len;
  };
  std::vector<MemoryRead> reads() {
    MutexLock lock(mu_);
    return reads_;
  }
  void ClearReads() {
    MutexLock lock(mu_);
    reads_.clear();
  }

  // --- Platform -----------------------------------------------------------
  Result<SyscallRequest> Receive() override {
    MutexLock lock(mu_);
    if (queue_.empty()) return Errno(finished_ ? ECANCELED : EINTR);
    SyscallRequest req = queue_.front();
    queue_.pop_front();
    return req;
  }

  Result<size_t> ReadMemory(const SyscallRequest& req, TaskAddr addr,
                            std::span<uint8_t> out) override {
    MutexLock lock(mu_);
    if (!memory_.count(req.tid)) return Errno(ESRCH);
    if (out.empty()) return size_t{0};
    size_t n = CopyLocked(req.tid, addr.value(), out.data(), out.size(),
                          Direction::kOut);
    if (n == 0) return Errno(EFAULT);
    reads_.push_back({addr.value(), n});
    return n;
  }
  Result<size_t> WriteMemory(const SyscallRequest& req, TaskAddr addr,
                             std::span<const uint8_t> in) override {
    MutexLock lock(mu_);
    if (!memory_.count(req.tid)) return Errno(ESRCH);
    if (in.empty()) return size_t{0};
    size_t n =
        CopyLocked(req.tid, addr.value(), const_cast<uint8_t*>(in.data()),
                   in.size(), Direction::kIn);
    if (n == 0) return Errno(EFAULT);
    return n;
  }
  bool StillPending(const SyscallRequest&) override {
    MutexLock lock(mu_);
    return still_pending_;
  }
  Result<int64_t> Answer(const SyscallRequest& req,
                         const SyscallAnswer& answer) override {
    MutexLock lock(mu_);
    if (fail_answers_) return Errno(ENOENT);
    RecordedAnswer rec{req, answer};
    int64_t ret = answer.value();
    if (answer.kind() == SyscallAnswer::Kind::kInstallFd) {
      struct stat st {};
      if (::fstat(answer.host_fd(), &st) == 0) {
        rec.installed_dev = st.st_dev;
        rec.installed_ino = st.st_ino;
      }
      ret = answer.placement() == FdPlacement::kExact ? answer.number()
                                                      : next_fd_++;
    } else if (answer.kind() == SyscallAnswer::Kind::kError) {
      ret = -answer.error();
    }
    answers_.push_back(rec);
    return ret;
  }

 private:
  enum class Direction : uint8_t { kIn, kOut };  // into / out of the task

  // Copies up to `size` bytes between `buf` and task memory at `addr`,
  // region by region; stops at the first unmapped byte. Returns the count.
  size_t CopyLocked(pid_t tid, uint64_t addr, uint8_t* buf, size_t size,
                    Direction dir) VEIL_REQUIRES(mu_) {
    auto& regions = memory_[tid];
    size_t done = 0;
    while (done < size) {
      uint64_t at = addr + done;
      if (at < addr) break;  // wrapped
      auto it = regions.upper_bound(at);
      if (it == regions.begin()) break;
      --it;
      uint64_t start = it->first;
      std::vector<uint8_t>& bytes = it->second;
      if (at - start >= bytes.size()) break;
      size_t n = std::min<size_t>(size - done, bytes.size() - (at - start));
      if (dir == Direction::kOut) {
        std::memcpy(buf + done, bytes.data() + (at - start), n);
      } else {
        std::memcpy(bytes.data() + (at - start), buf + done, n);
      }
      done += n;
    }
    return done;
  }

  Mutex mu_;
  std::deque<SyscallRequest> queue_ VEIL_GUARDED_BY(mu_);
  bool finished_ VEIL_GUARDED_BY(mu_) = false;
  std::map<pid_t, std::map<uint64_t, std::vector<uint8_t>>> memory_
      VEIL_GUARDED_BY(mu_);
  std::vector<RecordedAnswer> answers_ VEIL_GUARDED_BY(mu_);
  std::vector<MemoryRead> reads_ VEIL_GUARDED_BY(mu_);
  bool still_pending_ VEIL_GUARDED_BY(mu_) = true;
  bool fail_answers_ VEIL_GUARDED_BY(mu_) = false;
  int next_fd_ VEIL_GUARDED_BY(mu_) = 3;  // kLowest installs, as a fresh task
};

}  // namespace veil::sentry
