#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/dcache/run.sh — what cached names cost, and that a walk over any
# number of them keeps veil's memory bounded.
#
#   1. makes a tree of NAMES (default 300,000) names under $TMPDIR (empty
#      files in 1,040 nested directories);
#   2. walks it twice in process through the gofer client (dcache_bench:
#      a real `veil gofer` process serving it over LISAFS): bytes per
#      cached name measured with a budget of 60,000 names (the walk's last
#      60,000 stay cached), then peak RSS with the default budget, against
#      "budget x bytes per name + a constant"; and the VFS's own share
#      (dentries and their index) over the same number of names in a veil
#      tmpfs;
#   3. runs `find TREE -printf '%s\n'` (every name looked up and stat'ed)
#      twice through `veil fuse --gofer TREE MNT` started under
#      `ulimit -n 256`, with veil's and the gofer's RSS after each, next to
#      the same find natively and inside gVisor (`runsc --network=none
#      do`, times taken inside the sandbox).
#
# Needs root, /dev/fuse, a built veil and dcache_bench (BUILD=dir, default
# build/) and runsc (Debian package, installed if missing; its column says
# "gVisor: not available" if it cannot run here). KEEP=1 keeps the tree.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-$repo/build}
veil=$build/veil
bench=$build/bench/dcache_bench
names=${NAMES:-300000}
tmp=${TMPDIR:-/tmp}

[[ -x $veil && -x $bench ]] || {
  echo "no $veil or $bench (ninja -C build veil dcache_bench)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (the gofer, FUSE, runsc)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

tree=$(mktemp -d "$tmp/veil-dcache-tree.XXXXXX")
mnt=$(mktemp -d "$tmp/veil-dcache-mnt.XXXXXX")
cleanup() {
  mountpoint -q "$mnt" && { fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt"; }
  rmdir "$mnt" 2>/dev/null
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$tree"
}
trap cleanup EXIT

made=$("$bench" generate "$tree" "$names") || exit 1
echo "# tree: $made names in $tree; load $(cut -d' ' -f1-3 /proc/loadavg)"

# --- 2. in process --------------------------------------------------------
field() { awk -v k="$1" '$1 == k { print $2 }'; }
echo
echo "## in process, through the gofer client (dcache_bench walk)"
out60=$("$bench" walk --veil "$veil" --tree "$tree" --walks 2 --budget 60000)
echo "$out60" | grep -E '^(before|walk)'
per_name=$(echo "$out60" | sed -n 's/^walk 1:.*(\([0-9.]*\) B per cached name).*/\1/p')
outd=$("$bench" walk --veil "$veil" --tree "$tree" --walks 2)
echo "$outd" | grep -E '^(before|walk)'
budget=$(echo "$outd" | sed -n 's/^before:.*budget \([0-9]*\).*/\1/p')
base=$(echo "$outd" | field base_rss_kb)
peak=$(echo "$outd" | field peak_rss_kb)
grss=$(echo "$outd" | field gofer_rss_kb)
const_kb=8192
bound=$(awk -v b="$budget" -v p="$per_name" -v c="$const_kb" 'BEGIN { printf "%d", b * p / 1024 + c }')
verdict=$([[ $((peak - base)) -le $bound ]] && echo "within" || echo "OVER")
echo "bytes per cached name (gofer client + VFS, measured): $per_name"
echo "default budget $budget names: peak RSS $peak KiB, $((peak - base)) KiB over the mounted state;"
echo "  budget x bytes per name + $const_kb KiB = $bound KiB: $verdict; the gofer: $grss KiB"
outt=$("$bench" tmpfs --names "$names" --budget $((names * 2)))
echo "$outt" | grep -E '^walk' | sed 's/^/VFS only (veil tmpfs): /'

# --- 3. find through FUSE, natively, in gVisor -----------------------------
script='
t() { date +%s%N; }
a=$(t); n=$(find "$1" -printf "%s\n" | wc -l); b=$(t)
find "$1" -printf "%s\n" >/dev/null; c=$(t)
echo "$(( (b-a)/1000000 )) $(( (c-b)/1000000 )) $n"'
rss() { awk '/VmRSS/ { print $2 }' "/proc/$1/status" 2>/dev/null || echo -; }

read -r n_f1 n_f2 n_n < <(sh -c "$script" sh "$tree")

( ulimit -n 256; exec "$veil" fuse --gofer "$tree" "$mnt" ) 2>/dev/null ||
  { echo "veil fuse failed" >&2; exit 1; }
vpid=$(pgrep -f "^$veil fuse --gofer $tree $mnt" | head -1)
gpid=$(pgrep -P "$vpid" | head -1)
v0=$(rss "$vpid"); g0=$(rss "$gpid")
t() { date +%s%N; }
a=$(t); v_n=$(find "$mnt" -printf '%s\n' | wc -l); b=$(t)
v1=$(rss "$vpid"); g1=$(rss "$gpid")
find "$mnt" -printf '%s\n' | wc -l >/dev/null; c=$(t)
v2=$(rss "$vpid"); g2=$(rss "$gpid")
vpeak=$(awk '/VmHWM/ { print $2 }' "/proc/$vpid/status")
v_f1=$(( (b-a)/1000000 )); v_f2=$(( (c-b)/1000000 ))
fusermount3 -u "$mnt"

g_f1=- g_f2=- g_n=-
if runsc --network=none do true >/dev/null 2>&1; then
  read -r g_f1 g_f2 g_n < <(cd /tmp && runsc --network=none do sh -c "$script" sh "$tree" 2>/dev/null)
  gvisor_note=""
else
  gvisor_note="gVisor: not available"
fi

ratio() { [[ $1 == - || $2 == - || $2 == 0 ]] && echo - || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.1f", a/b}'; }
echo
echo "## find -printf '%s' over the tree: $n_n names natively, $v_n through veil (ulimit -n 256), $g_n in gVisor"
[[ -n $gvisor_note ]] && echo "$gvisor_note"
printf '%-8s %10s %10s %10s %12s %12s\n' "" native veil gVisor veil/native veil/gVisor
printf '%-8s %7s ms %7s ms %7s ms %12s %12s\n' find "$n_f1" "$v_f1" "$g_f1" "$(ratio "$v_f1" "$n_f1")" "$(ratio "$v_f1" "$g_f1")"
printf '%-8s %7s ms %7s ms %7s ms %12s %12s\n' "find 2" "$n_f2" "$v_f2" "$g_f2" "$(ratio "$v_f2" "$n_f2")" "$(ratio "$v_f2" "$g_f2")"
echo "veil RSS: $v0 KiB mounted, $v1 after find 1, $v2 after find 2 (peak $vpeak); gofer RSS: $g0, $g1, $g2 KiB"
echo "# load: $(cut -d' ' -f1-3 /proc/loadavg) (times: lower is better)"
