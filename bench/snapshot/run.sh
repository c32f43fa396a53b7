#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# bench/snapshot/run.sh — times `veil snapshot` + `veil restore` against
# `tar -c | lz4` + `lz4 -d | tar -x` on the same ~1 GiB tree, in one run,
# and prints image size and times side by side as ratios.
#
# The tree, built in /dev/shm (so no disk is timed): text from /usr/share
# (docs, perl, vim, locales, package lists), binaries from /usr/lib/llvm-*, a second copy
# of part of the binaries (dedupe) and sparse files (holes). Both restores
# are checked against the source with tree_digest.py (atime excluded: the
# digest's own readlink(2) calls move symlink atimes). ROUNDS=N (default 1)
# repeats both sides N times, alternating, and reports each side's best.
#
# Needs: a built veil (VEIL=path, default build/veil), python3, tar, and
# the `lz4` command-line tool (Debian package lz4, installed with apt-get
# if missing). Run as root to keep owners, device nodes and trusted.*
# xattrs on both sides. Uses about 4 GiB of /dev/shm.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
veil=${VEIL:-$repo/build/veil}
work=${WORK:-/dev/shm/veil-snapshot-bench}

[[ -x $veil ]] || { echo "no veil at $veil (build it, or set VEIL=)" >&2; exit 1; }
if ! command -v lz4 >/dev/null; then
  echo "installing lz4 (Debian package) ..." >&2
  apt-get install -y lz4 >/dev/null 2>&1 ||
    { apt-get update >/dev/null && apt-get install -y lz4 >/dev/null; }
fi

rm -rf "$work"
mkdir -p "$work/src"/{text,bin,dup,sparse}
src=$work/src
echo "building the tree in $src ..." >&2
# Not man/ or fpcsrc/: the tree stays at the size of the figures in
# bench/README.md.
for d in doc perl vim i18n locale package-lists; do
  [[ -e /usr/share/$d ]] && cp -a /usr/share/$d "$src/text/"
done
llvm=$(ls -d /usr/lib/llvm-* 2>/dev/null | head -1)
cp -a "${llvm:-/usr/lib/gcc}" "$src/bin/"
# Duplicates: about 150 MiB of the binaries again, file for file.
dup_bytes=0
while read -r f; do
  (( dup_bytes >= 150 << 20 )) && break
  cp -a "$f" "$src/dup/$(basename "$f").$dup_bytes"
  dup_bytes=$(( dup_bytes + $(stat -c %s "$f") ))
done < <(find "$src/bin" -type f -size +1M | sort)
# Sparse: 256 MiB files with 1 MiB of data scattered in 64 KiB pieces.
for i in 1 2 3 4 5 6 7 8; do
  f=$src/sparse/s$i
  truncate -s 256M "$f"
  for j in $(seq 0 15); do
    dd if=/dev/urandom of="$f" bs=64K count=1 seek=$((j * 256 + i)) \
       conv=notrunc status=none
  done
done
mknod "$src/whiteout" c 0 0
mkfifo "$src/fifo"
ln "$src/text/doc/$(ls "$src/text/doc" | head -1)/copyright" "$src/hardlink" \
  2>/dev/null || true
python3 -c "import os; os.setxattr('$src/text', 'trusted.overlay.opaque', b'y')"

data_mib=$(du -sm "$src" | cut -f1)
apparent_mib=$(du -sm --apparent-size "$src" | cut -f1)
files=$(find "$src" | wc -l)

load_before=$(cut -d' ' -f1-3 /proc/loadavg)
min() { awk -v a="$1" -v b="$2" 'BEGIN { print (a == "" || b < a) ? b : a }'; }

# Runs a command; sets `wall` and `cpu` (user + system seconds of it and
# all its children: for tar, tar and lz4 both).
timed() {
  local TIMEFORMAT='%R %U %S' t
  t=$( { time "$@" 2>&4 >/dev/null; } 4>&2 2>&1 )
  wall=$(awk -v t="$t" 'BEGIN { split(t, f, " "); printf "%.2f", f[1] }')
  cpu=$(awk -v t="$t" 'BEGIN { split(t, f, " "); printf "%.2f", f[2] + f[3] }')
}
tar_opts=(--xattrs --xattrs-include='*' --numeric-owner)
tar_snapshot() {
  tar "${tar_opts[@]}" --sparse -C "$src" -cf - . | lz4 -q -1 > "$work/tree.tar.lz4"
}
tar_restore() {
  lz4 -q -dc "$work/tree.tar.lz4" | tar "${tar_opts[@]}" -C "$work/out-tar" -xpf -
}

# ROUNDS=N runs both sides N times, alternating, and keeps each side's
# best wall time and best CPU time: on a shared machine the load changes
# from second to second, and CPU time depends on it least.
declare -A best
keep() { best[$1]=$(min "${best[$1]:-}" "$wall"); best[$1.cpu]=$(min "${best[$1.cpu]:-}" "$cpu"); }
for (( round = 1; round <= ${ROUNDS:-1}; round++ )); do
  rm -rf "$work/out-veil" "$work/out-tar" "$work/tree.veilsnap" "$work/tree.tar.lz4"
  echo "round $round: veil snapshot / restore ($(nproc) CPUs; load: $(cut -d' ' -f1-3 /proc/loadavg)) ..." >&2
  timed "$veil" snapshot "$src" "$work/tree.veilsnap"; keep veil_snap
  timed "$veil" restore "$work/tree.veilsnap" "$work/out-veil"; keep veil_rest
  echo "round $round: tar | lz4 / lz4 -d | tar ..." >&2
  mkdir "$work/out-tar"
  timed tar_snapshot; keep tar_snap
  timed tar_restore; keep tar_rest
done

echo "checking both restores against the source ..." >&2
"$here/tree_digest.py" --no-atime "$src" > "$work/digest-src"
check() {
  "$here/tree_digest.py" --no-atime "$work/$1" > "$work/digest-$1"
  if cmp -s "$work/digest-src" "$work/digest-$1"; then echo identical
  else echo "DIFFERS ($(diff "$work/digest-src" "$work/digest-$1" | grep -c '^<') paths)"; fi
}
veil_ok=$(check out-veil)
tar_ok=$(check out-tar)
veil_mib=$(du -m --apparent-size "$work/tree.veilsnap" | cut -f1)
tar_mib=$(du -m --apparent-size "$work/tree.tar.lz4" | cut -f1)
veil_blocks=$(du -sm "$work/out-veil" | cut -f1)
tar_blocks=$(du -sm "$work/out-tar" | cut -f1)

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
echo
echo "load before / after: $load_before / $(cut -d" " -f1-3 /proc/loadavg)"
echo "tree: $files paths, $data_mib MiB allocated ($apparent_mib MiB apparent) in $src"
row() { printf '%-14s %10s %10s %10s %10s %10s %9s  %s\n' "$@"; }
row "" "image MiB" "snap s" "snap cpu s" "restore s" "rest cpu s" \
  "rest. MiB" "restore check"
row veil "$veil_mib" "${best[veil_snap]}" "${best[veil_snap.cpu]}" \
  "${best[veil_rest]}" "${best[veil_rest.cpu]}" "$veil_blocks" "$veil_ok"
row "tar + lz4 -1" "$tar_mib" "${best[tar_snap]}" "${best[tar_snap.cpu]}" \
  "${best[tar_rest]}" "${best[tar_rest.cpu]}" "$tar_blocks" "$tar_ok"
row "veil / tar" "$(ratio "$veil_mib" "$tar_mib")" \
  "$(ratio "${best[veil_snap]}" "${best[tar_snap]}")" \
  "$(ratio "${best[veil_snap.cpu]}" "${best[tar_snap.cpu]}")" \
  "$(ratio "${best[veil_rest]}" "${best[tar_rest]}")" \
  "$(ratio "${best[veil_rest.cpu]}" "${best[tar_rest.cpu]}")"
[[ -n ${KEEP:-} ]] || rm -rf "$work"
