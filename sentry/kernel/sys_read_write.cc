// SPDX-License-Identifier: Apache-2.0
//
// File data: read(2), write(2), pread(2), pwrite(2), readv(2), writev(2),
// preadv2(2), pwritev2(2), lseek(2), fsync(2), sync(2). Under --strict
// these are trapped and served here; by default they run natively on the
// installed host fd (syscall_table: the data-plane mark).
//
// Bytes cross between the task and the file in chunks of kChunk through
// a sentry buffer, each task byte copied once. The first chunk may wait
// (vfs/blocking.h, in the task's waiter: Task::Interrupt ends it with
// EINTR); later ones never do: a read returns what it has, as Linux's
// pipe_read returns once some data was read.
#include <fcntl.h>
#include <linux/fs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <optional>
#include <vector>

#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "vfs/blocking.h"

namespace veil::sentry {
namespace {

constexpr size_t kChunk = 64 * 1024;

enum class Access : uint8_t { kRead, kWrite };

// fdget_pos, then (for the positional calls) ksys_pread64's ESPIPE, then
// vfs_read/vfs_write's mode check: EBADF for a missing or O_PATH fd or
// one not open for this access.
enum class Positional : uint8_t { kNo, kYes };
Result<Ref<vfs::FileDescription>> FileFor(Task& task, int fd, Access access,
                                          Positional positional) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(fd));
  if (file->is_path()) return Errno(EBADF);  // fdget skips FMODE_PATH
  // ksys_pread64/ksys_pwrite64: no FMODE_PREAD is ESPIPE, before the mode.
  if (positional == Positional::kYes && !file->impl().Positional())
    return Errno(ESPIPE);
  if (access == Access::kRead ? !file->readable() : !file->writable())
    return Errno(EBADF);  // vfs_read: !(f_mode & FMODE_READ)
  return file;
}

// Reads from `file` (at `*offset` if positional) into the task's
// segments. Linux: vfs_read/vfs_iter_read.
Result<int64_t> ReadToTask(Task& task, SyscallArgs& args,
                           vfs::FileDescription& file,
                           const std::vector<IoSegment>& segs,
                           std::optional<int64_t> offset) {
  std::vector<uint8_t> buf;
  uint64_t total = 0;
  for (const IoSegment& seg : segs) {
    uint64_t done = 0;
    while (done < seg.len) {
      size_t want = std::min<uint64_t>(kChunk, seg.len - done);
      buf.resize(want);
      std::span<uint8_t> span(buf.data(), want);
      Result<size_t> got =
          offset       ? file.PRead(span, *offset + static_cast<int64_t>(total))
          : total == 0 ? vfs::ReadBlocking(file, span, task.waiter())
                       : file.Read(span);
      if (!got) {
        if (total > 0) return static_cast<int64_t>(total);
        return got.error();
      }
      if (*got == 0) return static_cast<int64_t>(total);
      TaskAddr at = VEIL_TRY(seg.base.Offset(done));
      Result<size_t> put =
          args.mem.WritePartial(at, std::span<const uint8_t>(buf.data(), *got));
      size_t copied = put ? *put : 0;
      total += copied;
      done += copied;
      // copy_to_user fell short: what was copied, or EFAULT. The file
      // position moves only past the bytes the task got (filemap_read);
      // a pipe's bytes are gone (veil cannot put them back).
      if (copied < *got) {
        if (!offset && file.impl().Positional())
          (void)file.Seek(-static_cast<int64_t>(*got - copied), SEEK_CUR);
        if (total == 0) return Errno(EFAULT);
        return static_cast<int64_t>(total);
      }
      if (*got < want) return static_cast<int64_t>(total);
    }
  }
  return static_cast<int64_t>(total);
}

// Writes the task's segments to `file`. Linux: vfs_write/vfs_iter_write.
Result<int64_t> WriteFromTask(Task& task, SyscallArgs& args,
                              vfs::FileDescription& file,
                              const std::vector<IoSegment>& segs,
                              std::optional<int64_t> offset) {
  std::vector<uint8_t> buf;
  uint64_t total = 0;
  for (const IoSegment& seg : segs) {
    uint64_t done = 0;
    while (done < seg.len) {
      size_t want = std::min<uint64_t>(kChunk, seg.len - done);
      buf.resize(want);
      TaskAddr at = VEIL_TRY(seg.base.Offset(done));
      Result<size_t> in =
          args.mem.ReadPartial(at, std::span<uint8_t>(buf.data(), want));
      if (!in) {
        // copy_from_user faulted at once: what was written, or EFAULT.
        if (total > 0) return static_cast<int64_t>(total);
        return Errno(EFAULT);
      }
      std::span<const uint8_t> data(buf.data(), *in);
      Result<size_t> put =
          offset ? file.PWrite(task.creds(), data,
                               *offset + static_cast<int64_t>(total))
                 : vfs::WriteBlocking(file, task.creds(), data, task.waiter());
      if (!put) {
        if (total > 0) return static_cast<int64_t>(total);
        return put.error();
      }
      total += *put;
      done += *put;
      if (*put < data.size() || *in < want) return static_cast<int64_t>(total);
    }
  }
  return static_cast<int64_t>(total);
}

// A single buffer as one segment: access_ok (EFAULT), then
// rw_verify_area's clamp to MAX_RW_COUNT.
Result<std::vector<IoSegment>> OneSegment(TaskAddr buf, uint64_t count) {
  // vfs_read: a count negative as ssize_t is EINVAL (rw_verify_area).
  if (static_cast<int64_t>(count) < 0) return Errno(EINVAL);
  VEIL_TRY_VOID(CheckUserRange(buf, count));  // access_ok: EFAULT
  return std::vector<IoSegment>{{buf, std::min(count, kMaxRwCount)}};
}

enum class Vectored : uint8_t { kNo, kYes };

Result<int64_t> DoIo(Task& task, SyscallArgs& args, Access access,
                     std::optional<int64_t> offset, Vectored vectored) {
  // ksys_pread64 / do_preadv: a negative position is EINVAL, first.
  if (offset && *offset < 0) return Errno(EINVAL);
  Ref<vfs::FileDescription> file = VEIL_TRY(FileFor(
      task, args.Int(0), access, offset ? Positional::kYes : Positional::kNo));
  std::vector<IoSegment> segs =
      vectored == Vectored::kYes
          ? VEIL_TRY(CopyInIovecs(args.mem, args.Addr(1), args.ULong(2)))
          : VEIL_TRY(OneSegment(args.Addr(1), args.ULong(2)));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  if (access == Access::kRead)
    return ReadToTask(task, args, *file, segs, offset);
  return WriteFromTask(task, args, *file, segs, offset);
}

// preadv2/pwritev2: the RWF_* flags veil honours (as hints) and -1 as
// "the current offset".
Result<int64_t> DoIo2(Task& task, SyscallArgs& args, Access access) {
  int flags = args.Int(5);
  // kiocb_set_rw_flags: unknown RWF_ bits are EOPNOTSUPP.
  if (flags & ~(RWF_HIPRI | RWF_DSYNC | RWF_SYNC)) return Errno(EOPNOTSUPP);
  int64_t pos = args.Long(3);
  std::optional<int64_t> offset;
  if (pos != -1) offset = pos;
  return DoIo(task, args, access, offset, Vectored::kYes);
}

}  // namespace

Result<int64_t> SysRead(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kRead, std::nullopt, Vectored::kNo);
}
Result<int64_t> SysWrite(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kWrite, std::nullopt, Vectored::kNo);
}
Result<int64_t> SysPread64(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kRead, args.Long(3), Vectored::kNo);
}
Result<int64_t> SysPwrite64(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kWrite, args.Long(3), Vectored::kNo);
}
Result<int64_t> SysReadv(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kRead, std::nullopt, Vectored::kYes);
}
Result<int64_t> SysWritev(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kWrite, std::nullopt, Vectored::kYes);
}
// x86-64's pos_from_hilo: the low word holds the whole position.
Result<int64_t> SysPreadv(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kRead, args.Long(3), Vectored::kYes);
}
Result<int64_t> SysPwritev(Task& task, SyscallArgs& args) {
  return DoIo(task, args, Access::kWrite, args.Long(3), Vectored::kYes);
}
Result<int64_t> SysPreadv2(Task& task, SyscallArgs& args) {
  return DoIo2(task, args, Access::kRead);
}
Result<int64_t> SysPwritev2(Task& task, SyscallArgs& args) {
  return DoIo2(task, args, Access::kWrite);
}

Result<int64_t> SysLseek(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  if (file->is_path()) return Errno(EBADF);  // ksys_lseek: fdget_pos
  // The data plane: the host description holds the position of anything
  // but a directory (whose placeholder is shared; getdents is the
  // sentry's), so the call runs there, natively.
  if (task.twins() && !file->inode().IsDir()) {
    task.effects().continue_natively = true;
    return 0;
  }
  return file->Seek(args.Long(1), args.Int(2));
}

Result<int64_t> SysFsync(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  if (file->is_path()) return Errno(EBADF);  // do_fsync: fdget
  // vfs_fsync_range: a file without ->fsync (a pipe, a FIFO, a device,
  // a socket) is EINVAL; tmpfs files and directories have one.
  uint32_t type = file->inode().type();
  if (type != S_IFREG && type != S_IFDIR) return Errno(EINVAL);
  VEIL_TRY_VOID(file->impl().Sync());
  return 0;
}
Result<int64_t> SysFdatasync(Task& task, SyscallArgs& args) {
  return SysFsync(task, args);
}
Result<int64_t> SysSync(Task&, SyscallArgs&) { return 0; }
Result<int64_t> SysSyncfs(Task& task, SyscallArgs& args) {
  Ref<vfs::FileDescription> file = VEIL_TRY(task.fds().Get(args.Int(0)));
  if (file->is_path()) return Errno(EBADF);  // syncfs: fdget
  return 0;
}

}  // namespace veil::sentry
