// SPDX-License-Identifier: Apache-2.0
//
// TaskCreds: a task's credentials as Linux's struct cred keeps them (real,
// effective, saved and fs ids, supplementary groups, the capability sets)
// and the rules that change them: the setuid family (kernel/sys.c,
// security/commoncap.c cap_task_fix_setuid), setgroups, capset, and exec
// (cap_bprm_creds_from_file, for files without file capabilities).
//
// The sentry keeps them: a task's host ids never change (it runs as the
// root of the sentry's user namespace), so the id calls are trapped and
// answered from here, and every VFS check uses Vfs(), the fs ids and the
// effective capabilities.
//
// Thread-safety: a value.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <vector>

#include "base/result.h"
#include "vfs/credentials.h"

namespace veil::sentry {

// CAP_LAST_CAP of the kernels veil runs on (CAP_CHECKPOINT_RESTORE).
inline constexpr unsigned kCapLastCap = 40;
inline constexpr uint64_t kAllCaps = (uint64_t{1} << (kCapLastCap + 1)) - 1;
inline constexpr unsigned kCapSetgid = 6, kCapSetuid = 7;
// CAP_FS_MASK: what an fsuid change from or to 0 drops or restores.
// CHOWN DAC_OVERRIDE DAC_READ_SEARCH FOWNER FSETID LINUX_IMMUTABLE MKNOD
// MAC_OVERRIDE.
inline constexpr uint64_t kCapFsMask =
    (1u << 0) | (1u << 1) | (1u << 2) | (1u << 3) | (1u << 4) | (1u << 9) |
    (uint64_t{1} << 27) | (uint64_t{1} << 32);
// NGROUPS_MAX.
inline constexpr size_t kNgroupsMax = 65536;
// An id argument of -1: leave it as it is.
inline constexpr uint32_t kNoChange = 0xffffffffu;

struct TaskCreds {
  uid_t uid = 0, euid = 0, suid = 0, fsuid = 0;
  gid_t gid = 0, egid = 0, sgid = 0, fsgid = 0;
  std::vector<gid_t> groups;  // sorted, as set_groups keeps them
  uint64_t cap_inheritable = 0;
  uint64_t cap_permitted = kAllCaps;
  uint64_t cap_effective = kAllCaps;
  uint64_t cap_bset = kAllCaps;
  bool keep_caps = false;  // PR_SET_KEEPCAPS (SECBIT_KEEP_CAPS); exec clears it

  static TaskCreds Root() { return TaskCreds{}; }
  // Every id the fs id, the capability sets the given ones.
  static TaskCreds From(const vfs::Credentials& c);
  // What the VFS checks with.
  vfs::Credentials Vfs() const;
  bool Capable(unsigned cap) const { return (cap_effective >> cap) & 1; }

  // The calls, each as Linux answers it (EPERM, EINVAL for -1 where an id
  // is required); on success *this is the new credentials.
  Result<void> SetUid(uint32_t uid);
  Result<void> SetReUid(uint32_t ruid, uint32_t euid);
  Result<void> SetResUid(uint32_t ruid, uint32_t euid, uint32_t suid);
  // setfsuid: the old fsuid, always; the change only when allowed.
  uid_t SetFsUid(uint32_t fsuid);
  Result<void> SetGid(uint32_t gid);
  Result<void> SetReGid(uint32_t rgid, uint32_t egid);
  Result<void> SetResGid(uint32_t rgid, uint32_t egid, uint32_t sgid);
  gid_t SetFsGid(uint32_t fsgid);
  Result<void> SetGroups(std::vector<gid_t> groups);
  // capset's checks (cap_capset): EPERM unless effective is within
  // permitted, permitted within the old permitted, inheritable within the
  // old inheritable and permitted (and the bounding set).
  Result<void> SetCaps(uint64_t effective, uint64_t permitted,
                       uint64_t inheritable);

  // exec of a file owned by file_uid:file_gid with `mode` (its S_ISUID and
  // S_ISGID bits apply unless `nosuid`): the new credentials, and whether
  // the program runs "secure" (AT_SECURE: ids or capabilities gained).
  struct Exec {
    bool secure = false;
  };
  Exec ApplyExec(uint32_t mode, uid_t file_uid, gid_t file_gid, bool nosuid);

 private:
  // cap_emulate_setxuid, after a uid change from `old`.
  void FixCapsAfterUidChange(const TaskCreds& old);
};

}  // namespace veil::sentry
