// SPDX-License-Identifier: Apache-2.0
//
// The worker threads of WriteImage and Image::Verify (overlay/snapshot/
// pipeline.h): the image does not depend on how many there are, chunks
// keep their order and dedupe across workers, and a failed write stops
// everything.
#include <atomic>
#include <string>

#include "tests/unit/snapshot/snapshot_fixture.h"

namespace veil::snapshot::testing {
namespace {

class SnapshotPipelineTest : public SnapshotTest {
 protected:
  // Many small files, a third of them copies of others, in several
  // directories: with 4 KiB chunks, hundreds of chunks in flight at once.
  void BuildManySmallFiles(int files);
};

void SnapshotPipelineTest::BuildManySmallFiles(int files) {
  for (int d = 0; d < 4; ++d)
    ASSERT_THAT(Mkdir("/d" + std::to_string(d)), veil::testing::IsOk());
  for (int i = 0; i < files; ++i) {
    // Sizes across the 4 KiB chunk boundary; every third file repeats the
    // one before it, so identical chunks meet on different workers.
    const int source = i % 3 == 2 ? i - 1 : i;
    const size_t size = 100 + static_cast<size_t>(source) * 97 % 12000;
    std::string data = RandomBytes(size, static_cast<uint32_t>(source));
    if (source % 2) data.append(8192, 'z');  // compressible, too
    WriteFile("/d" + std::to_string(i % 4) + "/f" + std::to_string(i), data);
  }
  // Atimes ahead of everything: listing the directories to write an image
  // does not move them, so two images of the tree can be compared.
  const timespec future{4102444800, 0}, mtime{978307200, 0};
  for (int d = 0; d < 4; ++d) SetTimes("/d" + std::to_string(d), future, mtime);
  SetTimes("/", future, mtime);
}

SnapshotResult<WriteStats> Write(vfs::Vfs& vfs, const vfs::Location& root,
                                 unsigned threads, ByteSink& sink) {
  WriteOptions options;
  options.chunk_size = kMinChunkSize;
  options.threads = threads;
  return WriteImage(vfs, root, sink, options);
}

TEST_F(SnapshotPipelineTest, ImageDoesNotDependOnTheNumberOfThreads) {
  BuildManySmallFiles(600);
  StringSink one, many;
  auto a = Write(vfs_, Root(), 1, one);
  auto b = Write(vfs_, Root(), 8, many);
  ASSERT_TRUE(a.has_value()) << a.error().message;
  ASSERT_TRUE(b.has_value()) << b.error().message;
  EXPECT_TRUE(one.data() == many.data()) << "the images differ";
  // Dedupe found the copies: fewer chunks stored than referenced.
  EXPECT_LT(b->chunks, b->chunk_refs);
  EXPECT_EQ(a->chunks, b->chunks);
  EXPECT_EQ(a->stored_bytes, b->stored_bytes);
}

TEST_F(SnapshotPipelineTest, ManySmallFilesRoundTrip) {
  BuildManySmallFiles(600);
  const std::string before = DescribeTree(vfs_, kContent);
  StringSink sink;
  auto stats = Write(vfs_, Root(), 4, sink);
  ASSERT_TRUE(stats.has_value()) << stats.error().message;
  Target target;
  auto restored = RestoreInto(sink.data(), target);
  ASSERT_TRUE(restored.has_value()) << restored.error().message;
  EXPECT_EQ(DescribeTree(target.vfs, kContent), before);
}

// Fails every write after the first `budget` bytes with ENOSPC, and
// counts the writes it is asked for after that.
class FailingSink final : public ByteSink {
 public:
  explicit FailingSink(size_t budget) : budget_(budget) {}
  SnapshotResult<void> Write(std::span<const uint8_t> bytes) override {
    if (failed_) {
      ++after_failure_;
      return SnapshotError{ENOSPC, "writing the image: No space left"};
    }
    if (bytes.size() > budget_) {
      failed_ = true;
      return SnapshotError{ENOSPC, "writing the image: No space left"};
    }
    budget_ -= bytes.size();
    return Done();
  }
  int after_failure() const { return after_failure_; }

 private:
  size_t budget_;
  bool failed_ = false;
  std::atomic<int> after_failure_{0};
};

TEST_F(SnapshotPipelineTest, AFailedWriteStopsTheWholePipeline) {
  BuildManySmallFiles(600);
  for (size_t budget : {size_t{0}, size_t{100}, size_t{50000}}) {
    SCOPED_TRACE(budget);
    FailingSink sink(budget);
    auto stats = Write(vfs_, Root(), 4, sink);
    ASSERT_FALSE(stats.has_value());
    EXPECT_EQ(stats.error().code, ENOSPC);
    // Nothing more was written once a write failed (not the manifest, not
    // another chunk): the CLI then removes the partial file.
    EXPECT_EQ(sink.after_failure(), 0);
  }
}

TEST_F(SnapshotPipelineTest, VerifyNamesTheFirstDamagedChunk) {
  BuildManySmallFiles(300);
  StringSink sink;
  ASSERT_TRUE(Write(vfs_, Root(), 4, sink).has_value());
  std::string image = sink.data();
  MemorySource clean(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  auto opened = Image::Open(clean);
  ASSERT_TRUE(opened.has_value());
  const auto& chunks = opened->manifest().chunks;
  ASSERT_GT(chunks.size(), 20u);
  // Damage two chunks; whichever thread gets there first, the message
  // names the lower one.
  image[chunks[7].offset] ^= 1;
  image[chunks[19].offset] ^= 1;
  MemorySource damaged(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image.data()), image.size()));
  auto reopened = Image::Open(damaged);
  ASSERT_TRUE(reopened.has_value());
  auto verified = reopened->Verify({});
  ASSERT_FALSE(verified.has_value());
  EXPECT_EQ(verified.error().code, EINVAL);
  EXPECT_THAT(verified.error().message,
              ::testing::StartsWith("chunk 7 at offset " +
                                    std::to_string(chunks[7].offset)));
}

}  // namespace
}  // namespace veil::snapshot::testing
