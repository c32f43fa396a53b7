#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/gofer_walk/run.sh — what revalidating cached names costs: a
# stat-heavy walk of a host tree, veil next to native and gVisor, in one run.
#
#   walk    `find TREE -printf '%i %s %m %T@\n' | wc -l` (an lstat of every
#           name: lookups, getattrs, getdents)
#   walk 2  the same again: every name is cached now, so on a shared gofer
#           tree each one is revalidated against the host first
#
# through `veil fuse --gofer TREE MNT` (a shared tree, gofer FileAccess
# kShared: names revalidated, attributes asked for) and `veil fuse --rootfs
# / MNT` (the overlay's immutable lower: no round trip once cached), on the
# host (native) and inside gVisor (`runsc --network=none do`, its overlay
# over the host's /; times taken inside the sandbox). VEIL_OLD=path adds
# the same two columns for another veil build (before/after a change).
# Each side runs ROUNDS times (default 3), alternating, best time kept.
# Until the sentry exists, veil is measured through FUSE, whose requests
# cross the kernel twice: the ratios include that cost.
#
# Needs root, /dev/fuse, a built veil (VEIL=path, default build/veil) and
# runsc (Debian package, installed if missing; its column is skipped if it
# cannot run here). TREE defaults to /usr/include. The name counts printed
# must agree: a walk that fails part way (today a tree of much over
# 20,000 names can run the gofer out of descriptors, #11 item 7) is not
# comparable.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
veil=${VEIL:-$repo/build/veil}
veil_old=${VEIL_OLD:-}
tree=${TREE:-/usr/include}
rounds=${ROUNDS:-3}

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
[[ -z $veil_old || -x $veil_old ]] || { echo "no veil at VEIL_OLD=$veil_old" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (FUSE allow_other, the gofer, runsc)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

mnt=$(mktemp -d /tmp/veil-gofer-walk.XXXXXX)
cleanup() {
  mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rmdir "$mnt" 2>/dev/null
}
trap cleanup EXIT

# Both walks of directory $1, printed as "walk_ms walk2_ms names".
script='
t() { date +%s%N; }
a=$(t); n=$(find "$1" -printf "%i %s %m %T@\n" 2>/dev/null | wc -l); b=$(t)
find "$1" -printf "%i %s %m %T@\n" >/dev/null 2>&1; c=$(t)
echo "$(( (b-a)/1000000 )) $(( (c-b)/1000000 )) $n"'

best() { [[ $1 == - || ( $2 != - && $2 -lt $1 ) ]] && echo "$2" || echo "$1"; }
declare -A w1 w2 names
keep() {  # side walk walk2 names
  w1[$1]=$(best "${w1[$1]:--}" "$2")
  w2[$1]=$(best "${w2[$1]:--}" "$3")
  names[$1]=$4
}
# One side: veil binary $1, mode $2 (gofer|rootfs), name $3.
run_veil() {
  local args=(--gofer "$tree") dir=$mnt
  [[ $2 == rootfs ]] && args=(--rootfs /) dir=$mnt$tree
  "$1" fuse "${args[@]}" "$mnt" 2>/dev/null || { echo "veil fuse ($3) failed" >&2; return; }
  keep "$3" $(sh -c "$script" sh "$dir")
  fusermount3 -u "$mnt"
}

sides=(native gofer rootfs)
[[ -n $veil_old ]] && sides+=(gofer_old rootfs_old)
gvisor=0
if (cd /tmp && runsc --network=none do true >/dev/null 2>&1); then
  gvisor=1
  sides+=(gvisor)
else
  echo "# gVisor: not available (runsc cannot run here)"
fi
for ((r = 0; r < rounds; r++)); do
  keep native $(sh -c "$script" sh "$tree")
  run_veil "$veil" gofer gofer
  [[ -n $veil_old ]] && run_veil "$veil_old" gofer gofer_old
  run_veil "$veil" rootfs rootfs
  [[ -n $veil_old ]] && run_veil "$veil_old" rootfs rootfs_old
  if ((gvisor)); then
    keep gvisor $(cd /tmp && runsc --network=none do sh -c "$script" sh "$tree" 2>/dev/null)
  fi
done

ratio() { [[ $1 == - || $2 == - || $2 == 0 ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
echo "# $tree, best of $rounds; names: native ${names[native]}, veil --gofer ${names[gofer]}, veil --rootfs ${names[rootfs]}${names[gvisor]:+, gVisor ${names[gvisor]}}"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg)"
label() {
  case $1 in
    gofer) echo "veil --gofer" ;; rootfs) echo "veil --rootfs" ;;
    gofer_old) echo "VEIL_OLD --gofer" ;; rootfs_old) echo "VEIL_OLD --rootfs" ;;
    *) echo "$1" ;;
  esac
}
g1=${w1[gvisor]:--} g2=${w2[gvisor]:--}
printf '%-18s %10s %10s %12s %12s %12s %12s\n' "" walk "walk 2" "/native" "/native 2" "/gVisor" "/gVisor 2"
for s in "${sides[@]}"; do
  printf '%-18s %7s ms %7s ms %12s %12s %12s %12s\n' "$(label "$s")" "${w1[$s]}" "${w2[$s]}" \
    "$(ratio "${w1[$s]}" "${w1[native]}")" "$(ratio "${w2[$s]}" "${w2[native]}")" \
    "$(ratio "${w1[$s]}" "$g1")" "$(ratio "${w2[$s]}" "$g2")"
done
echo "# (times: lower is better; ratios above 1 mean slower than native / gVisor)"
