// SPDX-License-Identifier: Apache-2.0
//
// Directories: getdents64(2).
#include <algorithm>
#include <cstring>
#include <vector>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"

namespace veil::sentry {

Result<int64_t> SysGetdents64(Task& task, SyscallArgs& args) {
  // The most one call fills: any buffer holds at least one entry at this
  // size, so capping it only returns fewer entries, as Linux may.
  constexpr uint64_t kMaxBuffer = 64 * 1024;
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  // getdents64: fdget_pos (O_PATH is EBADF), then access_ok.
  if (file->is_path()) return Errno(EBADF);
  uint64_t count = args.UInt(2);
  VEIL_TRY_VOID(CheckUserRange(args.Addr(1), count));
  std::vector<uint8_t> buf(std::min(count, kMaxBuffer));
  size_t n = VEIL_TRY(file->Getdents64(buf));
  VEIL_TRY_VOID(
      args.mem.Write(args.Addr(1), std::span<const uint8_t>(buf.data(), n)));
  return static_cast<int64_t>(n);
}

Result<int64_t> SysGetdents(Task& task, SyscallArgs& args) {
  // getdents(2)'s struct linux_dirent has the same record length as
  // linux_dirent64 for every name (ALIGN(name + 20, 8) on x86-64): the
  // name starts a byte earlier and d_type sits in the record's last byte.
  constexpr uint64_t kMaxBuffer = 64 * 1024;
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  if (file->is_path()) return Errno(EBADF);  // getdents: fdget_pos
  uint64_t count = args.UInt(2);
  VEIL_TRY_VOID(CheckUserRange(args.Addr(1), count));
  std::vector<uint8_t> buf(std::min(count, kMaxBuffer));
  size_t n = VEIL_TRY(file->Getdents64(buf));
  for (size_t off = 0; off < n;) {
    uint8_t* rec = buf.data() + off;
    uint16_t reclen;
    std::memcpy(&reclen, rec + 16, 2);
    uint8_t type = rec[18];
    size_t name_len = std::strlen(reinterpret_cast<char*>(rec + 19));
    std::memmove(rec + 18, rec + 19, name_len + 1);
    std::memset(rec + 18 + name_len + 1, 0, reclen - (18 + name_len + 1));
    rec[reclen - 1] = type;
    off += reclen;
  }
  VEIL_TRY_VOID(
      args.mem.Write(args.Addr(1), std::span<const uint8_t>(buf.data(), n)));
  return static_cast<int64_t>(n);
}

}  // namespace veil::sentry
