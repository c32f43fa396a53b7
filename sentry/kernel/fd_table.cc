// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/fd_table.h"

#include <algorithm>
#include <utility>

namespace veil::sentry {

FdReservation::FdReservation(FdReservation&& other) noexcept
    : table_(std::exchange(other.table_, nullptr)), fd_(other.fd_) {}

FdReservation::~FdReservation() {
  if (table_) table_->Unreserve(fd_);
}

int FdReservation::Install(Ref<vfs::FileDescription> file,
                           CloseOnExec cloexec) && {
  FdTable* table = std::exchange(table_, nullptr);
  table->InstallReserved(fd_, std::move(file), cloexec);
  return fd_;
}

Ref<FdTable> FdTable::Create() { return AdoptRef(*new FdTable()); }

Ref<FdTable> FdTable::Fork() {
  Ref<FdTable> copy = Create();
  MutexLock lock(mu_);
  MutexLock copy_lock(copy->mu_);
  copy->state_.slots.resize(state_.slots.size());
  for (size_t i = 0; i < state_.slots.size(); ++i) {
    const Slot& from = state_.slots[i];
    if (!from.file) continue;  // free or reserved: free in the copy
    copy->state_.slots[i] = Slot{from.file, false, from.cloexec};
  }
  copy->state_.next_free_hint = 0;
  return copy;
}

Result<FdReservation> FdTable::Allocate(int min, int limit) {
  limit = std::min(limit, kNrOpen);
  MutexLock lock(mu_);
  // alloc_fd: start >= end is EMFILE (fcntl F_DUPFD checks EINVAL first).
  if (min < 0) min = 0;
  int fd = std::max(min, state_.next_free_hint);
  std::vector<Slot>& slots = state_.slots;
  while (fd < static_cast<int>(slots.size()) &&
         (slots[fd].file || slots[fd].reserved))
    ++fd;
  if (fd >= limit) return Errno(EMFILE);  // alloc_fd: fd >= end
  if (fd >= static_cast<int>(slots.size())) slots.resize(fd + 1);
  slots[fd].reserved = true;
  if (min <= state_.next_free_hint) state_.next_free_hint = fd + 1;
  return FdReservation(this, fd);
}

void FdTable::Unreserve(int fd) {
  MutexLock lock(mu_);
  state_.slots[fd].reserved = false;
  state_.next_free_hint = std::min(state_.next_free_hint, fd);
}

void FdTable::InstallReserved(int fd, Ref<vfs::FileDescription> file,
                              CloseOnExec cloexec) {
  MutexLock lock(mu_);
  Slot& slot = state_.slots[fd];
  slot.reserved = false;
  slot.file = std::move(file);
  slot.cloexec = cloexec;
}

Result<Ref<vfs::FileDescription>> FdTable::Get(int fd) {
  MutexLock lock(mu_);
  // fdget: a negative, unknown or reserved number is EBADF.
  if (fd < 0 || fd >= static_cast<int>(state_.slots.size()) ||
      !state_.slots[fd].file)
    return Errno(EBADF);
  return state_.slots[fd].file.ToRef();
}

Result<FdEntry> FdTable::GetEntry(int fd) {
  MutexLock lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(state_.slots.size()) ||
      !state_.slots[fd].file)
    return Errno(EBADF);  // fdget
  return FdEntry{state_.slots[fd].file.ToRef(), state_.slots[fd].cloexec};
}

Result<void> FdTable::SetCloseOnExec(int fd, CloseOnExec cloexec) {
  MutexLock lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(state_.slots.size()) ||
      !state_.slots[fd].file)
    return Errno(EBADF);  // fcntl F_SETFD: fdget
  state_.slots[fd].cloexec = cloexec;
  return Ok();
}

Result<Ref<vfs::FileDescription>> FdTable::Remove(int fd, AfterRemove after) {
  MutexLock lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(state_.slots.size()) ||
      !state_.slots[fd].file)
    return Errno(EBADF);  // close_fd: file_close_fd_locked finds nothing
  Slot& slot = state_.slots[fd];
  Ref<vfs::FileDescription> file = slot.file.ToRef();
  slot = Slot{};
  if (after == AfterRemove::kKeepReserved) {
    slot.reserved = true;
  } else {
    state_.next_free_hint = std::min(state_.next_free_hint, fd);
  }
  return file;
}

void FdTable::ReleaseReserved(int fd) {
  MutexLock lock(mu_);
  if (fd < 0 || fd >= static_cast<int>(state_.slots.size())) return;
  Slot& slot = state_.slots[fd];
  if (!slot.reserved || slot.file) return;
  slot.reserved = false;
  state_.next_free_hint = std::min(state_.next_free_hint, fd);
}

Result<RefPtr<vfs::FileDescription>> FdTable::Replace(
    int fd, Ref<vfs::FileDescription> file, CloseOnExec cloexec, int limit) {
  // ksys_dup3: newfd >= rlimit(RLIMIT_NOFILE) is EBADF.
  if (fd < 0 || fd >= std::min(limit, kNrOpen)) return Errno(EBADF);
  MutexLock lock(mu_);
  if (fd >= static_cast<int>(state_.slots.size())) state_.slots.resize(fd + 1);
  Slot& slot = state_.slots[fd];
  // do_dup2: "fd is allocated but not installed" is EBUSY.
  if (slot.reserved) return Errno(EBUSY);
  RefPtr<vfs::FileDescription> old = std::move(slot.file);
  slot.file = std::move(file);
  slot.cloexec = cloexec;
  return old;
}

std::vector<Ref<vfs::FileDescription>> FdTable::CloseRange(unsigned first,
                                                           unsigned last,
                                                           RangeAction action) {
  std::vector<Ref<vfs::FileDescription>> removed;
  MutexLock lock(mu_);
  unsigned end = std::min<size_t>(state_.slots.size(),
                                  last == ~0u ? ~0u : size_t{last} + 1);
  for (unsigned fd = first; fd < end; ++fd) {
    Slot& slot = state_.slots[fd];
    if (!slot.file) continue;
    if (action == RangeAction::kSetCloseOnExec) {
      slot.cloexec = CloseOnExec::kYes;
      continue;
    }
    removed.push_back(slot.file.ToRef());
    slot = Slot{};
    state_.next_free_hint =
        std::min(state_.next_free_hint, static_cast<int>(fd));
  }
  return removed;
}

std::vector<Ref<vfs::FileDescription>> FdTable::CloseOnExecFds() {
  std::vector<Ref<vfs::FileDescription>> removed;
  MutexLock lock(mu_);
  for (size_t fd = 0; fd < state_.slots.size(); ++fd) {
    Slot& slot = state_.slots[fd];
    if (!slot.file || slot.cloexec != CloseOnExec::kYes) continue;
    removed.push_back(slot.file.ToRef());
    slot = Slot{};
    state_.next_free_hint =
        std::min(state_.next_free_hint, static_cast<int>(fd));
  }
  return removed;
}

std::vector<std::pair<int, FdEntry>> FdTable::Snapshot() {
  std::vector<std::pair<int, FdEntry>> out;
  MutexLock lock(mu_);
  for (size_t fd = 0; fd < state_.slots.size(); ++fd) {
    const Slot& slot = state_.slots[fd];
    if (slot.file)
      out.push_back(
          {static_cast<int>(fd), FdEntry{slot.file.ToRef(), slot.cloexec}});
  }
  return out;
}

size_t FdTable::CountForTesting() { return Snapshot().size(); }

}  // namespace veil::sentry
