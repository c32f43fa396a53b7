#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/self_backed/run.sh — an upper layer in memory vs "self-backed" (file
# data in one host file on disk), veil next to native and gVisor, in one run.
#
# 1. Throughput: SIZE_MB (default 2048) MiB written with dd (bs=1M,
#    conv=fsync), then read back, on
#      native       a host directory in DIR (default /var/tmp)
#      veil memory  `veil fuse --tmpfs MNT`, dd outside writing through FUSE
#      veil self    `veil fuse --self-backed DIR --tmpfs MNT`
#      gVisor mem   `runsc --overlay2=root:memory do dd ...` (the sandbox's
#                   rootfs overlay, dd inside it)
#      gVisor self  `runsc --overlay2=root:DIR/... do dd ...` (its filestore)
#    Times are dd's own (transfer only, no start-up). veil is measured
#    through a FUSE mount (every write crosses the kernel to the veil
#    process and back), gVisor from inside its sandbox: the veil sentry
#    does not exist yet, so the veil/gVisor ratio includes FUSE's cost.
# 2. More data than memory: the same write with the server (veil, or the
#    whole gVisor sandbox) in a memory cgroup capped at CAP_MB (default
#    512) MiB: who finishes, who is killed.
#
# Needs: root, /dev/fuse, a built veil (VEIL=path, default build/veil),
# gVisor's runsc (Debian package runsc, installed with apt-get if missing;
# the gVisor columns are skipped when it cannot run here), a writable
# memory cgroup (v1 or v2) for part 2 (skipped otherwise). Uses SIZE_MB of
# disk in DIR and, for the memory rows, SIZE_MB of memory.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
veil=${VEIL:-$repo/build/veil}
size=${SIZE_MB:-2048}
cap=${CAP_MB:-512}
dir=${DIR:-/var/tmp}

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
[[ $(id -u) == 0 ]] || { echo "run as root (FUSE allow_other, runsc, cgroups)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  echo "installing runsc (Debian package) ..." >&2
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null; }
fi

work=$(mktemp -d "$dir/veil-self-backed-bench.XXXXXX")
mkdir -p "$work"/{native,mnt,store,gvstore}
cg=""
cleanup() {
  mountpoint -q "$work/mnt" && umount -l "$work/mnt"
  [[ -n $cg && -d $cg ]] && rmdir "$cg" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

# dd's own "copied, S s" figure, or "-" when dd failed.
dd_secs() { sed -n 's/.*copied, \([0-9.e-]*\) s.*/\1/p' | tail -1; }

write_cmd="dd if=/dev/zero of=FILE bs=1M count=$size conv=fsync"
read_cmd="dd if=FILE of=/dev/null bs=1M"

# Mounts `veil fuse -f ARGS MNT` (in cgroup $2 when given); sets veil_pid.
veil_mount() {
  local args=$1 group=${2:-}
  ( [[ -n $group ]] && echo $BASHPID > "$group/cgroup.procs"
    exec "$veil" fuse -f $args "$work/mnt" ) >"$work/veil.log" 2>&1 &
  veil_pid=$!
  for _ in $(seq 200); do mountpoint -q "$work/mnt" && return 0; sleep 0.05; done
  echo "veil did not mount: $(cat "$work/veil.log")" >&2; return 1
}
veil_unmount() {
  fusermount3 -u "$work/mnt" 2>/dev/null || umount -l "$work/mnt" 2>/dev/null
  wait "$veil_pid" 2>/dev/null
}

# Prints "WRITE READ" seconds for one side.
run_native() {
  local f=$work/native/big w r
  w=$(${write_cmd//FILE/$f} 2>&1 | dd_secs)
  r=$(${read_cmd//FILE/$f} 2>&1 | dd_secs)
  rm -f "$f"; echo "${w:--} ${r:--}"
}
run_veil() {
  local args=$1 f=$work/mnt/big w r
  veil_mount "$args" || { echo "- -"; return; }
  w=$(${write_cmd//FILE/$f} 2>&1 | dd_secs)
  r=$(${read_cmd//FILE/$f} 2>&1 | dd_secs)
  veil_unmount; echo "${w:--} ${r:--}"
}
run_gvisor() {
  local medium=$1 group=${2:-} out
  out=$( ( [[ -n $group ]] && echo $BASHPID > "$group/cgroup.procs"
           cd "$work" && exec timeout 600 runsc --network=none --ignore-cgroups \
             --overlay2=root:"$medium" do sh -c \
             "${write_cmd//FILE//big} 2>&1; ${read_cmd//FILE//big} 2>&1" ) 2>&1 )
  local w r
  w=$(echo "$out" | grep -m1 copied | dd_secs)
  r=$(echo "$out" | grep copied | sed -n 2p | dd_secs)
  echo "${w:--} ${r:--}"
}
gvisor_ok=1
runsc --network=none --ignore-cgroups do true >/dev/null 2>&1 || gvisor_ok=0

mibs() { [[ $1 == - ]] && echo "-" || awk -v s="$size" -v t="$1" 'BEGIN{printf "%.0f", s/t}'; }
ratio() { [[ $1 == - || $2 == - ]] && echo "-" || awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}'; }

echo "# $size MiB written (dd bs=1M conv=fsync) and read back; DIR=$dir; load: $(cut -d' ' -f1-3 /proc/loadavg)"
read -r nw nr < <(run_native)
read -r vmw vmr < <(run_veil "--tmpfs")
read -r vsw vsr < <(run_veil "--self-backed $work/store --tmpfs")
gmw=- gmr=- gsw=- gsr=-
if (( gvisor_ok )); then
  read -r gmw gmr < <(run_gvisor memory)
  read -r gsw gsr < <(run_gvisor "$work/gvstore")
else
  echo "# gVisor columns skipped: runsc cannot run here"
fi
printf '%-12s %12s %12s %14s %14s\n' side "write MiB/s" "read MiB/s" "write vs native" "write vs gVisor"
printf '%-12s %12s %12s %14s %14s\n' native "$(mibs "$nw")" "$(mibs "$nr")" 1.00 -
printf '%-12s %12s %12s %14s %14s\n' "gVisor mem" "$(mibs "$gmw")" "$(mibs "$gmr")" "$(ratio "$nw" "$gmw")" 1.00
printf '%-12s %12s %12s %14s %14s\n' "gVisor self" "$(mibs "$gsw")" "$(mibs "$gsr")" "$(ratio "$nw" "$gsw")" 1.00
printf '%-12s %12s %12s %14s %14s\n' "veil memory" "$(mibs "$vmw")" "$(mibs "$vmr")" "$(ratio "$nw" "$vmw")" "$(ratio "$gmw" "$vmw")"
printf '%-12s %12s %12s %14s %14s\n' "veil self" "$(mibs "$vsw")" "$(mibs "$vsr")" "$(ratio "$nw" "$vsw")" "$(ratio "$gsw" "$vsw")"
echo "# (ratios: throughput of the row / of native or of gVisor's same medium; above 1 is faster)"

# --- Part 2: a memory cap below the data size.
make_cgroup() {
  local base
  if [[ -f /sys/fs/cgroup/cgroup.controllers ]]; then
    base=/sys/fs/cgroup$(awk -F: '$1=="0"{print $3}' /proc/self/cgroup)
    cg=$base/veil-bench-$$
    mkdir "$cg" 2>/dev/null && echo $((cap << 20)) > "$cg/memory.max" 2>/dev/null &&
      { echo 0 > "$cg/memory.swap.max" 2>/dev/null; true; }
  else
    base=/sys/fs/cgroup/memory$(awk -F: '$2=="memory"{print $3}' /proc/self/cgroup)
    cg=$base/veil-bench-$$
    mkdir "$cg" 2>/dev/null && echo $((cap << 20)) > "$cg/memory.limit_in_bytes" 2>/dev/null
  fi
}
if ! make_cgroup; then
  echo "# part 2 skipped: no writable memory cgroup here"
  exit 0
fi
echo
echo "# $size MiB written with the server in a memory cgroup of $cap MiB"
verdict() { [[ $1 == - ]] && echo "failed (server killed: out of memory)" || echo "done, $(mibs "$1") MiB/s"; }
veil_capped() {
  local args=$1 w
  veil_mount "$args" "$cg" || { echo "-"; return; }
  w=$(${write_cmd//FILE/$work/mnt/big} 2>&1 | dd_secs)
  veil_unmount; echo "${w:--}"
}
printf '%-12s %s\n' "veil memory" "$(verdict "$(veil_capped "--tmpfs")")"
printf '%-12s %s\n' "veil self" "$(verdict "$(veil_capped "--self-backed $work/store --tmpfs")")"
if (( gvisor_ok )); then
  read -r w _ < <(run_gvisor memory "$cg");           printf '%-12s %s\n' "gVisor mem" "$(verdict "$w")"
  read -r w _ < <(run_gvisor "$work/gvstore" "$cg");  printf '%-12s %s\n' "gVisor self" "$(verdict "$w")"
fi
