// SPDX-License-Identifier: Apache-2.0
//
// The table itself (see syscall_table.h). One line per number; the
// reasons are shared by kind so each line stays one line.
#include "sentry/kernel/syscall_table.h"

#include <cerrno>

#include "sentry/kernel/handlers.h"

namespace veil::sentry {
namespace {

// --- Reasons ---------------------------------------------------------------
// clang-format off
constexpr const char* kFile = "file syscall: served from the VFS";
constexpr const char* kData = "data plane: native on the installed fd, VFS under --strict";
constexpr const char* kMem = "anonymous memory: the host kernel's";
constexpr const char* kFutex = "futex: the host kernel's, task-local";
constexpr const char* kTime = "time and timers: the host kernel's";
constexpr const char* kSignal = "signals: the host kernel's, in the sandbox pid ns";
constexpr const char* kTls = "thread-local state: the task's own";
constexpr const char* kIds = "ids: native in the sandbox's pid namespace";
constexpr const char* kExit = "exit: the host kernel's";
constexpr const char* kSched = "scheduling: native, confined to the task";
constexpr const char* kMisc = "per-task state the host kernel keeps";
constexpr const char* kOther = "reaches into another process";
constexpr const char* kMount = "mounts are the sentry's VFS; no host mounts";
constexpr const char* kHostView = "exposes host kernel objects outside the VFS";
constexpr const char* kIoUring = "io_uring: I/O the sentry could not see";
constexpr const char* kKeys = "kernel keyrings are host state";
constexpr const char* kNs = "namespaces are fixed by the sentry";
constexpr const char* kPriv = "needs host privileges a sandbox never has";
constexpr const char* kGone = "not implemented by Linux on x86-64";
constexpr const char* kHostLsm = "host security modules are not the sandbox's";
constexpr const char* kSeccomp = "nested seccomp filters: not offered yet";
constexpr const char* kTodoTask = "tasks: not served yet (#12 item 3)";
constexpr const char* kTodoExec = "exec: the loader's (#12 item 6)";
constexpr const char* kTodoData = "data plane: native; not served under --strict yet";
constexpr const char* kTodo = "not served yet";
constexpr const char* kEvent = "event fds: a host object installed in the default mode; ENOSYS under --strict";
constexpr const char* kSocketPair = "sockets: host sockets of the sandbox's network namespace, installed in the default mode; unix paths are the VFS's; no fd passing (SO_PASSRIGHTS off); ENOSYS under --strict";
constexpr const char* kSocketData = "sockets: native on the task's socket ends (sendto naming a unix path: the sentry's); ENOSYS under --strict";
constexpr const char* kSysvIpc = "SysV IPC: the sandbox's own IPC namespace";
constexpr const char* kCreds = "credentials: the sentry's (a task's host ids never change)";
// clang-format on

// --- Entry makers ------------------------------------------------------------
constexpr SyscallEntry H(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kNo, kFile};
}
constexpr SyscallEntry HC(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kNo, kCreds};
}
constexpr SyscallEntry HE(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kNo, kEvent};
}
constexpr SyscallEntry HS(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kNo, kSocketPair};
}
constexpr SyscallEntry UDS(int nr, const char* name) {
  return {nr, name, SyscallKind::kHandler, nullptr, ENOSYS, DataPlane::kYes,
          kSocketData};
}
constexpr SyscallEntry HDS(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kYes,
          kSocketData};
}
constexpr SyscallEntry HD(int nr, const char* name, SyscallHandler h) {
  return {nr, name, SyscallKind::kHandler, h, 0, DataPlane::kYes, kData};
}
constexpr SyscallEntry N(int nr, const char* name, const char* why) {
  return {nr, name, SyscallKind::kNative, nullptr, 0, DataPlane::kNo, why};
}
constexpr SyscallEntry D(int nr, const char* name, int error, const char* why) {
  return {nr, name, SyscallKind::kDenied, nullptr, error, DataPlane::kNo, why};
}
constexpr SyscallEntry U(int nr, const char* name, const char* why) {
  return {nr, name, SyscallKind::kHandler, nullptr, ENOSYS, DataPlane::kNo,
          why};
}
constexpr SyscallEntry UD(int nr, const char* name, const char* why) {
  return {nr, name, SyscallKind::kHandler, nullptr, ENOSYS, DataPlane::kYes,
          why};
}

// clang-format off
constexpr SyscallEntry kTable[] = {
    HD(0, "read", SysRead),
    HD(1, "write", SysWrite),
    H(2, "open", SysOpen),
    H(3, "close", SysClose),
    H(4, "stat", SysStat),
    H(5, "fstat", SysFstat),
    H(6, "lstat", SysLstat),
    HD(7, "poll", SysPoll),
    H(8, "lseek", SysLseek),
    // Anonymous mappings run natively; file mappings (no MAP_ANONYMOUS)
    // are notified by an argument guard in the default mode (sandbox.cc).
    {9, "mmap", SyscallKind::kHandler, SysMmap, 0, DataPlane::kNo,
     "anonymous: native; a file's: noted by the sentry, mapped by the host"},
    N(10, "mprotect", kMem),
    N(11, "munmap", kMem),
    N(12, "brk", kMem),
    N(13, "rt_sigaction", kSignal),
    N(14, "rt_sigprocmask", kSignal),
    N(15, "rt_sigreturn", kSignal),
    H(16, "ioctl", SysIoctl),
    HD(17, "pread64", SysPread64),
    HD(18, "pwrite64", SysPwrite64),
    HD(19, "readv", SysReadv),
    HD(20, "writev", SysWritev),
    H(21, "access", SysAccess),
    H(22, "pipe", SysPipe),
    HD(23, "select", SysSelect),
    N(24, "sched_yield", kSched),
    N(25, "mremap", kMem),
    N(26, "msync", kMem),
    N(27, "mincore", kMem),
    N(28, "madvise", kMem),
    N(29, "shmget", kSysvIpc),
    N(30, "shmat", kSysvIpc),
    N(31, "shmctl", kSysvIpc),
    H(32, "dup", SysDup),
    H(33, "dup2", SysDup2),
    N(34, "pause", kSignal),
    N(35, "nanosleep", kTime),
    N(36, "getitimer", kTime),
    N(37, "alarm", kTime),
    N(38, "setitimer", kTime),
    N(39, "getpid", kIds),
    UD(40, "sendfile", kTodoData),
    HS(41, "socket", SysSocket),
    HS(42, "connect", SysConnect),
    HS(43, "accept", SysAccept),
    HDS(44, "sendto", SysSendto),
    UDS(45, "recvfrom"),
    UDS(46, "sendmsg"),
    UDS(47, "recvmsg"),
    UDS(48, "shutdown"),
    HS(49, "bind", SysBind),
    UDS(50, "listen"),
    HS(51, "getsockname", SysGetsockname),
    HS(52, "getpeername", SysGetpeername),
    HS(53, "socketpair", SysSocketpair),
    HS(54, "setsockopt", SysSetsockopt),
    UDS(55, "getsockopt"),
    U(56, "clone", kTodoTask),
    U(57, "fork", kTodoTask),
    U(58, "vfork", kTodoTask),
    U(59, "execve", kTodoExec),
    N(60, "exit", kExit),
    U(61, "wait4", kTodoTask),
    N(62, "kill", kSignal),
    N(63, "uname", kMisc),
    N(64, "semget", kSysvIpc),
    N(65, "semop", kSysvIpc),
    N(66, "semctl", kSysvIpc),
    N(67, "shmdt", kSysvIpc),
    N(68, "msgget", kSysvIpc),
    N(69, "msgsnd", kSysvIpc),
    N(70, "msgrcv", kSysvIpc),
    N(71, "msgctl", kSysvIpc),
    H(72, "fcntl", SysFcntl),
    H(73, "flock", SysFlock),
    HD(74, "fsync", SysFsync),
    HD(75, "fdatasync", SysFdatasync),
    H(76, "truncate", SysTruncate),
    H(77, "ftruncate", SysFtruncate),
    H(78, "getdents", SysGetdents),
    H(79, "getcwd", SysGetcwd),
    H(80, "chdir", SysChdir),
    H(81, "fchdir", SysFchdir),
    H(82, "rename", SysRename),
    H(83, "mkdir", SysMkdir),
    H(84, "rmdir", SysRmdir),
    H(85, "creat", SysCreat),
    H(86, "link", SysLink),
    H(87, "unlink", SysUnlink),
    H(88, "symlink", SysSymlink),
    H(89, "readlink", SysReadlink),
    H(90, "chmod", SysChmod),
    H(91, "fchmod", SysFchmod),
    H(92, "chown", SysChown),
    H(93, "fchown", SysFchown),
    H(94, "lchown", SysLchown),
    H(95, "umask", SysUmask),
    N(96, "gettimeofday", kTime),
    N(97, "getrlimit", kMisc),
    N(98, "getrusage", kMisc),
    N(99, "sysinfo", kMisc),
    N(100, "times", kTime),
    D(101, "ptrace", EPERM, kOther),
    HC(102, "getuid", SysGetuid),
    D(103, "syslog", EPERM, kPriv),
    HC(104, "getgid", SysGetgid),
    HC(105, "setuid", SysSetuid),
    HC(106, "setgid", SysSetgid),
    HC(107, "geteuid", SysGeteuid),
    HC(108, "getegid", SysGetegid),
    U(109, "setpgid", kTodoTask),
    N(110, "getppid", kIds),
    N(111, "getpgrp", kIds),
    U(112, "setsid", kTodoTask),
    HC(113, "setreuid", SysSetreuid),
    HC(114, "setregid", SysSetregid),
    HC(115, "getgroups", SysGetgroups),
    HC(116, "setgroups", SysSetgroups),
    HC(117, "setresuid", SysSetresuid),
    HC(118, "getresuid", SysGetresuid),
    HC(119, "setresgid", SysSetresgid),
    HC(120, "getresgid", SysGetresgid),
    N(121, "getpgid", kIds),
    HC(122, "setfsuid", SysSetfsuid),
    HC(123, "setfsgid", SysSetfsgid),
    N(124, "getsid", kIds),
    HC(125, "capget", SysCapget),
    HC(126, "capset", SysCapset),
    N(127, "rt_sigpending", kSignal),
    N(128, "rt_sigtimedwait", kSignal),
    N(129, "rt_sigqueueinfo", kSignal),
    N(130, "rt_sigsuspend", kSignal),
    N(131, "sigaltstack", kSignal),
    H(132, "utime", SysUtime),
    H(133, "mknod", SysMknod),
    D(134, "uselib", ENOSYS, kGone),
    N(135, "personality", kMisc),
    D(136, "ustat", ENOSYS, kGone),
    H(137, "statfs", SysStatfs),
    H(138, "fstatfs", SysFstatfs),
    D(139, "sysfs", ENOSYS, kGone),
    N(140, "getpriority", kSched),
    N(141, "setpriority", kSched),
    N(142, "sched_setparam", kSched),
    N(143, "sched_getparam", kSched),
    N(144, "sched_setscheduler", kSched),
    N(145, "sched_getscheduler", kSched),
    N(146, "sched_get_priority_max", kSched),
    N(147, "sched_get_priority_min", kSched),
    N(148, "sched_rr_get_interval", kSched),
    N(149, "mlock", kMem),
    N(150, "munlock", kMem),
    N(151, "mlockall", kMem),
    N(152, "munlockall", kMem),
    D(153, "vhangup", EPERM, kPriv),
    N(154, "modify_ldt", kTls),
    D(155, "pivot_root", EPERM, kMount),
    D(156, "_sysctl", EPERM, kPriv),
    HC(157, "prctl", SysPrctl),
    N(158, "arch_prctl", kTls),
    D(159, "adjtimex", EPERM, kPriv),
    N(160, "setrlimit", kMisc),
    H(161, "chroot", SysChroot),
    H(162, "sync", SysSync),
    D(163, "acct", EPERM, kPriv),
    D(164, "settimeofday", EPERM, kPriv),
    D(165, "mount", EPERM, kMount),
    D(166, "umount2", EPERM, kMount),
    D(167, "swapon", EPERM, kPriv),
    D(168, "swapoff", EPERM, kPriv),
    D(169, "reboot", EPERM, kPriv),
    D(170, "sethostname", EPERM, kPriv),
    D(171, "setdomainname", EPERM, kPriv),
    D(172, "iopl", EPERM, kPriv),
    D(173, "ioperm", EPERM, kPriv),
    D(174, "create_module", ENOSYS, kGone),
    D(175, "init_module", EPERM, kPriv),
    D(176, "delete_module", EPERM, kPriv),
    D(177, "get_kernel_syms", ENOSYS, kGone),
    D(178, "query_module", ENOSYS, kGone),
    D(179, "quotactl", EPERM, kPriv),
    D(180, "nfsservctl", ENOSYS, kGone),
    D(181, "getpmsg", ENOSYS, kGone),
    D(182, "putpmsg", ENOSYS, kGone),
    D(183, "afs_syscall", ENOSYS, kGone),
    D(184, "tuxcall", ENOSYS, kGone),
    D(185, "security", ENOSYS, kGone),
    N(186, "gettid", kIds),
    UD(187, "readahead", kTodoData),
    H(188, "setxattr", SysSetxattr),
    H(189, "lsetxattr", SysLsetxattr),
    H(190, "fsetxattr", SysFsetxattr),
    H(191, "getxattr", SysGetxattr),
    H(192, "lgetxattr", SysLgetxattr),
    H(193, "fgetxattr", SysFgetxattr),
    H(194, "listxattr", SysListxattr),
    H(195, "llistxattr", SysLlistxattr),
    H(196, "flistxattr", SysFlistxattr),
    H(197, "removexattr", SysRemovexattr),
    H(198, "lremovexattr", SysLremovexattr),
    H(199, "fremovexattr", SysFremovexattr),
    N(200, "tkill", kSignal),
    N(201, "time", kTime),
    N(202, "futex", kFutex),
    N(203, "sched_setaffinity", kSched),
    N(204, "sched_getaffinity", kSched),
    N(205, "set_thread_area", kTls),
    U(206, "io_setup", kTodo),
    U(207, "io_destroy", kTodo),
    U(208, "io_getevents", kTodo),
    U(209, "io_submit", kTodo),
    U(210, "io_cancel", kTodo),
    N(211, "get_thread_area", kTls),
    D(212, "lookup_dcookie", EPERM, kHostView),
    HE(213, "epoll_create", SysEpollCreate),
    D(214, "epoll_ctl_old", ENOSYS, kGone),
    D(215, "epoll_wait_old", ENOSYS, kGone),
    N(216, "remap_file_pages", kMem),
    H(217, "getdents64", SysGetdents64),
    N(218, "set_tid_address", kTls),
    N(219, "restart_syscall", kSignal),
    N(220, "semtimedop", kSysvIpc),
    UD(221, "fadvise64", kTodoData),
    N(222, "timer_create", kTime),
    N(223, "timer_settime", kTime),
    N(224, "timer_gettime", kTime),
    N(225, "timer_getoverrun", kTime),
    N(226, "timer_delete", kTime),
    D(227, "clock_settime", EPERM, kPriv),
    N(228, "clock_gettime", kTime),
    N(229, "clock_getres", kTime),
    N(230, "clock_nanosleep", kTime),
    N(231, "exit_group", kExit),
    UD(232, "epoll_wait", kTodoData),
    UD(233, "epoll_ctl", kTodoData),
    N(234, "tgkill", kSignal),
    H(235, "utimes", SysUtimes),
    D(236, "vserver", ENOSYS, kGone),
    N(237, "mbind", kMem),
    N(238, "set_mempolicy", kMem),
    N(239, "get_mempolicy", kMem),
    U(240, "mq_open", kTodo),
    U(241, "mq_unlink", kTodo),
    U(242, "mq_timedsend", kTodo),
    U(243, "mq_timedreceive", kTodo),
    U(244, "mq_notify", kTodo),
    U(245, "mq_getsetattr", kTodo),
    D(246, "kexec_load", EPERM, kPriv),
    U(247, "waitid", kTodoTask),
    D(248, "add_key", ENOSYS, kKeys),
    D(249, "request_key", ENOSYS, kKeys),
    D(250, "keyctl", ENOSYS, kKeys),
    N(251, "ioprio_set", kSched),
    N(252, "ioprio_get", kSched),
    U(253, "inotify_init", kTodo),
    U(254, "inotify_add_watch", kTodo),
    U(255, "inotify_rm_watch", kTodo),
    D(256, "migrate_pages", EPERM, kOther),
    H(257, "openat", SysOpenat),
    H(258, "mkdirat", SysMkdirat),
    H(259, "mknodat", SysMknodat),
    H(260, "fchownat", SysFchownat),
    H(261, "futimesat", SysFutimesat),
    H(262, "newfstatat", SysNewfstatat),
    H(263, "unlinkat", SysUnlinkat),
    H(264, "renameat", SysRenameat),
    H(265, "linkat", SysLinkat),
    H(266, "symlinkat", SysSymlinkat),
    H(267, "readlinkat", SysReadlinkat),
    H(268, "fchmodat", SysFchmodat),
    H(269, "faccessat", SysFaccessat),
    HD(270, "pselect6", SysPselect6),
    HD(271, "ppoll", SysPpoll),
    D(272, "unshare", EPERM, kNs),
    N(273, "set_robust_list", kFutex),
    N(274, "get_robust_list", kFutex),
    UD(275, "splice", kTodoData),
    UD(276, "tee", kTodoData),
    UD(277, "sync_file_range", kTodoData),
    UD(278, "vmsplice", kTodoData),
    D(279, "move_pages", EPERM, kOther),
    H(280, "utimensat", SysUtimensat),
    UD(281, "epoll_pwait", kTodoData),
    HE(282, "signalfd", SysSignalfd),
    HE(283, "timerfd_create", SysTimerfdCreate),
    HE(284, "eventfd", SysEventfd),
    H(285, "fallocate", SysFallocate),
    UD(286, "timerfd_settime", kTodoData),
    UD(287, "timerfd_gettime", kTodoData),
    HS(288, "accept4", SysAccept4),
    HE(289, "signalfd4", SysSignalfd4),
    HE(290, "eventfd2", SysEventfd2),
    HE(291, "epoll_create1", SysEpollCreate1),
    H(292, "dup3", SysDup3),
    H(293, "pipe2", SysPipe2),
    U(294, "inotify_init1", kTodo),
    HD(295, "preadv", SysPreadv),
    HD(296, "pwritev", SysPwritev),
    N(297, "rt_tgsigqueueinfo", kSignal),
    D(298, "perf_event_open", EPERM, kHostView),
    UDS(299, "recvmmsg"),
    D(300, "fanotify_init", EPERM, kHostView),
    D(301, "fanotify_mark", EPERM, kHostView),
    N(302, "prlimit64", kMisc),
    D(303, "name_to_handle_at", EPERM, kHostView),
    D(304, "open_by_handle_at", EPERM, kHostView),
    D(305, "clock_adjtime", EPERM, kPriv),
    H(306, "syncfs", SysSyncfs),
    UDS(307, "sendmmsg"),
    D(308, "setns", EPERM, kNs),
    N(309, "getcpu", kSched),
    D(310, "process_vm_readv", EPERM, kOther),
    D(311, "process_vm_writev", EPERM, kOther),
    D(312, "kcmp", EPERM, kOther),
    D(313, "finit_module", EPERM, kPriv),
    N(314, "sched_setattr", kSched),
    N(315, "sched_getattr", kSched),
    H(316, "renameat2", SysRenameat2),
    D(317, "seccomp", EPERM, kSeccomp),
    N(318, "getrandom", kMisc),
    H(319, "memfd_create", SysMemfdCreate),
    D(320, "kexec_file_load", EPERM, kPriv),
    D(321, "bpf", EPERM, kHostView),
    U(322, "execveat", kTodoExec),
    D(323, "userfaultfd", EPERM, kHostView),
    N(324, "membarrier", kMem),
    N(325, "mlock2", kMem),
    UD(326, "copy_file_range", kTodoData),
    HD(327, "preadv2", SysPreadv2),
    HD(328, "pwritev2", SysPwritev2),
    N(329, "pkey_mprotect", kMem),
    N(330, "pkey_alloc", kMem),
    N(331, "pkey_free", kMem),
    H(332, "statx", SysStatx),
    U(333, "io_pgetevents", kTodo),
    N(334, "rseq", kTls),
    U(424, "pidfd_send_signal", kTodo),
    D(425, "io_uring_setup", ENOSYS, kIoUring),
    D(426, "io_uring_enter", ENOSYS, kIoUring),
    D(427, "io_uring_register", ENOSYS, kIoUring),
    D(428, "open_tree", EPERM, kMount),
    D(429, "move_mount", EPERM, kMount),
    D(430, "fsopen", EPERM, kMount),
    D(431, "fsconfig", EPERM, kMount),
    D(432, "fsmount", EPERM, kMount),
    D(433, "fspick", EPERM, kMount),
    U(434, "pidfd_open", kTodo),
    U(435, "clone3", kTodoTask),
    H(436, "close_range", SysCloseRange),
    H(437, "openat2", SysOpenat2),
    D(438, "pidfd_getfd", EPERM, kOther),
    H(439, "faccessat2", SysFaccessat2),
    D(440, "process_madvise", EPERM, kOther),
    UD(441, "epoll_pwait2", kTodoData),
    D(442, "mount_setattr", EPERM, kMount),
    D(443, "quotactl_fd", EPERM, kPriv),
    D(444, "landlock_create_ruleset", ENOSYS, kHostLsm),
    D(445, "landlock_add_rule", ENOSYS, kHostLsm),
    D(446, "landlock_restrict_self", ENOSYS, kHostLsm),
    D(447, "memfd_secret", ENOSYS, kHostLsm),
    D(448, "process_mrelease", EPERM, kOther),
    N(449, "futex_waitv", kFutex),
    N(450, "set_mempolicy_home_node", kMem),
    U(451, "cachestat", kTodo),
    H(452, "fchmodat2", SysFchmodat2),
    N(453, "map_shadow_stack", kMem),
    N(454, "futex_wake", kFutex),
    N(455, "futex_wait", kFutex),
    N(456, "futex_requeue", kFutex),
    D(457, "statmount", EPERM, kMount),
    D(458, "listmount", EPERM, kMount),
    D(459, "lsm_get_self_attr", ENOSYS, kHostLsm),
    D(460, "lsm_set_self_attr", ENOSYS, kHostLsm),
    D(461, "lsm_list_modules", ENOSYS, kHostLsm),
    N(462, "mseal", kMem),
    U(463, "setxattrat", kTodo),
    U(464, "getxattrat", kTodo),
    U(465, "listxattrat", kTodo),
    U(466, "removexattrat", kTodo),
    D(467, "open_tree_attr", EPERM, kMount),
    U(468, "file_getattr", kTodo),
    U(469, "file_setattr", kTodo),
};
// clang-format on

constexpr bool SortedAndComplete() {
  int expect = 0;
  for (const SyscallEntry& e : kTable) {
    if (expect == kGapFirst) expect = kGapEnd;
    if (e.nr != expect) return false;
    ++expect;
  }
  return expect == kMaxSyscall + 1;
}
static_assert(std::size(kTable) == kSyscallCount,
              "one entry per assigned x86-64 syscall number");
static_assert(SortedAndComplete(),
              "entries sorted by number, none missing, none twice");

constexpr bool EntriesConsistent() {
  for (const SyscallEntry& e : kTable) {
    if (e.name == nullptr || e.name[0] == '\0' || e.reason == nullptr)
      return false;
    if (e.kind == SyscallKind::kDenied && e.error == 0) return false;
    if (e.kind == SyscallKind::kNative && e.handler != nullptr) return false;
    if (e.kind == SyscallKind::kHandler && e.handler == nullptr && e.error == 0)
      return false;
    if (e.kind != SyscallKind::kHandler && e.data_plane == DataPlane::kYes)
      return false;
  }
  return true;
}
static_assert(EntriesConsistent(),
              "denied and unserved entries carry an errno; native ones no "
              "handler; only trapped entries are data plane");

}  // namespace

std::span<const SyscallEntry> SyscallTable() { return kTable; }

}  // namespace veil::sentry
