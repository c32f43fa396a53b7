#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/workloads/run.sh — real programs under veil, next to native and
# next to gVisor, from one run (issue #13): the host's sqlite3 (20,000
# inserts in one transaction, 1,000 autocommit inserts in /tmp and in a
# bound host directory, where every commit's fsync reaches the disk), tar
# x + find + ls -lR + rm -rf of ~5,000 files, a loop of 20,000 stats, ls
# -l of a 40,000-entry directory (workload.py times each inside the
# environment), and the start of the host's dynamic /bin/true in ms.
#
# veil runs `veil do` over the host's rootfs with the bound directory as
# `--bind`; gVisor `runsc --network=none do` (Debian's runsc, installed if
# missing; "-" if it cannot run here), the bound row with
# -force-overlay=false so its writes reach the host's disk too. Needs
# root. ROUNDS (default 3): each figure is the median of that many runs.
# STARTS (default 20), BUILD (build/).
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
build=${BUILD:-$repo/build}
veil=$build/veil
rounds=${ROUNDS:-3}
starts=${STARTS:-20}
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }
[[ -x $veil ]] || { echo "no veil at $veil (build it first)" >&2; exit 1; }
command -v sqlite3 >/dev/null || { echo "needs sqlite3" >&2; exit 1; }
if ! command -v runsc >/dev/null; then
  apt-get install -y runsc >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y runsc >/dev/null 2>&1; }
fi

work=$(mktemp -d /var/tmp/veil-bench-workloads.XXXXXX)
trap 'rm -rf "$work"' EXIT
# ~5,000 small files: 50 directories of 100 files of 1-4 KiB.
mkdir -p "$work/src"
for d in $(seq 50); do
  mkdir "$work/src/d$d"
  for f in $(seq 100); do
    head -c $(( (f % 4 + 1) * 1024 )) /dev/urandom > "$work/src/d$d/f$f"
  done
done
tar cf "$work/tree.tar" -C "$work/src" .
cp "$here/workload.py" "$work/"
mkdir -p "$work/bound"

gvisor_ok=0
if command -v runsc >/dev/null &&
   runsc --network=none do true >/dev/null 2>&1; then
  gvisor_ok=1
fi

# One run in each environment; "ROW MS" lines appended to $work/ENV.
run_native() {
  local w
  # The /tmp rows on a tmpfs, as veil's and gVisor's /tmp are memory.
  w=$(mktemp -d /dev/shm/veil-bench-native.XXXXXX)
  rm -rf "$work/bound"/*
  /usr/bin/python3 "$work/workload.py" "$w" "$work/bound" "$work/tree.tar" >> "$work/native"
  rm -rf "$w"
}
run_veil() {
  rm -rf "$work/bound"/*
  "$veil" do --bind "$work/bound:/bound" -- \
    /usr/bin/python3 "$work/workload.py" /tmp /bound "$work/tree.tar" \
    >> "$work/veil" 2>/dev/null
}
run_gvisor() {
  # /tmp rows in the default overlay; the bound row writes the host disk.
  runsc --network=none do /usr/bin/python3 "$work/workload.py" /tmp - \
    "$work/tree.tar" >> "$work/gvisor" 2>/dev/null
  rm -rf "$work/bound"/*
  runsc --network=none do -force-overlay=false /usr/bin/python3 \
    "$work/workload.py" "$work/bound" "$work/bound" "$work/tree.tar" \
    sqlite_1k_auto_bound \
    >> "$work/gvisor" 2>/dev/null
}
for ((r = 0; r < rounds; r++)); do
  echo "round $((r + 1))/$rounds" >&2
  run_native
  run_veil
  [[ $gvisor_ok == 1 ]] && run_gvisor
done

ms_per_start() {  # command...
  local t0 t1
  t0=$(date +%s%N)
  for ((i = 0; i < starts; i++)); do "$@" >/dev/null 2>&1; done
  t1=$(date +%s%N)
  awk -v ns=$((t1 - t0)) -v n="$starts" 'BEGIN{printf "%.1f", ns / n / 1e6}'
}
echo "startup_true $(ms_per_start /bin/true)" >> "$work/native"
echo "startup_true $(ms_per_start "$veil" do -- /bin/true)" >> "$work/veil"
[[ $gvisor_ok == 1 ]] &&
  echo "startup_true $(ms_per_start runsc --network=none do /bin/true)" >> "$work/gvisor"

median() {  # env row
  [[ -f "$work/$1" ]] || { echo "-"; return; }
  awk -v k="$2" '$1 == k { print $2 }' "$work/$1" | sort -n |
    awk '$1 == "fail" { f = 1 } { v[NR] = $1 }
         END { if (f) print "fail"; else if (NR) print v[int((NR + 1) / 2)]; else print "-" }'
}
ratio() { [[ "$1" =~ ^[0-9.]+$ && "$2" =~ ^[0-9.]+$ ]] && awk -v a="$1" -v b="$2" 'BEGIN{printf "%.2f", a/b}' || echo "-"; }
echo "# $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg); medians of $rounds rounds, $starts starts; ms"
printf '%-22s %9s %9s %9s %11s %11s\n' "ms" native veil gVisor veil/native veil/gVisor
for k in sqlite_20k_tx_tmp sqlite_1k_auto_tmp sqlite_1k_auto_bound \
         untar_find_ls_rm_5k stat_loop_20k ls_l_40k startup_true; do
  n=$(median native "$k"); v=$(median veil "$k"); g=$(median gvisor "$k")
  printf '%-22s %9s %9s %9s %11s %11s\n' "$k" "$n" "$v" "$g" \
    "$(ratio "$v" "$n")" "$(ratio "$v" "$g")"
done
