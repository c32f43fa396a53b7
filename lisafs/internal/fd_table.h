// SPDX-License-Identifier: Apache-2.0
//
// FdTable: a connection's FDIDs and the backend objects they name.
//
// FDIDs count up from 1 and are never reused within a connection, so a
// stale FDID from a confused or malicious client can only miss (EBADF),
// never alias a newer file. Lookups hand out shared ownership: a Close
// racing an operation on another channel removes the entry, and the object
// dies when that operation finishes.
//
// Thread-safety: all methods are thread-safe (one internal mutex, never
// held while calling into the backend).
#pragma once

#include <cstddef>
#include <memory>
#include <unordered_map>

#include "base/mutex.h"
#include "base/result.h"
#include "lisafs/server_backend.h"
#include "lisafs/types.h"

namespace veil::lisafs::internal {

enum class FdKind : uint8_t {
  kControl,  // Names a file (Walk, Mkdir, ..., Mount's root).
  kOpen,     // An opened file (OpenAt, OpenCreateAt).
};

class FdTable final {
 public:
  explicit FdTable(size_t max_entries) : max_entries_(max_entries) {}
  FdTable(const FdTable&) = delete;
  FdTable& operator=(const FdTable&) = delete;

  // Errors: EMFILE when the table holds max_entries (the object is
  // destroyed).
  Result<FdId> Insert(FdKind kind, std::shared_ptr<ServerFd> fd) {
    MutexLock lock(mu_);
    if (entries_.size() >= max_entries_) return Errno(EMFILE);
    const FdId id = next_id_++;
    entries_.emplace(id, Entry{kind, std::move(fd)});
    return id;
  }

  // The object behind `id` if it is of `kind`; EBADF otherwise (unknown,
  // closed, or the wrong kind, as read(2) on an O_PATH descriptor).
  Result<std::shared_ptr<ServerFd>> Lookup(FdId id, FdKind kind) const {
    MutexLock lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end() || it->second.kind != kind) return Errno(EBADF);
    return it->second.fd;
  }

  // As Lookup, for operations valid on either kind.
  Result<std::shared_ptr<ServerFd>> LookupAny(FdId id) const {
    MutexLock lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return Errno(EBADF);
    return it->second.fd;
  }

  // False if `id` was not in the table.
  bool Remove(FdId id) {
    std::shared_ptr<ServerFd> doomed;  // Destroyed after the lock is dropped.
    MutexLock lock(mu_);
    auto it = entries_.find(id);
    if (it == entries_.end()) return false;
    doomed = std::move(it->second.fd);
    entries_.erase(it);
    return true;
  }

  size_t size() const {
    MutexLock lock(mu_);
    return entries_.size();
  }

 private:
  struct Entry {
    FdKind kind;
    std::shared_ptr<ServerFd> fd;
  };

  const size_t max_entries_;
  mutable Mutex mu_;
  FdId next_id_ VEIL_GUARDED_BY(mu_) = 1;
  std::unordered_map<FdId, Entry> entries_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::lisafs::internal
