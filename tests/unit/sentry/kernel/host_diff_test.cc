// SPDX-License-Identifier: Apache-2.0
//
// The handlers against the host kernel: each operation runs once as a
// real *at() syscall in a fresh host directory and once through Dispatch
// in a fresh sandbox holding the same tree, and the outcomes (success, or
// the errno) must agree. Both sides are root, so permissions never
// decide; what is compared is path resolution, flags and argument rules.
#include <fcntl.h>
#include <linux/fs.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <memory>
#include <string>
#include <vector>

#include "tests/unit/sentry/kernel/fixture.h"

namespace veil::sentry {
namespace {

// A string argument that is a NULL pointer instead.
const std::string kNull = "\x01(null)";

// One *at() call: `nr`, with the dirfd at arg 0 (and at `dirfd2` too if
// it is >= 0), the strings placed at their argument indexes. Absolute
// paths are left out: the two sides have different roots.
struct Op {
  std::string what;
  long nr;
  std::vector<uint64_t> args;  // non-string arguments (0 where a string goes)
  std::vector<std::pair<int, std::string>> strings;
  int dirfd2 = -1;
  int dirfd1 = 0;  // where the first dirfd goes
};

// A fresh sandbox with the tree: f (4 bytes), d/ (with d/g), l -> f,
// dl -> d, dangling -> nx.
class Sandbox : public testing::KernelTest {
 public:
  Sandbox() {
    WriteFile("/f", "data");
    EXPECT_EQ(Call(SYS_mkdir, Str("/d"), 0755), 0);
    WriteFile("/d/g", "");
    EXPECT_EQ(Call(SYS_symlink, Str("f"), Str("/l")), 0);
    EXPECT_EQ(Call(SYS_symlink, Str("d"), Str("/dl")), 0);
    EXPECT_EQ(Call(SYS_symlink, Str("nx"), Str("/dangling")), 0);
    root_ = Call(SYS_open, Str("/"), O_RDONLY | O_DIRECTORY);
  }
  int64_t Run(const Op& op) {
    std::vector<uint64_t> a = op.args;
    a.resize(6, 0);
    a[op.dirfd1] = static_cast<uint64_t>(root_);
    if (op.dirfd2 >= 0) a[op.dirfd2] = static_cast<uint64_t>(root_);
    for (auto& [i, s] : op.strings) a[i] = s == kNull ? 0 : Str(s);
    int64_t r =
        Call(static_cast<int>(op.nr), a[0], a[1], a[2], a[3], a[4], a[5]);
    return r < 0 ? r : 0;
  }
  void TestBody() override {}

 private:
  int64_t root_ = -1;
};

int64_t RunOnHost(const Op& op) {
  // The calls' directory is a child of a scratch directory of its own:
  // names like ".." must never reach /tmp itself (fchmodat(dfd, "..")
  // would change the host's /tmp).
  char tmpl[] = "/tmp/veil_diff_XXXXXX";
  if (!::mkdtemp(tmpl)) return -9999;
  std::string top = tmpl;
  std::string dir = top + "/work";
  if (::mkdir(dir.c_str(), 0700) != 0) return -9999;
  std::string setup = "cd " + dir +
                      " && printf data > f && mkdir d && : > d/g && "
                      "ln -s f l && ln -s d dl && ln -s nx dangling";
  if (::system(setup.c_str()) != 0) return -9998;
  int dfd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  std::vector<uint64_t> a = op.args;
  a.resize(6, 0);
  a[op.dirfd1] = static_cast<uint64_t>(dfd);
  if (op.dirfd2 >= 0) a[op.dirfd2] = static_cast<uint64_t>(dfd);
  for (auto& [i, s] : op.strings)
    a[i] = s == kNull ? 0 : reinterpret_cast<uint64_t>(s.c_str());
  errno = 0;
  long r = ::syscall(op.nr, a[0], a[1], a[2], a[3], a[4], a[5]);
  int64_t out = r < 0 ? -errno : 0;
  if (r >= 0 && (op.nr == SYS_openat)) ::close(static_cast<int>(r));
  ::close(dfd);
  std::string cleanup = "rm -rf " + top;
  (void)::system(cleanup.c_str());
  return out;
}

std::vector<Op> Ops() {
  const std::vector<std::string> names = {
      "f",    "d",     "l",      "dl",        "dangling", "nx",   "f/",
      "d/",   "l/",    "dl/",    "nx/",       ".",        "..",   "d/..",
      "",     "f/x",   "d/../f", "dangling/", "d/g/",     "dl/g", "l/.",
      "d//g", "d/./g", "d/g/..", kNull};
  const std::vector<std::pair<int, const char*>> open_flags = {
      {O_RDONLY, "RDONLY"},
      {O_WRONLY, "WRONLY"},
      {O_RDWR, "RDWR"},
      {O_RDONLY | O_DIRECTORY, "DIRECTORY"},
      {O_RDONLY | O_NOFOLLOW, "NOFOLLOW"},
      {O_WRONLY | O_CREAT, "CREAT"},
      {O_WRONLY | O_CREAT | O_EXCL, "CREAT|EXCL"},
      {O_PATH, "PATH"},
      {O_PATH | O_NOFOLLOW, "PATH|NOFOLLOW"},
      {O_RDWR | O_TRUNC, "RDWR|TRUNC"},
      {O_CREAT | O_DIRECTORY, "CREAT|DIRECTORY"},
      {O_WRONLY | O_CREAT | O_NOFOLLOW, "CREAT|NOFOLLOW"},
      {O_RDONLY | O_TRUNC, "RDONLY|TRUNC"},
      {O_WRONLY | O_DIRECTORY, "WRONLY|DIRECTORY"},
      {O_PATH | O_CREAT | O_EXCL, "PATH|CREAT|EXCL"},
      {O_RDONLY | O_EXCL, "EXCL"},
      {O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW, "CREAT|EXCL|NOFOLLOW"},
      {O_RDWR | O_CREAT | O_TRUNC | O_APPEND, "CREAT|TRUNC|APPEND"},
  };
  std::vector<Op> ops;
  for (const std::string& n : names) {
    for (auto [flags, fname] : open_flags)
      ops.push_back({"openat '" + n + "' " + fname,
                     SYS_openat,
                     {0, 0, static_cast<uint64_t>(flags), 0644},
                     {{1, n}}});
    ops.push_back({"mkdirat '" + n + "'", SYS_mkdirat, {0, 0, 0755}, {{1, n}}});
    ops.push_back({"unlinkat '" + n + "'", SYS_unlinkat, {0, 0, 0}, {{1, n}}});
    ops.push_back(
        {"rmdir '" + n + "'", SYS_unlinkat, {0, 0, AT_REMOVEDIR}, {{1, n}}});
    ops.push_back({"readlinkat '" + n + "'",
                   SYS_readlinkat,
                   {0, 0, 0, 64},
                   {{1, n}, {2, std::string(64, ' ')}}});
    for (int flags : {0, AT_SYMLINK_NOFOLLOW, AT_EMPTY_PATH, 0x8000000,
                      0x8000000 | AT_EMPTY_PATH})
      ops.push_back({"fstatat '" + n + "' " + std::to_string(flags),
                     SYS_newfstatat,
                     {0, 0, 0, static_cast<uint64_t>(flags)},
                     {{1, n}, {2, std::string(256, ' ')}}});
    for (unsigned mask : {unsigned{STATX_BASIC_STATS}, 0x80000000u})
      for (int flags :
           {0, AT_EMPTY_PATH, AT_STATX_FORCE_SYNC | AT_STATX_DONT_SYNC})
        ops.push_back({"statx '" + n + "' " + std::to_string(flags) + " " +
                           std::to_string(mask),
                       SYS_statx,
                       {0, 0, static_cast<uint64_t>(flags), mask, 0},
                       {{1, n}, {4, std::string(256, ' ')}}});
    ops.push_back({"faccessat2 '" + n + "'",
                   SYS_faccessat2,
                   {0, 0, F_OK, AT_SYMLINK_NOFOLLOW},
                   {{1, n}}});
    ops.push_back({"symlinkat -> '" + n + "'",
                   SYS_symlinkat,
                   {0, 0, 0},
                   {{0, "t"}, {2, n}},
                   -1,
                   1});
    ops.push_back({"mknodat fifo '" + n + "'",
                   SYS_mknodat,
                   {0, 0, S_IFIFO | 0600, 0},
                   {{1, n}}});
    ops.push_back(
        {"fchmodat '" + n + "'", SYS_fchmodat, {0, 0, 0600}, {{1, n}}});
    ops.push_back({"utimensat nofollow '" + n + "'",
                   SYS_utimensat,
                   {0, 0, 0, AT_SYMLINK_NOFOLLOW},
                   {{1, n}}});
    for (const char* to : {"f", "d", "nx", "d/new", "dl", "f/x"}) {
      ops.push_back({"renameat '" + n + "' -> '" + to + "'",
                     SYS_renameat,
                     {0, 0, 0, 0},
                     {{1, n}, {3, to}},
                     2});
      ops.push_back({"linkat '" + n + "' -> '" + to + "'",
                     SYS_linkat,
                     {0, 0, 0, 0, 0},
                     {{1, n}, {3, to}},
                     2});
      ops.push_back({"linkat follow '" + n + "' -> '" + to + "'",
                     SYS_linkat,
                     {0, 0, 0, 0, AT_SYMLINK_FOLLOW},
                     {{1, n}, {3, to}},
                     2});
      for (unsigned flags : {RENAME_NOREPLACE, RENAME_EXCHANGE,
                             RENAME_EXCHANGE | RENAME_NOREPLACE})
        ops.push_back({"renameat2 " + std::to_string(flags) + " '" + n +
                           "' -> '" + to + "'",
                       SYS_renameat2,
                       {0, 0, 0, 0, flags},
                       {{1, n}, {3, to}},
                       2});
    }
  }
  return ops;
}

TEST(HostDiffTest, OutcomesMatchTheHostKernel) {
  if (::geteuid() != 0) GTEST_SKIP() << "compares as root on both sides";
  int mismatches = 0;
  std::vector<Op> ops = Ops();
  for (const Op& op : ops) {
    int64_t host = RunOnHost(op);
    ASSERT_GT(host, -9000) << "host setup failed for " << op.what;
    auto sandbox = std::make_unique<Sandbox>();
    int64_t ours = sandbox->Run(op);
    if (host != ours) {
      ++mismatches;
      ADD_FAILURE() << op.what << ": host "
                    << (host ? strerrorname_np(-host) : "ok") << ", veil "
                    << (ours ? strerrorname_np(-ours) : "ok");
    }
  }
  EXPECT_EQ(mismatches, 0) << "of " << ops.size() << " operations";
}

}  // namespace
}  // namespace veil::sentry
