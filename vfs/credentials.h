// SPDX-License-Identifier: Apache-2.0
//
// Credentials: who is asking. The filesystem-relevant subset of a Linux
// task's `struct cred`: fsuid, fsgid, supplementary groups and the file
// capabilities. Immutable value type; copy freely.
#pragma once

#include <sys/stat.h>
#include <sys/types.h>

#include <algorithm>
#include <cstdint>
#include <vector>

namespace veil::vfs {

// The capabilities the VFS consults (Linux numbering).
enum class Capability : uint8_t {
  kChown = 0,           // CAP_CHOWN
  kDacOverride = 1,     // CAP_DAC_OVERRIDE
  kDacReadSearch = 2,   // CAP_DAC_READ_SEARCH
  kFowner = 3,          // CAP_FOWNER
  kFsetid = 4,          // CAP_FSETID
  kLinuxImmutable = 9,  // CAP_LINUX_IMMUTABLE
  kSysAdmin = 21,       // CAP_SYS_ADMIN
  kMknod = 27,          // CAP_MKNOD
};

struct Credentials {
  uid_t fsuid = 0;
  gid_t fsgid = 0;
  std::vector<gid_t> groups;  // supplementary groups
  uint64_t caps = 0;          // bit (1 << Capability)

  bool HasCap(Capability cap) const {
    return (caps >> static_cast<unsigned>(cap)) & 1;
  }
  // True if `gid` is the fsgid or a supplementary group (Linux in_group_p).
  bool InGroup(gid_t gid) const {
    return gid == fsgid ||
           std::find(groups.begin(), groups.end(), gid) != groups.end();
  }

  // uid 0 with every capability.
  static Credentials Root() {
    Credentials c;
    c.caps = ~uint64_t{0};
    return c;
  }
  // An unprivileged user: no file capabilities. Like a task that switched
  // its fsuid from 0 to `uid`, it keeps CAP_SYS_ADMIN only if asked.
  static Credentials User(uid_t uid, gid_t gid, std::vector<gid_t> groups,
                          uint64_t caps = 0) {
    Credentials c;
    c.fsuid = uid;
    c.fsgid = gid;
    c.groups = std::move(groups);
    c.caps = caps;
    return c;
  }
  static constexpr uint64_t Bit(Capability cap) {
    return uint64_t{1} << static_cast<unsigned>(cap);
  }
};

// The set-id bits a change to a regular file's data (write, truncate,
// open with O_TRUNC) by `creds` clears from its `mode` (Linux:
// file_remove_privs, setattr_should_drop_suidgid): S_ISUID, and S_ISGID
// when the file is group-executable or the caller is not in its group
// `gid`; none for a caller with CAP_FSETID. The one rule tmpfs, overlay,
// the gofer client and the VFS's truncate paths apply.
inline uint32_t SetIdBitsClearedByWrite(const Credentials& creds,
                                        uint32_t mode, gid_t gid) {
  if (creds.HasCap(Capability::kFsetid)) return 0;
  uint32_t kill = mode & S_ISUID;
  if ((mode & S_ISGID) && ((mode & S_IXGRP) || !creds.InGroup(gid)))
    kill |= S_ISGID;
  return kill;
}

}  // namespace veil::vfs
