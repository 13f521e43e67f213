#!/usr/bin/env bash
# run-walkthrough.sh: installs what is missing, builds pgha's examples and runs the
# manual-failover walkthrough (both failover rounds) against real PostgreSQL servers.
# PGHA_PG_VERSION=N picks the PostgreSQL major version, as in scripts/run-tests.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >&2
build=${PGHA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target walkthrough >&2
if [ -n "${PGHA_PG_VERSION:-}" ] && [ ! -x "/usr/lib/postgresql/$PGHA_PG_VERSION/bin/postgres" ]; then
  PGHA_PG_BINDIR=$(bash scripts/fetch-pg.sh "$PGHA_PG_VERSION")
  export PGHA_PG_BINDIR
elif [ -n "${PGHA_PG_VERSION:-}" ]; then
  export PGHA_PG_BINDIR="/usr/lib/postgresql/$PGHA_PG_VERSION/bin"
fi
"$build/examples/walkthrough"
