// SPDX-License-Identifier: Apache-2.0
//
// The sentry's own seccomp allowlist: exactly the calls a running sentry
// makes once its first task exists (sentry/README.md gives each one's
// reason). Everything else is the filter's default action (kill, or log
// when debugging: self_confine.h).
//
// Argument checks: clone only with CLONE_THREAD (threads, never a
// process: the sentry forks nothing after its first task); clone3 answers
// ENOSYS (its flags are in memory, so libc falls back to clone); ioctl
// only with the seccomp-notify requests and the terminal requests the
// sentry forwards (TCGETS, TIOCGWINSZ, FIONREAD); utimensat only with a
// NULL path (futimens: a memfd's times); openat only relative to
// the procfs descriptor (base/proc_dir.h), whose absolute paths land in the
// empty root.
#pragma once

#include <cstdint>
#include <span>

#include "base/result.h"

namespace veil::sentry {

struct AllowedCall {
  int nr;
  const char* name;
};

// The calls allowed without an argument check.
std::span<const AllowedCall> SentryAllowlist();

// Adds the allowlist's rules to a libseccomp context (scmp_filter_ctx);
// `proc_dir_fd` may be -1 (then openat is not allowed at all);
// `fifo_dir_fd`, the data plane's FIFO directory (sentry/kernel/
// host_twins.h), or -1: mknodat (S_IFIFO only) and openat relative to it.
// libseccomp's errno.
Result<void> AddSentryAllowlist(void* ctx, int proc_dir_fd,
                                int fifo_dir_fd = -1);

}  // namespace veil::sentry
