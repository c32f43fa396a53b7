// SPDX-License-Identifier: Apache-2.0
#include "tests/difftest/lock_sides.h"

namespace veil::difftest {

void HostProc::ChildLoop(const std::string& dir, int p, int in, int out) {
  int fds[kSlots];
  std::string paths[kSlots];
  for (int s = 0; s < kSlots; ++s) {
    paths[s] = dir + "/" + SlotFile(s);
    fds[s] = open(paths[s].c_str(), SlotMode(p, s));
  }
  Command c;
  while (read(in, &c, sizeof c) == sizeof c) {
    Reply r{};
    r.fl = c.fl;
    int fd = fds[c.slot];
    long rc = 0;
    switch (c.op) {
      case Op::kSetLk:  // F_SETLKW may block: the test waits for the reply
        rc = fcntl(fd, c.cmd, &r.fl);
        break;
      case Op::kGetLk:
        rc = fcntl(fd, c.cmd, &r.fl);
        break;
      case Op::kFlock:
        rc = flock(fd, static_cast<int>(c.arg));
        break;
      case Op::kSeek:
        rc = lseek(fd, c.arg, SEEK_SET);
        break;
      case Op::kTruncate:
        rc = ftruncate(fd, c.arg);
        break;
      case Op::kReopen:
        close(fd);
        fds[c.slot] = open(paths[c.slot].c_str(), SlotMode(p, c.slot));
        rc = fds[c.slot] < 0 ? -1 : 0;
        break;
      case Op::kDupClose:
        rc = close(dup(fd));
        break;
    }
    r.ret = rc < 0 ? -errno : rc;
    if (write(out, &r, sizeof r) != sizeof r) break;
  }
  _exit(0);
}

Reply VfsSide::Run(int p, const Command& c, vfs::ThreadLockWaiter* waiter) {
  Reply r{};
  r.fl = c.fl;
  vfs::FileDescription& f = *slots_[p][c.slot];
  const vfs::LockOwner& owner = owners_[p];
  auto code = [](const auto& result) -> int64_t {
    return result ? 0 : -result.error().code();
  };
  switch (c.op) {
    case Op::kSetLk:
      r.ret =
          waiter
              ? code(vfs::SetRecordLockBlocking(f, c.cmd, c.fl, owner, *waiter))
              : code(vfs::SetRecordLock(f, c.cmd, c.fl, owner, nullptr));
      break;
    case Op::kGetLk:
      r.ret = code(vfs::GetRecordLock(f, c.cmd, owner, &r.fl));
      break;
    case Op::kFlock:
      r.ret =
          waiter ? code(vfs::FlockBlocking(f, static_cast<int>(c.arg), *waiter))
                 : code(vfs::Flock(f, static_cast<int>(c.arg), nullptr));
      break;
    case Op::kSeek: {
      auto off = f.Seek(c.arg, SEEK_SET);
      r.ret = off ? *off : -off.error().code();
      break;
    }
    case Op::kTruncate:
      r.ret = code(vfs_.Ftruncate(ctx_, f, c.arg));
      break;
    case Op::kReopen:
      // close(2): the process's POSIX locks on the file go; the
      // description's last reference takes its OFD and flock locks.
      vfs::ReleasePosixLocks(f, owner);
      slots_[p][c.slot] = nullptr;
      slots_[p][c.slot] = VEIL_MUST(
          Open(std::string("/") + SlotFile(c.slot), SlotMode(p, c.slot)));
      r.ret = 0;
      break;
    case Op::kDupClose:
      vfs::ReleasePosixLocks(f, owner);
      r.ret = 0;
      break;
  }
  return r;
}

}  // namespace veil::difftest
