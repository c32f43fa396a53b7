#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/thread_safety.sh [FILE.cc...]  — checks veil's lock claims with
# clang's thread-safety analysis: every source file (or the FILEs given) is
# compiled with -fsyntax-only -Wthread-safety -Werror, so a field declared
# VEIL_GUARDED_BY(mu) read without mu held, a VEIL_REQUIRES(mu) method called
# without it, or a lock not released fails the check (base/mutex.h).
# No object code is made: about two minutes of CPU for the tree.
# Configures build-tsa/ with clang++ (for its compile_commands.json only).
# Exits non-zero on any finding.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '4,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
tools/deps.sh
command -v clang++ >/dev/null || {
  echo "thread_safety.sh: clang++ not found (Debian package clang)" >&2; exit 1; }
build=build-tsa
CXX=clang++ CC=clang cmake -S . -B "$build" -G Ninja \
  -DCMAKE_BUILD_TYPE=Debug -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >/dev/null
files=("$@")
# Every translation unit of the libraries and tools (what the compile
# database lists, minus tests/ and fuzz/, which hold no shared state).
mapfile -t units < <(python3 - "$build/compile_commands.json" "$PWD" "${files[@]}" <<'PY'
import json, os, shlex, sys
db, root, wanted = sys.argv[1], sys.argv[2], set(os.path.abspath(f) for f in sys.argv[3:])
seen = set()
for e in json.load(open(db)):
    f = os.path.abspath(os.path.join(e["directory"], e["file"]))
    rel = os.path.relpath(f, root)
    if rel.startswith(("..", "build", "tests/", "fuzz/")) or f in seen:
        continue
    # C++ only: the C sources (the exec stub) hold no locks and carry
    # compiler-specific flags of their own.
    if not f.endswith(".cc"):
        continue
    if wanted and f not in wanted:
        continue
    seen.add(f)
    args = shlex.split(e["command"])
    # Drop the output options; keep defines, includes and the standard.
    out, skip = [], False
    for a in args:
        if skip: skip = False; continue
        if a in ("-o", "-c"):
            skip = a == "-o"; continue
        if a == f or a == e["file"]: continue
        out.append(a)
    print(e["directory"] + "\t" + shlex.join(out + ["-fsyntax-only", "-Wthread-safety",
          "-Wthread-safety-beta", "-Werror=thread-safety", "-Wno-thread-safety-negative", "-ferror-limit=0", f]))
PY
)
((${#units[@]})) || { echo "thread_safety.sh: no source files matched" >&2; exit 2; }
log=$(mktemp)
trap 'rm -f "$log"' EXIT
printf '%s\n' "${units[@]}" |
  xargs -d '\n' -P "$(nproc)" -I{} bash -c 'dir=${1%%$'"'"'\t'"'"'*}; cmd=${1#*$'"'"'\t'"'"'}; cd "$dir" && eval "$cmd"' _ {} 2>"$log" || true
# Only the analysis's findings and hard errors count; other clang
# warnings are the normal builds' business.
pattern='(error: |warning: .*\[-W[a-z-]*thread-safety)'
if grep -qE "$pattern" "$log"; then
  grep -E "$pattern" "$log" | sed "s|^$PWD/||" | sort -u
  n=$(grep -E "$pattern" "$log" | sort -u | wc -l)
  echo "thread_safety.sh: $n finding(s) in ${#units[@]} files" >&2
  exit 1
fi
echo "thread_safety.sh: ${#units[@]} files, no findings"
