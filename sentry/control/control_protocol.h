// SPDX-License-Identifier: Apache-2.0
//
// The control protocol of a running sandbox (sentry/README.md, "The
// control socket"): what `veil ps` and `veil fuse SANDBOX` ask a sentry.
//
// Transport: a unix SOCK_SEQPACKET connection to the sandbox's control
// socket. veil (the CLI process that started the sandbox) accepts it,
// checks the peer's credentials (SO_PEERCRED: root or the sandbox's
// owner) and hands it to the sentry, which reads one request and sends
// one reply, then closes it. Each is one datagram of text, at most
// kMaxControlMessage bytes:
//
//   request  "veil-control/1 STATUS"
//   reply    "veil-control/1 OK\n" then "KEY VALUE\n" lines: tasks
//            (threads), processes, open_fds (the tasks' fds, each fd
//            table counted once), with more keys possibly added later
//            (readers skip unknown ones)
//
//   request  "veil-control/1 VIEW ro" or "veil-control/1 VIEW rw"
//   reply    "veil-control/1 OK" with one descriptor (SCM_RIGHTS): a
//            SOCK_SEQPACKET LISAFS channel serving the sandbox's whole
//            mount tree (VfsBackend), read-only or read-write
//
//   request  "veil-control/1 SNAPSHOT" with one descriptor: a file open
//            for writing, empty
//   reply    "veil-control/1 OK\n" then "KEY VALUE\n" lines: entries,
//            data_bytes, image_bytes; the file holds the rootfs's upper
//            layer as a snapshot image (overlay/FORMAT.md), written while
//            the sandbox was at rest (sentry/README.md, "Live snapshots").
//            ERR 16 (EBUSY) or 110 (ETIMEDOUT) if it did not come to rest
//            in time; the file is then to be thrown away
//
//   failure  "veil-control/1 ERR ERRNO TEXT" (ERRNO decimal)
//
// A request of another version is answered "veil-control/1 ERR 93 ..."
// (EPROTONOSUPPORT); an unknown verb ERR 22 (EINVAL). The version is
// bumped on any incompatible change.
#pragma once

#include <cerrno>
#include <cstddef>
#include <string>
#include <string_view>

namespace veil::sentry {

inline constexpr std::string_view kControlVersion = "veil-control/1";
inline constexpr size_t kMaxControlMessage = 4096;

// "veil-control/1 ERR <error> <text>".
inline std::string ControlError(int error, std::string_view text) {
  return std::string(kControlVersion) + " ERR " + std::to_string(error) +
         " " + std::string(text);
}

}  // namespace veil::sentry
