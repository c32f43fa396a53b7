#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/rootfs_walk/run.sh — walking and reading a rootfs view: veil next
# to native and gVisor, in one run.
#
#   find    `find TREE | wc -l` (names and types: opendir, getdents, lookups)
#   find 2  the same again (what caches keep)
#   tar     `tar -C DOCS -cf - . | wc -c` (every file opened and read; the
#           same byte count on every side)
#
# on the host's / (native), on `veil fuse --rootfs / MNT` (the sandbox's
# overlay view; the programs run on the host and reach veil through FUSE)
# and inside gVisor (`runsc --network=none do`, its overlay over the host's
# /; the programs run in the sandbox, times taken inside it so its start-up
# is not counted). TREE defaults to /usr/lib, DOCS to /usr/share/doc.
# Until the sentry exists, veil is measured through FUSE, whose requests
# cross the kernel twice: the veil/gVisor ratio includes that cost.
#
# Needs root, /dev/fuse, a built veil (VEIL=path, default build/veil) and
# runsc (Debian package, installed if missing; its column is skipped if it
# cannot run here).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
veil=${VEIL:-$repo/build/veil}
tree=${TREE:-/usr/lib}
docs=${DOCS:-/usr/share/doc}

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (FUSE allow_other, the gofer, runsc)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

mnt=$(mktemp -d /tmp/veil-rootfs-walk.XXXXXX)
cleanup() {
  mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT

# The three measurements under root directory $1, printed as
# "find_s find2_s tar_s entries bytes" (the programs see $1$tree, $1$docs).
script='
t() { date +%s%N; }
a=$(t); n=$(find "$1'"$tree"'" | wc -l); b=$(t)
find "$1'"$tree"'" >/dev/null; c=$(t)
bytes=$(tar -C "$1'"$docs"'" -cf - . 2>/dev/null | wc -c); d=$(t)
echo "$(( (b-a)/1000000 )) $(( (c-b)/1000000 )) $(( (d-c)/1000000 )) $n $bytes"'

read -r n_find n_find2 n_tar n_entries n_bytes < <(sh -c "$script" sh "")

"$veil" fuse --rootfs / "$mnt" 2>/dev/null || { echo "veil fuse failed" >&2; exit 1; }
read -r v_find v_find2 v_tar v_entries v_bytes < <(sh -c "$script" sh "$mnt")
fusermount3 -u "$mnt"

g_find=- g_find2=- g_tar=- g_entries=- g_bytes=-
if runsc --network=none do true >/dev/null 2>&1; then
  read -r g_find g_find2 g_tar g_entries g_bytes < <(
    cd /tmp && runsc --network=none do sh -c "$script" sh "" 2>/dev/null)
else
  echo "# gVisor column skipped: runsc cannot run here"
fi

ratio() { [[ $1 == - || $2 == - ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
echo "# $tree: $n_entries entries natively, $v_entries through veil, $g_entries in gVisor; tar of $docs: $n_bytes / $v_bytes / $g_bytes bytes"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-8s %10s %10s %10s %14s %14s\n' "" native veil gVisor "veil/native" "veil/gVisor"
printf '%-8s %8s ms %8s ms %8s ms %14s %14s\n' find "$n_find" "$v_find" "$g_find" "$(ratio "$v_find" "$n_find")" "$(ratio "$v_find" "$g_find")"
printf '%-8s %8s ms %8s ms %8s ms %14s %14s\n' "find 2" "$n_find2" "$v_find2" "$g_find2" "$(ratio "$v_find2" "$n_find2")" "$(ratio "$v_find2" "$g_find2")"
printf '%-8s %8s ms %8s ms %8s ms %14s %14s\n' tar "$n_tar" "$v_tar" "$g_tar" "$(ratio "$v_tar" "$n_tar")" "$(ratio "$v_tar" "$g_tar")"
echo "# (times: lower is better; ratios above 1 mean veil is slower)"
