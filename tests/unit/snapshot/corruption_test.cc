// SPDX-License-Identifier: Apache-2.0
//
// Damaged images: every flipped byte and every truncation is refused
// before anything is created in the target, with a message naming the
// damaged part.
#include <random>

#include "overlay/snapshot/codec.h"
#include "tests/unit/snapshot/snapshot_fixture.h"

namespace veil::snapshot::testing {
namespace {

using ::testing::HasSubstr;

class SnapshotCorruptionTest : public SnapshotTest {
 protected:
  void SetUp() override {
    BuildMixedTree();
    // Small chunks: many chunk boundaries and records to hit.
    image_ = TakeImage(kMinChunkSize);
  }
  // Restores `image` into a fresh target, expects a failure and an
  // untouched (empty) target; returns the message.
  std::string ExpectRefused(const std::string& image) {
    Target target;
    auto stats = RestoreInto(image, target);
    EXPECT_FALSE(stats.has_value());
    EXPECT_TRUE(RootNames(target.vfs).empty());
    // The root keeps its fresh metadata too (no chmod/xattr applied).
    auto root = target.vfs.StatAt(target.vfs.RootContext(),
                                  target.vfs.RootLocation(), "/", 0);
    EXPECT_EQ(root->mode & 07777, 0755u);
    return stats ? "" : stats.error().message;
  }
  std::string image_;
};

TEST_F(SnapshotCorruptionTest, EveryFlippedByteIsDetected) {
  std::mt19937 rng(1234);
  std::uniform_int_distribution<size_t> pos(0, image_.size() - 1);
  std::uniform_int_distribution<int> bit(0, 7);
  for (int i = 0; i < 200; ++i) {
    std::string bad = image_;
    size_t at = pos(rng);
    bad[at] = static_cast<char>(bad[at] ^ (1 << bit(rng)));
    SCOPED_TRACE("flipped byte " + std::to_string(at) + " of " +
                 std::to_string(image_.size()));
    EXPECT_FALSE(ExpectRefused(bad).empty());
  }
}

TEST_F(SnapshotCorruptionTest, EveryTruncationIsDetected) {
  std::mt19937 rng(5678);
  std::uniform_int_distribution<size_t> len(0, image_.size() - 1);
  for (int i = 0; i < 200; ++i) {
    size_t keep = len(rng);
    SCOPED_TRACE("truncated to " + std::to_string(keep));
    EXPECT_FALSE(ExpectRefused(image_.substr(0, keep)).empty());
  }
}

TEST_F(SnapshotCorruptionTest, AppendedBytesAreDetected) {
  EXPECT_THAT(ExpectRefused(image_ + "x"), HasSubstr("truncated"));
  EXPECT_THAT(ExpectRefused(image_ + std::string(40, '\0')),
              HasSubstr("trailer"));
}

TEST_F(SnapshotCorruptionTest, MessagesNameTheDamagedPart) {
  MemorySource source(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image_.data()), image_.size()));
  auto image = Image::Open(source);
  ASSERT_TRUE(image.has_value());
  const ChunkRecord c = image->manifest().chunks.at(5);

  std::string bad = image_;
  bad[c.offset] ^= 0x40;
  EXPECT_EQ(
      ExpectRefused(bad),
      "chunk 5 at offset " + std::to_string(c.offset) + ": checksum mismatch");

  bad = image_;
  bad[0] = 'X';
  EXPECT_THAT(ExpectRefused(bad), HasSubstr("not a veil snapshot image"));

  bad = image_;
  bad[image_.size() - kTrailerSize - 3] ^= 1;
  EXPECT_THAT(ExpectRefused(bad), HasSubstr("manifest at offset"));
  EXPECT_THAT(ExpectRefused(bad), HasSubstr("checksum mismatch"));

  bad = image_;
  bad[image_.size() - 20] ^= 1;
  EXPECT_EQ(ExpectRefused(bad), "trailer: checksum mismatch");

  bad = image_;
  bad[20] ^= 1;
  EXPECT_EQ(ExpectRefused(bad), "header: checksum mismatch");

  // A well-formed header of a later version.
  bad = image_;
  bad.replace(0, kHeaderSize, EncodeHeader(Header{3, kMinChunkSize}));
  EXPECT_EQ(ExpectRefused(bad), "unsupported format version 3");

  EXPECT_THAT(ExpectRefused(image_.substr(0, image_.size() - 1)),
              HasSubstr("truncated"));
  EXPECT_THAT(ExpectRefused(""), HasSubstr("not a veil snapshot image"));
}

// A manifest that checksums correctly but lies (as a hostile image would)
// is refused by validation, also before anything is applied.
TEST_F(SnapshotCorruptionTest, ConsistentButInvalidManifestsAreRefused) {
  MemorySource source(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(image_.data()), image_.size()));
  auto image = Image::Open(source);
  ASSERT_TRUE(image.has_value());
  const uint64_t manifest_offset = image->manifest().chunks.back().offset +
                                   image->manifest().chunks.back().stored_size;
  auto rebuild = [&](const Manifest& m) {
    std::string out = image_.substr(0, manifest_offset);
    std::string encoded = EncodeManifest(m);
    out += encoded;
    out += EncodeTrailer(Trailer{
        manifest_offset, encoded.size(),
        Checksum(std::span(reinterpret_cast<const uint8_t*>(encoded.data()),
                           encoded.size()))});
    return out;
  };
  // Sanity: rebuilding the unchanged manifest gives the image back.
  ASSERT_EQ(rebuild(image->manifest()), image_);

  struct Case {
    const char* what;
    std::function<void(Manifest&)> damage;
  };
  const Case cases[] = {
      {"escaping name", [](Manifest& m) { m.entries[1].names[0].name = ".."; }},
      {"slash in name",
       [](Manifest& m) { m.entries[1].names[0].name = "a/b"; }},
      {"parent is a file",
       [](Manifest& m) {
         for (size_t i = 1; i < m.entries.size(); ++i)
           if (m.entries[i].type == EntryType::kRegular) {
             m.entries.back().names[0].parent = static_cast<uint32_t>(i);
             return;
           }
       }},
      {"cycle", [](Manifest& m) { m.entries[1].names[0].parent = 1; }},
      {"duplicate name",
       [](Manifest& m) { m.entries[2].names[0] = m.entries[1].names[0]; }},
      {"extent past the end",
       [](Manifest& m) {
         for (Entry& e : m.entries)
           if (!e.extents.empty()) e.size = 1;
       }},
      {"bad chunk index",
       [](Manifest& m) {
         for (Entry& e : m.entries)
           if (!e.extents.empty()) e.extents[0].chunk = 1u << 30;
       }},
      {"chunk overlaps", [](Manifest& m) { m.chunks[3].offset -= 1; }},
      {"root has a name",
       [](Manifest& m) {
         m.entries[0].names.push_back({0, "x"});
       }},
      {"mode bits", [](Manifest& m) { m.entries[1].perm = 0170000; }},
      {"nanoseconds", [](Manifest& m) { m.entries[1].mtime.nsec = 1u << 31; }},
      {"owner -1", [](Manifest& m) { m.entries[1].uid = UINT32_MAX; }},
      {"unknown xattr namespace",
       [](Manifest& m) {
         m.entries[1].xattrs.push_back({"system.x", "1"});
       }},
      {"bare xattr prefix",
       [](Manifest& m) {
         m.entries[1].xattrs.push_back({"user.", "1"});
       }},
      {"user xattr on a symlink",
       [](Manifest& m) {
         for (Entry& e : m.entries)
           if (e.type == EntryType::kSymlink)
             e.xattrs.push_back({"user.a", ""});
       }},
      {"duplicate xattr",
       [](Manifest& m) {
         m.entries[0].xattrs.push_back(m.entries[0].xattrs.at(0));
       }},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.what);
    Manifest m = image->manifest();
    c.damage(m);
    EXPECT_THAT(ExpectRefused(rebuild(m)), HasSubstr("manifest: "));
  }
}

TEST_F(SnapshotCorruptionTest, VerifyOnlyReportsTheSame) {
  std::string bad = image_;
  bad[kHeaderSize] ^= 0xff;
  MemorySource source(std::span<const uint8_t>(
      reinterpret_cast<const uint8_t*>(bad.data()), bad.size()));
  auto verified = VerifyImage(source, {});
  ASSERT_FALSE(verified.has_value());
  EXPECT_THAT(verified.error().message, HasSubstr("chunk 0 at offset 32"));
}

}  // namespace
}  // namespace veil::snapshot::testing
