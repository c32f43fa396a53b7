// SPDX-License-Identifier: Apache-2.0
//
// The mount table as the confined gofer reads it (listmount/statmount):
// every mount point is listed, however long its path.
#include "gofer/server/mount_points.h"

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <string>

#include "tests/unit/gofer/gofer_test_util.h"

namespace veil::gofer::testing {
namespace {

constexpr int kNoListmount = 77;

// Review of #10: statmount(2) answers EOVERFLOW when a mount point's path
// does not fit its buffer (8 KiB), and any error dropped the mount from
// the list, so a directory with such a mount below it could be renamed,
// moving the host's mount. A mount made from a deep working directory has
// a path longer than PATH_MAX; it must be listed (the buffer grows).
TEST(MountPointsTest, AMountPointPastTheBufferIsListed) {
  if (std::optional<std::string> why = WhyNoConfinement())
    GTEST_SKIP() << *why;
  Scratch scratch;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(20);
    if (::unshare(CLONE_NEWNS) != 0 ||
        ::mount(nullptr, "/", nullptr, MS_REC | MS_PRIVATE, nullptr) != 0 ||
        ::chdir(scratch.root().c_str()) != 0)
      _exit(100);
    // 48 levels of 200-byte names: a path of about 9,700 bytes.
    const std::string name(200, 'd');
    for (int i = 0; i < 48; ++i) {
      if (::mkdir(name.c_str(), 0755) != 0 || ::chdir(name.c_str()) != 0)
        _exit(101);
    }
    if (::mkdir("m", 0755) != 0 ||
        ::mount("tmpfs", "m", "tmpfs", 0, nullptr) != 0)
      _exit(102);
    Result<std::vector<std::string>> points = MountPointsBelowRoot();
    if (!points)
      _exit(points.error().code() == ENOSYS ? kNoListmount : 103);
    for (const std::string& point : *points) {
      if (point.size() > 9000 && point.ends_with("/" + name + "/m")) _exit(0);
    }
    _exit(1);  // not listed
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  ASSERT_TRUE(WIFEXITED(status));
  if (WEXITSTATUS(status) == kNoListmount)
    GTEST_SKIP() << "listmount(2) needs Linux 6.8";
  EXPECT_EQ(WEXITSTATUS(status), 0)
      << "1: the long mount point is not listed; 10x: setup failed";
}

}  // namespace
}  // namespace veil::gofer::testing
