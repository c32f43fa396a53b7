#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/fuzz.sh [SECONDS]  — builds every fuzz target with clang's libFuzzer
# (-fsanitize=fuzzer,address,undefined) into build-fuzz/ and runs each for
# SECONDS (default 60), starting from and adding to fuzz/corpus/<target>/.
# Library code is instrumented too (fuzzer-no-link), so coverage guides the
# search through the VFS and LISAFS, not just the target file.
# A crash reproducer is saved as fuzz/crashes/<target>-<hash>; commit it
# and the ordinary test suite replays it from then on.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
tools/deps.sh
if [[ ! -f build-fuzz/build.ninja ]]; then
  CC=clang CXX=clang++ cmake -S . -B build-fuzz -G Ninja \
    -DCMAKE_BUILD_TYPE=RelWithDebInfo -DVEIL_LIBFUZZER=ON \
    -DCMAKE_CXX_FLAGS="-fsanitize=fuzzer-no-link,address,undefined -fno-sanitize-recover=undefined" \
    -DCMAKE_EXE_LINKER_FLAGS="-fsanitize=address,undefined" >/dev/null
fi
targets=$(sed -n 's/^veil_fuzz_target(\([a-z_0-9]*\) .*/\1/p' fuzz/CMakeLists.txt)
ninja -C build-fuzz $(for t in $targets; do echo "${t}_fuzzer"; done)
mkdir -p fuzz/crashes
status=0
for t in $targets; do
  mkdir -p "fuzz/corpus/$t"
  echo "== $t: ${seconds}s"
  if ! build-fuzz/fuzz/${t}_fuzzer -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="fuzz/crashes/$t-" "fuzz/corpus/$t" 2>&1 |
      grep -E '^(#[0-9]+.*(DONE|pulse)|stat::number_of_executed_units|stat::average_exec_per_sec|stat::new_units_added|==[0-9]+==ERROR|SUMMARY|.*Test unit written)' ; then
    :
  fi
  if ls fuzz/crashes/"$t"-* >/dev/null 2>&1; then
    echo "fuzz: $t crashed; reproducer(s): $(ls fuzz/crashes/"$t"-*)" >&2
    status=1
  fi
done
exit $status
