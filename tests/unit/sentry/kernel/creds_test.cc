// SPDX-License-Identifier: Apache-2.0
//
// TaskCreds against the host kernel: random sequences of the setuid
// family, setgroups, setfsuid/setfsgid, PR_SET_KEEPCAPS and capset run
// both by a forked child of this (root) test with the real syscalls and on
// a TaskCreds; after every step the results, getresuid, getresgid,
// getgroups and the capability sets must agree.
#include "sentry/kernel/creds.h"

#include <gtest/gtest.h>
#include <linux/capability.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <random>
#include <string>
#include <vector>

namespace veil::sentry {
namespace {

struct Step {
  int op;
  uint32_t a, b, c;
  uint64_t caps[3];
};

// What one step leaves: its result and the whole credential state.
struct State {
  long result;  // value, or -errno
  uint32_t ids[8];
  uint32_t ngroups;
  uint32_t groups[8];
  uint64_t eff, prm, inh;
  int keep;
  bool operator==(const State&) const = default;
};

constexpr int kOps = 13;

std::string Describe(const Step& s) {
  static const char* names[kOps] = {
      "setuid",   "setgid",   "setreuid", "setregid", "setresuid",
      "setresgid", "setfsuid", "setfsgid", "setgroups", "keepcaps",
      "capset",   "setgroups0", "setuid(-1)"};
  return std::string(names[s.op]) + "(" + std::to_string(static_cast<int>(s.a)) +
         "," + std::to_string(static_cast<int>(s.b)) + "," +
         std::to_string(static_cast<int>(s.c)) + ")";
}

long Sys(long r) { return r < 0 ? -errno : r; }

State HostState(long result) {
  State st{};
  st.result = result;
  uid_t r, e, s;
  gid_t gr, ge, gs;
  getresuid(&r, &e, &s);
  getresgid(&gr, &ge, &gs);
  st.ids[0] = r, st.ids[1] = e, st.ids[2] = s;
  st.ids[3] = static_cast<uint32_t>(syscall(SYS_setfsuid, -1));
  st.ids[4] = gr, st.ids[5] = ge, st.ids[6] = gs;
  st.ids[7] = static_cast<uint32_t>(syscall(SYS_setfsgid, -1));
  gid_t groups[8];
  int n = getgroups(8, groups);
  st.ngroups = n < 0 ? 99 : static_cast<uint32_t>(n);
  for (int i = 0; i < n && i < 8; ++i) st.groups[i] = groups[i];
  __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
  __user_cap_data_struct d[2]{};
  syscall(SYS_capget, &h, d);
  st.eff = d[0].effective | (uint64_t{d[1].effective} << 32);
  st.prm = d[0].permitted | (uint64_t{d[1].permitted} << 32);
  st.inh = d[0].inheritable | (uint64_t{d[1].inheritable} << 32);
  st.keep = prctl(PR_GET_KEEPCAPS, 0, 0, 0, 0);
  return st;
}

long HostStep(const Step& s) {
  switch (s.op) {
    case 0: return Sys(syscall(SYS_setuid, s.a));
    case 1: return Sys(syscall(SYS_setgid, s.a));
    case 2: return Sys(syscall(SYS_setreuid, s.a, s.b));
    case 3: return Sys(syscall(SYS_setregid, s.a, s.b));
    case 4: return Sys(syscall(SYS_setresuid, s.a, s.b, s.c));
    case 5: return Sys(syscall(SYS_setresgid, s.a, s.b, s.c));
    case 6: return syscall(SYS_setfsuid, s.a);
    case 7: return syscall(SYS_setfsgid, s.a);
    case 8: {
      gid_t g[2] = {s.b, s.a};
      return Sys(syscall(SYS_setgroups, 2, g));
    }
    case 9: return Sys(prctl(PR_SET_KEEPCAPS, s.a % 2, 0, 0, 0));
    case 10: {
      __user_cap_header_struct h{_LINUX_CAPABILITY_VERSION_3, 0};
      __user_cap_data_struct d[2]{};
      for (int i = 0; i < 2; ++i) {
        d[i].effective = static_cast<uint32_t>(s.caps[0] >> (32 * i));
        d[i].permitted = static_cast<uint32_t>(s.caps[1] >> (32 * i));
        d[i].inheritable = static_cast<uint32_t>(s.caps[2] >> (32 * i));
      }
      return Sys(syscall(SYS_capset, &h, d));
    }
    case 11: return Sys(syscall(SYS_setgroups, 0, nullptr));
    case 12: return Sys(syscall(SYS_setuid, -1));
  }
  return -ENOSYS;
}

State ModelState(const TaskCreds& c, long result) {
  State st{};
  st.result = result;
  uint32_t ids[8] = {c.uid, c.euid, c.suid, c.fsuid,
                     c.gid, c.egid, c.sgid, c.fsgid};
  std::memcpy(st.ids, ids, sizeof ids);
  st.ngroups = static_cast<uint32_t>(c.groups.size());
  for (size_t i = 0; i < c.groups.size() && i < 8; ++i)
    st.groups[i] = c.groups[i];
  st.eff = c.cap_effective;
  st.prm = c.cap_permitted;
  st.inh = c.cap_inheritable;
  st.keep = c.keep_caps ? 1 : 0;
  return st;
}

long ModelStep(TaskCreds& c, const Step& s) {
  auto r = [](const Result<void>& v) -> long {
    return v ? 0 : -v.error().code();
  };
  switch (s.op) {
    case 0: return r(c.SetUid(s.a));
    case 1: return r(c.SetGid(s.a));
    case 2: return r(c.SetReUid(s.a, s.b));
    case 3: return r(c.SetReGid(s.a, s.b));
    case 4: return r(c.SetResUid(s.a, s.b, s.c));
    case 5: return r(c.SetResGid(s.a, s.b, s.c));
    case 6: return c.SetFsUid(s.a);
    case 7: return c.SetFsGid(s.a);
    case 8: return r(c.SetGroups({s.b, s.a}));
    case 9: c.keep_caps = s.a % 2; return 0;
    case 10: return r(c.SetCaps(s.caps[0], s.caps[1], s.caps[2]));
    case 11: return r(c.SetGroups({}));
    case 12: return r(c.SetUid(kNoChange));
  }
  return -ENOSYS;
}

std::vector<Step> MakeSteps(uint64_t seed, int n) {
  std::mt19937_64 rng(seed);
  const uint32_t ids[] = {0, 0, 1000, 1001, kNoChange};
  auto id = [&] { return ids[rng() % std::size(ids)]; };
  std::vector<Step> steps;
  for (int i = 0; i < n; ++i) {
    Step s{static_cast<int>(rng() % kOps), id(), id(), id(), {}};
    if (s.op == 8 && (s.a == kNoChange || s.b == kNoChange)) s.a = s.b = 5;
    // capset: subsets of the full set or of what is likely held.
    const uint64_t masks[] = {kAllCaps, 0, kAllCaps & ~(1u << 7),
                              (1u << 0) | (1u << 7), 1u << 6};
    for (uint64_t& m : s.caps) m = masks[rng() % std::size(masks)];
    steps.push_back(s);
  }
  return steps;
}

TEST(CredsTest, AgreesWithTheHostKernel) {
  if (geteuid() != 0) GTEST_SKIP() << "needs root (the host side sets ids)";
  for (uint64_t seed = 1; seed <= 1000; ++seed) {
    const std::vector<Step> steps = MakeSteps(seed, 24);
    int pipefd[2];
    ASSERT_EQ(pipe(pipefd), 0);
    pid_t child = fork();
    ASSERT_GE(child, 0);
    if (child == 0) {
      close(pipefd[0]);
      // Start where a sandbox's first task starts: root, no groups, every
      // capability (the test runs as root with the full set).
      syscall(SYS_setgroups, 0, nullptr);
      for (const Step& s : steps) {
        State st = HostState(HostStep(s));
        if (write(pipefd[1], &st, sizeof st) != sizeof st) _exit(2);
      }
      _exit(0);
    }
    close(pipefd[1]);
    TaskCreds model = TaskCreds::Root();
    // The test's own bounding set is the host's, which may hold fewer
    // capabilities than kAllCaps.
    State start = HostState(0);
    model.cap_permitted = model.cap_effective = start.prm;
    model.cap_bset = start.prm;
    for (size_t i = 0; i < steps.size(); ++i) {
      State host{};
      ASSERT_EQ(read(pipefd[0], &host, sizeof host),
                static_cast<ssize_t>(sizeof host));
      State ours = ModelState(model, ModelStep(model, steps[i]));
      ASSERT_TRUE(ours == host)
          << "seed " << seed << " step " << i << " " << Describe(steps[i])
          << ": result " << ours.result << " vs " << host.result << ", ids "
          << ours.ids[0] << "/" << ours.ids[1] << "/" << ours.ids[2] << "/"
          << ours.ids[3] << " vs " << host.ids[0] << "/" << host.ids[1] << "/"
          << host.ids[2] << "/" << host.ids[3] << ", gids " << ours.ids[4]
          << "/" << ours.ids[5] << "/" << ours.ids[6] << "/" << ours.ids[7]
          << " vs " << host.ids[4] << "/" << host.ids[5] << "/" << host.ids[6]
          << "/" << host.ids[7] << ", eff " << std::hex << ours.eff << " vs "
          << host.eff << ", prm " << ours.prm << " vs " << host.prm
          << ", inh " << ours.inh << " vs " << host.inh << std::dec
          << ", groups " << ours.ngroups << " vs " << host.ngroups;
    }
    close(pipefd[0]);
    int status = 0;
    waitpid(child, &status, 0);
    ASSERT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0);
  }
}

// Exec: root keeps the bounding set (effective only with euid 0); anyone
// else has none; set-id bits apply unless nosuid, and make it secure.
TEST(CredsTest, ExecRecomputesCapabilitiesAndAppliesSetIdBits) {
  TaskCreds c = TaskCreds::Root();
  ASSERT_TRUE(c.SetResUid(1000, 1000, 1000));
  EXPECT_EQ(c.cap_permitted, 0u);
  TaskCreds::Exec e = c.ApplyExec(S_IFREG | 04755, 0, 0, /*nosuid=*/false);
  EXPECT_EQ(c.euid, 0u);
  EXPECT_EQ(c.uid, 1000u);
  EXPECT_EQ(c.suid, 0u);
  EXPECT_EQ(c.cap_effective, kAllCaps);
  EXPECT_TRUE(e.secure);

  TaskCreds d = TaskCreds::Root();
  ASSERT_TRUE(d.SetResUid(1000, 1000, 1000));
  e = d.ApplyExec(S_IFREG | 04755, 0, 0, /*nosuid=*/true);
  EXPECT_EQ(d.euid, 1000u);
  EXPECT_EQ(d.cap_permitted, 0u);
  EXPECT_FALSE(e.secure);

  TaskCreds r = TaskCreds::Root();
  r.keep_caps = true;
  e = r.ApplyExec(S_IFREG | 0755, 0, 0, false);
  EXPECT_EQ(r.cap_effective, kAllCaps);
  EXPECT_FALSE(r.keep_caps);
  EXPECT_FALSE(e.secure);
  // setgid without group execute is mandatory locking, not set-gid.
  TaskCreds g = TaskCreds::Root();
  g.ApplyExec(S_IFREG | 02745, 5, 7, false);
  EXPECT_EQ(g.egid, 0u);
}

}  // namespace
}  // namespace veil::sentry
