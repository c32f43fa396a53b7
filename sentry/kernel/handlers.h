// SPDX-License-Identifier: Apache-2.0
//
// The syscall handlers the table names, grouped as the man pages group
// them: sys_file.cc (names and the fs context), sys_stat.cc (metadata),
// sys_read_write.cc (file data), sys_dir.cc (directories), sys_fd.cc (the
// fd table, fcntl, ioctl, pipes). Each decodes its arguments, copies task
// memory in once, and calls shared helpers (kernel/file_ops.h); none
// answers the task itself: only Dispatch turns the Result into an answer.
#pragma once

#include <cstdint>

#include "base/result.h"
#include "sentry/kernel/syscall_table.h"

namespace veil::sentry {

Result<int64_t> SysAccess(Task& task, SyscallArgs& args);
Result<int64_t> SysChdir(Task& task, SyscallArgs& args);
Result<int64_t> SysChmod(Task& task, SyscallArgs& args);
Result<int64_t> SysChown(Task& task, SyscallArgs& args);
Result<int64_t> SysChroot(Task& task, SyscallArgs& args);
Result<int64_t> SysClose(Task& task, SyscallArgs& args);
Result<int64_t> SysCloseRange(Task& task, SyscallArgs& args);
Result<int64_t> SysCreat(Task& task, SyscallArgs& args);
Result<int64_t> SysDup(Task& task, SyscallArgs& args);
Result<int64_t> SysDup2(Task& task, SyscallArgs& args);
Result<int64_t> SysDup3(Task& task, SyscallArgs& args);
Result<int64_t> SysFaccessat(Task& task, SyscallArgs& args);
Result<int64_t> SysFaccessat2(Task& task, SyscallArgs& args);
Result<int64_t> SysFallocate(Task& task, SyscallArgs& args);
Result<int64_t> SysFchdir(Task& task, SyscallArgs& args);
Result<int64_t> SysFchmod(Task& task, SyscallArgs& args);
Result<int64_t> SysFchmodat(Task& task, SyscallArgs& args);
Result<int64_t> SysFchmodat2(Task& task, SyscallArgs& args);
Result<int64_t> SysFchown(Task& task, SyscallArgs& args);
Result<int64_t> SysFchownat(Task& task, SyscallArgs& args);
Result<int64_t> SysFcntl(Task& task, SyscallArgs& args);
Result<int64_t> SysFdatasync(Task& task, SyscallArgs& args);
Result<int64_t> SysFlock(Task& task, SyscallArgs& args);
Result<int64_t> SysFstat(Task& task, SyscallArgs& args);
Result<int64_t> SysFstatfs(Task& task, SyscallArgs& args);
Result<int64_t> SysFsync(Task& task, SyscallArgs& args);
Result<int64_t> SysFtruncate(Task& task, SyscallArgs& args);
Result<int64_t> SysGetcwd(Task& task, SyscallArgs& args);
Result<int64_t> SysGetdents64(Task& task, SyscallArgs& args);
Result<int64_t> SysIoctl(Task& task, SyscallArgs& args);
Result<int64_t> SysLchown(Task& task, SyscallArgs& args);
Result<int64_t> SysLink(Task& task, SyscallArgs& args);
Result<int64_t> SysLinkat(Task& task, SyscallArgs& args);
Result<int64_t> SysLseek(Task& task, SyscallArgs& args);
Result<int64_t> SysLstat(Task& task, SyscallArgs& args);
Result<int64_t> SysMkdir(Task& task, SyscallArgs& args);
Result<int64_t> SysMkdirat(Task& task, SyscallArgs& args);
Result<int64_t> SysMknod(Task& task, SyscallArgs& args);
Result<int64_t> SysMknodat(Task& task, SyscallArgs& args);
Result<int64_t> SysNewfstatat(Task& task, SyscallArgs& args);
Result<int64_t> SysOpen(Task& task, SyscallArgs& args);
Result<int64_t> SysOpenat(Task& task, SyscallArgs& args);
Result<int64_t> SysOpenat2(Task& task, SyscallArgs& args);
Result<int64_t> SysPipe(Task& task, SyscallArgs& args);
Result<int64_t> SysPipe2(Task& task, SyscallArgs& args);
Result<int64_t> SysPread64(Task& task, SyscallArgs& args);
Result<int64_t> SysPreadv(Task& task, SyscallArgs& args);
Result<int64_t> SysPreadv2(Task& task, SyscallArgs& args);
Result<int64_t> SysPwrite64(Task& task, SyscallArgs& args);
Result<int64_t> SysPwritev(Task& task, SyscallArgs& args);
Result<int64_t> SysPwritev2(Task& task, SyscallArgs& args);
Result<int64_t> SysRead(Task& task, SyscallArgs& args);
Result<int64_t> SysReadlink(Task& task, SyscallArgs& args);
Result<int64_t> SysReadlinkat(Task& task, SyscallArgs& args);
Result<int64_t> SysReadv(Task& task, SyscallArgs& args);
Result<int64_t> SysRename(Task& task, SyscallArgs& args);
Result<int64_t> SysRenameat(Task& task, SyscallArgs& args);
Result<int64_t> SysRenameat2(Task& task, SyscallArgs& args);
Result<int64_t> SysRmdir(Task& task, SyscallArgs& args);
Result<int64_t> SysStat(Task& task, SyscallArgs& args);
Result<int64_t> SysStatfs(Task& task, SyscallArgs& args);
Result<int64_t> SysStatx(Task& task, SyscallArgs& args);
Result<int64_t> SysSymlink(Task& task, SyscallArgs& args);
Result<int64_t> SysSymlinkat(Task& task, SyscallArgs& args);
Result<int64_t> SysSync(Task& task, SyscallArgs& args);
Result<int64_t> SysSyncfs(Task& task, SyscallArgs& args);
Result<int64_t> SysTruncate(Task& task, SyscallArgs& args);
Result<int64_t> SysUmask(Task& task, SyscallArgs& args);
Result<int64_t> SysUnlink(Task& task, SyscallArgs& args);
Result<int64_t> SysUnlinkat(Task& task, SyscallArgs& args);
Result<int64_t> SysUtimensat(Task& task, SyscallArgs& args);
Result<int64_t> SysWrite(Task& task, SyscallArgs& args);
Result<int64_t> SysWritev(Task& task, SyscallArgs& args);

// sys_xattr.cc; utime family in sys_stat.cc.
Result<int64_t> SysSetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysLsetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysFsetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysGetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysLgetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysFgetxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysListxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysLlistxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysFlistxattr(Task& task, SyscallArgs& args);
Result<int64_t> SysRemovexattr(Task& task, SyscallArgs& args);
Result<int64_t> SysLremovexattr(Task& task, SyscallArgs& args);
Result<int64_t> SysFremovexattr(Task& task, SyscallArgs& args);
Result<int64_t> SysUtime(Task& task, SyscallArgs& args);
Result<int64_t> SysUtimes(Task& task, SyscallArgs& args);
Result<int64_t> SysFutimesat(Task& task, SyscallArgs& args);

// sys_poll.cc.
Result<int64_t> SysPoll(Task& task, SyscallArgs& args);
Result<int64_t> SysPpoll(Task& task, SyscallArgs& args);
Result<int64_t> SysSelect(Task& task, SyscallArgs& args);
Result<int64_t> SysPselect6(Task& task, SyscallArgs& args);

// sys_read_write.cc: a file mapping (the data plane's; anonymous ones
// never reach the sentry).
Result<int64_t> SysMmap(Task& task, SyscallArgs& args);

// sys_dir.cc: the old getdents.
Result<int64_t> SysGetdents(Task& task, SyscallArgs& args);

// sys_cred.cc
Result<int64_t> SysGetuid(Task& task, SyscallArgs& args);
Result<int64_t> SysGeteuid(Task& task, SyscallArgs& args);
Result<int64_t> SysGetgid(Task& task, SyscallArgs& args);
Result<int64_t> SysGetegid(Task& task, SyscallArgs& args);
Result<int64_t> SysGetresuid(Task& task, SyscallArgs& args);
Result<int64_t> SysGetresgid(Task& task, SyscallArgs& args);
Result<int64_t> SysGetgroups(Task& task, SyscallArgs& args);
Result<int64_t> SysSetgroups(Task& task, SyscallArgs& args);
Result<int64_t> SysSetuid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetgid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetreuid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetregid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetresuid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetresgid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetfsuid(Task& task, SyscallArgs& args);
Result<int64_t> SysSetfsgid(Task& task, SyscallArgs& args);
Result<int64_t> SysCapget(Task& task, SyscallArgs& args);
Result<int64_t> SysCapset(Task& task, SyscallArgs& args);
Result<int64_t> SysPrctl(Task& task, SyscallArgs& args);

// sys_event.cc
Result<int64_t> SysEventfd(Task& task, SyscallArgs& args);
Result<int64_t> SysEventfd2(Task& task, SyscallArgs& args);
Result<int64_t> SysEpollCreate(Task& task, SyscallArgs& args);
Result<int64_t> SysEpollCreate1(Task& task, SyscallArgs& args);
Result<int64_t> SysTimerfdCreate(Task& task, SyscallArgs& args);
Result<int64_t> SysSignalfd(Task& task, SyscallArgs& args);
Result<int64_t> SysSignalfd4(Task& task, SyscallArgs& args);
// sys_socket.cc
Result<int64_t> SysSocket(Task& task, SyscallArgs& args);
Result<int64_t> SysSocketpair(Task& task, SyscallArgs& args);
Result<int64_t> SysBind(Task& task, SyscallArgs& args);
Result<int64_t> SysConnect(Task& task, SyscallArgs& args);
Result<int64_t> SysAccept(Task& task, SyscallArgs& args);
Result<int64_t> SysAccept4(Task& task, SyscallArgs& args);
Result<int64_t> SysGetsockname(Task& task, SyscallArgs& args);
Result<int64_t> SysGetpeername(Task& task, SyscallArgs& args);
Result<int64_t> SysSendto(Task& task, SyscallArgs& args);
Result<int64_t> SysSetsockopt(Task& task, SyscallArgs& args);
// sys_memfd.cc
Result<int64_t> SysMemfdCreate(Task& task, SyscallArgs& args);

}  // namespace veil::sentry
