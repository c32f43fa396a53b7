// SPDX-License-Identifier: Apache-2.0
//
// File locks against the host kernel: the same random sequence of fcntl
// record-lock, OFD-lock and flock operations, seeks, truncates and closes,
// issued by several owners, runs on the host (each owner a forked process
// with its own descriptors on a host tmpfs file) and on veil's VFS (each
// owner a LockOwner with its own FileDescriptions), and every result,
// errno and F_GETLK report must agree. Every 50 steps a sweep asks each
// process F_GETLK at every offset of both files, so the whole lock state is
// compared, not only what the random calls touch.
//
// Only calls that never block are generated (F_SETLK, F_OFD_SETLK,
// LOCK_NB); waiting, EDEADLK and EINTR are covered by the unit tests in
// tests/unit/vfs/file_lock_wait_test.cc.
//
// Replay: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
// difftest_locks_test; VEIL_DIFFTEST_TRACE=1 prints every operation.
#include <gtest/gtest.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <random>
#include <string>

#include "tests/difftest/seeds.h"
#include "vfs/fcntl_lock.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3};
constexpr int kStepsPerSeed = 1000;
constexpr int kSweepEvery = 50;
constexpr int kProcs = 3;
constexpr int kSlots = 3;  // descriptors per process
constexpr int kFileSize = 10;

enum class Op : int { kSetLk, kGetLk, kFlock, kSeek, kTruncate, kReopen, kDupClose };

struct Command {
  Op op;
  int slot;
  int cmd;  // fcntl command
  struct flock fl;
  int64_t arg;  // flock operation, seek offset, truncate length
};

struct Reply {
  int64_t ret;  // >= 0, or -errno
  struct flock fl;
};

// Slot s of process p: which file and how it is open.
const char* SlotFile(int s) { return s == 2 ? "b" : "a"; }
int SlotMode(int p, int s) {
  if (s == 1) return p == 1 ? O_WRONLY : O_RDONLY;
  return O_RDWR;
}

// --- Host side: one forked process per owner -------------------------------

class HostProc {
 public:
  bool Start(const std::string& dir, int p) {
    int to_child[2], from_child[2];
    if (pipe(to_child) != 0 || pipe(from_child) != 0) return false;
    pid_ = fork();
    if (pid_ < 0) return false;
    if (pid_ == 0) {
      close(to_child[1]);
      close(from_child[0]);
      ChildLoop(dir, p, to_child[0], from_child[1]);
    }
    close(to_child[0]);
    close(from_child[1]);
    out_ = to_child[1];
    in_ = from_child[0];
    return true;
  }
  ~HostProc() {
    if (pid_ <= 0) return;
    close(out_);
    close(in_);
    waitpid(pid_, nullptr, 0);
  }
  pid_t pid() const { return pid_; }
  Reply Run(const Command& c) {
    Reply r{};
    if (write(out_, &c, sizeof c) != sizeof c ||
        read(in_, &r, sizeof r) != sizeof r)
      r.ret = -1000;  // the child died: always a divergence
    return r;
  }

 private:
  // Runs in the child: only plain syscalls, then _exit.
  [[noreturn]] static void ChildLoop(const std::string& dir, int p, int in,
                                     int out) {
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
        case Op::kSetLk: rc = fcntl(fd, c.cmd, &r.fl); break;
        case Op::kGetLk: rc = fcntl(fd, c.cmd, &r.fl); break;
        case Op::kFlock: rc = flock(fd, static_cast<int>(c.arg)); break;
        case Op::kSeek: rc = lseek(fd, c.arg, SEEK_SET); break;
        case Op::kTruncate: rc = ftruncate(fd, c.arg); break;
        case Op::kReopen:
          close(fd);
          fds[c.slot] = open(paths[c.slot].c_str(), SlotMode(p, c.slot));
          rc = fds[c.slot] < 0 ? -1 : 0;
          break;
        case Op::kDupClose: rc = close(dup(fd)); break;
      }
      r.ret = rc < 0 ? -errno : rc;
      if (write(out, &r, sizeof r) != sizeof r) break;
    }
    _exit(0);
  }

  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
};

// --- veil side ------------------------------------------------------------------

class VfsSide {
 public:
  explicit VfsSide(const pid_t (&pids)[kProcs])
      : vfs_(vfs::tmpfs::Tmpfs::Create(vfs::tmpfs::TmpfsOptions{0755, 0, 0})),
        ctx_(vfs_.RootContext()) {
    for (const char* name : {"a", "b"}) {
      auto f = VEIL_MUST(Open(std::string("/") + name, O_CREAT | O_RDWR));
      std::string data(kFileSize, 'x');
      (void)VEIL_MUST(f->Write(std::span<const uint8_t>(
          reinterpret_cast<const uint8_t*>(data.data()), data.size())));
    }
    for (int p = 0; p < kProcs; ++p) {
      owners_[p] = vfs::LockOwner::Process(1000 + p, pids[p]);
      for (int s = 0; s < kSlots; ++s)
        slots_[p][s] =
            VEIL_MUST(Open(std::string("/") + SlotFile(s), SlotMode(p, s)));
    }
  }

  Reply Run(int p, const Command& c) {
    Reply r{};
    r.fl = c.fl;
    vfs::FileDescription& f = *slots_[p][c.slot];
    const vfs::LockOwner& owner = owners_[p];
    auto code = [](const auto& result) -> int64_t {
      return result ? 0 : -result.error().code();
    };
    switch (c.op) {
      case Op::kSetLk:
        r.ret = code(vfs::SetRecordLock(f, c.cmd, c.fl, owner, nullptr));
        break;
      case Op::kGetLk:
        r.ret = code(vfs::GetRecordLock(f, c.cmd, owner, &r.fl));
        break;
      case Op::kFlock:
        r.ret = code(vfs::Flock(f, static_cast<int>(c.arg), nullptr));
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

 private:
  Result<Ref<vfs::FileDescription>> Open(const std::string& path, int flags) {
    return vfs_.OpenAt(ctx_, ctx_.cwd, path, vfs::OpenHow{flags, 0644, 0});
  }

  vfs::Vfs vfs_;
  vfs::Context ctx_;
  vfs::LockOwner owners_[kProcs];
  RefPtr<vfs::FileDescription> slots_[kProcs][kSlots];
};

// --- Generator ------------------------------------------------------------------

class Generator {
 public:
  explicit Generator(uint64_t seed) : rng_(seed) {}

  int Pick(int n) { return static_cast<int>(rng_() % static_cast<uint64_t>(n)); }
  bool Chance(int percent) { return Pick(100) < percent; }

  struct flock RandomFlock(bool for_get, bool ofd) {
    struct flock fl {};
    int t = Pick(100);
    fl.l_type = t < 40 ? F_RDLCK : t < 80 ? F_WRLCK : t < 98 ? F_UNLCK : 7;
    if (for_get && !ofd && fl.l_type == F_UNLCK && !Chance(10))
      fl.l_type = F_WRLCK;
    int w = Pick(100);
    fl.l_whence = w < 80 ? SEEK_SET : w < 88 ? SEEK_CUR : w < 96 ? SEEK_END : 5;
    fl.l_start = Chance(2) ? INT64_MAX - Pick(3) : Pick(27) - 2;
    fl.l_len = Chance(15) ? 0 : Chance(2) ? INT64_MAX : Pick(19) - 6;
    fl.l_pid = Chance(5) ? 1 + Pick(3) : 0;
    return fl;
  }

  Command Next(int* proc) {
    *proc = Pick(kProcs);
    Command c{};
    c.slot = Pick(kSlots);
    int op = Pick(100);
    if (op < 40) {
      c.op = Op::kSetLk;
      bool ofd = Chance(40);
      c.cmd = ofd ? F_OFD_SETLK : F_SETLK;
      c.fl = RandomFlock(false, ofd);
    } else if (op < 65) {
      c.op = Op::kGetLk;
      bool ofd = Chance(40);
      c.cmd = ofd ? F_OFD_GETLK : F_GETLK;
      c.fl = RandomFlock(true, ofd);
    } else if (op < 80) {
      c.op = Op::kFlock;
      static constexpr int kOps[] = {LOCK_SH | LOCK_NB, LOCK_EX | LOCK_NB,
                                     LOCK_UN, LOCK_UN | LOCK_NB};
      c.arg = Chance(3) ? (Chance(50) ? LOCK_SH | LOCK_EX : 0) : kOps[Pick(4)];
    } else if (op < 85) {
      c.op = Op::kSeek;
      c.arg = Pick(15);
    } else if (op < 90) {
      c.op = Op::kTruncate;
      c.slot = Chance(50) ? 0 : 2;  // open for writing in every process
      c.arg = Pick(20);
    } else if (op < 95) {
      c.op = Op::kReopen;
    } else {
      c.op = Op::kDupClose;
    }
    return c;
  }

 private:
  std::mt19937_64 rng_;
};

std::string Describe(int p, const Command& c) {
  char buf[256];
  std::snprintf(buf, sizeof buf,
                "proc %d slot %d op %d cmd %d type %d whence %d start %lld "
                "len %lld pid %d arg %lld",
                p, c.slot, static_cast<int>(c.op), c.cmd, c.fl.l_type,
                c.fl.l_whence, static_cast<long long>(c.fl.l_start),
                static_cast<long long>(c.fl.l_len), c.fl.l_pid,
                static_cast<long long>(c.arg));
  return buf;
}

std::string Show(const Reply& r, const Command& c) {
  std::string s = "ret " + std::to_string(r.ret);
  if (c.op == Op::kGetLk && r.ret == 0) {
    s += " type " + std::to_string(r.fl.l_type);
    if (r.fl.l_type != F_UNLCK)
      s += " whence " + std::to_string(r.fl.l_whence) + " start " +
           std::to_string(r.fl.l_start) + " len " +
           std::to_string(r.fl.l_len) + " pid " + std::to_string(r.fl.l_pid);
  }
  return s;
}

// Runs `steps` steps of `seed`, stopping at the first divergence.
void RunSeed(uint64_t seed, int steps) {
  char tmpl[] = "/dev/shm/veil-locks-XXXXXX";
  char tmpl_tmp[] = "/tmp/veil-locks-XXXXXX";
  const char* dir = mkdtemp(tmpl);
  if (dir == nullptr) dir = mkdtemp(tmpl_tmp);
  ASSERT_NE(dir, nullptr) << strerror(errno);
  for (const char* name : {"a", "b"}) {
    std::string path = std::string(dir) + "/" + name;
    int fd = open(path.c_str(), O_CREAT | O_RDWR, 0644);
    ASSERT_GE(fd, 0);
    ASSERT_EQ(ftruncate(fd, kFileSize), 0);
    close(fd);
  }
  pid_t pids[kProcs];
  {
    HostProc host[kProcs];
    for (int p = 0; p < kProcs; ++p) {
      ASSERT_TRUE(host[p].Start(dir, p)) << strerror(errno);
      pids[p] = host[p].pid();
    }
    VfsSide veil(pids);
    Generator gen(seed);
    bool trace = EnvOr("VEIL_DIFFTEST_TRACE", 0) != 0;
    auto compare = [&](int p, const Command& c, int step) {
      std::string want = Show(host[p].Run(c), c);
      std::string got = Show(veil.Run(p, c), c);
      if (trace) std::printf("%d: %s -> %s\n", step, Describe(p, c).c_str(),
                             want.c_str());
      EXPECT_EQ(got, want) << "seed " << seed << " step " << step << ": "
                           << Describe(p, c);
      return got == want;
    };
    for (int step = 0; step < steps; ++step) {
      int p;
      Command c = gen.Next(&p);
      if (!compare(p, c, step)) break;
      if (step % kSweepEvery != kSweepEvery - 1) continue;
      // The whole state: every process asks about every byte of both files.
      bool same = true;
      for (int q = 0; q < kProcs && same; ++q)
        for (int slot : {0, 2})
          for (int off = 0; off < 25 && same; ++off) {
            Command probe{};
            probe.op = Op::kGetLk;
            probe.slot = slot;
            probe.cmd = F_GETLK;
            probe.fl.l_type = F_WRLCK;
            probe.fl.l_whence = SEEK_SET;
            probe.fl.l_start = off;
            probe.fl.l_len = 1;
            same = compare(q, probe, step);
          }
      if (!same) break;
    }
  }
  for (const char* name : {"a", "b"})
    unlink((std::string(dir) + "/" + name).c_str());
  rmdir(dir);
}

TEST(DifftestLocksTest, FixedSeeds) {
  int steps = static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed));
  for (uint64_t seed : kFixedSeeds) {
    RunSeed(seed, steps);
    if (HasFailure()) return;
  }
}

TEST(DifftestLocksTest, FreshSeed) {
  RunSeed(FreshSeed(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

}  // namespace
}  // namespace veil::difftest
