// SPDX-License-Identifier: Apache-2.0
#include "sentry/sandbox/devices.h"

#include <sys/random.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>

#include <cstring>
#include <memory>

#include "vfs/char_device.h"
#include "vfs/tmpfs/tmpfs.h"

namespace veil::sentry {
namespace {

enum class MemDev : uint8_t { kNull, kZero, kFull, kRandom };

// One open of a memory device (mem.c's null_fops, zero_fops, full_fops;
// random.c's random_fops).
class MemFile final : public vfs::FileImpl {
 public:
  explicit MemFile(MemDev kind) : kind_(kind) {}

  Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
    switch (kind_) {
      case MemDev::kNull:
        return size_t{0};  // read_null: end of file
      case MemDev::kZero:
      case MemDev::kFull:
        std::memset(buf.data(), 0, buf.size());  // read_iter_zero
        return buf.size();
      case MemDev::kRandom: {
        // get_random_bytes_user: never blocks once the pool is ready.
        ssize_t n = getrandom(buf.data(), buf.size(), 0);
        if (n < 0) return Errno::FromErrno();
        return static_cast<size_t>(n);
      }
    }
    return Errno(EINVAL);
  }
  Result<size_t> PWrite(const vfs::Credentials&, std::span<const uint8_t> buf,
                        int64_t* offset, vfs::WriteAt) override {
    // write_full: ENOSPC; the others swallow everything (random's write
    // mixes it into the pool, which a sandbox must not reach).
    if (kind_ == MemDev::kFull) return Errno(ENOSPC);
    *offset += static_cast<int64_t>(buf.size());
    return buf.size();
  }
  Result<int64_t> Seek(int64_t, int, int64_t) override {
    // null_lseek / full_lseek: the position is always 0.
    return int64_t{0};
  }

 private:
  const MemDev kind_;
};

class MemDevice final : public vfs::CharDevice {
 public:
  explicit MemDevice(MemDev kind) : kind_(kind) {}
  Result<std::unique_ptr<vfs::FileImpl>> Open(int) override {
    return std::unique_ptr<vfs::FileImpl>(new MemFile(kind_));
  }

 private:
  const MemDev kind_;
};

struct Node {
  const char* name;
  unsigned major, minor;
  MemDev kind;
};
constexpr Node kNodes[] = {
    {"null", 1, 3, MemDev::kNull},     {"zero", 1, 5, MemDev::kZero},
    {"full", 1, 7, MemDev::kFull},     {"random", 1, 8, MemDev::kRandom},
    {"urandom", 1, 9, MemDev::kRandom},
};

}  // namespace

void RegisterMemoryDevices(vfs::Vfs& vfs) {
  for (const Node& node : kNodes) {
    vfs.RegisterCharDevice(makedev(node.major, node.minor),
                           std::make_shared<MemDevice>(node.kind));
  }
}

Result<void> MountDev(vfs::Vfs& vfs) {
  RegisterMemoryDevices(vfs);
  vfs::Context ctx = vfs.RootContext();
  ctx.umask = 0;
  const vfs::Location root = vfs.RootLocation();
  if (Result<void> made = vfs.MkdirAt(ctx, root, "/dev", 0755);
      !made && made.error().code() != EEXIST)
    return made.error();
  vfs::tmpfs::TmpfsOptions options;
  options.root_mode = 0755;
  VEIL_TRY_VOID(vfs.MountAt(ctx, vfs::tmpfs::Tmpfs::Create(options), root,
                            "/dev", 0));
  for (const Node& node : kNodes) {
    VEIL_TRY_VOID(vfs.MknodAt(ctx, root, std::string("/dev/") + node.name,
                              S_IFCHR | 0666, makedev(node.major, node.minor)));
  }
  // /dev/shm: a tmpfs of its own, world-writable and sticky (POSIX shared
  // memory and semaphores: shm_open, sem_open).
  VEIL_TRY_VOID(vfs.MkdirAt(ctx, root, "/dev/shm", 01777));
  vfs::tmpfs::TmpfsOptions shm;
  shm.root_mode = 01777;
  VEIL_TRY_VOID(
      vfs.MountAt(ctx, vfs::tmpfs::Tmpfs::Create(shm), root, "/dev/shm", 0));
  VEIL_TRY_VOID(vfs.SymlinkAt(ctx, "/proc/self/fd", root, "/dev/fd"));
  VEIL_TRY_VOID(vfs.SymlinkAt(ctx, "/proc/self/fd/0", root, "/dev/stdin"));
  VEIL_TRY_VOID(vfs.SymlinkAt(ctx, "/proc/self/fd/1", root, "/dev/stdout"));
  VEIL_TRY_VOID(vfs.SymlinkAt(ctx, "/proc/self/fd/2", root, "/dev/stderr"));
  return Ok();
}

}  // namespace veil::sentry
