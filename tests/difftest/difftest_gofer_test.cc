// SPDX-License-Identifier: Apache-2.0
//
// The differential harness through LISAFS: the host's tmpfs against veil's
// VFS over GoferFs, whose files a real, confined `veil gofer` child serves
// from a scratch directory on the host's tmpfs. The gofer acts as root;
// the VFS makes every permission decision for the harness's users, and new
// files get the caller's fsuid/fsgid through the create messages.
//
// Each run executes kFixedSeeds plus one fresh seed printed in the log. To
// replay: VEIL_DIFFTEST_SEED=<seed> VEIL_DIFFTEST_STEPS=<n>
// difftest_gofer_test --gtest_filter='*Fresh*'. Needs root (the host
// reference chroots, the gofer confines itself); skips otherwise.
#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "gofer/client/gofer_fs.h"
#include "gofer/client/gofer_process.h"
#include "lisafs/client.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/vfs_backend.h"

#ifndef VEIL_BINARY
#error "VEIL_BINARY must name the veil executable"
#endif

namespace veil::difftest {
namespace {

constexpr uint64_t kFixedSeeds[] = {1, 2, 3, 4, 5, 6, 7, 8, 9, 10};
constexpr int kStepsPerSeed = 1000;

uint64_t EnvOr(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  return v ? std::strtoull(v, nullptr, 0) : fallback;
}

std::string Describe(const Errno& e) {
  std::string s = e.message() ? e.message() : "";
  return s + " (" + std::strerror(e.code()) + ")";
}

// The gofer refuses some things by policy (gofer/server/host_backend.h):
// device nodes other than the overlay whiteout, xattrs outside "user." and
// "trusted.overlay.", and xattr changes on anything but regular files and
// directories (it cannot open them without /proc). Linux allows all of
// them to root, so each would diverge at once and hide everything after
// it. This wrapper, put around *both* backends, turns such calls into ones
// both sides answer alike: root's device nodes become FIFOs (the host
// reference refuses to make 0:0 whiteouts), "trusted.x" becomes
// "trusted.overlay.x" (still CAP_SYS_ADMIN only), and a trusted.* change
// on another file type is EPERM on both sides. Everything else passes
// through untouched; the refusals themselves are the gofer's tests' job.
class GoferPolicy final : public Backend {
 public:
  explicit GoferPolicy(Backend& inner) : inner_(inner) {}

  const char* Name() const override { return inner_.Name(); }
  void SetCreds(const Creds& creds) override {
    root_ = creds.uid == 0;
    inner_.SetCreds(creds);
  }
  int Mknod(const std::string& path, mode_t mode, dev_t dev) override {
    if (root_ && (S_ISCHR(mode) || S_ISBLK(mode))) {
      mode = S_IFIFO | (mode & 07777);
      dev = 0;
    }
    return inner_.Mknod(path, mode, dev);
  }
  int SetXattr(const std::string& path, const std::string& name,
               const std::string& value, int flags) override {
    if (RefusedChange(path, name)) return -EPERM;
    return inner_.SetXattr(path, Served(name), value, flags);
  }
  int GetXattr(const std::string& path, const std::string& name,
               std::string* value) override {
    return inner_.GetXattr(path, Served(name), value);
  }
  int RemoveXattr(const std::string& path, const std::string& name) override {
    if (RefusedChange(path, name)) return -EPERM;
    return inner_.RemoveXattr(path, Served(name));
  }

  // The rest is the inner backend's.
  int Open(const std::string& p, int f, mode_t m) override {
    return inner_.Open(p, f, m);
  }
  int Close(int fd) override { return inner_.Close(fd); }
  int Mkdir(const std::string& p, mode_t m) override {
    return inner_.Mkdir(p, m);
  }
  int Symlink(const std::string& t, const std::string& p) override {
    return inner_.Symlink(t, p);
  }
  int Link(const std::string& o, const std::string& n, int f) override {
    return inner_.Link(o, n, f);
  }
  int Unlink(const std::string& p) override { return inner_.Unlink(p); }
  int Rmdir(const std::string& p) override { return inner_.Rmdir(p); }
  int Rename(const std::string& o, const std::string& n, unsigned f) override {
    return inner_.Rename(o, n, f);
  }
  int Stat(const std::string& p, int f, StatResult* out) override {
    return inner_.Stat(p, f, out);
  }
  int Readlink(const std::string& p, std::string* out) override {
    return inner_.Readlink(p, out);
  }
  int Chmod(const std::string& p, mode_t m) override {
    return inner_.Chmod(p, m);
  }
  int Chown(const std::string& p, uid_t u, gid_t g, int f) override {
    return inner_.Chown(p, u, g, f);
  }
  int Utimens(const std::string& p, const struct timespec t[2],
              int f) override {
    return inner_.Utimens(p, t, f);
  }
  int Truncate(const std::string& p, off_t l) override {
    return inner_.Truncate(p, l);
  }
  int Access(const std::string& p, int m, int f) override {
    return inner_.Access(p, m, f);
  }
  int ListXattr(const std::string& p, std::vector<std::string>* n) override {
    return inner_.ListXattr(p, n);
  }
  int Pread(int fd, size_t c, off_t o, std::string* out) override {
    return inner_.Pread(fd, c, o, out);
  }
  int Pwrite(int fd, const std::string& d, off_t o) override {
    return inner_.Pwrite(fd, d, o);
  }
  int Read(int fd, size_t c, std::string* out) override {
    return inner_.Read(fd, c, out);
  }
  int Write(int fd, const std::string& d) override {
    return inner_.Write(fd, d);
  }
  off_t Lseek(int fd, off_t o, int w) override {
    return inner_.Lseek(fd, o, w);
  }
  int Ftruncate(int fd, off_t l) override { return inner_.Ftruncate(fd, l); }
  int Fallocate(int fd, int m, off_t o, off_t l) override {
    return inner_.Fallocate(fd, m, o, l);
  }
  int Fstat(int fd, StatResult* out) override { return inner_.Fstat(fd, out); }
  int Fchmod(int fd, mode_t m) override { return inner_.Fchmod(fd, m); }
  int Getdents(int fd, std::vector<DirEntry>* out) override {
    return inner_.Getdents(fd, out);
  }

 private:
  static std::string Served(const std::string& name) {
    static constexpr std::string_view kTrusted = "trusted.";
    if (name.size() > kTrusted.size() && name.starts_with(kTrusted) &&
        !name.starts_with("trusted.overlay."))
      return "trusted.overlay." + name.substr(kTrusted.size());
    return name;
  }

  // A trusted.* change the gofer refuses: on a file that is neither
  // regular nor a directory (l*xattr: the path's last symlink itself).
  bool RefusedChange(const std::string& path, const std::string& name) {
    if (!name.starts_with("trusted.")) return false;
    StatResult st;
    if (inner_.Stat(path, AT_SYMLINK_NOFOLLOW, &st) != 0) return false;
    return !S_ISREG(st.mode) && !S_ISDIR(st.mode);
  }

  Backend& inner_;  // borrowed; outlives the wrapper
  bool root_ = true;
};

// A gofer serving a fresh scratch directory, and the VfsBackend over it.
class GoferSide {
 public:
  static Result<std::unique_ptr<GoferSide>> Create() {
    std::unique_ptr<GoferSide> side(new GoferSide());
    char tmpl[] = "/dev/shm/veil-difftest-gofer-XXXXXX";
    if (!mkdtemp(tmpl)) return Errno::FromErrno();
    side->dir_ = tmpl;
    gofer::GoferProcess gofer = VEIL_TRY(gofer::StartGofer(
        VEIL_BINARY, side->dir_, gofer::GoferAccess::kReadWrite));
    side->gofer_.emplace(std::move(gofer));
    auto channel = VEIL_TRY(lisafs::Channel::Adopt(side->gofer_->TakeSocket()));
    auto client = VEIL_TRY(lisafs::Client::Create(std::move(channel)));
    Ref<gofer::GoferFs> fs =
        VEIL_TRY(gofer::GoferFs::Create(std::move(client)));
    side->backend_ = std::make_unique<VfsBackend>(fs, "veil-gofer");
    return side;
  }

  ~GoferSide() {
    backend_.reset();  // the VFS, GoferFs and the connection
    if (gofer_) {
      Result<int> status = gofer_->Stop(std::chrono::seconds(5));
      EXPECT_TRUE(status && WIFEXITED(*status) && WEXITSTATUS(*status) == 0)
          << "the gofer did not exit cleanly";
    }
    if (!dir_.empty()) std::filesystem::remove_all(dir_);
  }

  VfsBackend& backend() { return *backend_; }

 private:
  GoferSide() = default;
  std::string dir_;
  std::optional<gofer::GoferProcess> gofer_;
  std::unique_ptr<VfsBackend> backend_;
};

void RunSeed(uint64_t seed, int steps) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root";
  if (access(VEIL_BINARY, X_OK) != 0)
    GTEST_SKIP() << "no veil binary at " << VEIL_BINARY;
  auto host = HostBackend::Create();
  if (!host)
    GTEST_SKIP() << "host reference unavailable: " << Describe(host.error());
  auto side = GoferSide::Create();
  ASSERT_TRUE(side.has_value()) << "gofer: " << Describe(side.error());
  std::string report;
  GoferPolicy expected(**host), actual((*side)->backend());
  bool same = RunDifferential(expected, actual, seed, steps, &report);
  EXPECT_TRUE(same) << report;
  if (same) std::printf("%s\n", report.c_str());
}

class DifftestGoferTest : public ::testing::TestWithParam<uint64_t> {};

TEST_P(DifftestGoferTest, AgreesWithHostTmpfs) {
  RunSeed(GetParam(),
          static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

INSTANTIATE_TEST_SUITE_P(FixedSeeds, DifftestGoferTest,
                         ::testing::ValuesIn(kFixedSeeds));

TEST(DifftestGoferFreshSeedTest, AgreesWithHostTmpfs) {
  uint64_t fresh = static_cast<uint64_t>(
      std::chrono::system_clock::now().time_since_epoch().count());
  uint64_t seed = EnvOr("VEIL_DIFFTEST_SEED", fresh);
  std::printf("difftest seed %llu (replay: VEIL_DIFFTEST_SEED=%llu)\n",
              static_cast<unsigned long long>(seed),
              static_cast<unsigned long long>(seed));
  RunSeed(seed, static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", kStepsPerSeed)));
}

}  // namespace
}  // namespace veil::difftest
