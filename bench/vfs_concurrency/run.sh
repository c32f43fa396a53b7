#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/vfs_concurrency/run.sh — file I/O from one thread to two, in one run:
#
#   rw1  one thread, pread/pwrite of 4-64 KiB in turn on one file
#   rw2  two threads, the same, each on a file of its own
#   rd1  one thread, pread on one file
#   rd2  two threads, pread on the same file
#
# on veil's Vfs over a tmpfs in process, through `veil fuse --tmpfs MNT`
# (the programs' syscalls cross the kernel to veil's multi-threaded FUSE
# loop), on a host tmpfs (native: /dev/shm) and inside gVisor (`runsc
# --network=none do`, in its /tmp). The same program
# (vfs_concurrency_bench) does every side; outside the process it opens
# its files O_DIRECT, so the FUSE page cache does not answer reads in the
# kernel. The goal (issue #11): two threads >= 1.7x one thread's MB/s on
# a 2-CPU machine, in process and through FUSE, for both pairs.
#
# Needs root, /dev/fuse, a built veil and vfs_concurrency_bench (BUILD=dir,
# default build/; or VEIL= and BENCH=) and runsc (Debian package, installed
# if missing; its column is "-" if it cannot run here). SECONDS_EACH (1),
# ROUNDS (3, best taken) and FILE_KIB (512: below tmpfs's 1 MiB memfd
# threshold, so the data is veil's own pages) shape each measurement.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-$repo/build}
veil=${VEIL:-$build/veil}
bench=${BENCH:-$build/vfs_concurrency_bench}
args=(--seconds "${SECONDS_EACH:-1}" --rounds "${ROUNDS:-3}"
      --file-kib "${FILE_KIB:-512}")

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
[[ -x $bench ]] || { echo "no vfs_concurrency_bench at $bench (ninja -C build vfs_concurrency_bench, or set BENCH=)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (FUSE allow_other, runsc)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

mnt=$(mktemp -d /tmp/veil-vfs-concurrency.XXXXXX)
cleanup() {
  mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT

# Runs the bench with the given arguments; prints its RESULT fields as
# "rw1 rw2 rd1 rd2", or "- - - -" if it failed. Its comment lines go to
# stderr.
side() {
  local out
  out=$("$@" 2>&1) || { echo "$out" | sed 's/^/#   /' >&2; echo "- - - -"; return; }
  echo "$out" | grep '^# O_DIRECT' >&2
  echo "$out" | sed -n 's/^RESULT rw1=\([^ ]*\) rw2=\([^ ]*\) rd1=\([^ ]*\) rd2=\([^ ]*\)$/\1 \2 \3 \4/p'
}

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
read -r v_rw1 v_rw2 v_rd1 v_rd2 < <(side "$bench" --vfs "${args[@]}")
read -r n_rw1 n_rw2 n_rd1 n_rd2 < <(side "$bench" --dir /dev/shm "${args[@]}")

f_rw1=- f_rw2=- f_rd1=- f_rd2=-
if "$veil" fuse --tmpfs "$mnt" 2>/dev/null; then
  read -r f_rw1 f_rw2 f_rd1 f_rd2 < <(side "$bench" --dir "$mnt" "${args[@]}")
  fusermount3 -u "$mnt"
else
  echo "# veil fuse --tmpfs failed: FUSE column skipped" >&2
fi

g_rw1=- g_rw2=- g_rd1=- g_rd2=-
if command -v runsc >/dev/null && runsc --network=none do true >/dev/null 2>&1; then
  read -r g_rw1 g_rw2 g_rd1 g_rd2 < <(
    cd /tmp && side runsc --network=none do "$bench" --dir /tmp "${args[@]}")
else
  echo "# gVisor: not available (runsc missing or cannot run here)"
fi
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

ratio() {
  [[ $1 == - || $2 == - || -z $1 || -z $2 ]] && { echo -; return; }
  awk -v a="$1" -v b="$2" 'BEGIN{ if (b == 0) print "-"; else printf "%.2f", a/b }'
}
echo "# $(nproc) CPUs; load average before: $load_before, after: $load_after"
echo "# MB/s (10^6 bytes), best of ${ROUNDS:-3} x ${SECONDS_EACH:-1} s; files of ${FILE_KIB:-512} KiB"
printf '%-26s %11s %11s %11s %11s %11s %11s\n' "" "veil in-proc" "veil FUSE" native gVisor "FUSE/native" "FUSE/gVisor"
row() {
  printf '%-26s %11s %11s %11s %11s %11s %11s\n' "$1" "$2" "$3" "$4" "$5" \
    "$(ratio "$3" "$4")" "$(ratio "$3" "$5")"
}
row "rw, 1 thread" "$v_rw1" "$f_rw1" "$n_rw1" "$g_rw1"
row "rw, 2 threads, 2 files" "$v_rw2" "$f_rw2" "$n_rw2" "$g_rw2"
printf '%-26s %11s %11s %11s %11s\n' "  2 threads / 1 thread" \
  "$(ratio "$v_rw2" "$v_rw1")x" "$(ratio "$f_rw2" "$f_rw1")x" \
  "$(ratio "$n_rw2" "$n_rw1")x" "$(ratio "$g_rw2" "$g_rw1")x"
row "read, 1 thread" "$v_rd1" "$f_rd1" "$n_rd1" "$g_rd1"
row "read, 2 threads, 1 file" "$v_rd2" "$f_rd2" "$n_rd2" "$g_rd2"
printf '%-26s %11s %11s %11s %11s\n' "  2 threads / 1 thread" \
  "$(ratio "$v_rd2" "$v_rd1")x" "$(ratio "$f_rd2" "$f_rd1")x" \
  "$(ratio "$n_rd2" "$n_rd1")x" "$(ratio "$g_rd2" "$g_rd1")x"
echo "# (throughput: higher is better; the goal is >= 1.70x on both 2/1 lines)"
