// SPDX-License-Identifier: Apache-2.0
//
// Credentials: who is asking. The filesystem-relevant subset of a Linux
// task's `struct cred`: fsuid, fsgid, supplementary groups and the file
// capabilities. Immutable value type; copy freely.
#pragma once

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

}  // namespace veil::vfs
