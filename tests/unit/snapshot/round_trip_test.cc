// SPDX-License-Identifier: Apache-2.0
//
// Write an image of a tmpfs tree, restore it into a fresh tmpfs, and find
// the same tree: bytes, modes, owners, times, xattrs, links, devices.
#include <sys/sysmacros.h>

#include "tests/unit/snapshot/snapshot_fixture.h"

namespace veil::snapshot::testing {
namespace {

using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

using SnapshotRoundTripTest = SnapshotTest;

TEST_F(SnapshotRoundTripTest, MixedTreeIsIdentical) {
  BuildMixedTree();
  const std::string before = DescribeTree(vfs_, kContent | kAtime);
  for (uint32_t chunk : {kMinChunkSize, kDefaultChunkSize, kMaxChunkSize}) {
    SCOPED_TRACE(chunk);
    std::string image = TakeImage(chunk);
    Target target;
    auto stats = RestoreInto(image, target);
    ASSERT_TRUE(stats.has_value()) << stats.error().message;
    EXPECT_EQ(DescribeTree(target.vfs, kContent | kAtime), before);
    EXPECT_EQ(stats->entries, last_stats_.entries);
    EXPECT_EQ(stats->names, last_stats_.names);
    EXPECT_EQ(stats->data_bytes, last_stats_.data_bytes);
  }
  // Writing read the files; with future atimes nothing moved.
  EXPECT_EQ(DescribeTree(vfs_, kContent | kAtime), before);
}

TEST_F(SnapshotRoundTripTest, SameTreeGivesSameImage) {
  BuildMixedTree();
  EXPECT_EQ(TakeImage(), TakeImage());
}

TEST_F(SnapshotRoundTripTest, PastAtimesAreKeptThoughWritingReadsThem) {
  WriteFile("/f", "contents");
  ASSERT_THAT(Mkdir("/d"), IsOk());
  WriteFile("/d/g", "more");
  SetTimes("/f", {978307200, 5}, {978307100, 6});
  SetTimes("/d", {978307300, 7}, {978307000, 8});
  auto f_before = Stat("/f");
  auto d_before = Stat("/d");
  std::string image = TakeImage();
  // Files are read with O_NOATIME: the source keeps its atimes too.
  EXPECT_TRUE(vfs::operator==(Stat("/f")->atime, f_before->atime));
  Target target;
  ASSERT_TRUE(RestoreInto(image, target).has_value());
  auto ctx = target.vfs.RootContext();
  auto f = target.vfs.StatAt(ctx, target.vfs.RootLocation(), "/f", 0);
  auto d = target.vfs.StatAt(ctx, target.vfs.RootLocation(), "/d", 0);
  ASSERT_THAT(f, IsOk());
  ASSERT_THAT(d, IsOk());
  EXPECT_EQ(f->atime.tv_sec, 978307200);
  EXPECT_EQ(f->atime.tv_nsec, 5);
  EXPECT_EQ(f->mtime.tv_nsec, 6);
  EXPECT_TRUE(vfs::operator==(f->atime, f_before->atime));
  EXPECT_TRUE(vfs::operator==(d->atime, d_before->atime));
  EXPECT_TRUE(vfs::operator==(d->mtime, d_before->mtime));
}

TEST_F(SnapshotRoundTripTest, HolesStaySparse) {
  PWriteAt("/sparse", std::string(4096, 'x'), int64_t{1} << 30);
  PWriteAt("/sparse", std::string(100, 'y'), 3 * 4096 + 17);
  std::string image = TakeImage();
  EXPECT_LT(image.size(), 64u * 1024);
  EXPECT_EQ(last_stats_.data_bytes, 2u * 4096);  // two pages of data
  Target target;
  ASSERT_TRUE(RestoreInto(image, target).has_value());
  auto ctx = target.vfs.RootContext();
  auto st = target.vfs.StatAt(ctx, target.vfs.RootLocation(), "/sparse", 0);
  ASSERT_THAT(st, IsOk());
  EXPECT_EQ(st->size, (uint64_t{1} << 30) + 4096);
  EXPECT_LE(st->blocks, 16u);  // two pages
  auto f = target.vfs.OpenAt(ctx, target.vfs.RootLocation(), "/sparse",
                             vfs::OpenHow{O_RDONLY, 0, 0});
  ASSERT_THAT(f, IsOk());
  EXPECT_THAT((*f)->Seek(0, SEEK_DATA), IsOkAndHolds(3 * 4096));
  EXPECT_THAT((*f)->Seek(3 * 4096, SEEK_HOLE), IsOkAndHolds(4 * 4096));
  EXPECT_THAT((*f)->Seek(4 * 4096, SEEK_DATA), IsOkAndHolds(int64_t{1} << 30));
  EXPECT_EQ(DescribeTree(target.vfs, kContent), DescribeTree(vfs_, kContent));
}

TEST_F(SnapshotRoundTripTest, IdenticalChunksAreStoredOnce) {
  const std::string mib = RandomBytes(1 << 20, 42);  // incompressible
  WriteFile("/a", mib);
  WriteFile("/b", mib);
  ASSERT_THAT(Mkdir("/c"), IsOk());
  WriteFile("/c/a-copy", mib);
  std::string image = TakeImage();
  EXPECT_LT(image.size(), (1u << 20) + (64u << 10));
  EXPECT_EQ(last_stats_.chunks, 4u);       // 1 MiB / 256 KiB
  EXPECT_EQ(last_stats_.chunk_refs, 12u);  // three files
  Target target;
  ASSERT_TRUE(RestoreInto(image, target).has_value());
  EXPECT_EQ(DescribeTree(target.vfs, kContent), DescribeTree(vfs_, kContent));
}

TEST_F(SnapshotRoundTripTest, CompressibleDataShrinks) {
  WriteFile("/zeros", std::string(4 << 20, '\0'));
  WriteFile("/text", std::string(1 << 20, 'q'));
  std::string image = TakeImage();
  EXPECT_LT(image.size(), 64u << 10);
  Target target;
  ASSERT_TRUE(RestoreInto(image, target).has_value());
  EXPECT_EQ(DescribeTree(target.vfs, kContent), DescribeTree(vfs_, kContent));
}

TEST_F(SnapshotRoundTripTest, DeepTreeAndEmptyDirectories) {
  std::string path;
  for (int i = 0; i < 400; ++i) {
    path += "/d";
    ASSERT_THAT(Mkdir(path, 0700 + (i % 8)), IsOk());
  }
  WriteFile(path + "/leaf", "bottom");
  for (int i = 0; i < 300; ++i)
    ASSERT_THAT(Mkdir("/wide" + std::to_string(i)), IsOk());
  const std::string before = DescribeTree(vfs_, kContent);
  std::string image = TakeImage();
  Target target;
  auto stats = RestoreInto(image, target);
  ASSERT_TRUE(stats.has_value()) << stats.error().message;
  EXPECT_EQ(stats->entries, 1u + 400 + 1 + 300);
  EXPECT_EQ(DescribeTree(target.vfs, kContent), before);
}

TEST_F(SnapshotRoundTripTest, EmptyTree) {
  std::string image = TakeImage();
  Target target;
  auto stats = RestoreInto(image, target);
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(stats->entries, 1u);
  EXPECT_EQ(DescribeTree(target.vfs, 0), DescribeTree(vfs_, 0));
}

TEST_F(SnapshotRoundTripTest, UnalignedDataAcrossChunkBoundaries) {
  PWriteAt("/f", RandomBytes(3 * 4096 + 17, 3), 5000);
  std::string image = TakeImage(kMinChunkSize);
  Target target;
  ASSERT_TRUE(RestoreInto(image, target).has_value());
  EXPECT_EQ(DescribeTree(target.vfs, kContent), DescribeTree(vfs_, kContent));
}

TEST_F(SnapshotRoundTripTest, RefusesANonEmptyTargetAndChangesNothing) {
  WriteFile("/f", "x");
  std::string image = TakeImage();
  Target target;
  ASSERT_THAT(target.vfs.MkdirAt(target.vfs.RootContext(),
                                 target.vfs.RootLocation(), "/old", 0755),
              IsOk());
  const std::string before = DescribeTree(target.vfs, kContent);
  auto stats = RestoreInto(image, target);
  ASSERT_FALSE(stats.has_value());
  EXPECT_EQ(stats.error().code, ENOTEMPTY);
  EXPECT_EQ(DescribeTree(target.vfs, kContent), before);
}

TEST_F(SnapshotRoundTripTest, ApplyNeedsVerify) {
  std::string image = TakeImage();
  MemorySource source(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  auto opened = Image::Open(source);
  ASSERT_TRUE(opened.has_value());
  Target target;
  auto applied =
      opened->Apply(target.vfs, target.vfs.RootLocation(), ProgressFn());
  ASSERT_FALSE(applied.has_value());
  EXPECT_EQ(applied.error().code, EINVAL);
  ASSERT_TRUE(opened->Verify({}).has_value());
  EXPECT_TRUE(
      opened->Apply(target.vfs, target.vfs.RootLocation(), {}).has_value());
}

TEST_F(SnapshotRoundTripTest, ProgressReachesTheTotals) {
  WriteFile("/a", RandomBytes(600000, 9));
  WriteFile("/b", "b");
  std::string image = TakeImage();
  MemorySource source(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  Target target;
  Progress last;
  auto stats = RestoreImage(source, target.vfs, target.vfs.RootLocation(),
                            [&](const Progress& p) { last = p; });
  ASSERT_TRUE(stats.has_value());
  EXPECT_EQ(last.bytes, 600001u);
  EXPECT_EQ(last.total_bytes, 600001u);
  EXPECT_EQ(last.files, last.total_files);
}

}  // namespace
}  // namespace veil::snapshot::testing
