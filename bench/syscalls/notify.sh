#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/syscalls/notify.sh [BUILD_DIR] [RUNS] — the round trip of a
# seccomp-notified syscall through the sentry platform (notify_bench), in
# every placement, with and without SECCOMP_USER_NOTIF_FD_SYNC_WAKE_UP,
# RUNS times each (default 3). Builds notify_bench first.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build}
runs=${2:-3}
ninja -C "$build" notify_bench >/dev/null
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for opts in "" "--no-sync" "--pin" "--no-sync --pin" "--split" "--no-sync --split"; do
  for ((i = 0; i < runs; i++)); do
    # shellcheck disable=SC2086
    "$build/bench/notify_bench" $opts | tr '\n' ' '
    echo
  done
done
