// SPDX-License-Identifier: Apache-2.0
//
// Character devices (vfs/char_device.h): an open of a device node goes to
// the driver registered for its number, whatever filesystem holds the
// node (chrdev_open); a number without a driver is the filesystem's
// (ENXIO for tmpfs); O_PATH opens no driver; nodev mounts refuse.
#include <sys/sysmacros.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <string>

#include "tests/unit/vfs/fixture.h"
#include "vfs/char_device.h"

namespace veil::vfs::testing {
namespace {

// A driver whose reads say which device they came from.
class NamedDevice final : public CharDevice {
 public:
  explicit NamedDevice(std::string name) : name_(std::move(name)) {}
  Result<std::unique_ptr<FileImpl>> Open(int) override {
    ++opens;
    return std::unique_ptr<FileImpl>(new File(name_));
  }
  int opens = 0;

 private:
  class File final : public FileImpl {
   public:
    explicit File(std::string name) : name_(std::move(name)) {}
    Result<size_t> PRead(std::span<uint8_t> buf, int64_t) override {
      size_t n = std::min(buf.size(), name_.size());
      std::memcpy(buf.data(), name_.data(), n);
      return n;
    }

   private:
    std::string name_;
  };
  std::string name_;
};

class CharDeviceTest : public VfsTest {};

TEST_F(CharDeviceTest, OpenGoesToTheDriverOfTheNumber) {
  auto one = std::make_shared<NamedDevice>("one");
  auto two = std::make_shared<NamedDevice>("two");
  vfs_.RegisterCharDevice(makedev(10, 1), one);
  vfs_.RegisterCharDevice(makedev(10, 2), two);
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/a", S_IFCHR | 0666, makedev(10, 2)),
              IsOk());
  auto f = *Open("/a", O_RDONLY);
  std::array<uint8_t, 8> buf{};
  ASSERT_THAT(f->Read(buf), IsOkAndHolds(3u));
  EXPECT_EQ(std::string(buf.begin(), buf.begin() + 3), "two");
  EXPECT_EQ(one->opens, 0);
  EXPECT_EQ(two->opens, 1);
}

TEST_F(CharDeviceTest, NumbersWithoutDriverAndPathOpensDoNotReachOne) {
  auto dev = std::make_shared<NamedDevice>("dev");
  vfs_.RegisterCharDevice(makedev(10, 1), dev);
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/none", S_IFCHR | 0666,
                           makedev(10, 9)),
              IsOk());
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/dev", S_IFCHR | 0666,
                           makedev(10, 1)),
              IsOk());
  // chrdev_open without a cdev: ENXIO.
  EXPECT_THAT(Open("/none", O_RDONLY), ErrnoIs(ENXIO));
  // O_PATH opens nothing.
  EXPECT_THAT(Open("/dev", O_PATH), IsOk());
  EXPECT_EQ(dev->opens, 0);
  // Permission is checked before the driver is asked (may_open).
  ASSERT_THAT(vfs_.ChmodAt(root_, Root(), "/dev", 0600, 0), IsOk());
  EXPECT_THAT(OpenAs(alice_, "/dev", O_RDONLY), ErrnoIs(EACCES));
  EXPECT_EQ(dev->opens, 0);
  EXPECT_THAT(Open("/dev", O_RDONLY), IsOk());
  EXPECT_EQ(dev->opens, 1);
}

}  // namespace
}  // namespace veil::vfs::testing
