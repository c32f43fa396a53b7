// SPDX-License-Identifier: Apache-2.0
//
// Readiness: poll(2), ppoll(2), select(2), pselect6(2) over the task's
// fds, served from the VFS (FileDescription::Readiness, Linux's ->poll).
// A call that must wait registers the task's waiter on every file's wait
// queue and waits in it on the files' host fds too (vfs/wait.h), with a
// timerfd standing for the timeout; Task::Interrupt ends it with EINTR.
//
// NOTE: ppoll's and pselect6's signal mask is the task's, which only the
// platform can set; it is not applied here.
#include <poll.h>
#include <sys/select.h>
#include <sys/timerfd.h>
#include <time.h>

#include <algorithm>
#include <map>
#include <memory>
#include <optional>
#include <vector>

#include "base/unique_fd.h"
#include "sentry/kernel/file_ops.h"
#include "sentry/kernel/handlers.h"

namespace veil::sentry {
namespace {

struct PollItem {
  int fd = -1;
  short events = 0;
  short revents = 0;
  RefPtr<vfs::FileDescription> file;  // null: fd < 0 or not open
};

// One scan (do_pollfd): POLLNVAL for a closed fd, else what the file
// reports of `events` plus POLLERR and POLLHUP. Returns how many have
// any event.
int Scan(std::vector<PollItem>& items) {
  int ready = 0;
  for (PollItem& it : items) {
    it.revents = 0;
    if (it.fd < 0) continue;
    if (!it.file) {
      it.revents = POLLNVAL;
    } else {
      vfs::EventMask want =
          static_cast<uint16_t>(it.events) | POLLERR | POLLHUP;
      vfs::EventMask got = it.file->Readiness(want | POLLIN | POLLOUT);
      // DEFAULT_POLLMASK pairs POLLRDNORM/POLLWRNORM with IN/OUT.
      if (got & POLLIN) got |= POLLRDNORM;
      if (got & POLLOUT) got |= POLLWRNORM;
      it.revents = static_cast<short>(got & want);
    }
    if (it.revents) ++ready;
  }
  return ready;
}

// Waits until an item is ready, the timeout passes (0 ready) or the
// task is interrupted (EINTR). `timeout` null: forever.
Result<int> PollWait(Task& task, std::vector<PollItem>& items,
                     const timespec* timeout) {
  int ready = Scan(items);
  if (ready > 0 || (timeout && timeout->tv_sec == 0 && timeout->tv_nsec == 0))
    return ready;
  UniqueFd timer;
  if (timeout) {
    timer.reset(::timerfd_create(CLOCK_MONOTONIC, TFD_CLOEXEC | TFD_NONBLOCK));
    if (!timer.valid()) return Errno::FromErrno();  // timerfd_create's
    itimerspec its{};
    its.it_value = *timeout;
    if (::timerfd_settime(timer.get(), 0, &its, nullptr) != 0)
      return Errno::FromErrno();
  }
  vfs::ThreadWaiter& waiter = task.waiter();
  for (;;) {
    waiter.ResetNotification();
    // One registration per queue, for the union of what its files want.
    std::map<vfs::WaitQueue*, vfs::EventMask> queues;
    std::vector<vfs::HostPoll> hosts;
    for (PollItem& it : items) {
      if (!it.file) continue;
      vfs::EventMask mask = static_cast<uint16_t>(it.events) | POLLIN | POLLOUT;
      vfs::WaitSource src = it.file->WaitSourceFor(mask);
      if (src.queue) queues[src.queue] |= mask;
      for (const vfs::HostPoll& h : src.host)
        if (h.fd >= 0) hosts.push_back(h);
    }
    std::vector<std::unique_ptr<vfs::WaitRegistration>> regs;
    for (auto [queue, mask] : queues)
      regs.push_back(
          std::make_unique<vfs::WaitRegistration>(queue, waiter, mask));
    ready = Scan(items);  // after registering: no wake-up is lost
    if (ready > 0) return ready;
    if (timer.valid()) {
      pollfd p{timer.get(), POLLIN, 0};
      if (::poll(&p, 1, 0) > 0) return 0;  // timed out
      hosts.push_back({timer.get(), POLLIN});
    }
    VEIL_TRY_VOID(waiter.Wait(hosts));
  }
}

// The fds of the task, looked up once per call.
void Lookup(Task& task, std::vector<PollItem>& items) {
  for (PollItem& it : items) {
    if (it.fd < 0) continue;
    Result<Ref<vfs::FileDescription>> f = task.fds().Get(it.fd);
    if (f) it.file = RefPtr<vfs::FileDescription>(*f);
  }
}

Result<int64_t> DoPoll(Task& task, SyscallArgs& args, const timespec* timeout) {
  uint64_t nfds = args.ULong(1);
  // do_sys_poll: more than RLIMIT_NOFILE entries is EINVAL.
  if (nfds > static_cast<uint64_t>(task.nofile_limit())) return Errno(EINVAL);
  std::vector<pollfd> raw(nfds);
  VEIL_TRY_VOID(args.mem.Read(
      args.Addr(0), std::span<uint8_t>(reinterpret_cast<uint8_t*>(raw.data()),
                                       nfds * sizeof(pollfd))));
  std::vector<PollItem> items(nfds);
  for (size_t i = 0; i < nfds; ++i) {
    items[i].fd = raw[i].fd;
    items[i].events = raw[i].events;
  }
  Lookup(task, items);
  int ready = VEIL_TRY(PollWait(task, items, timeout));
  for (size_t i = 0; i < nfds; ++i) {
    // do_sys_poll: each revents is written back (EFAULT).
    TaskAddr at = VEIL_TRY(
        args.Addr(0).Offset(i * sizeof(pollfd) + offsetof(pollfd, revents)));
    VEIL_TRY_VOID(CopyOut(args.mem, at, items[i].revents));
  }
  return ready;
}

// A relative timeout from the task, checked as poll_select_set_timeout
// (EINVAL for a negative or unnormalised one).
Result<timespec> CheckedTimeout(timespec ts) {
  if (ts.tv_sec < 0 || ts.tv_nsec < 0 || ts.tv_nsec >= 1000000000)
    return Errno(EINVAL);
  return ts;
}

// poll_select_finish: what is left of `timeout` since `start`
// (CLOCK_MONOTONIC), never negative.
timespec Remaining(const timespec& timeout, const timespec& start) {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  int64_t left = (timeout.tv_sec + start.tv_sec - now.tv_sec) * 1000000000LL +
                 (timeout.tv_nsec + start.tv_nsec - now.tv_nsec);
  if (left < 0) left = 0;
  return timespec{left / 1000000000LL, left % 1000000000LL};
}

timespec Now() {
  timespec now{};
  ::clock_gettime(CLOCK_MONOTONIC, &now);
  return now;
}

}  // namespace

Result<int64_t> SysPoll(Task& task, SyscallArgs& args) {
  int ms = args.Int(2);
  if (ms < 0) return DoPoll(task, args, nullptr);
  timespec t{ms / 1000, (ms % 1000) * 1000000L};
  return DoPoll(task, args, &t);
}

Result<int64_t> SysPpoll(Task& task, SyscallArgs& args) {
  // sys_ppoll: a sigmask of the wrong size is EINVAL.
  if (!args.Addr(3).IsNull() && args.ULong(4) != sizeof(uint64_t))
    return Errno(EINVAL);
  if (args.Addr(2).IsNull()) return DoPoll(task, args, nullptr);
  timespec t = VEIL_TRY(CopyIn<timespec>(args.mem, args.Addr(2)));
  t = VEIL_TRY(CheckedTimeout(t));
  timespec start = Now();
  Result<int64_t> r = DoPoll(task, args, &t);
  // poll_select_finish: the time left is written back (not for a zero
  // timeout; a fault there is ignored, the result stands).
  if (t.tv_sec != 0 || t.tv_nsec != 0)
    (void)CopyOut(args.mem, args.Addr(2), Remaining(t, start));
  return r;
}

// --- select ---------------------------------------------------------------

namespace {

// core_sys_select over fd_set bitmaps of `n` bits at args 1, 2, 3.
Result<int64_t> DoSelect(Task& task, SyscallArgs& args,
                         const timespec* timeout) {
  int n = args.Int(0);
  // core_sys_select: a negative n is EINVAL; n is capped at the table's
  // size (max_fds), here the RLIMIT_NOFILE bound.
  if (n < 0) return Errno(EINVAL);
  n = std::min(n, task.nofile_limit());
  size_t bytes = ((static_cast<size_t>(n) + 63) / 64) * 8;
  std::vector<uint8_t> sets[3];
  for (int s = 0; s < 3; ++s) {
    if (args.Addr(1 + s).IsNull()) continue;
    sets[s].resize(bytes);
    VEIL_TRY_VOID(args.mem.Read(args.Addr(1 + s), sets[s]));
  }
  auto bit = [&](int s, int fd) {
    return !sets[s].empty() && (sets[s][fd / 8] >> (fd % 8) & 1);
  };
  std::vector<PollItem> items;
  for (int fd = 0; fd < n; ++fd) {
    short events = 0;
    if (bit(0, fd)) events |= POLLIN;
    if (bit(1, fd)) events |= POLLOUT;
    if (bit(2, fd)) events |= POLLPRI;
    if (!events) continue;
    PollItem it;
    it.fd = fd;
    it.events = events;
    items.push_back(it);
  }
  Lookup(task, items);
  // select: a set bit for a closed fd is EBADF.
  for (const PollItem& it : items)
    if (!it.file) return Errno(EBADF);
  VEIL_TRY(PollWait(task, items, timeout));
  for (auto& s : sets) std::fill(s.begin(), s.end(), 0);
  int count = 0;
  for (const PollItem& it : items) {
    short r = it.revents;
    // POLLIN_SET, POLLOUT_SET, POLLEX_SET.
    bool in = (it.events & POLLIN) && (r & (POLLIN | POLLHUP | POLLERR));
    bool out = (it.events & POLLOUT) && (r & (POLLOUT | POLLERR));
    bool ex = (it.events & POLLPRI) && (r & POLLPRI);
    bool ready[3] = {in, out, ex};
    for (int s = 0; s < 3; ++s)
      if (ready[s]) {
        sets[s][it.fd / 8] |= uint8_t(1u << (it.fd % 8));
        ++count;
      }
  }
  for (int s = 0; s < 3; ++s)
    if (!sets[s].empty())
      VEIL_TRY_VOID(args.mem.Write(args.Addr(1 + s), sets[s]));
  return count;
}

}  // namespace

Result<int64_t> SysSelect(Task& task, SyscallArgs& args) {
  if (args.Addr(4).IsNull()) return DoSelect(task, args, nullptr);
  timeval tv = VEIL_TRY(CopyIn<timeval>(args.mem, args.Addr(4)));
  // poll_select_set_timeout via timeval: EINVAL when out of range.
  if (tv.tv_sec < 0 || tv.tv_usec < 0 || tv.tv_usec >= 1000000)
    return Errno(EINVAL);
  timespec t{tv.tv_sec, tv.tv_usec * 1000};
  timespec start = Now();
  Result<int64_t> r = DoSelect(task, args, &t);
  if (t.tv_sec != 0 || t.tv_nsec != 0) {
    timespec left = Remaining(t, start);
    timeval out{left.tv_sec, left.tv_nsec / 1000};
    (void)CopyOut(args.mem, args.Addr(4), out);  // poll_select_finish
  }
  return r;
}

Result<int64_t> SysPselect6(Task& task, SyscallArgs& args) {
  if (args.Addr(4).IsNull()) return DoSelect(task, args, nullptr);
  timespec t = VEIL_TRY(CopyIn<timespec>(args.mem, args.Addr(4)));
  t = VEIL_TRY(CheckedTimeout(t));
  timespec start = Now();
  Result<int64_t> r = DoSelect(task, args, &t);
  if (t.tv_sec != 0 || t.tv_nsec != 0)
    (void)CopyOut(args.mem, args.Addr(4), Remaining(t, start));
  return r;
}

}  // namespace veil::sentry
