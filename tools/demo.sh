#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# The main job of veil: running programs in a sandbox under the sentry,
# then its filesystem core through `veil fuse`.
#
# First `veil do` runs a real workload on the host's / (read-only: an
# overlay of a veil tmpfs over a gofer serving /): busybox archives,
# lists, checksums and edits a tree of the host's files inside the
# sandbox, and the output is compared with the same work done on the
# host; the host's files are checked untouched. Every path, file and exec
# request of those programs is served by veil's VFS. Then dynamic programs
# (the host's sqlite3 and python3, their loader and libraries read from
# the VFS) build and check a database in the sandbox, compared likewise.
#
# Then it mounts a veil tmpfs through FUSE and drives it with ordinary
# programs (cp, tar, find, diff, ln, mkfifo, sqlite3, python3), checking
# each result against the same work on a host directory; then it mounts
# the sandbox's rootfs view of the host's / (an overlay of a veil tmpfs,
# kept on disk with --self-backed, over a read-only gofer), changes it,
# snapshots the changes while mounted (SIGUSR1) and at unmount, and
# restores them, checking that the host's files were never touched.
# Every file operation below is answered by veil's VFS.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/build.sh >/dev/null

if [[ ! -e /dev/fuse ]]; then
  echo "demo: /dev/fuse is missing: this machine cannot mount FUSE filesystems" >&2
  exit 1
fi

work=$(mktemp -d /tmp/veil-demo.XXXXXX)
mnt=$work/mnt
mkdir -p "$mnt"
# The reference copy lives on the host's tmpfs, so like is compared with like
# (directory sizes, block counts and times are filesystem-specific).
host=$(mktemp -d /dev/shm/veil-demo-host.XXXXXX)
chmod 0755 "$host"  # as the veil root: 0755, owned by the invoking user
veil_pid=
cleanup() {
  if mountpoint -q "$mnt"; then fusermount3 -u "$mnt" 2>/dev/null || umount -l "$mnt" || true; fi
  [[ -n "$veil_pid" ]] && wait "$veil_pid" 2>/dev/null || true
  rm -rf "$work" "$host"
}
trap cleanup EXIT

step() { printf '\n== %s\n' "$*"; }
ok() { printf '   ok: %s\n' "$*"; }
fail() { printf '   FAILED: %s\n' "$*" >&2; exit 1; }

# --- veil do: a workload in a sandbox over the host's / -------------------
bb=/bin/busybox
# The workload: the same script in the sandbox and on the host. In the
# sandbox / is the host's / seen through the overlay, and /tmp a tmpfs.
workload='set -e
src=/usr/share/doc
cd /tmp && mkdir work && cd work
busybox tar cf docs.tar -C "$src" .
busybox mkdir x && busybox tar xf docs.tar -C x
busybox find x -type f | busybox sort | busybox head -n 2000 > files
busybox wc -l < files
busybox tr "\n" "\0" < files | busybox xargs -0 busybox cat | busybox md5sum
busybox grep -rl "GNU General Public License" x 2> /dev/null | busybox wc -l
busybox sed -n "1,3p" files | busybox sed "s|^x/||"
busybox rm -rf x docs.tar && busybox ls'
step "veil do -- $bb sh -c WORKLOAD   (on the host's /, read-only)"
t0=$(date +%s%N)
in_veil=$(build/veil do -- "$bb" sh -c "$workload" 2> "$work/veil-do.err") ||
  { cat "$work/veil-do.err" >&2; fail "veil do exited with $?"; }
t1=$(date +%s%N)
host_tmp=$(mktemp -d /tmp/veil-demo-do.XXXXXX)
t2=$(date +%s%N)
on_host=$(cd "$host_tmp" && "$bb" sh -c "${workload//\/tmp/$host_tmp}" 2>/dev/null) ||
  fail "the workload failed on the host"
t3=$(date +%s%N)
rm -rf "$host_tmp"
printf '%s\n' "$in_veil" | sed 's/^/   | /'
[[ "$in_veil" == "$on_host" ]] || { diff <(echo "$on_host") <(echo "$in_veil") >&2; fail "veil do and the host disagree"; }
ok "identical to the same workload on the host ($(( (t1 - t0) / 1000000 )) ms in veil, $(( (t3 - t2) / 1000000 )) ms on the host)"

# The database workload: the host's own dynamic sqlite3 and python3.
dbwork='set -e
cd "$W"
i=0; while [ $i -lt 5000 ]; do echo "insert into t(b,c) values($i, $((i*i % 977)));"; i=$((i+1)); done > ins.sql
sqlite3 db "pragma journal_mode=wal; create table t(a integer primary key, b int, c int);" > /dev/null
(echo "begin;"; cat ins.sql; echo "commit;") | sqlite3 db
sqlite3 db "create index ic on t(c); pragma integrity_check; select count(*), sum(c), max(c) from t;"
python3 -c "
import sqlite3, hashlib, os
db = sqlite3.connect(\"db\")
rows = db.execute(\"select a, b, c from t order by c, a\").fetchall()
print(len(rows), hashlib.sha256(repr(rows).encode()).hexdigest()[:16])
print(sorted(os.listdir(\".\")))
"'
step "veil do -- sh -c DATABASE-WORKLOAD   (dynamic sqlite3 and python3 from the host's /)"
t0=$(date +%s%N)
in_veil=$(build/veil do --env W=/tmp -- /bin/sh -c "$dbwork" 2> "$work/veil-db.err") ||
  { cat "$work/veil-db.err" >&2; fail "veil do exited with $?"; }
t1=$(date +%s%N)
host_tmp=$(mktemp -d /dev/shm/veil-demo-db.XXXXXX)
t2=$(date +%s%N)
on_host=$(cd / && W=$host_tmp /bin/sh -c "$dbwork" 2>/dev/null) || fail "the database workload failed on the host"
t3=$(date +%s%N)
rm -rf "$host_tmp"
printf '%s\n' "$in_veil" | sed 's/^/   | /'
[[ "$in_veil" == "$on_host" ]] || { diff <(echo "$on_host") <(echo "$in_veil") >&2; fail "veil do and the host disagree"; }
ok "identical to the same workload on the host ($(( (t1 - t0) / 1000000 )) ms in veil, $(( (t3 - t2) / 1000000 )) ms on the host)"

# A database server in the sandbox: Debian's PostgreSQL, its cluster made
# in the sandbox's /tmp, answering psql over its unix socket (a node of
# veil's VFS) and over the sandbox's own loopback.
pg_bin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | tail -1)
if [[ -n "$pg_bin" && -x "$pg_bin/initdb" ]] && getent passwd postgres >/dev/null; then
  step "veil do --user postgres -- PostgreSQL: initdb, pg_ctl start, psql over a unix socket and TCP"
  t0=$(date +%s%N)
  build/veil do --user postgres -- /bin/sh -c "export PATH=$pg_bin:\$PATH; set -e
initdb -D /tmp/pg -A trust >/dev/null
pg_ctl -D /tmp/pg -l /tmp/pg.log -w -o '-k /tmp -c listen_addresses=127.0.0.1' start >/dev/null
psql -X -q -h /tmp -d postgres -Atc \"create table t as select g, md5(g::text) from generate_series(1, 10000) g; select 'unix socket: ' || count(*) || ' rows' from t\"
psql -X -h 127.0.0.1 -d postgres -Atc \"select 'tcp ' || inet_server_addr() || ': ' || sum(g) from t\"
pg_ctl -D /tmp/pg -m fast -w stop >/dev/null" 2>&1 | sed 's/^/   | /'
  [[ ${PIPESTATUS[0]} == 0 ]] || fail "PostgreSQL in veil do"
  t1=$(date +%s%N)
  ok "a database server in the sandbox ($(( (t1 - t0) / 1000000 )) ms, initdb included)"
else
  step "PostgreSQL in veil do: skipped (Debian's postgresql package is not installed)"
fi

step "veil do: writes land in the sandbox only"
marker=/etc/veil-demo-$$
build/veil do -- "$bb" sh -c "echo sandboxed > $marker && busybox cat $marker && busybox rm -rf /usr/share/doc && busybox ls -d /usr/share/doc 2>&1 || true" 2>/dev/null | sed 's/^/   | /'
[[ ! -e $marker && -d /usr/share/doc ]] || fail "the host's / was changed"
ok "the host's / is untouched ($marker absent, /usr/share/doc still there)"

step "veil do: exit status, and a command that is not there"
set +e
build/veil do -- "$bb" sh -c 'exit 7' 2>/dev/null; st=$?
build/veil do -- /no/such/command 2> "$work/nf.err"; nf=$?
set -e
[[ $st == 7 && $nf == 127 ]] || fail "statuses $st and $nf"
ok "exit 7 -> $st; $(grep -v 'falling back' "$work/nf.err") -> $nf"

step "mounting a veil tmpfs: build/veil fuse -f --tmpfs $mnt"
build/veil fuse -f --tmpfs "$mnt" &
veil_pid=$!
for _ in $(seq 100); do
  [[ "$(stat -f -c %T "$mnt" 2>/dev/null)" == fuseblk || "$(stat -f -c %t "$mnt")" == 65735546 ]] && break
  sleep 0.05
done
[[ "$(stat -f -c %t "$mnt")" == 65735546 ]] || fail "the FUSE mount did not appear"
ok "$(findmnt -n -o SOURCE,FSTYPE,OPTIONS "$mnt")"

docs=(/usr/share/doc)
step "cp -a /usr/share/doc into veil and into a host directory"
cp -a "${docs[@]}" "$mnt/"
cp -a "${docs[@]}" "$host/"
ok "$(find "$mnt" | wc -l) entries, $(du -sb "$mnt" | cut -f1) bytes in veil"

step "diff -r and a metadata listing: veil against the host directory"
diff -r --no-dereference "$host" "$mnt" >/dev/null || fail "diff -r found differences"
listing() { (cd "$1" && find . -printf '%M %n %U:%G %s %TY-%Tm-%Td %p -> %l\n' | sort); }
diff <(listing "$host") <(listing "$mnt") >/dev/null || fail "modes, link counts, owners, sizes or times differ"
ok "contents, modes, link counts, owners, sizes and mtimes identical"

step "tar c | tar x round trip inside veil"
mkdir "$mnt/untar"
tar -C "$mnt" -cf - doc | tar -C "$mnt/untar" -xf -
diff -r --no-dereference "$host/doc" "$mnt/untar/doc" >/dev/null || fail "tar round trip differs"
ok "$(tar -C "$mnt" -cf - doc | wc -c) bytes through tar, identical after extraction"

step "hard links, symlinks, rename, fifo"
echo hello >"$mnt/a"
ln "$mnt/a" "$mnt/b"
ln -s a "$mnt/c"
[[ "$(stat -c %i "$mnt/a")" == "$(stat -c %i "$mnt/b")" && "$(stat -c %h "$mnt/a")" == 2 ]] || fail "hard link"
[[ "$(cat "$mnt/c")" == hello ]] || fail "symlink"
mv "$mnt/b" "$mnt/untar/b"
mkfifo "$mnt/fifo"
[[ "$(stat -c %F "$mnt/fifo")" == fifo ]] || fail "mkfifo"
ok "ino $(stat -c %i "$mnt/a") has 2 names; symlink reads through; fifo created"

step "python3: a sparse 1 GiB file, SEEK_DATA and SEEK_HOLE"
python3 - "$mnt/sparse" <<'PY' || fail "sparse file"
import os, sys
p = sys.argv[1]
with open(p, "wb") as f:
    f.seek(1 << 30)
    f.write(b"end")
st = os.stat(p)
fd = os.open(p, os.O_RDONLY)
data, hole = os.lseek(fd, 0, os.SEEK_DATA), os.lseek(fd, 0, os.SEEK_HOLE)
print(f"   size {st.st_size}, {st.st_blocks * 512} bytes allocated, first data at {data}, first hole at {hole}")
assert st.st_blocks <= 16 and data == 1 << 30 and hole == 0
PY

step "sqlite3: a database with 10,000 rows"
sqlite3 "$mnt/test.db" "create table t(i integer primary key, s text);
  with recursive n(i) as (select 1 union all select i+1 from n where i < 10000)
  insert into t select i, hex(randomblob(16)) from n;" || fail "sqlite3 insert"
rows=$(sqlite3 "$mnt/test.db" "pragma integrity_check; select count(*) from t;" | tr '\n' ' ')
[[ "$rows" == "ok 10000 " ]] || fail "sqlite3 read back: $rows"
ok "integrity_check ok, 10000 rows, $(stat -c %s "$mnt/test.db") bytes"

step "permissions are veil's: a non-root user cannot write root's 0644 file"
if su nobody -s /bin/sh -c "echo x >>'$mnt/a'" 2>/dev/null; then fail "nobody wrote to a 0644 root file"; fi
ok "denied: $(su nobody -s /bin/sh -c "echo x >>'$mnt/a'" 2>&1 | sed 's/.*: //')"

step "rm -rf and unmount"
rm -rf "${mnt:?}"/*
[[ -z "$(ls -A "$mnt")" ]] || fail "rm -rf left entries"
fusermount3 -u "$mnt"
wait "$veil_pid"
veil_pid=
ok "unmounted; veil fuse exited 0"

img=$work/rootfs.img
store=$work/store  # on /tmp's disk: the upper's file data lives there
mkdir -p "$store"
step "the rootfs view of the host's /: build/veil fuse --self-backed $store --rootfs / --snapshot-out $img $mnt"
host_before=$(cat /etc/hostname; stat -c '%Y %h' /usr/share/doc /usr/share/man; ls /usr/share/doc | wc -l)
build/veil fuse -f --self-backed "$store" --rootfs / --snapshot-out "$img" "$mnt" 2>/dev/null &
veil_pid=$!
for _ in $(seq 100); do [[ "$(stat -f -c %t "$mnt")" == 65735546 ]] && break; sleep 0.05; done
[[ "$(stat -f -c %t "$mnt")" == 65735546 ]] || fail "the rootfs mount did not appear"
cmp -s /etc/os-release "$mnt/etc/os-release" || fail "the lower's files do not show through"
ok "$(ls "$mnt/usr/share/doc" | wc -l) packages' docs under $mnt/usr/share/doc, served by the gofer"
step "find over the view's /usr/lib, more names than the gofer may hold descriptors"
in_view=$(find "$mnt/usr/lib" -xdev | wc -l)
on_host=$(find /usr/lib -xdev | wc -l)
[[ "$in_view" == "$on_host" ]] || fail "find saw $in_view entries, the host has $on_host"
ok "$in_view entries, as on the host (RLIMIT_NOFILE: $(ulimit -Hn); the gofer closes idle descriptors)"

step "changing the rootfs: a file edited, a tree removed, a directory renamed, a database written"
echo veil-demo >"$mnt/etc/hostname"
rm -rf "$mnt/usr/share/doc"
mv "$mnt/usr/share/man" "$mnt/usr/share/man-moved"
sqlite3 "$mnt/tmp/veil-demo.db" "create table t(i integer primary key, s text);
  with recursive n(i) as (select 1 union all select i+1 from n where i < 1000)
  insert into t select i, hex(randomblob(16)) from n;" || fail "sqlite3 on the rootfs"
[[ ! -e "$mnt/usr/share/doc" && -d "$mnt/usr/share/man-moved/man1" && "$(cat "$mnt/etc/hostname")" == veil-demo ]] ||
  fail "the changes do not show"
host_after=$(cat /etc/hostname; stat -c '%Y %h' /usr/share/doc /usr/share/man; ls /usr/share/doc | wc -l)
[[ "$host_before" == "$host_after" && ! -e /tmp/veil-demo.db ]] || fail "the host's files changed"
ok "visible in the view; the host's /etc/hostname, /usr/share/doc, /usr/share/man untouched"
[[ -z "$(ls -A "$store")" ]] || fail "the store left a name in $store"
store_kib=0
for fd in /proc/"$veil_pid"/fd/*; do
  [[ "$(readlink "$fd")" == "$store/"* ]] && store_kib=$(( $(stat -L -c '%b * %B' "$fd") / 1024 ))
done
(( store_kib > 0 )) || fail "no data in the store file"
ok "the changes' data: ${store_kib} KiB on disk in an unnamed file in $store (ls shows nothing there)"

step "a live snapshot: kill -USR1 the veil process, which pauses requests, writes $img and goes on"
kill -USR1 "$veil_pid"
for _ in $(seq 200); do [[ -s "$img" ]] && break; sleep 0.05; done
[[ -s "$img" ]] || fail "no image after SIGUSR1"
sleep 0.2
mountpoint -q "$mnt" || fail "the session ended"
ok "$(stat -c %s "$img") bytes, still mounted; $(build/veil restore --verify "$img" 2>&1 | tail -1)"
rm -f "$img"

step "unmount: the changes are written to $img"
fusermount3 -u "$mnt"
wait "$veil_pid"
veil_pid=
ok "$(stat -c %s "$img") bytes; $(build/veil restore --verify "$img" 2>&1 | tail -1)"

step "restore: build/veil fuse --rootfs / --restore $img $mnt"
build/veil fuse -f --rootfs / --restore "$img" "$mnt" 2>/dev/null &
veil_pid=$!
for _ in $(seq 100); do [[ "$(stat -f -c %t "$mnt")" == 65735546 ]] && break; sleep 0.05; done
[[ "$(cat "$mnt/etc/hostname")" == veil-demo && ! -e "$mnt/usr/share/doc" && -d "$mnt/usr/share/man-moved/man1" ]] ||
  fail "the restored view lacks the changes"
rows=$(sqlite3 "$mnt/tmp/veil-demo.db" "pragma integrity_check; select count(*) from t;" | tr '\n' ' ')
[[ "$rows" == "ok 1000 " ]] || fail "the restored database: $rows"
fusermount3 -u "$mnt"
wait "$veil_pid"
veil_pid=
ok "hostname, removed tree, renamed directory and database (integrity ok, 1000 rows) are back"
printf '\ndemo: veil do and veil'"'"'s filesystem core passed every check above\n'
