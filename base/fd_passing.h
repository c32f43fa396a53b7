// SPDX-License-Identifier: Apache-2.0
//
// One datagram with at most one descriptor (SCM_RIGHTS) on a unix socket:
// the control socket's requests and replies (sentry/control), and the
// connections veil hands to its sentry.
//
// Trust: a received message is checked: a datagram larger than the
// buffer, or one whose descriptors did not all fit, is EMSGSIZE; more
// than one descriptor, or one attached to an error, are closed unread.
// Received descriptors are close-on-exec.
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

#include "base/result.h"
#include "base/unique_fd.h"

namespace veil {

// Sends `data` (and `fd`, if not -1) as one datagram; never raises
// SIGPIPE (EPIPE instead). Retries EINTR.
Result<void> SendWithFd(int sock, std::string_view data, int fd = -1);

// Receives one datagram into `buffer`: its length (0: the peer closed),
// with its descriptor in *fd (empty if none came). Retries EINTR.
Result<size_t> ReceiveWithFd(int sock, std::span<char> buffer, UniqueFd* fd);

}  // namespace veil
