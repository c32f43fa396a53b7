#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/fuse_scandir/run.sh — `os.scandir` + `os.lstat` of every entry of
# a 40,000-entry directory of the host's rootfs (python3), cold (the first
# walk of the mount) and warm (the same walk again), in one run:
#
#   native   the host directory itself
#   rootfs   through `veil fuse --rootfs / MNT` (the sandbox's overlay view
#            of the host's /)
#   sandbox  through `veil fuse SANDBOX MNT`, the live view of a running
#            `veil do` sandbox over the host's / (its sentry serves its VFS
#            over LISAFS to the FUSE process)
#   gVisor   inside `runsc --network=none do` (its overlay over the host's
#            /; times taken inside, so its start-up is not counted)
#
# The directory (N=40000 empty files) is made under /var/tmp once and
# removed at the end. Needs root, /dev/fuse, a built veil (VEIL=path,
# default build/veil), python3 and runsc (Debian package, installed if
# missing; its column is skipped if it cannot run here).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
veil=${VEIL:-$repo/build/veil}
n=${N:-40000}
py=/usr/bin/python3

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (FUSE allow_other, the gofer, runsc)" >&2; exit 1; }
[[ -x $py ]] || { echo "no $py" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

dir=/var/tmp/veil-scandir-$n
work=$(mktemp -d /tmp/veil-scandir.XXXXXX)
do_pid=
cleanup() {
  for m in "$work/rootfs" "$work/sandbox"; do
    mountpoint -q "$m" && { fusermount3 -u "$m" 2>/dev/null || umount -l "$m"; }
  done
  [[ -n $do_pid ]] && kill "$do_pid" 2>/dev/null && wait "$do_pid" 2>/dev/null
  rm -rf "$work" "$dir"
}
trap cleanup EXIT
mkdir -p "$work/rootfs" "$work/sandbox" "$dir"
$py - "$dir" "$n" <<'PY'
import os, sys
d, n = sys.argv[1], int(sys.argv[2])
for i in range(n):
    open(os.path.join(d, "f%06d" % i), "w").close()
PY

walk='
import os, sys, time
def walk(d):
    t = time.perf_counter(); n = 0
    for e in os.scandir(d):
        os.lstat(e.path); n += 1
    return (time.perf_counter() - t) * 1000, n
cold, n = walk(sys.argv[1]); warm, _ = walk(sys.argv[1])
print("%d %d %d" % (cold, warm, n))'

read -r n_cold n_warm n_n < <($py -c "$walk" "$dir")

"$veil" fuse --rootfs / "$work/rootfs" 2>/dev/null || { echo "veil fuse --rootfs failed" >&2; exit 1; }
read -r r_cold r_warm r_n < <($py -c "$walk" "$work/rootfs$dir")
fusermount3 -u "$work/rootfs"

s_cold=- s_warm=- s_n=-
"$veil" do --root "$work/run" --name scandir -- /bin/sleep 100000 &
do_pid=$!
for _ in $(seq 100); do
  grep -q "^sentry_pid [1-9]" "$work/run/scandir/state" 2>/dev/null && break
  sleep 0.1
done
if "$veil" fuse --root "$work/run" scandir "$work/sandbox" 2>/dev/null; then
  read -r s_cold s_warm s_n < <($py -c "$walk" "$work/sandbox$dir")
  fusermount3 -u "$work/sandbox"
else
  echo "# sandbox column skipped: veil fuse SANDBOX failed"
fi

g_cold=- g_warm=- g_n=-
if runsc --network=none do true >/dev/null 2>&1; then
  read -r g_cold g_warm g_n < <(cd /tmp && runsc --network=none do $py -c "$walk" "$dir" 2>/dev/null)
else
  echo "# gVisor column skipped: runsc cannot run here"
fi

ratio() { [[ $1 == - || $2 == - ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
echo "# $dir: $n_n entries natively, $r_n through --rootfs, $s_n through the sandbox view, $g_n in gVisor"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-14s %9s %9s %9s %9s %10s %10s %10s %10s\n' "" native rootfs sandbox gVisor \
  "rootfs/nat" "sandbx/nat" "rootfs/gV" "sandbx/gV"
for row in cold warm; do
  eval "nv=\$n_$row rv=\$r_$row sv=\$s_$row gv=\$g_$row"
  printf '%-14s %6s ms %6s ms %6s ms %6s ms %10s %10s %10s %10s\n' "scandir $row" \
    "$nv" "$rv" "$sv" "$gv" "$(ratio "$rv" "$nv")" "$(ratio "$sv" "$nv")" \
    "$(ratio "$rv" "$gv")" "$(ratio "$sv" "$gv")"
done
echo "# (times: lower is better; ratios above 1 mean veil is slower)"
