// SPDX-License-Identifier: Apache-2.0
//
// `veil restore` and `veil fuse --image` refuse, before writing anything,
// an image whose file data its target cannot hold: a deduplication bomb
// (a few KiB that name one chunk from many extents) onto a small
// filesystem, or into memory past --max-expanded.
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <sys/mount.h>
#include <sys/stat.h>

#include <cstdlib>

#include "tests/integration/shell_util.h"
#include "tests/unit/snapshot/crafted_images.h"

namespace veil::integration {
namespace {

using ::testing::HasSubstr;

class RestoreLimitsTest : public ::testing::Test {
 protected:
  void SetUp() override {
    char dir[] = "/tmp/veil-restore-limits-XXXXXX";
    ASSERT_NE(mkdtemp(dir), nullptr);
    dir_ = dir;
    // 64 MiB of file data from 256 KiB chunks: a 3 KiB image.
    const std::string bomb =
        snapshot::testing::DedupBomb(64u << 20, 256u << 10);
    img_ = dir_ + "/bomb.img";
    std::ofstream(img_, std::ios::binary) << bomb;
  }
  void TearDown() override {
    if (mounted_) umount2(small_.c_str(), MNT_DETACH);
    Shell("rm -rf " + dir_);
  }
  // A 16 MiB tmpfs, or false when this process may not mount one.
  bool MountSmall() {
    small_ = dir_ + "/small";
    mkdir(small_.c_str(), 0755);
    mounted_ = mount("tmpfs", small_.c_str(), "tmpfs", 0, "size=16m") == 0;
    return mounted_;
  }

  std::string dir_;
  std::string img_;
  std::string small_;
  bool mounted_ = false;
};

TEST_F(RestoreLimitsTest, RestoreRefusesMoreDataThanTheFreeSpace) {
  if (!MountSmall()) GTEST_SKIP() << "cannot mount a tmpfs (not root?)";
  const std::string target = small_ + "/t";
  ShellResult r =
      Shell(std::string(VEIL_BINARY) + " restore " + img_ + " " + target, 60);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("the image expands to 64.0 MiB (67108864 "
                                  "bytes) of file data"));
  EXPECT_THAT(r.output, HasSubstr("more than the limit of 16.0 MiB "
                                  "(16777216 bytes) (the free space of"));
  // Refused before anything was written: DIR, which it made, is gone.
  struct stat st;
  EXPECT_NE(stat(target.c_str(), &st), 0);

  // Forced, it restores as far as the space goes, and says so.
  r = Shell(std::string(VEIL_BINARY) + " restore --no-space-check " + img_ +
                " " + target,
            60);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("No space left on device"));
}

TEST_F(RestoreLimitsTest, ImageRefusesMoreDataThanMaxExpanded) {
  const std::string mnt = dir_ + "/mnt";
  mkdir(mnt.c_str(), 0755);
  ShellResult r =
      Shell(std::string(VEIL_BINARY) + " fuse -f --max-expanded 32M --image " +
                img_ + " " + mnt,
            60);
  EXPECT_EQ(r.status, 1) << r.output;
  EXPECT_THAT(r.output, HasSubstr("more than the limit of 32.0 MiB "
                                  "(33554432 bytes) (--max-expanded)"));
  EXPECT_FALSE(IsFuseMount(mnt));
  r = Shell(std::string(VEIL_BINARY) + " fuse -f --max-expanded 32X " + img_ +
                " " + mnt,
            10);
  EXPECT_EQ(r.status, 2) << r.output;
  EXPECT_THAT(r.output, HasSubstr("--max-expanded: not a size: 32X"));
}

}  // namespace
}  // namespace veil::integration
