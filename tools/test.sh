#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Builds veil and runs every test: the layering check, then ctest (unit,
# differential, protocol, integration, fuzz-corpus replay). Exits non-zero
# on any failure.
set -euo pipefail
cd "$(dirname "$0")/.."
tools/check_layers.sh
tools/build.sh
cd build
ctest --output-on-failure --timeout 900 -j2
