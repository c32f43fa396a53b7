// SPDX-License-Identifier: Apache-2.0
//
// FdTable: a task's file descriptors (Linux: struct files_struct and
// fs/file.c). Maps small integers to shared open file descriptions, with
// the per-fd flag FD_CLOEXEC kept here, apart from the description (which
// dup shares and which knows nothing of it).
//
// Rules, as Linux's:
//  - A new fd is the lowest free number at or above the caller's minimum
//    (alloc_fd); EMFILE at or past the table's RLIMIT_NOFILE (the limit the
//    caller gives, as the task's rlimit at the time of the call).
//  - Opening is two steps: Allocate reserves a number before the file is
//    opened, Install fills it afterwards (fd_install). A reservation that
//    is dropped without Install frees the number, so a failed open leaves
//    nothing behind, and no other thread of the task can get or see a
//    reserved number meanwhile (Get answers EBADF for it).
//  - Shared by reference between threads created with CLONE_FILES (Ref);
//    Fork() copies it (dup_fd): the copy has the same descriptions at the
//    same numbers with the same flags, and reservations are not copied.
//
// Removing entries never drops a description under the table's lock: the
// removed references are handed back to the caller, whose scope drops
// them (Linux: filp_close after the spinlock), because the last reference
// may run filesystem code (a FIFO's close, lock release).
//
// Thread-safety: all methods may be called concurrently; one mutex guards
// the whole state (one private struct).
#pragma once

#include <cstdint>
#include <vector>

#include "base/mutex.h"
#include "base/ref.h"
#include "base/result.h"
#include "sentry/platform/platform.h"
#include "vfs/file_description.h"

namespace veil::sentry {

class FdTable;

// A reserved fd number; frees it on destruction unless installed.
class FdReservation final {
 public:
  FdReservation(FdReservation&& other) noexcept;
  FdReservation& operator=(FdReservation&&) = delete;
  FdReservation(const FdReservation&) = delete;
  ~FdReservation();

  int fd() const { return fd_; }
  // fd_install: makes the number name `file` (with FD_CLOEXEC if asked).
  // Returns the number.
  int Install(Ref<vfs::FileDescription> file, CloseOnExec cloexec) &&;

 private:
  friend class FdTable;
  FdReservation(FdTable* table, int fd) : table_(table), fd_(fd) {}
  FdTable* table_;  // borrowed: the caller holds a Ref to the table
  int fd_;
};

struct FdEntry {
  Ref<vfs::FileDescription> file;
  CloseOnExec cloexec = CloseOnExec::kNo;
};

class FdTable final : public RefCounted<FdTable> {
 public:
  // Linux's NR_OPEN default (fs.nr_open): no limit may go past it.
  static constexpr int kNrOpen = 1 << 20;

  static Ref<FdTable> Create();
  // dup_fd: a copy for a child created without CLONE_FILES.
  Ref<FdTable> Fork();

  // alloc_fd(min, limit): the lowest free number >= `min`. EMFILE if it
  // would be >= `limit` (RLIMIT_NOFILE), EINVAL if `min` >= `limit`
  // (F_DUPFD's check is the caller's; see Dup).
  Result<FdReservation> Allocate(int min, int limit);

  // The entry at `fd`; EBADF if none (or only reserved).
  Result<Ref<vfs::FileDescription>> Get(int fd);
  Result<FdEntry> GetEntry(int fd);
  Result<void> SetCloseOnExec(int fd, CloseOnExec cloexec);

  // close(2) (close_fd): removes `fd` and returns its description; EBADF.
  // kKeepReserved leaves the number reserved until ReleaseReserved: the
  // data plane's close, whose host fd the task closes natively after the
  // answer (no other thread may get the number before that).
  enum class AfterRemove : uint8_t { kFree, kKeepReserved };
  Result<Ref<vfs::FileDescription>> Remove(
      int fd, AfterRemove after = AfterRemove::kFree);
  // Frees a number Remove kept reserved (nothing if it is not).
  void ReleaseReserved(int fd);
  // dup2/dup3's replace (do_dup2): makes `fd` name `file`, returning what
  // it named before (null if nothing). EBUSY if `fd` is reserved by an
  // open in progress (Linux: the fd is allocated but not yet installed).
  // EBADF if `fd` >= `limit`.
  Result<RefPtr<vfs::FileDescription>> Replace(int fd,
                                               Ref<vfs::FileDescription> file,
                                               CloseOnExec cloexec, int limit);

  // close_range(2) on [first, last]: removes them, or with
  // `only_cloexec` sets FD_CLOEXEC on them. Returns the removed.
  enum class RangeAction : uint8_t { kClose, kSetCloseOnExec };
  std::vector<Ref<vfs::FileDescription>> CloseRange(unsigned first,
                                                    unsigned last,
                                                    RangeAction action);
  // At exec (do_close_on_exec): removes every FD_CLOEXEC entry.
  std::vector<Ref<vfs::FileDescription>> CloseOnExecFds();

  // Whether another holder shares this table (CLONE_FILES): exec and
  // close_range(CLOSE_RANGE_UNSHARE) copy it only then (unshare_fd), so
  // an unshared table keeps its identity and its POSIX locks.
  bool Shared() const { return RefCount() > 1; }

  // Every installed (fd, entry), in order.
  std::vector<std::pair<int, FdEntry>> Snapshot();
  size_t CountForTesting();

 private:
  friend class RefCounted<FdTable>;
  friend class FdReservation;
  FdTable() = default;
  ~FdTable() = default;

  void Unreserve(int fd);
  void InstallReserved(int fd, Ref<vfs::FileDescription> file,
                       CloseOnExec cloexec);

  struct Slot {
    RefPtr<vfs::FileDescription> file;  // null: free, or reserved
    bool reserved = false;
    CloseOnExec cloexec = CloseOnExec::kNo;
  };
  struct State {
    std::vector<Slot> slots;
    int next_free_hint = 0;  // no free slot below it (files->next_fd)
  };
  Mutex mu_;
  State state_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::sentry
