// SPDX-License-Identifier: Apache-2.0
//
// Server: serves a ServerBackend over LISAFS connections.
//
//   MyBackend backend;
//   Server server(backend);
//   Result<void> done = server.Serve(std::move(channel));  // Blocks.
//
// One Serve call handles one connection: it reads requests, decodes them
// with the bounds-checked codec, checks FDIDs against the connection's
// table, calls the backend and sends exactly one reply per request (the
// result, or an Error reply with the errno). Channel requests open extra
// channels on the same connection, each served by its own thread; with
// ServerOptions::workers_per_channel > 1 the requests of one channel are
// handled concurrently and may be answered out of order (the client matches
// replies by tag).
//
// Trust: the client is untrusted. A malformed request whose header is
// readable gets an Error reply (EINVAL, EBADF, ENAMETOOLONG, ...) and the
// connection goes on; a datagram without a readable header, or one that
// is oversized or carries too many descriptors, ends the connection.
// Descriptors attached to requests (none are expected) are closed unread
// as soon as the request is read, before anything is sent, and no reply
// waits longer than ServerOptions::send_timeout for the client to read.
// When the client goes away, even in the middle of a request, Serve
// finishes the requests in hand, drops their replies, releases every FDID
// of the connection and returns.
//
// Thread-safety: Serve may run on several threads at once (one connection
// each). Ownership: the backend is borrowed and must outlive the Server.
#pragma once

#include <chrono>
#include <cstddef>

#include "base/result.h"
#include "lisafs/channel.h"
#include "lisafs/server_backend.h"

namespace veil::lisafs {

struct ServerOptions {
  // Threads handling the requests of one channel. 1 handles them in order
  // on the channel's own thread.
  size_t workers_per_channel = 1;
  // Extra channels (Channel requests) per connection; more get EMFILE.
  size_t max_channels = 16;
  // FDIDs per connection; more get EMFILE.
  size_t max_fds = 1 << 16;
  // How long a reply may wait for room in the client's receive queue
  // before the connection is dropped (ETIMEDOUT). A client that stops
  // reading must not hold a server thread forever, and cannot be told
  // from one that is gone: a peer whose last reference is a descriptor
  // queued, unread, in our own receive queue never closes (sending a
  // channel its own client end is enough).
  std::chrono::milliseconds send_timeout{60'000};
  // Run the thread of the i-th extra channel on the i-th CPU the server
  // may use (modulo their count), so a client that sends each call on
  // the channel of its own CPU (Client::OpenCpuLanes) keeps a round trip
  // on one CPU: a wake-up across CPUs costs tens of microseconds on a
  // VM, more than the request.
  bool pin_channels = false;
};

class Server final {
 public:
  explicit Server(ServerBackend& backend, ServerOptions options = {})
      : backend_(backend), options_(options) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;

  // Serves one connection until the client closes it (Ok) or the
  // connection breaks (its errno, e.g. EPROTO after a datagram without a
  // readable header). Returns only after every thread of the connection has
  // finished.
  Result<void> Serve(Channel channel);

 private:
  // Borrowed; outlives this Server (see the class comment).
  ServerBackend& backend_;
  const ServerOptions options_;
};

}  // namespace veil::lisafs
