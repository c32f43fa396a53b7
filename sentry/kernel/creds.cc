// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/creds.h"

#include <sys/stat.h>

#include <algorithm>

namespace veil::sentry {
namespace {

bool Valid(uint32_t id) { return id != kNoChange; }

}  // namespace

TaskCreds TaskCreds::From(const vfs::Credentials& c) {
  TaskCreds t;
  t.uid = t.euid = t.suid = t.fsuid = c.fsuid;
  t.gid = t.egid = t.sgid = t.fsgid = c.fsgid;
  t.groups = c.groups;
  std::sort(t.groups.begin(), t.groups.end());
  t.cap_permitted = t.cap_effective = c.caps & kAllCaps;
  return t;
}

vfs::Credentials TaskCreds::Vfs() const {
  vfs::Credentials c;
  c.fsuid = fsuid;
  c.fsgid = fsgid;
  c.groups = groups;
  c.caps = cap_effective;
  return c;
}

void TaskCreds::FixCapsAfterUidChange(const TaskCreds& old) {
  // cap_emulate_setxuid: dropping every root id drops the capabilities;
  // the effective set follows euid to and from 0.
  if ((old.uid == 0 || old.euid == 0 || old.suid == 0) &&
      (uid != 0 && euid != 0 && suid != 0) && !keep_caps) {
    cap_permitted = 0;
    cap_effective = 0;
  }
  if (old.euid == 0 && euid != 0) cap_effective = 0;
  if (old.euid != 0 && euid == 0) cap_effective = cap_permitted;
  // The fsuid follows euid in these calls: cap_task_fix_setuid's FS rule
  // is implied by the effective set's (cleared or restored whole).
}

Result<void> TaskCreds::SetUid(uint32_t id) {
  if (!Valid(id)) return Errno(EINVAL);  // __sys_setuid: !uid_valid
  const TaskCreds old = *this;
  if (Capable(kCapSetuid)) {
    uid = suid = id;
  } else if (id != old.uid && id != old.suid) {
    return Errno(EPERM);
  }
  euid = fsuid = id;
  FixCapsAfterUidChange(old);
  return Ok();
}

Result<void> TaskCreds::SetReUid(uint32_t r, uint32_t e) {
  const TaskCreds old = *this;
  const bool cap = Capable(kCapSetuid);
  if (Valid(r) && r != old.uid && r != old.euid && !cap) return Errno(EPERM);
  if (Valid(e) && e != old.uid && e != old.euid && e != old.suid && !cap)
    return Errno(EPERM);
  if (Valid(r)) uid = r;
  if (Valid(e)) euid = e;
  if (Valid(r) || (Valid(e) && e != old.uid)) suid = euid;
  fsuid = euid;
  FixCapsAfterUidChange(old);
  return Ok();
}

Result<void> TaskCreds::SetResUid(uint32_t r, uint32_t e, uint32_t s) {
  const TaskCreds old = *this;
  // Linux 6.2+: a call that changes nothing succeeds at once (so an fsuid
  // set apart from euid stays, unless euid is named).
  if ((!Valid(r) || r == uid) && (!Valid(e) || (e == euid && e == fsuid)) &&
      (!Valid(s) || s == suid))
    return Ok();
  if (!Capable(kCapSetuid)) {
    auto allowed = [&old](uint32_t id) {
      return !Valid(id) || id == old.uid || id == old.euid || id == old.suid;
    };
    if (!allowed(r) || !allowed(e) || !allowed(s)) return Errno(EPERM);
  }
  if (Valid(r)) uid = r;
  if (Valid(e)) euid = e;
  if (Valid(s)) suid = s;
  fsuid = euid;
  FixCapsAfterUidChange(old);
  return Ok();
}

uid_t TaskCreds::SetFsUid(uint32_t id) {
  const uid_t old = fsuid;
  if (!Valid(id)) return old;
  if (id == uid || id == euid || id == suid || id == fsuid ||
      Capable(kCapSetuid)) {
    if (id != old) {
      fsuid = id;
      // cap_task_fix_setuid(LSM_SETID_FS).
      if (old == 0 && id != 0) cap_effective &= ~kCapFsMask;
      if (old != 0 && id == 0) cap_effective |= cap_permitted & kCapFsMask;
    }
  }
  return old;
}

Result<void> TaskCreds::SetGid(uint32_t id) {
  if (!Valid(id)) return Errno(EINVAL);
  if (Capable(kCapSetgid)) {
    gid = sgid = id;
  } else if (id != gid && id != sgid) {
    return Errno(EPERM);
  }
  egid = fsgid = id;
  return Ok();
}

Result<void> TaskCreds::SetReGid(uint32_t r, uint32_t e) {
  const TaskCreds old = *this;
  const bool cap = Capable(kCapSetgid);
  if (Valid(r) && r != old.gid && r != old.egid && !cap) return Errno(EPERM);
  if (Valid(e) && e != old.gid && e != old.egid && e != old.sgid && !cap)
    return Errno(EPERM);
  if (Valid(r)) gid = r;
  if (Valid(e)) egid = e;
  if (Valid(r) || (Valid(e) && e != old.gid)) sgid = egid;
  fsgid = egid;
  return Ok();
}

Result<void> TaskCreds::SetResGid(uint32_t r, uint32_t e, uint32_t s) {
  if ((!Valid(r) || r == gid) && (!Valid(e) || (e == egid && e == fsgid)) &&
      (!Valid(s) || s == sgid))
    return Ok();  // as SetResUid
  if (!Capable(kCapSetgid)) {
    auto allowed = [this](uint32_t id) {
      return !Valid(id) || id == gid || id == egid || id == sgid;
    };
    if (!allowed(r) || !allowed(e) || !allowed(s)) return Errno(EPERM);
  }
  if (Valid(r)) gid = r;
  if (Valid(e)) egid = e;
  if (Valid(s)) sgid = s;
  fsgid = egid;
  return Ok();
}

gid_t TaskCreds::SetFsGid(uint32_t id) {
  const gid_t old = fsgid;
  if (!Valid(id)) return old;
  if (id == gid || id == egid || id == sgid || id == fsgid ||
      Capable(kCapSetgid))
    fsgid = id;
  return old;
}

Result<void> TaskCreds::SetGroups(std::vector<gid_t> list) {
  if (list.size() > kNgroupsMax) return Errno(EINVAL);
  if (!Capable(kCapSetgid)) return Errno(EPERM);  // may_setgroups
  for (gid_t g : list)
    if (!Valid(g)) return Errno(EINVAL);  // groups_from_user: gid_valid
  std::sort(list.begin(), list.end());  // groups_sort
  groups = std::move(list);
  return Ok();
}

Result<void> TaskCreds::SetCaps(uint64_t effective, uint64_t permitted,
                                uint64_t inheritable) {
  effective &= kAllCaps;
  permitted &= kAllCaps;
  inheritable &= kAllCaps;
  // cap_capset, in its order.
  if ((inheritable & ~(cap_inheritable | cap_permitted)) != 0 &&
      !Capable(8))  // CAP_SETPCAP
    return Errno(EPERM);
  if ((inheritable & ~(cap_inheritable | cap_bset)) != 0) return Errno(EPERM);
  if ((permitted & ~cap_permitted) != 0) return Errno(EPERM);
  if ((effective & ~permitted) != 0) return Errno(EPERM);
  cap_effective = effective;
  cap_permitted = permitted;
  cap_inheritable = inheritable;
  return Ok();
}

TaskCreds::Exec TaskCreds::ApplyExec(uint32_t mode, uid_t file_uid,
                                     gid_t file_gid, bool nosuid) {
  const TaskCreds old = *this;
  // bprm_fill_uid: set-id bits of the file (unless nosuid).
  if (!nosuid && (mode & S_ISUID)) euid = file_uid;
  if (!nosuid && (mode & S_ISGID) && (mode & S_IXGRP)) egid = file_gid;
  // cap_bprm_creds_from_file without file capabilities: root (real or
  // effective) gets the bounding set, with the effective set only when
  // euid is 0; anyone else keeps none (no ambient set here).
  if (euid == 0 || uid == 0) {
    cap_permitted = (cap_bset | cap_inheritable) & kAllCaps;
    cap_effective = euid == 0 ? cap_permitted : 0;
  } else {
    cap_permitted = 0;
    cap_effective = 0;
  }
  suid = fsuid = euid;
  sgid = fsgid = egid;
  keep_caps = false;  // commit_creds at exec: SECBIT_KEEP_CAPS is cleared
  Exec out;
  out.secure = euid != uid || egid != gid ||
               ((cap_permitted & ~old.cap_permitted) != 0 && old.uid != 0);
  return out;
}

}  // namespace veil::sentry
