// SPDX-License-Identifier: Apache-2.0
//
// The gofer's seccomp filter: an allowlist of exactly the system calls the
// file server makes once it is confined (runsc/fsgofer/filter is gVisor's
// counterpart).
//
// Default action: kill the whole process (SECCOMP_RET_KILL_PROCESS). The
// gofer is veil's most privileged process, so a call outside the list
// means a bug or a compromise. Killing fails closed and loudly: the
// sentry sees its connection drop, the parent sees SIGSYS, the kernel
// audits it. Returning EPERM instead would let an exploit probe the
// filter and carry on. Calls from another ABI (x32, i386 on x86_64) are
// killed too.
//
// Allowed, by family (arguments are checked where that narrows anything):
//   files:    openat2, statx, newfstatat, fstat, fstatfs, readlinkat,
//             getdents64, mkdirat, mknodat, symlinkat, linkat, unlinkat,
//             renameat2, fchownat, fchmodat2, fchmod, utimensat, ftruncate,
//             fallocate, fsync, pread64, pwrite64, close,
//             fgetxattr, fsetxattr, flistxattr, fremovexattr,
//             fcntl (F_GETFD, F_SETFD, F_GETFL, F_SETFL, F_DUPFD_CLOEXEC)
//   sockets:  recvmsg, sendmsg, shutdown, socketpair (AF_UNIX only, for
//             Channel requests), getsockopt/setsockopt (SOL_SOCKET only)
//   memory:   mmap, mprotect (neither with PROT_EXEC), munmap, mremap,
//             madvise, brk
//   threads:  clone (only with CLONE_THREAD|CLONE_VM|CLONE_SIGHAND: a new
//             thread, never a new process), futex, set_robust_list, rseq,
//             sched_yield, gettid, getpid, exit, exit_group,
//             rt_sigprocmask, rt_sigreturn, rt_sigaction (glibc's two
//             internal signals only, set up with the first thread), tgkill
//             (own process only, for abort), restart_syscall,
//             sched_getaffinity (pid 0 only: glibc reads the CPU count
//             lazily, e.g. malloc sizing its arenas; gofer.cc fixes the
//             arena count before the filter, so this is a second line)
//   misc:     write, writev (stderr logging), clock_gettime, gettimeofday,
//             nanosleep, clock_nanosleep, getrandom
//   mounts:   listmount, statmount (read the namespace's mount table,
//             mount_points.h; they change nothing)
// Other calls glibc and libstdc++ make lazily, checked: getrandom (malloc's
// tcache and hash seeds), madvise and munmap (free, thread exit), mremap
// (realloc of large blocks), clock_gettime/gettimeofday (the vDSO's
// fallbacks) and futex with any operation (condition variables with
// timeouts) are allowed above; thread stacks are mmap + mprotect without
// PROT_EXEC. Default stack sizes and rlimits are read at start-up, before
// the filter.
// Answered with an errno instead of killing, because glibc calls them on
// paths the gofer cannot avoid and copes with failure:
//   clone3 → ENOSYS (glibc then uses clone, whose flags can be checked);
//   openat, open → EACCES (glibc's own probes, e.g. malloc reading
//   /proc/sys/vm/overcommit_memory; the gofer opens files only with
//   openat2).
// Everything else — ptrace, process_vm_readv/writev, mount, umount2,
// pivot_root, chroot, unshare, setns, execve, socket, connect, bind,
// open_by_handle_at, bpf, keyctl, ... — kills the process.
#pragma once

#include "base/result.h"

namespace veil::gofer {

// Installs the filter on the calling thread (threads created later inherit
// it). Requires no_new_privs or CAP_SYS_ADMIN. Errors carry the failing
// step in their message.
Result<void> InstallSeccompFilter();

}  // namespace veil::gofer
