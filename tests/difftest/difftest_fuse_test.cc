// SPDX-License-Identifier: Apache-2.0
//
// The differential harness through the host kernel's FUSE client: host
// tmpfs against the same syscalls on a `veil fuse` mount, so what a person
// sees through the mount must be what a host directory would show.
//
// Both sides are HostBackends (real syscalls, per-thread chroot, per-call
// credentials). The one under test mounts, in its `prepare` hook,
//   --tmpfs:  `veil fuse -f --tmpfs <scratch>/root`
//   --gofer:  `veil fuse -f --gofer <scratch>/served <scratch>/root`
//   SANDBOX:  `veil do --name difftest -- sleep` (a running sandbox over
//             the host's /), `veil fuse -f --rw difftest <scratch>/view`
//             (its live view, served by its sentry), and the sandbox's
//             /tmp (a veil tmpfs, made 0755 as the host side's root) bind-
//             mounted on <scratch>/root
// as a foreground child process, and unmounts it and reaps the child in
// `teardown`. The kernel sends every request with the caller's fsuid, fsgid
// and groups, and the adapter lets veil's VFS make every decision, so the
// two sides must agree exactly, as for difftest_tmpfs and difftest_gofer.
// The --gofer suite wraps both sides in GoferPolicy (gofer_policy.h).
// What the kernel's FUSE client does itself, which no daemon can change,
// is made to agree narrowly by FuseKernelEffects (below), on both sides.
// The mount needs `default_permissions` (see tools/fuse/fuse_adapter.h):
// without it the kernel's EISDIR/ENOTDIR come before the Vfs's EACCES.
//
// FUSE is slow here (several requests per call, each a round trip through
// the kernel and two context switches), so the suites run fewer seeds and
// steps than difftest_tmpfs; see kTmpfsSteps and kGoferSteps.
//
// To replay a failure:
//   VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
//   [VEIL_DIFFTEST_TRACE=<file>] difftest_fuse_test
//   --gtest_filter='DifftestFuse*FreshSeedTest.*'
// Needs root and a usable /dev/fuse; skips (with the reason) otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <set>
#include <sstream>
#include <string>
#include <thread>

#include "tests/difftest/forwarding_backend.h"
#include "tests/difftest/gofer_policy.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/integration/shell_util.h"
#include "tests/difftest/seeds.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace veil::difftest {
namespace {

// Per seed. The trees, and with them the requests per step, grow with the
// steps; the gofer suite adds a LISAFS round trip to most requests.
constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5};
constexpr int kTmpfsSteps = 400;
constexpr int kGoferSteps = 300;

using integration::IsFuseMount;
using integration::kFuseSuperMagic;
using integration::ReadFile;

constexpr auto kMountTimeout = std::chrono::seconds(10);
constexpr auto kExitTimeout = std::chrono::seconds(10);

enum class Mode { kTmpfs, kGofer, kSandbox };

// The sandbox a view is mounted from (Mode::kSandbox).
constexpr char kSandboxName[] = "difftest";

// The `veil fuse` child on `<scratch>/root`: Start() is the HostBackend's
// prepare hook, Stop() its teardown. Stop() also runs from the destructor,
// so no path out of a test leaves the mount behind; and the child gets
// SIGTERM (which unmounts cleanly) if this process dies first.
class FuseChild {
 public:
  explicit FuseChild(Mode mode) : mode_(mode) {}
  ~FuseChild() { Stop(); }
  FuseChild(const FuseChild&) = delete;
  FuseChild& operator=(const FuseChild&) = delete;

  Result<void> Start(const std::string& scratch) {
    mnt_ = scratch + "/root";
    log_ = scratch + "/veil.log";
    std::string served = scratch + "/served";
    if (mode_ == Mode::kGofer && mkdir(served.c_str(), 0755) != 0)
      return Errno(errno, "mkdir of the gofer's directory failed");
    std::vector<std::string> args = {"--tmpfs"};
    if (mode_ == Mode::kGofer) args = {"--gofer", served};
    if (mode_ == Mode::kSandbox) {
      VEIL_TRY_VOID(StartSandbox(scratch));
      bind_ = mnt_;
      mnt_ = scratch + "/view";
      if (mkdir(mnt_.c_str(), 0755) != 0)
        return Errno(errno, "mkdir of the view's mount point failed");
      args = {"--rw", "--root", scratch + "/run", kSandboxName};
    }
    // VEIL_DIFFTEST_DCACHE, as for the in-process backends (vfs_backend.h).
    if (const char* budget = std::getenv("VEIL_DIFFTEST_DCACHE"))
      args.insert(args.begin(), {"--dcache", budget});
    integration::VeilFuse child =
        integration::StartVeilFuse(VEIL_BINARY, args, mnt_, log_,
                                   kMountTimeout);
    pid_ = child.pid;
    if (child.exited) {
      cannot_mount_ = child.cannot_mount();
      failure_ = "veil fuse exited with status " +
                 std::to_string(child.status) +
                 " before mounting: " + ReadFile(log_);
      return Errno(ENODEV, "veil fuse exited before mounting");
    }
    if (child.timed_out) {
      failure_ = "no FUSE mount after 10 s: " + ReadFile(log_);
      return Errno(ETIMEDOUT, "veil fuse did not mount in time");
    }
    if (mode_ == Mode::kSandbox) {
      // The sandbox's /tmp, through the view, is the tree under test.
      const std::string tmp = mnt_ + "/tmp";
      if (chmod(tmp.c_str(), 0755) != 0 ||
          mount(tmp.c_str(), bind_.c_str(), nullptr, MS_BIND, nullptr) != 0)
        return Errno(errno, "binding the sandbox's /tmp failed");
    }
    return Ok();
  }

  // `veil do --root <scratch>/run --name difftest -- /bin/sleep`, until
  // it is registered with its sentry.
  Result<void> StartSandbox(const std::string& scratch) {
    const std::string run = scratch + "/run";
    const std::string log = scratch + "/do.log";
    const pid_t parent = getpid();
    do_pid_ = fork();
    if (do_pid_ < 0) return Errno(errno, "fork failed");
    if (do_pid_ == 0) {
      prctl(PR_SET_PDEATHSIG, SIGKILL);
      if (getppid() != parent) _exit(1);
      int fd = open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
      if (fd >= 0) {
        dup2(fd, 1);
        dup2(fd, 2);
      }
      execl(VEIL_BINARY, "veil", "do", "--root", run.c_str(), "--name",
            kSandboxName, "--", "/bin/sleep", "100000", nullptr);
      _exit(127);
    }
    const auto deadline = std::chrono::steady_clock::now() + kMountTimeout;
    for (;;) {
      const std::string state =
          ReadFile(run + "/" + kSandboxName + "/state");
      if (state.find("sentry_pid ") != std::string::npos &&
          state.find("sentry_pid 0\n") == std::string::npos)
        return Ok();
      if (waitpid(do_pid_, nullptr, WNOHANG) == do_pid_) {
        do_pid_ = -1;
        failure_ = "veil do ended: " + ReadFile(log);
        return Errno(ECHILD, "veil do ended before the sandbox ran");
      }
      if (std::chrono::steady_clock::now() > deadline) {
        failure_ = "no sandbox after 10 s: " + ReadFile(log);
        return Errno(ETIMEDOUT, "the sandbox did not start in time");
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  // Unmounts, then reaps the child, which leaves its session loop when the
  // connection goes. Records how it exited in failure_.
  void Stop() {
    if (!bind_.empty()) {
      umount2(bind_.c_str(), MNT_DETACH);
      bind_.clear();
    }
    if (pid_ > 0) {
      // A plain unmount fails (EBUSY) only if something still uses the
      // mount; SIGTERM makes veil unmount it itself.
      if (umount2(mnt_.c_str(), 0) != 0) kill(pid_, SIGTERM);
      int status = 0;
      pid_t got = 0;
      auto deadline = std::chrono::steady_clock::now() + kExitTimeout;
      while ((got = waitpid(pid_, &status, WNOHANG)) == 0 &&
             std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::milliseconds(10));
      if (got != pid_) {
        kill(pid_, SIGKILL);
        waitpid(pid_, &status, 0);
        failure_ =
            "veil fuse did not exit after the unmount: " + ReadFile(log_);
      } else if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
        failure_ = "veil fuse exited with status " + std::to_string(status) +
                   ": " + ReadFile(log_);
      }
      pid_ = -1;
    }
    // Whatever happened above, leave no mount (a killed daemon's mount
    // answers ENOTCONN until it is detached).
    if (!mnt_.empty()) {
      struct statfs st;
      if (statfs(mnt_.c_str(), &st) != 0 || st.f_type == kFuseSuperMagic)
        umount2(mnt_.c_str(), MNT_DETACH);
      mnt_.clear();
    }
    if (do_pid_ > 0) {
      kill(do_pid_, SIGTERM);  // the sentry and its task die with veil
      waitpid(do_pid_, nullptr, 0);
      do_pid_ = -1;
    }
  }

  bool cannot_mount() const { return cannot_mount_; }
  const std::string& failure() const { return failure_; }

 private:
  const Mode mode_;
  pid_t pid_ = -1;
  pid_t do_pid_ = -1;  // Mode::kSandbox's veil do
  std::string mnt_, log_;
  std::string bind_;  // Mode::kSandbox: the bind mount on the root
  bool cannot_mount_ = false;
  std::string failure_;  // why the mount failed or its daemon misbehaved
};

// What the host kernel's FUSE client does itself, without asking the
// daemon, and so differently from a local filesystem whatever the daemon
// answers. Put around *both* backends, this makes exactly those calls
// agree and passes everything else through:
//
//  - atime of a regular file read through a descriptor. FUSE inodes are
//    S_NOATIME (fuse_init_inode): the kernel never stamps atime, the
//    daemon does when it serves a FUSE_READ. But reads are served from
//    the page cache (the mount cannot use direct_io: shared mmap would
//    fail with ENODEV), so a read of cached pages, of a range readahead
//    already fetched, or at or past the end of file the kernel knows
//    never reaches the daemon, while host tmpfs stamps atime (relatime)
//    for every one. After a successful read/pread the file's atime reads
//    as kMaskedAtime on both sides until its atime is next set
//    explicitly (the runner does that before the next step).
//  - the times of a FIFO read or written through a descriptor. A FIFO on
//    a FUSE mount is the kernel's own pipe (init_special_inode): its
//    reads and writes never reach the daemon, and the times pipe_read and
//    pipe_write stamp stay in the kernel's inode, which the next stat
//    replaces with the daemon's (attribute timeout 0). After a successful
//    read or write on a FIFO its atime, or its mtime and ctime, read as
//    kMaskedAtime on both sides until they are next set explicitly.
//  - lseek on a directory with SEEK_END, SEEK_DATA or SEEK_HOLE. FUSE
//    directories use generic_file_llseek, which the daemon never sees
//    (FUSE_LSEEK is sent for regular files only): SEEK_END gives the
//    directory's size plus the offset, SEEK_DATA/SEEK_HOLE ENXIO or the
//    offset. Host tmpfs (offset_dir_llseek) says EINVAL to all three, so
//    both sides answer EINVAL here without asking.
//  - open of a device node. libfuse mounts nodev (and nosuid), rightly: a
//    sandbox's device nodes must never open host devices. may_open then
//    answers EACCES for every device node; host tmpfs opens it and fails
//    with ENXIO (the harness only makes nodes for majors 60-63, which
//    have no driver). An open whose target is a device and that fails
//    with either errno reads as EACCES on both sides.
class FuseKernelEffects final : public ForwardingBackend {
 public:
  using ForwardingBackend::ForwardingBackend;

  int Open(const std::string& path, int flags, mode_t mode) override {
    int rc = inner().Open(path, flags, mode);
    StatResult st;
    if ((rc == -EACCES || rc == -ENXIO) && !(flags & O_PATH) &&
        inner().Stat(path, (flags & O_NOFOLLOW) ? AT_SYMLINK_NOFOLLOW : 0,
                     &st) == 0 &&
        (S_ISCHR(st.mode) || S_ISBLK(st.mode)))
      return -EACCES;
    return rc;
  }

  static constexpr struct timespec kMaskedAtime = {1, 0};

  int Stat(const std::string& path, int flags, StatResult* out) override {
    int rc = inner().Stat(path, flags, out);
    if (rc == 0) Mask(out);
    return rc;
  }
  int Fstat(int fd, StatResult* out) override {
    int rc = inner().Fstat(fd, out);
    if (rc == 0) Mask(out);
    return rc;
  }
  int Read(int fd, size_t count, std::string* out) override {
    int rc = inner().Read(fd, count, out);
    if (rc >= 0) NoteRead(fd);
    return rc;
  }
  int Write(int fd, const std::string& data) override {
    int rc = inner().Write(fd, data);
    StatResult st;
    if (rc >= 0 && inner().Fstat(fd, &st) == 0 && S_ISFIFO(st.mode))
      written_.insert(st.ino);
    return rc;
  }
  int Pread(int fd, size_t count, off_t offset, std::string* out) override {
    int rc = inner().Pread(fd, count, offset, out);
    if (rc >= 0) NoteRead(fd);
    return rc;
  }
  int Utimens(const std::string& path, const struct timespec times[2],
              int flags) override {
    int rc = inner().Utimens(path, times, flags);
    StatResult st;
    if (rc == 0 && (!times || times[0].tv_nsec != UTIME_OMIT) &&
        inner().Stat(path, flags & AT_SYMLINK_NOFOLLOW, &st) == 0) {
      read_.erase(st.ino);
      if (!times || times[1].tv_nsec != UTIME_OMIT) written_.erase(st.ino);
    }
    return rc;
  }
  off_t Lseek(int fd, off_t offset, int whence) override {
    StatResult st;
    if (whence != SEEK_SET && whence != SEEK_CUR &&
        inner().Fstat(fd, &st) == 0 && S_ISDIR(st.mode))
      return -EINVAL;
    return inner().Lseek(fd, offset, whence);
  }

 private:
  void NoteRead(int fd) {
    StatResult st;
    if (inner().Fstat(fd, &st) == 0 && (S_ISREG(st.mode) || S_ISFIFO(st.mode)))
      read_.insert(st.ino);
  }
  void Mask(StatResult* st) const {
    if (read_.count(st->ino)) {
      st->atime_sec = kMaskedAtime.tv_sec;
      st->atime_nsec = kMaskedAtime.tv_nsec;
    }
    if (written_.count(st->ino)) {
      st->mtime_sec = st->ctime_sec = kMaskedAtime.tv_sec;
      st->mtime_nsec = st->ctime_nsec = kMaskedAtime.tv_nsec;
    }
  }

  std::set<uint64_t> read_;     // inodes whose atime is masked
  std::set<uint64_t> written_;  // FIFOs whose mtime and ctime are masked
};

std::string Describe(const Errno& e) {
  std::string s = e.message() ? e.message() : "";
  return s + " (" + std::strerror(e.code()) + ")";
}

void RunSeed(Mode mode, uint64_t seed, int steps) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (chroot, allow_other)";
  if (access("/dev/fuse", R_OK | W_OK) != 0)
    GTEST_SKIP() << "/dev/fuse is not usable: " << std::strerror(errno);
  if (access(VEIL_BINARY, X_OK) != 0)
    GTEST_SKIP() << "no veil binary at " << VEIL_BINARY;
  auto host = HostBackend::Create();
  if (!host)
    GTEST_SKIP() << "host reference unavailable: " << Describe(host.error());

  // Declared before the backend: the backend's teardown calls Stop(), and
  // the destructor calls it again if the backend never got that far.
  FuseChild child(mode);
  HostBackendOptions options;
  options.prepare = [&](const std::string& scratch) -> Result<void> {
    return child.Start(scratch);
  };
  options.teardown = [&](const std::string&) { child.Stop(); };
  auto fuse = HostBackend::Create(options);
  if (!fuse) {
    if (child.cannot_mount())
      GTEST_SKIP() << "veil fuse could not mount: " << child.failure();
    FAIL() << "FUSE side: " << Describe(fuse.error()) << ": "
           << child.failure();
  }

  RunOptions run;
  std::FILE* trace = nullptr;
  if (const char* path = std::getenv("VEIL_DIFFTEST_TRACE"))
    trace = run.trace = std::fopen(path, "w");
  std::string report;
  bool same;
  FuseKernelEffects host_effects(**host), fuse_effects(**fuse);
  if (mode == Mode::kGofer) {
    GoferPolicy expected(host_effects), actual(fuse_effects);
    same = RunDifferential(expected, actual, seed, steps, &report, run);
  } else {
    same =
        RunDifferential(host_effects, fuse_effects, seed, steps, &report, run);
  }
  if (trace) std::fclose(trace);
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
  fuse->reset();  // unmounts through the teardown hook
  EXPECT_EQ(child.failure(), "");
}

int Steps(Mode mode) {
  return static_cast<int>(EnvOr(
      "VEIL_DIFFTEST_STEPS", mode == Mode::kGofer ? kGoferSteps : kTmpfsSteps));
}

class DifftestFuseTmpfsTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestFuseTmpfsTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kTmpfs, GetParam(), Steps(Mode::kTmpfs));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestFuseTmpfsTest,
                         ::testing::ValuesIn(kFixedSeeds));

TEST(DifftestFuseTmpfsFreshSeedTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kTmpfs, FreshSeed(), Steps(Mode::kTmpfs));
}

class DifftestFuseGoferTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestFuseGoferTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kGofer, GetParam(), Steps(Mode::kGofer));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestFuseGoferTest,
                         ::testing::ValuesIn(kFixedSeeds));

TEST(DifftestFuseGoferFreshSeedTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kGofer, FreshSeed(), Steps(Mode::kGofer));
}

// The live view of a running sandbox (`veil fuse --rw SANDBOX MNT`): the
// host kernel's FUSE client over GoferFs over LISAFS over the sentry's
// Vfs (sentry/control/vfs_backend.h), a tmpfs of the sandbox at its end.
class DifftestFuseSandboxTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestFuseSandboxTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kSandbox, GetParam(), Steps(Mode::kSandbox));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestFuseSandboxTest,
                         ::testing::ValuesIn(kFixedSeeds));

TEST(DifftestFuseSandboxFreshSeedTest, AgreesWithHostTmpfs) {
  RunSeed(Mode::kSandbox, FreshSeed(), Steps(Mode::kSandbox));
}

}  // namespace
}  // namespace veil::difftest
