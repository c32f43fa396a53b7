// SPDX-License-Identifier: Apache-2.0
#include "sentry/control/control_server.h"

#include <fcntl.h>
#include <poll.h>
#include <sys/socket.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <utility>

#include "base/fd_passing.h"
#include "base/logging.h"
#include "lisafs/channel.h"
#include "sentry/control/control_protocol.h"

namespace veil::sentry {
namespace {

// How long a client may take to send its request once veil passed it on.
constexpr int kRequestTimeoutMs = 5000;
// Live views served at once (each a thread, plus its extra channels').
constexpr size_t kMaxViews = 64;

// A view's extra channels are each served on the CPU of their rank, so a
// client that sends each call on the channel of its own CPU
// (lisafs::Client::OpenCpuLanes) keeps a round trip on one CPU.
lisafs::ServerOptions ViewServerOptions() {
  lisafs::ServerOptions options;
  options.pin_channels = true;
  return options;
}

std::string Ok(std::string_view rest = {}) {
  std::string reply(kControlVersion);
  reply += " OK";
  reply += rest;
  return reply;
}

}  // namespace

ControlServer::ControlServer(vfs::Vfs& vfs, Hooks hooks)
    : hooks_(std::move(hooks)),
      read_only_(vfs, ViewAccess::kReadOnly, hooks_.gate),
      read_write_(vfs, ViewAccess::kReadWrite, hooks_.gate),
      read_only_server_(read_only_, ViewServerOptions()),
      read_write_server_(read_write_, ViewServerOptions()) {}

ControlServer::~ControlServer() { Stop(); }

void ControlServer::Start(int link) {
  link_ = link;
  thread_ = std::thread([this] { Loop(); });
}

void ControlServer::Stop() {
  std::vector<View> views;
  {
    MutexLock lock(mu_);
    if (stopping_) return;
    stopping_ = true;
    views = std::move(views_);
  }
  if (link_ >= 0) {
    // NOTE: shutdown makes the control thread's recvmsg return 0 (ours is
    // the only reader); ENOTCONN once veil's end went is harmless.
    (void)::shutdown(link_, SHUT_RDWR);
  }
  if (thread_.joinable()) thread_.join();
  for (View& view : views) {
    (void)::shutdown(view.channel, SHUT_RDWR);  // Serve returns
    view.thread.join();
    ::close(view.channel);
  }
}

void ControlServer::Loop() {
  char byte[16];
  for (;;) {
    UniqueFd conn;
    Result<size_t> got = ReceiveWithFd(link_, byte, &conn);
    if (got && *got == 0) return;  // veil went, or Stop
    if (!got) {
      // One message's trouble (its descriptor did not fit: EMFILE here
      // turns into a truncated message) ends only that connection.
      const int e = got.error().code();
      if (e == EMSGSIZE || e == EINTR || e == ENOBUFS || e == ENOMEM) continue;
      return;
    }
    if (conn) Serve(std::move(conn));
  }
}

void ControlServer::Serve(UniqueFd conn) {
  struct pollfd p = {conn.get(), POLLIN, 0};
  int ready;
  do {
    ready = ::poll(&p, 1, kRequestTimeoutMs);
  } while (ready < 0 && errno == EINTR);
  if (ready <= 0) return;  // silent client: dropped
  char buffer[kMaxControlMessage];
  UniqueFd given;
  Result<size_t> got = ReceiveWithFd(conn.get(), buffer, &given);
  if (!got || *got == 0) return;
  UniqueFd attach;
  const std::string reply =
      Answer(std::string_view(buffer, *got), std::move(given), &attach);
  // NOTE: a client that went away meanwhile loses its reply; the view it
  // asked for ends when the channel's last end closes.
  (void)SendWithFd(conn.get(), reply, attach.get());
}

std::string ControlServer::Answer(std::string_view request, UniqueFd given,
                                  UniqueFd* attach) {
  const size_t space = request.find(' ');
  if (space == std::string_view::npos ||
      request.substr(0, space) != kControlVersion) {
    return ControlError(EPROTONOSUPPORT,
                        "this sandbox speaks " + std::string(kControlVersion));
  }
  const std::string_view verb = request.substr(space + 1);
  if (verb == "STATUS") return Ok("\n" + hooks_.status());
  if (verb == "SNAPSHOT") {
    if (!hooks_.snapshot) return ControlError(EOPNOTSUPP, "no snapshots here");
    if (!given) return ControlError(EBADF, "SNAPSHOT needs the image's file");
    Result<std::string> done = hooks_.snapshot(given.get());
    if (!done) {
      const int e = done.error().code();
      return ControlError(e, e == EBUSY ? "the sandbox's calls did not come to rest"
                             : e == ETIMEDOUT ? "the sandbox's tasks did not stop"
                                              : std::strerror(e));
    }
    return Ok("\n" + *done);
  }
  if (verb == "VIEW ro" || verb == "VIEW rw") {
    Result<UniqueFd> channel = StartView(
        verb == "VIEW rw" ? ViewAccess::kReadWrite : ViewAccess::kReadOnly);
    if (!channel) {
      return ControlError(channel.error().code(),
                          std::strerror(channel.error().code()));
    }
    *attach = std::move(*channel);
    return Ok();
  }
  return ControlError(EINVAL, "unknown request");
}

Result<UniqueFd> ControlServer::StartView(ViewAccess access) {
  int pair[2];
  if (::socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, pair) != 0)
    return Errno::FromErrno();
  UniqueFd ours(pair[0]);
  UniqueFd theirs(pair[1]);
  UniqueFd shut(::fcntl(ours.get(), F_DUPFD_CLOEXEC, 0));
  if (!shut) return Errno::FromErrno();
  Result<lisafs::Channel> channel = lisafs::Channel::Adopt(std::move(ours));
  if (!channel) return channel.error();
  lisafs::Server& server = access == ViewAccess::kReadWrite
                               ? read_write_server_
                               : read_only_server_;
  MutexLock lock(mu_);
  if (stopping_) return Errno(ESHUTDOWN);
  // Views whose client is gone are joined here, so a long-lived sandbox
  // keeps no finished threads.
  for (auto it = views_.begin(); it != views_.end();) {
    if (it->done->load()) {
      it->thread.join();
      ::close(it->channel);
      it = views_.erase(it);
    } else {
      ++it;
    }
  }
  // Each view is a thread and a channel: as many as a client asks for
  // would be without bound.
  if (views_.size() >= kMaxViews) return Errno(EMFILE);
  View view;
  view.channel = shut.release();
  view.done = std::make_shared<std::atomic<bool>>(false);
  view.thread = std::thread(
      [&server, done = view.done, ch = std::move(*channel)]() mutable {
        Result<void> served = server.Serve(std::move(ch));
        if (!served) {
          VEIL_LOG(kInfo) << "sentry: a live view ended: "
                          << std::strerror(served.error().code());
        }
        done->store(true);
      });
  views_.push_back(std::move(view));
  return theirs;
}

}  // namespace veil::sentry
