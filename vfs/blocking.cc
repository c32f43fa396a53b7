// SPDX-License-Identifier: Apache-2.0
//
// The thread form of the wait loop (vfs/blocking.h).
#include "vfs/blocking.h"

namespace veil::vfs {
namespace {

// Calls `attempt` until it answers something other than kWouldBlock,
// waiting in `waiter` for `events` on `file` in between.
template <typename T, typename Attempt>
Result<T> WaitLoop(FileDescription& file, EventMask events,
                   ThreadWaiter& waiter, Attempt attempt) {
  Result<T> r = attempt();
  if (r || !IsWouldBlock(r.error())) return r;
  // A file that answers kWouldBlock names where its readiness shows.
  const WaitSource source = file.WaitSourceFor(events);
  WaitRegistration registered(source.queue, waiter, events);
  for (;;) {
    r = attempt();  // registered first: a wake-up from here on is kept
    if (r || !IsWouldBlock(r.error())) return r;
    Result<void> woken = waiter.Wait(source.host);
    if (!woken) return woken.error();  // EINTR
  }
}

}  // namespace

Result<void> CompleteOpenBlocking(FileDescription& file, ThreadWaiter& waiter) {
  Result<bool> done = WaitLoop<bool>(file, kEventPeerOpened, waiter,
                                     [&]() -> Result<bool> {
                                       VEIL_TRY_VOID(file.CompleteOpen());
                                       return true;
                                     });
  if (!done) return done.error();
  return Ok();
}

Result<Ref<FileDescription>> OpenAtBlocking(Vfs& vfs, const Context& ctx,
                                            const Location& dir,
                                            std::string_view path,
                                            const OpenHow& how,
                                            ThreadWaiter& waiter) {
  Ref<FileDescription> file = VEIL_TRY(vfs.OpenAt(ctx, dir, path, how));
  // fifo_open: an interrupted wait drops the description (err_rd/err_wr).
  VEIL_TRY_VOID(CompleteOpenBlocking(*file, waiter));
  return file;
}

Result<size_t> ReadBlocking(FileDescription& file, std::span<uint8_t> buf,
                            ThreadWaiter& waiter) {
  return WaitLoop<size_t>(file, kEventIn, waiter,
                          [&] { return file.Read(buf); });
}

Result<size_t> WriteBlocking(FileDescription& file, const Credentials& creds,
                             std::span<const uint8_t> buf,
                             ThreadWaiter& waiter) {
  size_t total = 0;
  for (;;) {
    Result<size_t> n = WaitLoop<size_t>(file, kEventOut, waiter, [&] {
      return file.Write(creds, buf.subspan(total));
    });
    // pipe_write: an error or a signal after some bytes went reports them.
    if (!n) return total > 0 ? Result<size_t>(total) : n;
    total += *n;
    // A non-blocking description, or a file that took less without
    // blocking (a regular file at its size limit), stops here.
    if (total == buf.size() || *n == 0 || (file.flags() & O_NONBLOCK))
      return total;
  }
}

}  // namespace veil::vfs
