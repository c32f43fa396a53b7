#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# tools/test.sh [--sanitize]
#
# Builds veil and runs every test: the layering check, then ctest (unit,
# differential, protocol, integration, fuzz-corpus replay). Exits non-zero
# on any failure. --sanitize builds into build-asan/ with AddressSanitizer
# and UndefinedBehaviorSanitizer and runs the same suite there. Under CI
# (CI=true) both run: first the plain suite, then the sanitized one.
set -euo pipefail
cd "$(dirname "$0")/.."
build=build
case "${1:-}" in
  "")
    if [[ "${CI:-}" == true ]]; then
      "$0" --plain
      exec "$0" --sanitize
    fi ;;
  --plain) ;;
  --sanitize) build=build-asan ;;
  -h|--help)
    sed -n '4,10p' "$0" | sed 's/^# \{0,1\}//'
    exit 0 ;;
  *) echo "test.sh: unknown option '$1' (see --help)" >&2; exit 2 ;;
esac
tools/check_layers.sh
tools/deps.sh
if [[ ! -f $build/build.ninja ]]; then
  extra=()
  [[ $build == build-asan ]] && extra=(-DVEIL_SANITIZE=ON)
  cmake -S . -B "$build" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo "${extra[@]}" >/dev/null
fi
ninja -C "$build"
cd "$build"
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
ctest --output-on-failure --timeout 900 -j2
