#!/usr/bin/env bash
# catch2-v3-dir.sh: prints the CMake package directory of the Catch2 v3 that
# `scripts/bootstrap.sh --ci` unpacked beside Debian's v2 (pass it as -DCatch2_DIR=...).
# Exits 1 with a message on stderr when it is not there.
set -euo pipefail
root=${PGHA_CATCH2_V3_DIR:-/opt/pgha/catch2-v3}
for dir in "$root"/usr/lib/*/cmake/Catch2 "$root"/usr/lib/cmake/Catch2 "$root"/usr/share/cmake/Catch2; do
  if [ -f "$dir/Catch2Config.cmake" ]; then
    printf '%s\n' "$dir"
    exit 0
  fi
done
echo "catch2-v3-dir: no Catch2 v3 under $root (run: bash scripts/bootstrap.sh --ci)" >&2
exit 1
