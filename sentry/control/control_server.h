// SPDX-License-Identifier: Apache-2.0
//
// ControlServer: the sentry's side of a running sandbox's control socket
// (control_protocol.h). veil, outside the sentry's namespaces, accepts
// each connection on the socket and, once it has checked who is asking,
// passes it over `link` (a SOCK_SEQPACKET pair made before the sentry
// confined itself; one descriptor per message). The server answers
// STATUS from a callback and VIEW by serving the sandbox's Vfs over a new
// LISAFS channel (VfsBackend), on a thread of its own for as long as the
// client keeps it.
//
// Trust: a request is bounded (kMaxControlMessage) and parsed strictly; a
// client that sends nothing within a few seconds is dropped, so the one
// control thread never waits on a client for long. The peer was checked
// by veil; nothing it sends reaches anything but the parser above and the
// LISAFS server, which treats every client as hostile.
//
// Thread-safety: Start and Stop from one thread (the sandbox's Run).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <string>
#include <thread>
#include <vector>

#include "base/mutex.h"
#include "base/result.h"
#include "base/unique_fd.h"
#include "lisafs/server.h"
#include "sentry/control/call_gate.h"
#include "sentry/control/vfs_backend.h"
#include "vfs/vfs.h"

namespace veil::sentry {

class ControlServer final {
 public:
  struct Hooks {
    // The "KEY VALUE\n" lines of a STATUS reply (any thread).
    std::function<std::string()> status;
    // SNAPSHOT: writes the image to the descriptor and returns the
    // reply's lines; null: not offered (EOPNOTSUPP).
    std::function<Result<std::string>(int fd)> snapshot;
    // Held by every request of a view (may be null).
    CallGate* gate = nullptr;
  };
  ControlServer(vfs::Vfs& vfs, Hooks hooks);
  ~ControlServer();
  ControlServer(const ControlServer&) = delete;
  ControlServer& operator=(const ControlServer&) = delete;

  // Serves the connections veil passes on `link` (borrowed: open until
  // Stop returns) on a thread of its own.
  void Start(int link);
  // Ends the control thread and every view (their clients see the
  // channel close), and waits for them: the Vfs may go after.
  void Stop() VEIL_EXCLUDES(mu_);

 private:
  struct View {
    std::thread thread;
    int channel = -1;  // a dup of the server end, to shut it down
    std::shared_ptr<std::atomic<bool>> done;
  };
  void Loop();
  void Serve(UniqueFd conn) VEIL_EXCLUDES(mu_);
  // `given`: the descriptor that came with the request (SNAPSHOT's).
  std::string Answer(std::string_view request, UniqueFd given,
                     UniqueFd* attach) VEIL_EXCLUDES(mu_);
  Result<UniqueFd> StartView(ViewAccess access) VEIL_EXCLUDES(mu_);

  Hooks hooks_;
  VfsBackend read_only_;
  VfsBackend read_write_;
  lisafs::Server read_only_server_;
  lisafs::Server read_write_server_;
  int link_ = -1;
  std::thread thread_;
  Mutex mu_;
  bool stopping_ VEIL_GUARDED_BY(mu_) = false;
  std::vector<View> views_ VEIL_GUARDED_BY(mu_);
};

}  // namespace veil::sentry
