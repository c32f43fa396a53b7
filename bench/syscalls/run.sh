#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/syscalls/run.sh — what a syscall and a program start cost under
# veil, next to native and next to gVisor, from one run:
#
#   getppid (native in veil: the seccomp filter's cost only), fstat,
#   stat and open+close (trapped: served by the sentry), a 4 KiB pread of
#   a tmpfs file and of a file of the rootfs's lower layer, per call in
#   ns (syscall_loop.c, a static program, the same binary everywhere);
#   and the start of `busybox true` (fork, exec, exit) in ms.
#
# veil runs `veil do --rootfs R` over a scratch rootfs R holding busybox
# and the program; gVisor `runsc --network=none do` (Debian's runsc,
# installed if missing; "-" if it cannot run here). Needs root.
# N (calls per figure, default 20000), STARTS (default 20), BUILD (build/).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-$repo/build}
veil=$build/veil
n=${N:-20000}
starts=${STARTS:-20}
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }
[[ -x $veil ]] || { echo "no veil at $veil (build it first)" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null 2>&1; }
fi

work=$(mktemp -d /tmp/veil-bench-syscalls.XXXXXX)
trap 'rm -rf "$work"' EXIT
root=$work/root
mkdir -p "$root/bin" "$root/tmp" "$root/data"
chmod 1777 "$root/tmp"
cp /bin/busybox "$root/bin/"
ln -s busybox "$root/bin/sh"
ln -s busybox "$root/bin/true"
gcc -O2 -static -o "$root/bin/syscall_loop" "$here/syscall_loop.c" ||
  { echo "cannot build syscall_loop (gcc -static)" >&2; exit 1; }
head -c 65536 /dev/urandom > "$root/data/lower"

native_tmp=$work/native-tmp
mkdir -p "$native_tmp"
declare -A native veil strict gvisor
read_figures() {  # name -> array
  local -n into=$1
  while read -r name ns; do into[$name]=$ns; done
}
read_figures native < <("$root/bin/syscall_loop" "$n" "$root/data/lower" "$native_tmp")
read_figures veil < <("$veil" do --rootfs "$root" -- /bin/syscall_loop "$n" /data/lower /tmp 2>/dev/null)
read_figures strict < <("$veil" do --strict --rootfs "$root" -- /bin/syscall_loop "$n" /data/lower /tmp 2>/dev/null)
if command -v runsc >/dev/null &&
   runsc --network=none do true >/dev/null 2>&1; then
  read_figures gvisor < <(runsc --network=none do "$root/bin/syscall_loop" "$n" "$root/data/lower" /tmp 2>/dev/null)
fi

ms_per_start() {  # command...
  local t0 t1
  t0=$(date +%s%N)
  for ((i = 0; i < starts; i++)); do "$@" >/dev/null 2>&1; done
  t1=$(date +%s%N)
  echo $(( (t1 - t0) / starts / 1000 ))  # µs
}
native[start_us]=$(ms_per_start "$root/bin/busybox" true)
veil[start_us]=$(ms_per_start "$veil" do --rootfs "$root" -- /bin/true)
if [[ -n "${gvisor[getppid]:-}" ]]; then
  gvisor[start_us]=$(ms_per_start runsc --network=none do "$root/bin/busybox" true)
fi

ratio() { [[ -n "$1" && -n "$2" && "$2" != 0 ]] && awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}' || echo "-"; }
echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); N=$n calls per figure, $starts starts"
printf '%-18s %9s %9s %9s %9s %11s %11s %11s\n' "ns per call" native veil \
  "--strict" gVisor veil/native strict/nat. veil/gVisor
for k in getppid fstat stat_tmpfs stat_lower open_close_tmpfs pread4k_tmpfs pread4k_lower start_us; do
  printf '%-18s %9s %9s %9s %9s %11s %11s %11s\n' "$k" "${native[$k]:--}" \
    "${veil[$k]:--}" "${strict[$k]:--}" "${gvisor[$k]:--}" \
    "$(ratio "${veil[$k]:-}" "${native[$k]:-}")" \
    "$(ratio "${strict[$k]:-}" "${native[$k]:-}")" \
    "$(ratio "${veil[$k]:-}" "${gvisor[$k]:-}")"
done
echo "# veil: the default mode (the native data plane: read/pread/write on a"
echo "# host fd the sentry installed); --strict: every file call trapped"
echo "# start_us: microseconds from fork to exit of busybox true (veil: all of"
echo "# veil do, its gofer and overlay included; gVisor: all of runsc do)"
