// SPDX-License-Identifier: Apache-2.0
//
// tmpfs file data with threads: the per-inode data lock keeps Linux's
// atomicity (an O_APPEND write lands whole at the end, a read sees all of
// a write or none of it, truncates and writes leave a consistent size)
// while I/O runs without the filesystem mutex. Each test runs with the
// data in process memory (the page store, which moves to a memfd past
// 1 MiB during the test), in a memfd from the start, and in a self-backed
// tmpfs's FileStore.
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <atomic>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "tests/util/matchers.h"
#include "vfs/tmpfs/file_store.h"
#include "vfs/tmpfs/tmpfs.h"
#include "vfs/vfs.h"

namespace veil::vfs::testing {
namespace {

using ::veil::testing::IsOk;
using ::veil::testing::IsOkAndHolds;

enum class Storage { kPages, kMemfd, kSelfBacked };

std::string StorageName(const ::testing::TestParamInfo<Storage>& info) {
  switch (info.param) {
    case Storage::kPages:
      return "Pages";
    case Storage::kMemfd:
      return "Memfd";
    case Storage::kSelfBacked:
      return "SelfBacked";
  }
  return "?";
}

tmpfs::TmpfsOptions OptionsFor(Storage storage, uint64_t memfd_threshold) {
  tmpfs::TmpfsOptions options;
  options.memfd_threshold = storage == Storage::kMemfd ? 0 : memfd_threshold;
  if (storage == Storage::kSelfBacked) {
    const char* tmp = std::getenv("TMPDIR");
    auto store = tmpfs::FileStore::Create(tmp ? tmp : "/tmp");
    EXPECT_THAT(store, IsOk());
    if (store)
      options.store = std::shared_ptr<tmpfs::FileStore>(std::move(*store));
  }
  return options;
}

class TmpfsConcurrencyTest : public ::testing::TestWithParam<Storage> {
 protected:
  explicit TmpfsConcurrencyTest(
      uint64_t memfd_threshold = tmpfs::TmpfsOptions{}.memfd_threshold)
      : vfs_(tmpfs::Tmpfs::Create(OptionsFor(GetParam(), memfd_threshold))),
        root_(vfs_.RootContext()) {}

  Ref<FileDescription> Open(std::string_view path, int flags) {
    auto f =
        vfs_.OpenAt(root_, root_.cwd, path, OpenHow{flags | O_CREAT, 0644, 0});
    EXPECT_THAT(f, IsOk());
    return std::move(*f);
  }
  uint64_t Size(std::string_view path) {
    auto st = vfs_.StatAt(root_, root_.cwd, path, 0);
    EXPECT_THAT(st, IsOk());
    return st ? st->size : 0;
  }
  std::vector<uint8_t> ReadAll(FileDescription& f) {
    std::vector<uint8_t> out;
    uint8_t buf[65536];
    for (int64_t off = 0;;) {
      auto n = f.PRead(buf, off);
      if (!n || *n == 0) break;
      out.insert(out.end(), buf, buf + *n);
      off += static_cast<int64_t>(*n);
    }
    return out;
  }

  Vfs vfs_;
  Context root_;
};

// Holds threads until `count` of them arrived, so that they overlap.
class StartGate {
 public:
  explicit StartGate(int count) : left_(count) {}
  void Arrive() {
    left_.fetch_sub(1);
    while (left_.load() > 0) std::this_thread::yield();
  }

 private:
  std::atomic<int> left_;
};

// A record: a header (writer, sequence number, length) and a body of
// `length` bytes, each the writer's number plus one. Lengths from 1 to
// 9000 bytes cross page boundaries.
struct RecordHeader {
  uint32_t writer;
  uint32_t seq;
  uint32_t length;
};

std::vector<uint8_t> MakeRecord(uint32_t writer, uint32_t seq) {
  RecordHeader h{writer, seq, 1 + (seq * 7919 + writer * 104729) % 9000};
  std::vector<uint8_t> r(sizeof h + h.length, static_cast<uint8_t>(writer + 1));
  std::memcpy(r.data(), &h, sizeof h);
  return r;
}

TEST_P(TmpfsConcurrencyTest, AppendWritersNeverInterleaveOrLoseARecord) {
  constexpr uint32_t kWriters = 4;
  constexpr uint32_t kRecords = 1000;
  std::vector<std::thread> threads;
  uint64_t expected_size = 0;
  StartGate gate(kWriters);
  for (uint32_t w = 0; w < kWriters; ++w) {
    for (uint32_t s = 0; s < kRecords; ++s)
      expected_size += MakeRecord(w, s).size();
    // Each writer has its own description, as separate processes would.
    threads.emplace_back([this, w, &gate] {
      Ref<FileDescription> f = Open("/log", O_WRONLY | O_APPEND);
      gate.Arrive();
      for (uint32_t s = 0; s < kRecords; ++s) {
        std::vector<uint8_t> r = MakeRecord(w, s);
        EXPECT_THAT(f->Write(r), IsOkAndHolds(r.size()));
      }
    });
  }
  for (std::thread& t : threads) t.join();

  EXPECT_EQ(Size("/log"), expected_size);
  std::vector<uint8_t> data = ReadAll(*Open("/log", O_RDONLY));
  ASSERT_EQ(data.size(), expected_size);
  std::vector<uint32_t> next(kWriters, 0);
  for (size_t pos = 0; pos < data.size();) {
    RecordHeader h;
    ASSERT_LE(pos + sizeof h, data.size()) << "a torn record at " << pos;
    std::memcpy(&h, data.data() + pos, sizeof h);
    ASSERT_LT(h.writer, kWriters) << "a mixed record at " << pos;
    // Each writer's records appear whole and in its own order.
    ASSERT_EQ(h.seq, next[h.writer]) << "writer " << h.writer << " at " << pos;
    std::vector<uint8_t> want = MakeRecord(h.writer, h.seq);
    ASSERT_LE(pos + want.size(), data.size());
    ASSERT_TRUE(std::equal(want.begin(), want.end(), data.begin() + pos))
        << "record " << h.seq << " of writer " << h.writer << " at " << pos
        << " was overwritten";
    ++next[h.writer];
    pos += want.size();
  }
  EXPECT_THAT(next, ::testing::Each(kRecords));
}

TEST_P(TmpfsConcurrencyTest, ReaderSeesAllOfAWriteOrNoneOfIt) {
  // Three pages' worth from the middle of a page, so each write covers
  // parts of four pages.
  constexpr int64_t kOffset = 2048;
  constexpr size_t kLength = 3 * 4096;
  constexpr int kWrites = 3000;
  constexpr int kReads = 3000;  // at least, by each reader
  {
    std::vector<uint8_t> zero(kOffset + kLength + 4096, 0);
    ASSERT_THAT(Open("/f", O_WRONLY)->PWrite(zero, 0), IsOk());
  }
  std::atomic<bool> done{false};
  std::atomic<int> torn{0};
  std::atomic<int> reads{0};
  std::vector<std::thread> readers;
  StartGate gate(3);
  for (int r = 0; r < 2; ++r) {
    readers.emplace_back([&] {
      Ref<FileDescription> f = Open("/f", O_RDONLY);
      std::vector<uint8_t> buf(kLength);
      gate.Arrive();
      for (int i = 0; i < kReads || !done.load(); ++i) {
        reads.fetch_add(1);
        auto n = f->PRead(buf, kOffset);
        // Every byte from the same write: one value throughout.
        if (!n || *n != kLength ||
            std::count(buf.begin(), buf.end(), buf[0]) !=
                static_cast<std::ptrdiff_t>(kLength))
          torn.fetch_add(1);
      }
    });
  }
  Ref<FileDescription> w = Open("/f", O_WRONLY);
  std::vector<uint8_t> buf(kLength);
  gate.Arrive();
  // Until both readers are done too: every read races a write.
  for (int i = 1; i <= kWrites || reads.load() < 2 * kReads; ++i) {
    std::fill(buf.begin(), buf.end(), static_cast<uint8_t>(i));
    ASSERT_THAT(w->PWrite(buf, kOffset), IsOkAndHolds(kLength));
  }
  done.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(torn.load(), 0) << "of " << reads.load() << " reads";
}

// The page store never moves to a memfd here, so that every size stat
// reports is veil's own (see below).
class TmpfsTruncateRaceTest : public TmpfsConcurrencyTest {
 protected:
  TmpfsTruncateRaceTest() : TmpfsConcurrencyTest(uint64_t{1} << 40) {}
};

TEST_P(TmpfsTruncateRaceTest, TruncateRacingWritesLeavesAConsistentSize) {
  // Appends and truncates both move the size by whole records, so any
  // size stat or SEEK_END reports is a multiple of kRecord: veil
  // publishes the size of its own pages after a whole write. (A memfd's
  // size moves page by page while the host copies a write in, as any
  // Linux tmpfs file's does: there only the end is checked.) A truncate
  // never grows the file (it keeps at most what it saw, and only appends
  // happen meanwhile), so at the end the file is whole records: an append
  // that wrote at an end a truncate had moved would leave a hole of
  // zeros, or a record cut short.
  constexpr size_t kRecord = 1000;
  constexpr int kAppends = 2000;
  constexpr int kTruncates = 1000;  // at least; on until the appends end
  const bool sizes_are_veils = GetParam() != Storage::kMemfd;
  Open("/f", O_WRONLY);
  std::atomic<bool> done{false};
  std::atomic<int> appending{2};
  std::atomic<int> bad_sizes{0};
  std::vector<std::thread> threads;
  StartGate gate(3);
  for (uint32_t w = 0; w < 2; ++w) {
    threads.emplace_back([this, w, &gate, &appending] {
      Ref<FileDescription> f = Open("/f", O_WRONLY | O_APPEND);
      std::vector<uint8_t> r(kRecord, static_cast<uint8_t>(w + 1));
      gate.Arrive();
      for (int i = 0; i < kAppends; ++i)
        EXPECT_THAT(f->Write(r), IsOkAndHolds(kRecord));
      appending.fetch_sub(1);
    });
  }
  threads.emplace_back([&] {
    Ref<FileDescription> f = Open("/f", O_RDONLY);
    while (sizes_are_veils && !done.load()) {
      if (Size("/f") % kRecord != 0) bad_sizes.fetch_add(1);
      auto end = f->Seek(0, SEEK_END);
      if (!end || *end % static_cast<int64_t>(kRecord) != 0)
        bad_sizes.fetch_add(1);
    }
  });
  uint64_t x = 88172645463325252ull;
  gate.Arrive();
  for (int i = 0; i < kTruncates || appending.load() > 0; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
    uint64_t records = Size("/f") / kRecord;
    uint64_t keep = x % (records + 1);
    EXPECT_THAT(vfs_.TruncateAt(root_, root_.cwd, "/f",
                                static_cast<int64_t>(keep * kRecord)),
                IsOk());
  }
  threads[0].join();
  threads[1].join();
  done.store(true);
  threads[2].join();
  EXPECT_EQ(bad_sizes.load(), 0);

  Ref<FileDescription> f = Open("/f", O_RDONLY);
  std::vector<uint8_t> data = ReadAll(*f);
  EXPECT_EQ(Size("/f"), data.size());
  EXPECT_THAT(f->Seek(0, SEEK_END),
              IsOkAndHolds(static_cast<int64_t>(data.size())));
  ASSERT_EQ(data.size() % kRecord, 0u);
  for (size_t pos = 0; pos < data.size(); pos += kRecord) {
    const uint8_t v = data[pos];
    EXPECT_TRUE((v == 1 || v == 2) &&
                std::count(data.begin() + pos, data.begin() + pos + kRecord,
                           v) == static_cast<std::ptrdiff_t>(kRecord))
        << "record at " << pos << " is torn";
  }
}

INSTANTIATE_TEST_SUITE_P(Storages, TmpfsConcurrencyTest,
                         ::testing::Values(Storage::kPages, Storage::kMemfd,
                                           Storage::kSelfBacked),
                         StorageName);
INSTANTIATE_TEST_SUITE_P(Storages, TmpfsTruncateRaceTest,
                         ::testing::Values(Storage::kPages, Storage::kMemfd,
                                           Storage::kSelfBacked),
                         StorageName);

}  // namespace
}  // namespace veil::vfs::testing
