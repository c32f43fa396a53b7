#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/test.sh [--sanitize | --sanitize-core]
#
# Builds veil and runs every test: the layering check, then ctest (unit,
# differential, protocol, integration, escape, fuzz-corpus replay). Exits
# non-zero on any failure.
#   --sanitize       the whole suite built with AddressSanitizer, UBSan and
#                    LeakSanitizer, in build-asan/.
#   --sanitize-core  only the core suites (base, vfs/tmpfs, lisafs, tmpfs
#                    difftest) under the sanitizers: what CI runs, to stay
#                    within its time budget. Run --sanitize for the rest.
# Under CI (CI=true) the default is the lock-claim check
# (tools/thread_safety.sh: clang -Wthread-safety), every fuzz target for
# 10 s (tools/fuzz.sh 10: clang, libFuzzer, ASan, UBSan), the core suites
# of --sanitize-core built in that same sanitized build (sharing its
# objects, so they cost a fraction of a build of their own), then the
# plain suite built as a user's Release build, whose ctest summary closes
# the output.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
core_tests=(tests/unit/base_test tests/unit/vfs_test tests/unit/lisafs/lisafs_test
            tests/difftest/difftest_tmpfs_test)
mode=${1:-}
case "$mode" in
  "")
    if [[ "${CI:-}" == true ]]; then
      tools/thread_safety.sh
      echo "== test.sh: lock-claim check done after ${SECONDS} s"
      # New inputs, not just the committed corpora ctest replays below;
      # two targets at a time, one per core.
      VEIL_FUZZ_JOBS=2 tools/fuzz.sh 10
      echo "== test.sh: fuzzing done after ${SECONDS} s"
      VEIL_SANITIZED_BUILD=build-fuzz "$0" --sanitize-core
      echo "== test.sh: sanitized core done after ${SECONDS} s"
    fi ;;
  --plain) mode="" ;;
  --sanitize|--sanitize-core) build=build-asan ;;
  -h|--help)
    sed -n '4,20p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  *) echo "test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
tools/check_layers.sh
tools/deps.sh
extra=(-DVEIL_WERROR=ON)
[[ $build == build-asan ]] && extra+=(-DVEIL_SANITIZE=ON)
# CI builds what a user or packager builds (-DCMAKE_BUILD_TYPE=Release:
# -O3, no debug information, a quarter of the compile time); developers
# keep RelWithDebInfo. The sanitized build above is RelWithDebInfo too.
type=RelWithDebInfo
[[ "${CI:-}" == true && $build == build ]] && type=Release
# Configured every time (cheap), so a build directory made without
# -Werror (tools/build.sh's) gets it here.
if [[ $mode == --sanitize-core && -n ${VEIL_SANITIZED_BUILD:-} ]]; then
  build=$VEIL_SANITIZED_BUILD  # configured sanitized by its maker (fuzz.sh)
else
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=$type "${extra[@]}" >/dev/null
fi
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
if [[ $mode == --sanitize-core ]]; then
  ninja -C "$build" "${core_tests[@]##*/}"
  for t in "${core_tests[@]}"; do
    echo "== sanitized: $t"
    # The differential seeds run a third of their steps here (the plain
    # suite runs them whole): ASan makes each step several times slower.
    VEIL_DIFFTEST_STEPS=${VEIL_DIFFTEST_STEPS:-300} "$build/$t" --gtest_brief=1
  done
  exit 0
fi
ninja -C "$build"
[[ -z $mode ]] && echo "== test.sh: $type build done after ${SECONDS} s"
cd "$build"
ctest --output-on-failure --timeout 900 -j2
