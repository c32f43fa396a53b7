// SPDX-License-Identifier: Apache-2.0
//
// GoferEscapeTest: a gofer serving base/root while canaries sit in
// base/outside, next to it. Every test is an attack from a hostile client;
// TearDown checks that nothing outside the export changed and the gofer
// was not killed. Parameterised by confinement: kFull is what `veil gofer`
// runs; kNone shows HostBackend's own containment holds without the mount
// namespace and seccomp.
#pragma once

#include <dirent.h>
#include <gtest/gtest.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <filesystem>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {

// Everything under `dir`: names, types, sizes, modes, link counts,
// contents of regular files. Two equal snapshots mean nothing changed.
inline std::string Snapshot(const std::string& dir) {
  std::vector<std::string> lines;
  std::error_code ec;
  for (auto it = std::filesystem::recursive_directory_iterator(dir, ec);
       !ec && it != std::filesystem::recursive_directory_iterator();
       it.increment(ec)) {
    struct stat st = {};
    const std::string path = it->path().string();
    if (::lstat(path.c_str(), &st) != 0) continue;
    std::string line = path + " mode=" + std::to_string(st.st_mode) +
                       " nlink=" + std::to_string(st.st_nlink) +
                       " size=" + std::to_string(st.st_size);
    if (S_ISREG(st.st_mode)) line += " data=" + ReadFile(path);
    lines.push_back(line);
  }
  std::sort(lines.begin(), lines.end());
  std::string all;
  for (const std::string& line : lines) all += line + "\n";
  return all;
}

inline std::string ConfinementName(
    const ::testing::TestParamInfo<Confinement>& info) {
  return info.param == Confinement::kFull ? "Confined" : "BackendOnly";
}

class GoferEscapeTest : public ::testing::TestWithParam<Confinement> {
 protected:
  void SetUp() override {
    if (auto why = WhyNoConfinement()) GTEST_SKIP() << *why;
    std::random_device random;
    canary_ =
        "CANARY-" + std::to_string(::getpid()) + "-" + std::to_string(random());
    WriteFile(Outside("canary"), canary_);
    WriteFile(Outside("linked"), "linked-ok");
    std::filesystem::create_directory(Outside("subdir"));
    WriteFile(Outside("subdir/canary"), canary_);
    WriteFile(Outside("outside_only_marker"), canary_);
    WriteFile(scratch_.InRoot("inside.txt"), "inside");
    Populate();
    outside_before_ = Snapshot(scratch_.outside());
  }

  void TearDown() override {
    if (gofer_ != nullptr) {
      ops_.reset();
      const int status = gofer_->Stop();
      EXPECT_FALSE(WIFSIGNALED(status))
          << "gofer " << GoferProcess::Describe(status);
      if (expect_clean_exit_) {
        EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0)
            << "gofer " << GoferProcess::Describe(status);
      }
    }
    if (!outside_before_.empty()) {
      EXPECT_EQ(Snapshot(scratch_.outside()), outside_before_)
          << "something outside the export changed";
      // Nothing new appeared next to root/ and outside/ either.
      std::vector<std::string> names;
      for (const auto& entry :
           std::filesystem::directory_iterator(scratch_.base())) {
        names.push_back(entry.path().filename().string());
      }
      std::sort(names.begin(), names.end());
      EXPECT_EQ(names, (std::vector<std::string>{"outside", "root"}));
    }
  }

  // Extra setup before the snapshot; the default adds nothing.
  virtual void Populate() {}

  // Starts the gofer with a client; `before_serve` runs in its child.
  void StartGofer(std::function<int()> before_serve = nullptr) {
    GoferProcess::Options options;
    options.confinement = GetParam();
    options.before_serve = std::move(before_serve);
    gofer_ = std::make_unique<GoferProcess>(scratch_.root(), options);
    ASSERT_TRUE(gofer_->Start());
    ops_.emplace(gofer_->client());
  }

  std::string Outside(const std::string& rel) const {
    return scratch_.outside() + "/" + rel;
  }
  // The absolute path of outside/, as components.
  std::vector<std::string> OutsideComponents() const {
    std::vector<std::string> names;
    for (const auto& part : std::filesystem::path(scratch_.outside())) {
      if (part != "/") names.push_back(part.string());
    }
    return names;
  }

  Ops& ops() { return *ops_; }
  lisafs::FdId Root() const { return gofer_->root_fd(); }

  // Asserts that walking `names` from the root yields no inode past the
  // first symlink or missing component, and nothing that reads as a canary.
  void ExpectWalkStopsInside(std::vector<std::string> names) {
    auto walked = ops().Walk(Root(), names);
    if (!walked) return;  // An error is fine: nothing was reached.
    ASSERT_NE(walked->status, lisafs::WalkStatus::kSuccess)
        << "walked all of " << names.size() << " components";
    for (const lisafs::Inode& inode : walked->inodes) {
      if ((inode.stat.mode & S_IFMT) != S_IFREG) continue;
      auto opened = ops().Open(inode.control_fd, O_RDONLY);
      if (!opened) continue;
      EXPECT_NE(ops().Read(opened->message.open_fd).value_or(""), canary_);
    }
  }

  Scratch scratch_;
  std::string canary_;
  std::string outside_before_;
  bool expect_clean_exit_ = true;
  std::unique_ptr<GoferProcess> gofer_;
  std::optional<Ops> ops_;
};

}  // namespace veil::gofer::testing
