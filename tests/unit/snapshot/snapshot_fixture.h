// SPDX-License-Identifier: Apache-2.0
//
// Helpers for the snapshot tests: a source tree (the VfsTest fixture's
// tmpfs), images in memory, restores into fresh tmpfs instances, and a
// canonical description of a tree to compare two of them.
#pragma once

#include <sys/sysmacros.h>

#include <map>
#include <memory>
#include <random>
#include <string>
#include <string_view>

#include "overlay/snapshot/snapshot.h"
#include "tests/unit/vfs/fixture.h"

namespace veil::snapshot::testing {

// A restore target: a fresh tmpfs (root 0755 root:root) and its namespace.
struct Target {
  Target() : vfs(vfs::tmpfs::Tmpfs::Create({0755, 0, 0})) {}
  vfs::Vfs vfs;
};

// What DescribeTree reports besides type, mode, owner, mtime, size, device
// number, xattrs, symlink target and link group.
enum DescribeFields : int {
  kContent = 1 << 0,
  // Reading a file or listing a directory may move its atime (relatime),
  // so only trees whose atimes lie ahead of their mtimes and ctimes
  // describe the same twice with kAtime.
  kAtime = 1 << 1,
};

// Every path in a tree, one line each. Stats each entry before reading it,
// so the atimes it reports are those from before it looked.
std::string DescribeTree(vfs::Vfs& vfs, int fields);

// The names at the root of a tree ("." and ".." left out).
std::vector<std::string> RootNames(vfs::Vfs& vfs);

class SnapshotTest : public vfs::testing::VfsTest {
 protected:
  std::string TakeImage(uint32_t chunk_size = kDefaultChunkSize) {
    StringSink sink;
    WriteOptions options;
    options.chunk_size = chunk_size;
    auto stats = WriteImage(vfs_, Root(), sink, options);
    EXPECT_TRUE(stats.has_value()) << (stats ? "" : stats.error().message);
    if (stats) last_stats_ = *stats;
    return std::move(sink.data());
  }
  static SnapshotResult<RestoreStats> RestoreInto(const std::string& image,
                                                  Target& target) {
    MemorySource source(std::span<const uint8_t>(
        reinterpret_cast<const uint8_t*>(image.data()), image.size()));
    return RestoreImage(source, target.vfs, target.vfs.RootLocation(), {});
  }
  void SetTimes(std::string_view path, timespec atime, timespec mtime) {
    const timespec times[2] = {atime, mtime};
    ASSERT_THAT(vfs_.UtimensAt(root_, Root(), path, times, AT_SYMLINK_NOFOLLOW),
                vfs::testing::IsOk());
  }
  void SetXattr(std::string_view path, std::string_view name,
                std::string_view value) {
    ASSERT_THAT(vfs_.SetXattrAt(root_, Root(), path, name, value, 0,
                                AT_SYMLINK_NOFOLLOW),
                vfs::testing::IsOk());
  }
  void Chown(std::string_view path, uid_t uid, gid_t gid) {
    ASSERT_THAT(
        vfs_.ChownAt(root_, Root(), path, uid, gid, AT_SYMLINK_NOFOLLOW),
        vfs::testing::IsOk());
  }
  void Mknod(std::string_view path, mode_t mode, dev_t dev) {
    ASSERT_THAT(vfs_.MknodAt(root_, Root(), path, mode, dev),
                vfs::testing::IsOk());
  }
  void PWriteAt(std::string_view path, std::string_view data, int64_t offset) {
    auto f = Open(path, O_CREAT | O_WRONLY);
    ASSERT_THAT(f, vfs::testing::IsOk());
    ASSERT_THAT((*f)->PWrite(Bytes(data), offset),
                vfs::testing::IsOkAndHolds(data.size()));
  }
  static std::string RandomBytes(size_t n, uint32_t seed) {
    std::mt19937 rng(seed);
    std::string s(n, '\0');
    for (char& c : s) c = static_cast<char>(rng());
    return s;
  }
  // Builds a tree with one of everything the format keeps.
  void BuildMixedTree();

  WriteStats last_stats_;
};

}  // namespace veil::snapshot::testing
