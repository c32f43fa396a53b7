// SPDX-License-Identifier: Apache-2.0
//
// Credentials: the get and set id calls, getgroups/setgroups, capget and
// capset, answered from the task's TaskCreds (creds.h). A task's host ids
// never change, so even the get calls are the sentry's.
#include <linux/capability.h>
#include <linux/securebits.h>
#include <sys/prctl.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>

#include <vector>

#include "base/proc_dir.h"
#include "base/unique_fd.h"
#include "sentry/kernel/creds.h"
#include "sentry/kernel/handlers.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"

namespace veil::sentry {
namespace {

// Applies `change` to a copy of the task's credentials and keeps the
// result only if it succeeds (commit_creds).
template <typename F>
Result<int64_t> Change(Task& task, SyscallArgs& args, F&& change) {
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  TaskCreds creds = task.task_creds();
  VEIL_TRY_VOID(change(creds));
  task.set_task_creds(std::move(creds));
  return 0;
}

Result<int64_t> PutIds(SyscallArgs& args, uint32_t a, uint32_t b,
                       uint32_t c) {
  // getresuid: put_user of each, in order; a fault stops there.
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(0), a));
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(1), b));
  VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(2), c));
  return 0;
}

// The caller's pid as it knows it (its pid namespace's: getpid runs
// natively), from the sentry's own procfs; 0 if that cannot be read.
pid_t OwnPid(Task& task) {
  UniqueFd fd = OpenProcStatus(task.tgid());
  if (!fd) return 0;
  char buf[2048];
  ssize_t n = ::read(fd.get(), buf, sizeof buf - 1);
  if (n <= 0) return 0;
  buf[n] = '\0';
  const char* line = std::strstr(buf, "\nNStgid:");
  if (line == nullptr) return 0;
  const char* end = std::strchr(line + 1, '\n');
  pid_t last = 0;
  for (const char* p = line + 8; p != nullptr && p < end;) {
    char* next = nullptr;
    const long v = std::strtol(p, &next, 10);
    if (next == p) break;
    last = static_cast<pid_t>(v);
    p = next;
  }
  return last;
}

bool IsSelf(Task& task, int pid) { return pid == 0 || pid == OwnPid(task); }

}  // namespace

Result<int64_t> SysGetuid(Task& task, SyscallArgs&) {
  return task.task_creds().uid;
}
Result<int64_t> SysGeteuid(Task& task, SyscallArgs&) {
  return task.task_creds().euid;
}
Result<int64_t> SysGetgid(Task& task, SyscallArgs&) {
  return task.task_creds().gid;
}
Result<int64_t> SysGetegid(Task& task, SyscallArgs&) {
  return task.task_creds().egid;
}
Result<int64_t> SysGetresuid(Task& task, SyscallArgs& args) {
  const TaskCreds& c = task.task_creds();
  return PutIds(args, c.uid, c.euid, c.suid);
}
Result<int64_t> SysGetresgid(Task& task, SyscallArgs& args) {
  const TaskCreds& c = task.task_creds();
  return PutIds(args, c.gid, c.egid, c.sgid);
}

Result<int64_t> SysGetgroups(Task& task, SyscallArgs& args) {
  const std::vector<gid_t>& groups = task.task_creds().groups;
  const int size = args.Int(0);
  if (size < 0) return Errno(EINVAL);
  if (size == 0) return static_cast<int64_t>(groups.size());
  if (static_cast<size_t>(size) < groups.size()) return Errno(EINVAL);
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(1),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(groups.data()),
                               groups.size() * sizeof(gid_t))));
  return static_cast<int64_t>(groups.size());
}

Result<int64_t> SysSetgroups(Task& task, SyscallArgs& args) {
  const int size = args.Int(0);
  // setgroups: gidsetsize > NGROUPS_MAX (or negative) is EINVAL, before
  // the permission check.
  if (size < 0 || static_cast<size_t>(size) > kNgroupsMax) return Errno(EINVAL);
  if (!task.task_creds().Capable(kCapSetgid)) return Errno(EPERM);
  std::vector<gid_t> groups(static_cast<size_t>(size));
  VEIL_TRY_VOID(args.mem.Read(
      args.Addr(1),
      std::span<uint8_t>(reinterpret_cast<uint8_t*>(groups.data()),
                         groups.size() * sizeof(gid_t))));
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetGroups(std::move(groups));
  });
}

Result<int64_t> SysSetuid(Task& task, SyscallArgs& args) {
  return Change(task, args,
                [&](TaskCreds& c) { return c.SetUid(args.UInt(0)); });
}
Result<int64_t> SysSetgid(Task& task, SyscallArgs& args) {
  return Change(task, args,
                [&](TaskCreds& c) { return c.SetGid(args.UInt(0)); });
}
Result<int64_t> SysSetreuid(Task& task, SyscallArgs& args) {
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetReUid(args.UInt(0), args.UInt(1));
  });
}
Result<int64_t> SysSetregid(Task& task, SyscallArgs& args) {
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetReGid(args.UInt(0), args.UInt(1));
  });
}
Result<int64_t> SysSetresuid(Task& task, SyscallArgs& args) {
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetResUid(args.UInt(0), args.UInt(1), args.UInt(2));
  });
}
Result<int64_t> SysSetresgid(Task& task, SyscallArgs& args) {
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetResGid(args.UInt(0), args.UInt(1), args.UInt(2));
  });
}
Result<int64_t> SysSetfsuid(Task& task, SyscallArgs& args) {
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  TaskCreds c = task.task_creds();
  const uid_t old = c.SetFsUid(args.UInt(0));
  task.set_task_creds(std::move(c));
  return old;
}
Result<int64_t> SysSetfsgid(Task& task, SyscallArgs& args) {
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  TaskCreds c = task.task_creds();
  const gid_t old = c.SetFsGid(args.UInt(0));
  task.set_task_creds(std::move(c));
  return old;
}

namespace {

// cap_validate_magic: the number of data structs for the header's
// version, or 0 (the caller writes the preferred version back: EINVAL).
int CapDataCount(uint32_t version) {
  switch (version) {
    case _LINUX_CAPABILITY_VERSION_1: return 1;
    case _LINUX_CAPABILITY_VERSION_2:
    case _LINUX_CAPABILITY_VERSION_3: return 2;
    default: return 0;
  }
}

}  // namespace

Result<int64_t> SysCapget(Task& task, SyscallArgs& args) {
  __user_cap_header_struct header =
      VEIL_TRY(CopyIn<__user_cap_header_struct>(args.mem, args.Addr(0)));
  const int count = CapDataCount(header.version);
  if (count == 0) {
    // The preferred version goes back; no data pointer is a query.
    header.version = _LINUX_CAPABILITY_VERSION_3;
    VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(0), header));
    if (args.ULong(1) == 0) return 0;
    return Errno(EINVAL);
  }
  if (header.pid < 0) return Errno(EINVAL);
  // Another task's sets: not looked up yet (ours are all we know here).
  if (!IsSelf(task, header.pid)) return Errno(ESRCH);
  if (args.ULong(1) == 0) return 0;
  const TaskCreds& c = task.task_creds();
  __user_cap_data_struct data[2] = {};
  for (int i = 0; i < 2; ++i) {
    data[i].effective = static_cast<uint32_t>(c.cap_effective >> (32 * i));
    data[i].permitted = static_cast<uint32_t>(c.cap_permitted >> (32 * i));
    data[i].inheritable =
        static_cast<uint32_t>(c.cap_inheritable >> (32 * i));
  }
  VEIL_TRY_VOID(args.mem.Write(
      args.Addr(1),
      std::span<const uint8_t>(reinterpret_cast<const uint8_t*>(data),
                               sizeof(data[0]) * count)));
  return 0;
}

Result<int64_t> SysCapset(Task& task, SyscallArgs& args) {
  __user_cap_header_struct header =
      VEIL_TRY(CopyIn<__user_cap_header_struct>(args.mem, args.Addr(0)));
  const int count = CapDataCount(header.version);
  if (count == 0) {
    header.version = _LINUX_CAPABILITY_VERSION_3;
    VEIL_TRY_VOID(CopyOut(args.mem, args.Addr(0), header));
    return Errno(EINVAL);
  }
  // capset may change only the caller's own sets.
  if (!IsSelf(task, header.pid)) return Errno(EPERM);
  __user_cap_data_struct data[2] = {};
  VEIL_TRY_VOID(args.mem.Read(
      args.Addr(1), std::span<uint8_t>(reinterpret_cast<uint8_t*>(data),
                                       sizeof(data[0]) * count)));
  auto join = [&](uint32_t __user_cap_data_struct::*field) {
    return uint64_t{data[0].*field} | (uint64_t{data[1].*field} << 32);
  };
  const uint64_t effective = join(&__user_cap_data_struct::effective);
  const uint64_t permitted = join(&__user_cap_data_struct::permitted);
  const uint64_t inheritable = join(&__user_cap_data_struct::inheritable);
  return Change(task, args, [&](TaskCreds& c) {
    return c.SetCaps(effective, permitted, inheritable);
  });
}

Result<int64_t> SysPrctl(Task& task, SyscallArgs& args) {
  // The options about credentials are the sentry's; every other one runs
  // natively, as it did before prctl was trapped (its arguments are the
  // task's business: nothing here is checked first).
  const int option = args.Int(0);
  const uint64_t arg2 = args.ULong(1);
  switch (option) {
    case PR_GET_KEEPCAPS:
      return task.task_creds().keep_caps ? 1 : 0;
    case PR_SET_KEEPCAPS:
      if (arg2 > 1) return Errno(EINVAL);
      return Change(task, args, [&](TaskCreds& c) -> Result<void> {
        c.keep_caps = arg2 == 1;
        return Ok();
      });
    case PR_CAPBSET_READ:
      if (arg2 > kCapLastCap) return Errno(EINVAL);
      return (task.task_creds().cap_bset >> arg2) & 1;
    case PR_CAPBSET_DROP:
      if (arg2 > kCapLastCap) return Errno(EINVAL);
      if (!task.task_creds().Capable(8)) return Errno(EPERM);  // SETPCAP
      return Change(task, args, [&](TaskCreds& c) -> Result<void> {
        c.cap_bset &= ~(uint64_t{1} << arg2);
        return Ok();
      });
    case PR_GET_SECUREBITS:
      return task.task_creds().keep_caps ? SECBIT_KEEP_CAPS : 0;
    case PR_SET_SECUREBITS:
      // Only SECBIT_KEEP_CAPS is kept; the rest would need the sentry to
      // honour them at exec and setuid.
      if (!task.task_creds().Capable(8)) return Errno(EPERM);
      if (arg2 & ~uint64_t{SECBIT_KEEP_CAPS}) return Errno(EINVAL);
      return Change(task, args, [&](TaskCreds& c) -> Result<void> {
        c.keep_caps = arg2 != 0;
        return Ok();
      });
    case PR_CAP_AMBIENT:
      // No ambient set: IS_SET answers 0, CLEAR_ALL succeeds, a raise is
      // refused as for a capability not both permitted and inheritable.
      if (arg2 == PR_CAP_AMBIENT_IS_SET || arg2 == PR_CAP_AMBIENT_CLEAR_ALL ||
          arg2 == PR_CAP_AMBIENT_LOWER)
        return 0;
      if (arg2 == PR_CAP_AMBIENT_RAISE) return Errno(EPERM);
      return Errno(EINVAL);
    default:
      task.effects().continue_natively = true;
      return 0;
  }
}

}  // namespace veil::sentry
