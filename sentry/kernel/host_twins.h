// SPDX-License-Identifier: Apache-2.0
//
// HostTwins: the host side of the native data plane (DESIGN.md, "The data
// plane runs natively"). In the default mode every fd a task holds has a
// host fd at the same number in the task, installed with the answer of
// the call that made it, so read, write, pread, pwrite, mmap and poll run
// in the host kernel with no trap. TwinOf says which host file that is
// for an open file description:
//  - a regular file with host memory (a tmpfs or upper file's memfd, a
//    lower file's donated descriptor): a new host open file description
//    of that host file (reopened through /proc/self/fd, base/proc_dir.h), with the open's
//    access mode and status flags, so each open has its own offset as on
//    Linux;
//  - a directory: a directory that no longer exists (read answers EISDIR,
//    a native openat in it finds nothing: ENOENT), shared by all;
//  - an O_PATH description: an empty memfd open for neither reading nor
//    writing (read and write answer EBADF, as Linux's for O_PATH; an
//    O_PATH file itself cannot be installed);
//  - the memory devices (null, zero, full, random, urandom): the host's
//    own, which behave identically and lead nowhere;
//  - veil do's stdio: the host description itself.
//  - a FIFO: a host FIFO of its own in a private directory of the
//    sentry's (one per FIFO inode, made at its first open), opened with
//    the open's access mode once the VFS's open (which waits for the
//    peer as fifo_open does) is done, so data, end of file, EPIPE and
//    poll are the host kernel's.
// Anything else (a socket node, a regular file without host memory) has
// no twin yet and gets the dead directory, so native reads and writes on
// it fail (EISDIR, EBADF) where Linux's would work: the limit is written
// down in sentry/kernel/README.md; --strict serves them.
// pipe(2) makes host pipes directly (anon_fs.h MakeHostPipe).
//
// The sentry keeps no host fd per open file: once installed, the task's
// table holds the host description; dup-type calls fetch it again from
// the task (Platform::GetTaskFd), close lets the host close it
// (SyscallAnswer::Continue). So the sentry's own fds stay few however many
// files the tasks open (the memfds of tmpfs files aside).
//
// Trust boundary: a twin is never a host path or directory with entries;
// every fd-creating call traps, so a task cannot turn a twin into more.
//
// Thread-safety: TwinOf may be called concurrently (the object is
// immutable after Create).
#pragma once

#include <memory>
#include <string>

#include "base/result.h"
#include "base/unique_fd.h"
#include "vfs/file_description.h"

namespace veil::sentry {

class HostTwins final {
 public:
  // Makes the dead directory (a private directory made and removed at
  // once) and opens the host's memory devices.
  // Opens host paths: call it before the sentry confines itself.
  static Result<std::unique_ptr<HostTwins>> Create();
  ~HostTwins();

  static constexpr size_t kMemoryDevices = 5;

  // The host fd a task gets at its number for `file` (O_CLOEXEC in the
  // sentry; the install sets the task's own flag).
  Result<UniqueFd> TwinOf(vfs::FileDescription& file) const;
  // The directory the sandbox's FIFOs have their host twins in (the
  // sentry's allowlist lets it make and open FIFOs there only).
  int fifo_dir_fd() const { return fifo_dir_.get(); }

 private:
  HostTwins() = default;
  Result<UniqueFd> FifoTwin(vfs::FileDescription& file) const;

  UniqueFd dead_dir_;   // O_RDONLY | O_DIRECTORY
  UniqueFd dead_path_;  // an empty memfd, access mode 3
  UniqueFd fifo_dir_;   // the host FIFOs' directory (0700)
  // To remove it at the end: its parent directory and name (by fd: veil
  // itself may have lost the path, sharing the sentry's mount namespace).
  UniqueFd fifo_parent_;
  std::string fifo_dir_name_;
  pid_t creator_ = -1;  // only the process that made it removes it
  // The host's null, zero, full, random, urandom (O_PATH; invalid if the
  // host has none).
  UniqueFd devices_[kMemoryDevices];
};

}  // namespace veil::sentry
