// SPDX-License-Identifier: Apache-2.0
#include "gofer/server/mount_points.h"

#include <fcntl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string_view>
#include <vector>

namespace veil::gofer {
namespace {

// The uapi of listmount(2)/statmount(2) (include/uapi/linux/mount.h, Linux
// 6.8); newer than the installed kernel headers. The numbers are the same
// on every architecture.
constexpr long kSysStatmount = 457;
constexpr long kSysListmount = 458;
constexpr uint64_t kLsmtRoot = ~uint64_t{0};     // LSMT_ROOT
constexpr uint64_t kStatmountMntPoint = 0x10;    // STATMOUNT_MNT_POINT

struct MntIdReq {  // struct mnt_id_req, MNT_ID_REQ_SIZE_VER0
  uint32_t size = sizeof(MntIdReq);
  uint32_t spare = 0;
  uint64_t mnt_id = 0;
  uint64_t param = 0;
};
static_assert(sizeof(MntIdReq) == 24);

struct StatMount {  // struct statmount, up to its strings
  uint32_t size;
  uint32_t spare1;
  uint64_t mask;
  uint32_t sb_dev_major;
  uint32_t sb_dev_minor;
  uint64_t sb_magic;
  uint32_t sb_flags;
  uint32_t fs_type;
  uint64_t mnt_id;
  uint64_t mnt_parent_id;
  uint32_t mnt_id_old;
  uint32_t mnt_parent_id_old;
  uint64_t mnt_attr;
  uint64_t mnt_propagation;
  uint64_t mnt_peer_group;
  uint64_t mnt_master;
  uint64_t propagate_from;
  uint32_t mnt_root;
  uint32_t mnt_point;  // offset of the path in str[]
  uint64_t spare2[50];
};
static_assert(offsetof(StatMount, mnt_point) == 108);
static_assert(sizeof(StatMount) == 512);

// Mount ids per listmount(2) call; more are fetched page by page.
constexpr size_t kIdsPerCall = 256;
// Room for the struct and one path at first; doubled while statmount(2)
// says EOVERFLOW (a mount point's path has no length limit: a mount made
// from a deep working directory), up to the most a mount point can fill.
constexpr size_t kStatBufferSize = sizeof(StatMount) + 2 * 4096;
constexpr size_t kStatBufferMax = size_t{16} << 20;

// The mount point of mount `id`. Errors: ENOENT if it was unmounted since
// it was listed; EOVERFLOW past kStatBufferMax; ENODATA if the kernel gave
// no mount point; statmount(2)'s errno.
Result<std::string> MountPointOf(uint64_t id) {
  MntIdReq req;
  req.mnt_id = id;
  req.param = kStatmountMntPoint;
  std::vector<uint64_t> words;  // aligned for StatMount
  size_t size = kStatBufferSize;
  while (true) {
    words.assign(size / sizeof(uint64_t), 0);
    if (::syscall(kSysStatmount, &req, words.data(), size, 0) == 0) break;
    if (errno != EOVERFLOW || size >= kStatBufferMax) {
      return Errno::FromErrno();
    }
    size *= 2;
  }
  const char* buffer = reinterpret_cast<const char*>(words.data());
  const auto* st = reinterpret_cast<const StatMount*>(buffer);
  if ((st->mask & kStatmountMntPoint) == 0 ||
      st->mnt_point >= size - sizeof(StatMount)) {
    return Errno(ENODATA);
  }
  const char* str = buffer + sizeof(StatMount) + st->mnt_point;
  return std::string(str, ::strnlen(str, buffer + size - str));
}

}  // namespace

Result<std::vector<std::string>> MountPointsBelowRoot() {
  std::vector<std::string> points;
  uint64_t after = 0;
  while (true) {
    MntIdReq req;
    req.mnt_id = kLsmtRoot;
    req.param = after;  // ids greater than this one
    uint64_t ids[kIdsPerCall];
    const long n = ::syscall(kSysListmount, &req, ids, kIdsPerCall, 0);
    if (n < 0) return Errno::FromErrno();
    for (long i = 0; i < n; ++i) {
      Result<std::string> point = MountPointOf(ids[i]);
      if (!point) {
        // A mount unmounted since listmount is simply not a mount point;
        // any other failure leaves the table unknown, and a caller must
        // not take a mount it could not read for none.
        if (point.error().code() == ENOENT) continue;
        return point.error();
      }
      if (*point != "/") points.push_back(std::move(*point));
    }
    if (static_cast<size_t>(n) < kIdsPerCall) break;
    after = ids[n - 1];
  }
  return points;
}

bool HasMountPointBelow(int root_fd, const std::vector<std::string>& points,
                        const InodeKey& dir) {
  for (std::string_view point : points) {
    // Every proper ancestor of the mount point, from the root down.
    UniqueFd at;
    int at_fd = root_fd;
    while (true) {
      while (point.starts_with('/')) point.remove_prefix(1);
      const size_t slash = point.find('/');
      if (slash == std::string_view::npos) break;  // the point itself
      const std::string name(point.substr(0, slash));
      point.remove_prefix(slash);
      Result<UniqueFd> next =
          OpenBeneath(at_fd, name.c_str(), O_PATH | O_DIRECTORY);
      if (!next) break;  // Gone, or below another mount (listed itself).
      Result<struct statx> st = StatFd(next->get());
      if (!st) break;
      if (KeyOf(*st) == dir) return true;
      at = std::move(*next);
      at_fd = at.get();
    }
  }
  return false;
}

}  // namespace veil::gofer
