// SPDX-License-Identifier: Apache-2.0
//
// memfd_create(2): an unlinked file of a tmpfs of the sentry's own (Linux:
// shmem's internal mount), so it is an ordinary sandbox tmpfs file: its
// data takes the data plane like any other (reads, writes and mmap run
// natively on its host memory), /proc names it "/memfd:NAME (deleted)".
// Not Linux yet: seals. Without MFD_ALLOW_SEALING a memfd has F_SEAL_SEAL,
// as a tmpfs file has, so nothing changes; with it, F_ADD_SEALS still
// answers as for a tmpfs file (EPERM).
#include <fcntl.h>
#include <linux/memfd.h>
#include <sys/mman.h>
#include <sys/stat.h>

#include <atomic>
#include <string>

#include "sentry/kernel/anon_fs.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"
#include "sentry/kernel/task.h"
#include "sentry/kernel/task_memory.h"
#include "vfs/dentry.h"
#include "vfs/mount.h"
#include "vfs/tmpfs/tmpfs.h"

namespace veil::sentry {
namespace {

// memfd_create's NAME_MAX less "memfd:".
constexpr size_t kMaxMemfdName = 249;

struct MemfdMount {
  Ref<vfs::Mount> mount;
  std::atomic<uint64_t> next{1};
};

MemfdMount& Memfds() {
  static MemfdMount* m = [] {
    vfs::tmpfs::TmpfsOptions options;
    options.root_mode = 01777;
    Ref<vfs::tmpfs::Tmpfs> fs = vfs::tmpfs::Tmpfs::Create(options);
    Ref<vfs::Dentry> root = vfs::Dentry::CreateRoot(fs->Root());
    return new MemfdMount{MakeRef<vfs::Mount>(fs, std::move(root), 0)};
  }();
  return *m;
}

}  // namespace

bool IsMemfd(const vfs::FileDescription& file) {
  return file.location().mount.get() == Memfds().mount.get();
}

Result<int64_t> SysMemfdCreate(Task& task, SyscallArgs& args) {
  const unsigned flags = args.UInt(1);
  constexpr unsigned kKnown = MFD_CLOEXEC | MFD_ALLOW_SEALING | MFD_HUGETLB |
                              0x0008u /* MFD_NOEXEC_SEAL */ |
                              0x0010u /* MFD_EXEC */;
  // memfd_create: flags, then the name (EFAULT, EINVAL past 249 bytes).
  if (flags & ~kKnown) return Errno(EINVAL);
  if ((flags & 0x0008u) && (flags & 0x0010u)) return Errno(EINVAL);
  if (flags & MFD_HUGETLB) return Errno(EINVAL);  // no hugetlbfs here
  Result<std::string> copied =
      CopyInString(args.mem, args.Addr(0), kMaxMemfdName);
  if (!copied && copied.error().code() == ENAMETOOLONG) return Errno(EINVAL);
  std::string name = VEIL_TRY(std::move(copied));
  FdReservation fd = VEIL_TRY(task.fds().Allocate(0, task.nofile_limit()));
  VEIL_TRY_VOID(args.mem.CheckStillPending());
  MemfdMount& m = Memfds();
  vfs::Location root{m.mount, m.mount->root()};
  vfs::Context ctx = task.Context();
  ctx.root = root;
  ctx.cwd = root;
  ctx.umask = 0;
  // A directory of its own in the private tmpfs holds the file under the
  // name /proc shows ("memfd:NAME"), then both go: the file lives as long
  // as its descriptions (shmem_file_setup's unlinked file), and its
  // dentry keeps the name.
  const std::string dir = std::to_string(m.next.fetch_add(1));
  std::string shown = "memfd:" + name;
  for (char& c : shown)
    if (c == '/') c = '_';  // one directory entry
  if (shown.size() > 255) shown.resize(255);
  VEIL_TRY_VOID(task.vfs().MkdirAt(ctx, root, dir, 0700));
  vfs::OpenHow how;
  how.flags = O_RDWR | O_CREAT | O_EXCL | O_LARGEFILE;
  how.mode = (flags & 0x0008u) ? 0666 : 0777;  // MFD_NOEXEC_SEAL: no x
  Result<Ref<vfs::FileDescription>> file =
      task.vfs().OpenAt(ctx, root, dir + "/" + shown, how);
  if (file) (void)task.vfs().UnlinkAt(ctx, root, dir + "/" + shown, 0);
  (void)task.vfs().UnlinkAt(ctx, root, dir, AT_REMOVEDIR);
  if (!file) return file.error();
  const CloseOnExec cloexec =
      (flags & MFD_CLOEXEC) ? CloseOnExec::kYes : CloseOnExec::kNo;
  return VEIL_TRY(
      InstallWithTwin(task, std::move(fd), std::move(*file), cloexec));
}

}  // namespace veil::sentry
