#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Rejects #includes that point up the layer stack of DESIGN.md:
#   base <- vfs <- {overlay, gofer/client} <- sentry <- tools
#   base <- lisafs <- gofer/server, gofer/client
# CMake enforces the same at link time; this catches header-only leaks.
set -euo pipefail
cd "$(dirname "$0")/.."

# layer -> the top-level directories it may include from (besides itself).
declare -A allowed=(
  [base]=""
  [vfs]="base"
  [lisafs]="base"
  [gofer/server]="base lisafs"
  [gofer/client]="base lisafs vfs"
  [overlay]="base vfs"
  # The sentry reaches host files only through the gofer client; the
  # server is another process's code (DESIGN.md).
  [sentry]="base vfs overlay lisafs gofer/client"
)

status=0
for layer in "${!allowed[@]}"; do
  [[ -d "$layer" ]] || continue
  while IFS= read -r line; do
    file=${line%%:*}
    inc=$(sed -E 's/.*#include "([^"]+)".*/\1/' <<<"$line")
    top=${inc%%/*}
    [[ "$inc" == "$layer"/* ]] && continue
    ok=0
    for a in ${allowed[$layer]}; do
      [[ "$inc" == "$a"/* ]] && ok=1
    done
    if [[ $ok -eq 0 ]]; then
      echo "check_layers: $file includes \"$inc\": $layer may not depend on $top" >&2
      status=1
    fi
  done < <(grep -rHn --include='*.h' --include='*.cc' '#include "' "$layer" || true)
done
[[ $status -eq 0 ]] && echo "check_layers: ok"
exit $status
