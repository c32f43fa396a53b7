// SPDX-License-Identifier: Apache-2.0
//
// Files with no name in the sandbox's tree: pipes (pipe(2); Linux's
// pipefs) and the host descriptors `veil do` hands the app as its stdio
// (HostFdFile). Each lives in an inode of one internal filesystem that no
// mount table holds, named by a root dentry of its own (Linux:
// d_alloc_pseudo), so a FileDescription can hold a Location as every
// other file's does.
//
// Trust boundary: a HostFdFile's host fd is the sentry's (UniqueFd,
// O_CLOEXEC); tasks never see its number. Its attributes report the host
// file's type and mode only, with this filesystem's st_dev and its own
// st_ino, so no host inode number leaks.
//
// Thread-safety: MakePipe and MakeHostFdFile may be called concurrently.
#pragma once

#include <memory>

#include "base/ref.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "vfs/credentials.h"
#include "vfs/file_description.h"

namespace veil::sentry {

struct PipeEnds {
  Ref<vfs::FileDescription> read;
  Ref<vfs::FileDescription> write;
};

// pipe2(2) minus the fds: a FIFO inode of pipefs opened for reading and
// writing. `flags`: O_NONBLOCK and O_DIRECT as pipe2's (checked by the
// caller). Errors: those of making the host pipe (EMFILE, ENFILE).
Result<PipeEnds> MakePipe(const vfs::Credentials& creds, int flags);

// pipe2(2) in the default mode (the data plane): a host pipe whose ends
// the task gets at its numbers, and the sentry's descriptions for its fd
// table (a FIFO inode of pipefs; reads and writes run natively, so the
// descriptions serve neither). The caller installs both fds and drops
// them. Errors: pipe2's (EMFILE, ENFILE).
struct HostPipe {
  PipeEnds ends;
  UniqueFd read_fd;
  UniqueFd write_fd;
};
Result<HostPipe> MakeHostPipe(const vfs::Credentials& creds, int flags);
// Whether `file` is an end of a pipe from MakeHostPipe.
bool IsTwinPipe(const vfs::FileDescription& file);

// A description for a host object the task holds at its own number in
// the default mode (an eventfd, epoll instance, timerfd or signalfd the
// sentry made and installs with the answer): the sentry keeps no host fd
// of it, and every call on it runs natively. Its inode is an anonymous
// inode (mode 0600, no file type, as anon_inode_getfile's); `kind` names
// it as /proc does: "eventfd" for anon_inode:[eventfd].
// `mode`: a socket's is S_IFSOCK | 0777 (sock_alloc_inode).
Ref<vfs::FileDescription> MakeTwinAnonFile(const vfs::Credentials& creds,
                                           int flags, const char* kind,
                                           uint32_t mode = 0600);
// The same with the description's own FileImpl (a socket's, which keeps
// what the sentry knows of it: socket_file.h).
Ref<vfs::FileDescription> MakeTwinAnonFile(const vfs::Credentials& creds,
                                           int flags, const char* kind,
                                           uint32_t mode,
                                           std::unique_ptr<vfs::FileImpl> impl);
// The kind MakeTwinAnonFile was given for `file`, or null.
const char* TwinAnonKind(const vfs::FileDescription& file);

// Where a /proc/PID/fd/N magic link to a host object of the data plane
// (a host pipe's end, a socket, an event fd, stdio) lands: an inode whose
// every open reopens `host` (the task's own file, taken with pidfd_getfd)
// through the sentry's procfs, as Linux's open of /proc/PID/fd/N opens
// the same pipe or file anew. `mode` is the file's as fstat reports it.
vfs::Location MakeReopenLocation(UniqueFd host, uint32_t mode,
                                 const vfs::Credentials& owner);

// Whether `file` is a memfd_create(2) file (sys_memfd.cc): an unlinked
// file of the sentry's private tmpfs, its dentry named "memfd:NAME".
bool IsMemfd(const vfs::FileDescription& file);

// A description over `host_fd` (stdin, stdout or stderr of `veil do`),
// open with `flags` (O_RDONLY, O_WRONLY or O_RDWR). Reads and writes go
// to the host fd; a call that would block answers kWouldBlock and names
// the fd to wait on (so Task::Interrupt ends the wait). pread/pwrite/lseek
// as Linux's for the host file's type: ESPIPE unless it is a regular file.
Ref<vfs::FileDescription> MakeHostFdFile(UniqueFd host_fd, int flags);

// The host fd behind a description from MakeHostFdFile, or -1 (for the
// terminal ioctls, which are forwarded for this kind of file only).
int HostFdOf(const vfs::FileDescription& file);

}  // namespace veil::sentry
