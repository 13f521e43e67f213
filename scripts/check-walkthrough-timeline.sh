#!/usr/bin/env bash
# Runs the walkthrough with PGHA_TIMELINE and checks that the Mermaid diagram it writes is
# the one committed in docs/walkthrough-timeline.md and shown in docs/events.md, modulo what
# changes from run to run: durations, ports, LSNs, the PostgreSQL minor version and the
# clone method (a copy of the template by default; pg_basebackup or the backup API).
#   scripts/check-walkthrough-timeline.sh <walkthrough binary>            # check
#   scripts/check-walkthrough-timeline.sh <walkthrough binary> --update   # rewrite both copies
# With PGHA_LOG=1 on the same run it also checks that stderr shows every step, with durations.
# Exits non-zero (with a diff) when a copy is stale. ctest runs it (docs.walkthrough_timeline).
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
walkthrough="$1"
doc="$src/docs/walkthrough-timeline.md"
readme="$src/docs/events.md"
tmp="$(mktemp -d "${TMPDIR:-/tmp}/pgha-timeline.XXXXXX")"
trap 'rm -rf "$tmp"' EXIT

if ! PGHA_LOG=1 PGHA_TIMELINE="$tmp/timeline.md" "$walkthrough" >"$tmp/walkthrough.log" 2>"$tmp/events.log"; then
  echo "the walkthrough failed; its output:"; cat "$tmp/walkthrough.log" "$tmp/events.log"; exit 1
fi
[ -s "$tmp/timeline.md" ] || { echo "the walkthrough wrote no $tmp/timeline.md (PGHA_TIMELINE)"; exit 1; }
# PGHA_LOG=1 shows every step on stderr, the timed ones with their durations.
missing=0
for step in "node1 create: .*\([0-9]+ ms\)" "node2 clone: .*\([0-9]+ ms\)" "node1 start: .*\([0-9]+ ms\)" \
            "node2 ready: streaming" "node1 stop: stopped \(fast\) \([0-9]+ ms\)" \
            "node2 promote: .*\([0-9]+ ms\)" "node2 timeline: timeline 1 -> 2" "node2 blocked: " \
            "node1 rejoin: .*\([0-9]+ ms\)" "node2 released: .*\([0-9]+ ms\)" \
            "node1 timeline: timeline 2 -> 3" "node2 rejoin: " "node1 destroy: "; do
  if ! grep -Eq "^pgha: \+[0-9]+\.[0-9]{3}s $step" "$tmp/events.log"; then
    echo "PGHA_LOG=1 printed no line matching '$step'"; missing=1
  fi
done
if [ "$missing" = 1 ]; then echo "stderr of the walkthrough with PGHA_LOG=1:"; cat "$tmp/events.log"; exit 1; fi

# The first ```mermaid block of a file.
mermaid_block() { awk '/^```mermaid$/ {on=1} on {print} on && /^```$/ {exit}' "$1"; }
normalize() {
  sed -E -e 's/[0-9]+(\.[0-9]+)? (us|ms|s)\b/<time>/g' \
         -e 's/port [0-9]+/port <port>/g' \
         -e 's#[0-9A-F]+/[0-9A-F]+#<lsn>#g' \
         -e 's/PostgreSQL [0-9]+\.[0-9]+/PostgreSQL <version>/g' \
         -e 's/with pg_basebackup|with the backup API|with a copy of its template/with <clone method>/g'
}

if [ "${2:-}" = "--update" ]; then
  block="$(mermaid_block "$tmp/timeline.md")"
  for f in "$doc" "$readme"; do
    BLOCK="$block" python3 - "$f" <<'PY'
import os, re, sys
p = sys.argv[1]
s = open(p).read()
new, n = re.subn(r"```mermaid\n.*?```\n", lambda m: os.environ["BLOCK"] + "\n", s, count=1, flags=re.S)
if n != 1:
    sys.exit(p + ": no ```mermaid block to update")
open(p, "w").write(new)
PY
  done
  echo "updated $doc and $readme"
  exit 0
fi

status=0
mermaid_block "$tmp/timeline.md" | normalize >"$tmp/now"
for f in "$doc" "$readme"; do
  mermaid_block "$f" | normalize >"$tmp/committed"
  if ! diff -u "$tmp/committed" "$tmp/now" >"$tmp/diff"; then
    echo "$f: the walkthrough's Mermaid timeline changed (--- committed, +++ this run);"
    echo "update it with: bash scripts/check-walkthrough-timeline.sh $walkthrough --update"
    cat "$tmp/diff"
    status=1
  fi
done
[ "$status" = 0 ] && echo "the committed walkthrough timeline matches this run ($(grep -c . "$tmp/now") lines)"
exit "$status"
