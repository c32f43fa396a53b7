// SPDX-License-Identifier: Apache-2.0
//
// Tests of the differential harness itself, host against host: two tmpfs
// scratch directories must never diverge (else the comparison rules are
// wrong), and a backend with an injected fault must be caught.
#include <gtest/gtest.h>
#include <stdio.h>
#include <sys/stat.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <iostream>
#include <memory>
#include <string>
#include <vector>

#include "tests/difftest/forwarding_backend.h"
#include "tests/difftest/generator.h"
#include "tests/difftest/host_backend.h"
#include "tests/difftest/runner.h"
#include "tests/difftest/seeds.h"

namespace veil::difftest {
namespace {

// Two fresh host backends, or a skip reason.
struct HostPair {
  std::unique_ptr<HostBackend> expected, actual;
  std::string skip_reason;
};

HostPair MakeHostPair() {
  HostPair pair;
  auto e = HostBackend::Create();
  if (!e) {
    pair.skip_reason = std::string("HostBackend unavailable: ") +
                       (e.error().message() ? e.error().message() : "") + " (" +
                       strerror(e.error().code()) + ")";
    return pair;
  }
  auto a = HostBackend::Create();
  if (!a) {
    pair.skip_reason = "second HostBackend unavailable";
    return pair;
  }
  pair.expected = std::move(*e);
  pair.actual = std::move(*a);
  return pair;
}

// Forwards to another backend, misbehaving in one chosen way.
class FaultyBackend final : public ForwardingBackend {
 public:
  enum class Fault {
    kMkdirEaccesEvery17th,    // every 17th mkdir fails without doing anything
    kStatFlipsOtherExec,      // stat/fstat of regular files flip S_IXOTH
    kRenameIgnoresNoreplace,  // RENAME_NOREPLACE silently replaces
    kStatInoUnstable,         // each stat reports a fresh inode number
  };
  FaultyBackend(Backend& inner, Fault fault)
      : ForwardingBackend(inner), fault_(fault) {}

  const char* Name() const override { return "faulty-host"; }
  int Mkdir(const std::string& p, mode_t m) override {
    if (fault_ == Fault::kMkdirEaccesEvery17th && ++mkdirs_ % 17 == 0) {
      return -EACCES;
    }
    return inner().Mkdir(p, m);
  }
  int Rename(const std::string& o, const std::string& n, unsigned f) override {
    if (fault_ == Fault::kRenameIgnoresNoreplace) f &= ~RENAME_NOREPLACE;
    return inner().Rename(o, n, f);
  }
  int Stat(const std::string& p, int f, StatResult* out) override {
    int rc = inner().Stat(p, f, out);
    if (rc == 0) Mangle(out);
    return rc;
  }
  int Fstat(int fd, StatResult* out) override {
    int rc = inner().Fstat(fd, out);
    if (rc == 0) Mangle(out);
    return rc;
  }

 private:
  void Mangle(StatResult* st) {
    if (fault_ == Fault::kStatFlipsOtherExec && S_ISREG(st->mode)) {
      st->mode ^= S_IXOTH;
    }
    if (fault_ == Fault::kStatInoUnstable) st->ino += 1000000 * ++stats_;
  }

  const Fault fault_;
  int mkdirs_ = 0;
  uint64_t stats_ = 0;
};

TEST(DifftestGeneratorTest, SameSeedSameOperations) {
  std::vector<TreeEntry> tree = {{"/", S_IFDIR | 0777},
                                 {"/a", S_IFREG | 0644},
                                 {"/d", S_IFDIR | 0700},
                                 {"/d/s", S_IFLNK | 0777}};
  Generator g1(42), g2(42);
  for (int i = 0; i < 500; ++i) {
    Op o1 = g1.Next(tree), o2 = g2.Next(tree);
    ASSERT_EQ(FormatOp(o1), FormatOp(o2)) << "at op " << i;
    g1.Observe(o1, 3);
    g2.Observe(o2, 3);
  }
}

TEST(DifftestHostTest, HostAgainstHostAgrees) {
  HostPair pair = MakeHostPair();
  if (!pair.expected) GTEST_SKIP() << pair.skip_reason;
  const uint64_t seed = EnvOr("VEIL_DIFFTEST_SEED", 1);
  const int steps = static_cast<int>(EnvOr("VEIL_DIFFTEST_STEPS", 2000));
  RunOptions options;
  if (getenv("VEIL_DIFFTEST_TRACE") != nullptr) options.trace = stderr;
  std::string report;
  auto start = std::chrono::steady_clock::now();
  bool ok = RunDifferential(*pair.expected, *pair.actual, seed, steps, &report,
                            options);
  double secs =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - start)
          .count();
  EXPECT_TRUE(ok) << report;
  std::cout << report << steps << " steps in " << secs << " s\n";
}

TEST(DifftestHostTest, HostAgainstHostAgreesManySeeds) {
  for (uint64_t seed = 100; seed < 106; ++seed) {
    HostPair pair = MakeHostPair();
    if (!pair.expected) GTEST_SKIP() << pair.skip_reason;
    std::string report;
    EXPECT_TRUE(
        RunDifferential(*pair.expected, *pair.actual, seed, 400, &report))
        << report;
  }
}

// Runs host against a faulty host; returns the report, which must describe a
// divergence.
std::string RunAgainstFault(FaultyBackend::Fault fault) {
  HostPair pair = MakeHostPair();
  if (!pair.expected) return "SKIP: " + pair.skip_reason;
  FaultyBackend faulty(*pair.actual, fault);
  std::string report;
  EXPECT_FALSE(RunDifferential(*pair.expected, faulty, 1, 2000, &report));
  EXPECT_NE(report.find("DIVERGENCE"), std::string::npos) << report;
  std::cout << report.substr(0, report.find("  last operations")) << "\n";
  return report;
}

#define SKIP_IF_NO_HOST(report) \
  if ((report).rfind("SKIP: ", 0) == 0) GTEST_SKIP() << (report)

TEST(DifftestHostTest, DetectsFailingMkdir) {
  std::string report =
      RunAgainstFault(FaultyBackend::Fault::kMkdirEaccesEvery17th);
  SKIP_IF_NO_HOST(report);
  EXPECT_NE(report.find("mkdir("), std::string::npos) << report;
  EXPECT_NE(report.find("-EACCES on actual"), std::string::npos) << report;
}

TEST(DifftestHostTest, DetectsWrongStatMode) {
  std::string report =
      RunAgainstFault(FaultyBackend::Fault::kStatFlipsOtherExec);
  SKIP_IF_NO_HOST(report);
  EXPECT_NE(report.find("mode expected"), std::string::npos) << report;
}

TEST(DifftestHostTest, DetectsIgnoredRenameFlag) {
  std::string report =
      RunAgainstFault(FaultyBackend::Fault::kRenameIgnoresNoreplace);
  SKIP_IF_NO_HOST(report);
  EXPECT_NE(report.find("RENAME_NOREPLACE"), std::string::npos) << report;
}

TEST(DifftestHostTest, DetectsUnstableInodeNumbers) {
  std::string report = RunAgainstFault(FaultyBackend::Fault::kStatInoUnstable);
  SKIP_IF_NO_HOST(report);
  EXPECT_NE(report.find("object"), std::string::npos) << report;
}

}  // namespace
}  // namespace veil::difftest
