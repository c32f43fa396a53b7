// SPDX-License-Identifier: Apache-2.0
//
// FIFOs that wait as on Linux (fs/pipe.c), with threads: blocking opens
// wait for the peer (and complete even if the peer already left again),
// blocking reads wait for data or for the last writer to go, blocking
// writes wait for room and keep PIPE_BUF writes whole, interrupted waits
// end with EINTR and leave no reader or writer behind, and non-blocking
// callers get Linux's EAGAIN and ENXIO. The stress tests would hang on a
// lost wake-up; a Watchdog turns a hang into a failure.
#include <limits.h>

#include <atomic>
#include <string>
#include <thread>
#include <vector>

#include "tests/unit/vfs/fixture.h"
#include "tests/unit/vfs/wait_test_util.h"
#include "vfs/blocking.h"

namespace veil::vfs::testing {
namespace {

template <typename T>
bool WouldBlock(const Result<T>& r) {
  return !r.has_value() && IsWouldBlock(r.error());
}

class FifoWaitTest : public VfsTest {
 protected:
  void SetUp() override {
    ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/p", S_IFIFO | 0666, 0), IsOk());
  }
  Result<Ref<FileDescription>> OpenP(int flags, const char* path = "/p") {
    return Open(path, flags);
  }
  Result<Ref<FileDescription>> OpenBlocking(int flags, ThreadWaiter& waiter,
                                            const char* path = "/p") {
    return OpenAtBlocking(vfs_, root_, Root(), path, OpenHow{flags, 0, 0},
                          waiter);
  }
  // A reader and a writer, both blocking.
  void OpenPair(RefPtr<FileDescription>* r, RefPtr<FileDescription>* w,
                const char* path = "/p") {
    auto rd = Open(path, O_RDONLY | O_NONBLOCK);
    ASSERT_THAT(rd, IsOk());
    auto wr = Open(path, O_WRONLY);
    ASSERT_THAT(wr, IsOk());
    ASSERT_THAT((*wr)->CompleteOpen(), IsOk());  // a reader was there
    ASSERT_THAT((*rd)->SetStatusFlags(root_.creds, 0), IsOk());
    *r = std::move(*rd);
    *w = std::move(*wr);
  }
  // Waiters registered on the FIFO's queue (a thread in a wait loop).
  static size_t Waiting(FileDescription& f) {
    return f.WaitSourceFor(kEventIn).queue->SizeForTesting();
  }
  // Fills the pipe; returns how many bytes went in.
  static size_t Fill(FileDescription& w) {
    EXPECT_TRUE(w.SetStatusFlags(Credentials::Root(), O_NONBLOCK).has_value());
    std::vector<uint8_t> chunk(65536, 'f');
    size_t total = 0;
    for (;;) {
      Result<size_t> n = w.Write(chunk);
      if (!n) {
        EXPECT_EQ(n.error().code(), EAGAIN);
        break;
      }
      total += *n;
    }
    EXPECT_TRUE(w.SetStatusFlags(Credentials::Root(), 0).has_value());
    return total;
  }
};

// --- Non-blocking callers and the would-block outcome ----------------------

TEST_F(FifoWaitTest, NonBlockingCallersGetLinuxErrnos) {
  // fifo_open: a non-blocking writer without readers is ENXIO.
  EXPECT_THAT(OpenP(O_WRONLY | O_NONBLOCK), ErrnoIs(ENXIO));
  auto rw = OpenP(O_RDWR);  // O_RDWR never waits
  ASSERT_THAT(rw, IsOk());
  ASSERT_THAT((*rw)->CompleteOpen(), IsOk());
  uint8_t buf[16];
  // Empty, with a writer (itself): a blocking caller would sleep.
  EXPECT_TRUE(WouldBlock((*rw)->Read(buf)));
  ASSERT_THAT((*rw)->SetStatusFlags(root_.creds, O_NONBLOCK), IsOk());
  EXPECT_THAT((*rw)->Read(buf), ErrnoIs(EAGAIN));
  // A full pipe: EAGAIN, or would-block without O_NONBLOCK.
  size_t filled = Fill(**rw);
  EXPECT_GT(filled, 0u);
  ASSERT_THAT((*rw)->SetStatusFlags(root_.creds, O_NONBLOCK), IsOk());
  EXPECT_THAT((*rw)->Write(Bytes("x")), ErrnoIs(EAGAIN));
  ASSERT_THAT((*rw)->SetStatusFlags(root_.creds, 0), IsOk());
  EXPECT_TRUE(WouldBlock((*rw)->Write(Bytes("x"))));
}

TEST_F(FifoWaitTest, ReadinessIsPipePoll) {
  auto r = OpenP(O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(r, IsOk());
  // Alone and never seen a writer: not readable, and no POLLHUP yet.
  EXPECT_EQ((*r)->Readiness(kEventIn | kEventOut), 0u);
  {
    auto w = OpenP(O_WRONLY | O_NONBLOCK);
    ASSERT_THAT(w, IsOk());
    EXPECT_EQ((*w)->Readiness(kEventIn | kEventOut), kEventOut);
    ASSERT_THAT((*w)->Write(Bytes("hi")), IsOkAndHolds(2u));
    EXPECT_EQ((*r)->Readiness(kEventIn | kEventOut), kEventIn);
  }
  // The writer came and went: hung up, with data still to read.
  EXPECT_EQ((*r)->Readiness(kEventIn), kEventIn | kEventHup);
  uint8_t buf[4];
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(2u));
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(0u));  // end of file
  // A writer whose readers left: POLLERR, and EPIPE.
  auto rw = OpenP(O_RDWR);
  ASSERT_THAT(rw, IsOk());
  auto w = OpenP(O_WRONLY | O_NONBLOCK);
  ASSERT_THAT(w, IsOk());
  r = Errno(EBADF);
  rw = Errno(EBADF);
  EXPECT_EQ((*w)->Readiness(kEventOut), kEventOut | kEventErr);
  EXPECT_THAT((*w)->Write(Bytes("x")), ErrnoIs(EPIPE));
}

// --- Opens --------------------------------------------------------------------

TEST_F(FifoWaitTest, BlockingOpensWaitForTheirPeer) {
  // The event-loop form: the open is counted but not complete.
  auto r = OpenP(O_RDONLY);
  ASSERT_THAT(r, IsOk());
  EXPECT_TRUE(WouldBlock((*r)->CompleteOpen()));
  // A non-blocking writer now finds a reader, and completes the reader.
  auto w = OpenP(O_WRONLY | O_NONBLOCK);
  ASSERT_THAT(w, IsOk());
  EXPECT_THAT((*r)->CompleteOpen(), IsOk());
  r = Errno(EBADF);
  // The other way round: a writer waits for a reader.
  auto w2 = OpenP(O_WRONLY);
  ASSERT_THAT(w2, IsOk());
  EXPECT_TRUE(WouldBlock((*w2)->CompleteOpen()));
  auto r2 = OpenP(O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(r2, IsOk());
  EXPECT_THAT((*w2)->CompleteOpen(), IsOk());
}

TEST_F(FifoWaitTest, APeerThatOpenedAndLeftStillCompletesTheOpen) {
  // fifo_open's r_counter/w_counter: the waiter looks for the peer's
  // counter to move, not for a peer to be there now.
  auto r = OpenP(O_RDONLY);
  ASSERT_THAT(r, IsOk());
  { ASSERT_THAT(OpenP(O_WRONLY | O_NONBLOCK), IsOk()); }  // opens, closes
  EXPECT_THAT((*r)->CompleteOpen(), IsOk());
  uint8_t buf[4];
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(0u));  // no writer: EOF
}

TEST_F(FifoWaitTest, ThreadsBlockedInOpenWakeWhenThePeerOpens) {
  Watchdog watchdog;
  auto probe = OpenP(O_RDONLY | O_NONBLOCK);  // a queue to watch
  ASSERT_THAT(probe, IsOk());
  ThreadWaiter rw, ww;
  Async<Result<Ref<FileDescription>>> reader(
      [&] { return OpenBlocking(O_RDONLY, rw); });
  AwaitTrue([&] { return Waiting(**probe) == 1; });  // parked, no writer
  EXPECT_FALSE(reader.done());
  auto w = OpenBlocking(O_WRONLY, ww);  // a reader is there: no wait
  ASSERT_THAT(w, IsOk());
  EXPECT_THAT(reader.Get(), IsOk());
  EXPECT_EQ(Waiting(**probe), 0u);  // the wait left nothing registered
}

TEST_F(FifoWaitTest, AWriterBlockedInOpenWakesWhenAReaderOpens) {
  Watchdog watchdog;
  auto pending = OpenP(O_WRONLY);
  ASSERT_THAT(pending, IsOk());
  ThreadWaiter waiter;
  Async<Result<void>> writer(
      [&] { return CompleteOpenBlocking(**pending, waiter); });
  AwaitTrue([&] { return Waiting(**pending) == 1; });
  auto r = OpenP(O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(r, IsOk());
  EXPECT_THAT(writer.Get(), IsOk());
  ASSERT_THAT((*pending)->Write(Bytes("yo")), IsOkAndHolds(2u));
}

TEST_F(FifoWaitTest, AnInterruptedOpenLeavesNoPhantomPeer) {
  ThreadWaiter waiter;
  // Interrupted before it waits (the interrupt is kept for the wait) ...
  waiter.Interrupt();
  EXPECT_THAT(OpenBlocking(O_RDONLY, waiter), ErrnoIs(EINTR));
  // ... and on another thread, whenever the interrupt lands.
  Watchdog watchdog;
  Async<Result<Ref<FileDescription>>> reader(
      [&] { return OpenBlocking(O_RDONLY, waiter); });
  waiter.Interrupt();
  EXPECT_THAT(reader.Get(), ErrnoIs(EINTR));
  // No reader is left counted: a non-blocking writer finds none.
  EXPECT_THAT(OpenP(O_WRONLY | O_NONBLOCK), ErrnoIs(ENXIO));

  Async<Result<Ref<FileDescription>>> writer(
      [&] { return OpenBlocking(O_WRONLY, waiter); });
  waiter.Interrupt();
  EXPECT_THAT(writer.Get(), ErrnoIs(EINTR));
  // No writer is left counted: a reader sees end of file, not "wait".
  auto r = OpenP(O_RDONLY | O_NONBLOCK);
  ASSERT_THAT(r, IsOk());
  uint8_t buf[4];
  EXPECT_THAT((*r)->Read(buf), IsOkAndHolds(0u));
  EXPECT_EQ(Waiting(**r), 0u);
}

// --- Reads and writes ------------------------------------------------------

TEST_F(FifoWaitTest, ABlockedReadWakesForDataAndForTheLastWriterLeaving) {
  Watchdog watchdog;
  RefPtr<FileDescription> r, w;
  OpenPair(&r, &w);
  ThreadWaiter waiter;
  uint8_t buf[16];
  Async<Result<size_t>> read1([&] { return ReadBlocking(*r, buf, waiter); });
  AwaitTrue([&] { return Waiting(*r) == 1; });
  ASSERT_THAT(w->Write(Bytes("ping")), IsOkAndHolds(4u));
  EXPECT_THAT(read1.Get(), IsOkAndHolds(4u));
  // The VFS holds both ends of the host pipe, so the host never reports
  // the hang-up: the last writer's close must wake the reader itself.
  Async<Result<size_t>> read2([&] { return ReadBlocking(*r, buf, waiter); });
  AwaitTrue([&] { return Waiting(*r) == 1; });
  w = nullptr;  // drops the only writer
  EXPECT_THAT(read2.Get(), IsOkAndHolds(0u));
}

TEST_F(FifoWaitTest, AnInterruptedReadReturnsEintrAndLeavesNothing) {
  Watchdog watchdog;
  RefPtr<FileDescription> r, w;
  OpenPair(&r, &w);
  ThreadWaiter waiter;
  uint8_t buf[16];
  Async<Result<size_t>> reader([&] { return ReadBlocking(*r, buf, waiter); });
  AwaitTrue([&] { return Waiting(*r) == 1; });
  waiter.Interrupt();
  EXPECT_THAT(reader.Get(), ErrnoIs(EINTR));
  EXPECT_EQ(Waiting(*r), 0u);
  // The reader is still a reader: the data comes through afterwards.
  ASSERT_THAT(w->Write(Bytes("late")), IsOkAndHolds(4u));
  EXPECT_THAT(ReadBlocking(*r, buf, waiter), IsOkAndHolds(4u));
}

TEST_F(FifoWaitTest, ABlockedWriterWakesForRoomAndWritesEverything) {
  Watchdog watchdog;
  RefPtr<FileDescription> r, w;
  OpenPair(&r, &w);
  const size_t filled = Fill(*w);
  ThreadWaiter waiter;
  std::vector<uint8_t> more(3 * PIPE_BUF + 5, 'm');
  Async<Result<size_t>> writer(
      [&] { return WriteBlocking(*w, root_.creds, more, waiter); });
  AwaitTrue([&] { return Waiting(*r) == 1; });
  std::string got;
  ThreadWaiter reader_waiter;
  while (got.size() < filled + more.size()) {
    std::vector<uint8_t> buf(4096);
    Result<size_t> n = ReadBlocking(*r, buf, reader_waiter);
    ASSERT_TRUE(n.has_value());
    got.append(buf.begin(), buf.begin() + *n);
  }
  EXPECT_THAT(writer.Get(), IsOkAndHolds(more.size()));
  EXPECT_EQ(got, std::string(filled, 'f') + std::string(more.size(), 'm'));
}

TEST_F(FifoWaitTest, ABlockedWriterGetsEpipeWhenTheReadersLeave) {
  Watchdog watchdog;
  RefPtr<FileDescription> r, w;
  OpenPair(&r, &w);
  Fill(*w);
  ThreadWaiter waiter;
  Async<Result<size_t>> writer(
      [&] { return WriteBlocking(*w, root_.creds, Bytes("x"), waiter); });
  AwaitTrue([&] { return Waiting(*w) == 1; });
  r = nullptr;  // drops the only reader
  EXPECT_THAT(writer.Get(), ErrnoIs(EPIPE));
}

// PIPE_BUF writes are atomic (pipe(7)): blocked writers racing for room
// never interleave inside one write.
TEST_F(FifoWaitTest, PipeBufWritesStayWholeUnderContention) {
  Watchdog watchdog;
  RefPtr<FileDescription> r, w;
  OpenPair(&r, &w);
  constexpr int kWriters = 4, kWrites = 64;
  std::vector<std::thread> writers;
  for (int i = 0; i < kWriters; ++i) {
    writers.emplace_back([&, i] {
      ThreadWaiter waiter;
      std::vector<uint8_t> chunk(PIPE_BUF, static_cast<uint8_t>('a' + i));
      for (int j = 0; j < kWrites; ++j)
        EXPECT_THAT(WriteBlocking(*w, root_.creds, chunk, waiter),
                    IsOkAndHolds(size_t{PIPE_BUF}));
    });
  }
  std::string got;
  ThreadWaiter waiter;
  while (got.size() < size_t{kWriters} * kWrites * PIPE_BUF) {
    std::vector<uint8_t> buf(1000);  // not a multiple of PIPE_BUF
    Result<size_t> n = ReadBlocking(*r, buf, waiter);
    ASSERT_TRUE(n.has_value());
    got.append(buf.begin(), buf.begin() + *n);
  }
  for (std::thread& t : writers) t.join();
  for (size_t at = 0; at < got.size(); at += PIPE_BUF)
    ASSERT_EQ(got.substr(at, PIPE_BUF), std::string(PIPE_BUF, got[at]))
        << "a write was split at " << at;
}

// --- Stress: a lost wake-up hangs, and the watchdog fails the test --------

TEST_F(FifoWaitTest, StressPingPongLosesNoWakeUp) {
  Watchdog watchdog;
  ASSERT_THAT(vfs_.MknodAt(root_, Root(), "/q", S_IFIFO | 0666, 0), IsOk());
  RefPtr<FileDescription> a_r, a_w, b_r, b_w;
  OpenPair(&a_r, &a_w, "/p");
  OpenPair(&b_r, &b_w, "/q");
  constexpr int kRounds = 5000;
  std::thread echo([&] {
    ThreadWaiter waiter;
    uint8_t c;
    for (int i = 0; i < kRounds; ++i) {
      ASSERT_THAT(ReadBlocking(*a_r, {&c, 1}, waiter), IsOkAndHolds(1u));
      ASSERT_THAT(WriteBlocking(*b_w, root_.creds, {&c, 1}, waiter),
                  IsOkAndHolds(1u));
    }
  });
  ThreadWaiter waiter;
  for (int i = 0; i < kRounds; ++i) {
    uint8_t c = static_cast<uint8_t>(i);
    ASSERT_THAT(WriteBlocking(*a_w, root_.creds, {&c, 1}, waiter),
                IsOkAndHolds(1u));
    uint8_t back = 0;
    ASSERT_THAT(ReadBlocking(*b_r, {&back, 1}, waiter), IsOkAndHolds(1u));
    ASSERT_EQ(back, c);
  }
  echo.join();
}

TEST_F(FifoWaitTest, StressRacingOpensAndClosesAllComplete) {
  Watchdog watchdog;
  for (int i = 0; i < 2000; ++i) {
    ThreadWaiter rw, ww;
    Async<Result<Ref<FileDescription>>> reader(
        [&] { return OpenBlocking(O_RDONLY, rw); });
    Async<Result<Ref<FileDescription>>> writer(
        [&] { return OpenBlocking(O_WRONLY, ww); });
    Result<Ref<FileDescription>> r = reader.Get();
    Result<Ref<FileDescription>> w = writer.Get();
    ASSERT_THAT(r, IsOk());
    ASSERT_THAT(w, IsOk());
    // The last writer leaving wakes a reader blocked in read, however the
    // close and the reader's check and wait interleave.
    ThreadWaiter waiter;
    uint8_t buf[1];
    std::atomic<bool> started{false};
    Async<Result<size_t>> read([&] {
      started = true;
      return ReadBlocking(**r, buf, waiter);
    });
    while (!started) std::this_thread::yield();
    for (int spin = 0; spin < i % 64; ++spin) std::this_thread::yield();
    w = Errno(EBADF);
    ASSERT_THAT(read.Get(), IsOkAndHolds(0u));
  }
  // Everyone left: the next non-blocking writer finds no reader.
  EXPECT_THAT(OpenP(O_WRONLY | O_NONBLOCK), ErrnoIs(ENXIO));
}

}  // namespace
}  // namespace veil::vfs::testing
