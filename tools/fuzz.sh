#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/fuzz.sh [SECONDS [TARGET...]]  — builds the fuzz targets with clang's
# libFuzzer (-fsanitize=fuzzer,address,undefined; -O1) into build-fuzz/ and
# runs each for SECONDS (default 60), one after the other. Every target
# named in fuzz/CMakeLists.txt runs unless TARGETs (e.g. lisafs_server) are
# given. Library code is instrumented too (fuzzer-no-link), so coverage
# guides the search through the VFS, overlay, LISAFS and gofer, not just the
# target file; only the libraries the targets link are built.
# Each run starts from the committed fuzz/corpus/<target>/ (never written)
# and keeps what it finds in build-fuzz/corpus/<target>/.
# A crash reproducer is saved as fuzz/crashes/<target>-<hash>; add it to
# fuzz/corpus/<target>/ once fixed and ctest replays it from then on.
# Exits non-zero if a target crashed. VEIL_FUZZ_FLAGS adds libFuzzer flags
# (e.g. "-len_control=0 -max_len=4096" for long runs of the session targets);
# VEIL_FUZZ_JOBS=N runs N targets at a time (default 1).
#
# tools/fuzz.sh merge [TARGET...]  — minimises the committed corpus together
# with what runs found (libFuzzer -merge=1, edges only) back into
# fuzz/corpus/<target>/; named files (seeds, crash reproducers) are kept.
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in
  -h|--help) sed -n '4,21p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
esac
merge=false
if [[ "${1:-}" == merge ]]; then
  merge=true
  seconds=0
else
  seconds=${1:-60}
  [[ "$seconds" =~ ^[0-9]+$ ]] || { echo "fuzz.sh: SECONDS must be a number (see --help)" >&2; exit 2; }
fi
shift || true
tools/deps.sh
# -O1 and line tables only: what libFuzzer recommends, and it keeps the
# instrumented build short enough for CI. libseccomp's SCMP_A* macros trip
# clang's -Wmissing-field-initializers (g++ accepts them), hence the -Wno-error.
# Configured every time (cheap) so that flag changes here take effect.
CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
  -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVEIL_LIBFUZZER=ON \
  -DCMAKE_CXX_FLAGS_RELWITHDEBINFO="-O1 -gline-tables-only -DNDEBUG" \
  -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined -Wno-error=missing-field-initializers" \
  -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
all=$(sed -n 's/^veil_fuzz_target(\([a-z_0-9]*\) .*/\1/p' fuzz/CMakeLists.txt)
targets=${*:-$all}
for t in $targets; do
  grep -qx "$t" <<<"$all" || { echo "fuzz.sh: no fuzz target '$t' (have: $(echo $all))" >&2; exit 2; }
done
ninja -C build-fuzz $(for t in $targets; do echo "fuzz/${t}_fuzzer"; done)

if $merge; then
  for t in $targets; do
    fresh=$(mktemp -d)
    mkdir -p "build-fuzz/corpus/$t"
    # Edges only, not hit counts: a few hundred files rather than thousands.
    build-fuzz/fuzz/${t}_fuzzer -merge=1 -use_counters=0 "$fresh" "fuzz/corpus/$t" \
      "build-fuzz/corpus/$t" 2>&1 | grep -E '^MERGE-OUTER: [0-9]+ new files' || true
    # Named files (hand-written seeds, crash reproducers) stay, even if
    # redundant; libFuzzer names the rest by their SHA-1.
    for f in "fuzz/corpus/$t"/*; do
      [[ -f "$f" && ! "${f##*/}" =~ ^[0-9a-f]{40}$ ]] && cp "$f" "$fresh/"
    done
    rm -rf "fuzz/corpus/$t"
    mv "$fresh" "fuzz/corpus/$t"
    chmod 755 "fuzz/corpus/$t"
    echo "== $t: $(ls "fuzz/corpus/$t" | wc -l) files, $(du -sk --apparent-size "fuzz/corpus/$t" | cut -f1) KiB"
  done
  exit 0
fi

mkdir -p fuzz/crashes
# Up to VEIL_FUZZ_JOBS targets at once (CI: one per core); each one's
# output goes to build-fuzz/fuzz-<target>.log and its summary is shown in
# order once all are done.
jobs=${VEIL_FUZZ_JOBS:-1}
for t in $targets; do
  while (( $(jobs -rp | wc -l) >= jobs )); do wait -n || true; done
  mkdir -p "build-fuzz/corpus/$t"
  # shellcheck disable=SC2086  # VEIL_FUZZ_FLAGS is a list of flags.
  build-fuzz/fuzz/${t}_fuzzer -max_total_time="$seconds" -timeout=25 \
      -print_final_stats=1 -artifact_prefix="fuzz/crashes/$t-" ${VEIL_FUZZ_FLAGS:-} \
      "build-fuzz/corpus/$t" "fuzz/corpus/$t" >"build-fuzz/fuzz-$t.log" 2>&1 &
done
wait || true
status=0
for t in $targets; do
  echo "== $t: ${seconds}s"
  grep -E '^(#[0-9]+.*DONE|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|.*Test unit written|lisafs_server fuzzer|overlay_layers fuzzer)' \
    "build-fuzz/fuzz-$t.log" || true
  if ls fuzz/crashes/"$t"-* >/dev/null 2>&1; then
    echo "fuzz: $t crashed; reproducer(s): $(ls fuzz/crashes/"$t"-*); log: build-fuzz/fuzz-$t.log" >&2
    status=1
  fi
done
exit $status
