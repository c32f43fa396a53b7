// SPDX-License-Identifier: Apache-2.0
#include "sentry/kernel/task_memory.h"

#include <sys/uio.h>

#include <algorithm>
#include <cstring>

namespace veil::sentry {

Result<void> CheckUserRange(TaskAddr addr, uint64_t size) {
  uint64_t end = addr.value() + size;
  // x86 __access_ok: the end must not wrap nor pass the user space.
  if (end < addr.value() || end > kTaskSizeMax) return Errno(EFAULT);
  return Ok();
}

Result<size_t> TaskMemory::ReadPartial(TaskAddr addr, std::span<uint8_t> out) {
  if (out.empty()) return size_t{0};
  VEIL_TRY_VOID(CheckUserRange(addr, 1));
  // Stop at the end of user space: bytes past it are never the task's.
  uint64_t room = kTaskSizeMax - addr.value();
  if (out.size() > room) out = out.first(room);
  return platform_.ReadMemory(request_, addr, out);
}

Result<size_t> TaskMemory::WritePartial(TaskAddr addr,
                                        std::span<const uint8_t> in) {
  if (in.empty()) return size_t{0};
  VEIL_TRY_VOID(CheckUserRange(addr, 1));
  uint64_t room = kTaskSizeMax - addr.value();
  if (in.size() > room) in = in.first(room);
  return platform_.WriteMemory(request_, addr, in);
}

Result<void> TaskMemory::Read(TaskAddr addr, std::span<uint8_t> out) {
  if (out.empty()) return Ok();
  // copy_from_user: access_ok on the whole range first.
  VEIL_TRY_VOID(CheckUserRange(addr, out.size()));
  size_t n = VEIL_TRY(platform_.ReadMemory(request_, addr, out));
  if (n != out.size()) return Errno(EFAULT);  // copy_from_user remainder
  return Ok();
}

Result<void> TaskMemory::Write(TaskAddr addr, std::span<const uint8_t> in) {
  if (in.empty()) return Ok();
  VEIL_TRY_VOID(CheckUserRange(addr, in.size()));
  size_t n = VEIL_TRY(platform_.WriteMemory(request_, addr, in));
  if (n != in.size()) return Errno(EFAULT);  // copy_to_user remainder
  return Ok();
}

Result<void> TaskMemory::CheckStillPending() {
  if (!platform_.StillPending(request_)) return kNotPending;
  return Ok();
}

namespace {

// Reads a NUL-terminated string of at most `limit` bytes including the
// NUL, in chunks that grow, each byte once (strncpy_from_user). Returns
// the string, or ENAMETOOLONG when `limit` bytes hold no NUL.
Result<std::string> ReadCString(TaskMemory& mem, TaskAddr addr, size_t limit) {
  std::string out;
  size_t chunk = 256;
  while (out.size() < limit) {
    size_t want = std::min(chunk, limit - out.size());
    uint8_t buf[4096];
    want = std::min(want, sizeof(buf));
    TaskAddr at = VEIL_TRY(addr.Offset(out.size()));
    // strncpy_from_user: a fault before the NUL is EFAULT, whether at the
    // first byte or after some.
    size_t got = VEIL_TRY(mem.ReadPartial(at, std::span<uint8_t>(buf, want)));
    const void* nul = std::memchr(buf, 0, got);
    if (nul) {
      out.append(reinterpret_cast<const char*>(buf),
                 static_cast<const uint8_t*>(nul) - buf);
      return out;
    }
    out.append(reinterpret_cast<const char*>(buf), got);
    if (got < want) return Errno(EFAULT);  // ran into unmapped memory
    chunk = sizeof(buf);
  }
  return Errno(ENAMETOOLONG);  // getname: no NUL within PATH_MAX
}

}  // namespace

Result<std::string> CopyInPath(TaskMemory& mem, TaskAddr addr,
                               EmptyPath empty) {
  std::string path = VEIL_TRY(ReadCString(mem, addr, PATH_MAX));
  // getname_flags: an empty name is ENOENT without LOOKUP_EMPTY.
  if (path.empty() && empty == EmptyPath::kDeny) return Errno(ENOENT);
  return path;
}

Result<std::string> CopyInString(TaskMemory& mem, TaskAddr addr, size_t max) {
  return ReadCString(mem, addr, max + 1);
}

Result<std::vector<IoSegment>> CopyInIovecs(TaskMemory& mem, TaskAddr addr,
                                            uint64_t count) {
  std::vector<IoSegment> out;
  if (count == 0) return out;
  // import_iovec: nr_segs > UIO_MAXIOV is EINVAL.
  if (count > kUioMaxIov) return Errno(EINVAL);
  std::vector<struct iovec> raw(count);
  VEIL_TRY_VOID(
      mem.Read(addr, std::span<uint8_t>(reinterpret_cast<uint8_t*>(raw.data()),
                                        count * sizeof(struct iovec))));
  out.reserve(count);
  // copy_iovec_from_user: a negative length is EINVAL, checked for every
  // segment before any access_ok.
  for (const struct iovec& v : raw) {
    if (static_cast<int64_t>(v.iov_len) < 0) return Errno(EINVAL);
  }
  uint64_t total = 0;
  for (const struct iovec& v : raw) {
    TaskAddr base(reinterpret_cast<uint64_t>(v.iov_base));
    uint64_t len = v.iov_len;
    // __import_iovec: access_ok on each segment, EFAULT.
    VEIL_TRY_VOID(CheckUserRange(base, len));
    // ... and the total clamped to MAX_RW_COUNT.
    len = std::min(len, kMaxRwCount - total);
    total += len;
    out.push_back({base, len});
  }
  return out;
}

}  // namespace veil::sentry
