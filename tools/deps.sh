#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
#
# Installs the Debian 12 packages veil needs to build, test and demo.
# Idempotent and silent when everything is present. Run as root.
set -euo pipefail

packages=(
  # build
  cmake ninja-build g++ pkg-config
  libfuse3-dev fuse3 liblz4-dev libxxhash-dev libboost-filesystem-dev
  libgtest-dev libgmock-dev libseccomp-dev
  # fuzzing (clang's libFuzzer)
  clang libclang-rt-14-dev
  # real programs the integration tests and the demo run
  busybox-static sqlite3 python3 tar coreutils diffutils findutils
  # a database server for do_database_test (PostgreSQL, run inside veil do)
  postgresql
)

missing=()
for p in "${packages[@]}"; do
  status=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null || true)
  [[ "$status" == "install ok installed" ]] || missing+=("$p")
done
[[ ${#missing[@]} -eq 0 ]] && exit 0

if [[ $(id -u) -ne 0 ]]; then
  echo "deps.sh: missing packages: ${missing[*]}; run as root to install them" >&2
  exit 1
fi
echo "deps.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
