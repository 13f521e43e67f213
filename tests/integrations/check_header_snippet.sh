#!/usr/bin/env bash
# check_header_snippet.sh HEADER SNIPPET_CPP: every code line of the usage comment at the top
# of HEADER (the first run of lines "//   <code>") stands, line for line, in SNIPPET_CPP,
# which the build compiles. Exits 1 naming the lines that do not.
set -euo pipefail
python3 - "$1" "$2" <<'PY'
import sys
header, snippet = sys.argv[1], sys.argv[2]
code = [l.strip() for l in open(snippet).read().split("\n")]
usage = []
for line in open(header).read().split("\n"):
    if line.startswith("//   "):
        usage.append(line[5:].strip())
    elif usage or not line.startswith("//"):
        break
missing = [l for l in usage if l not in code]
for l in missing:
    print(f"{header}: usage line not compiled by {snippet}: {l!r}")
if not usage:
    print(f"{header}: no usage lines found"); sys.exit(1)
if missing:
    sys.exit(1)
print(f"all {len(usage)} usage lines of {header} stand in {snippet}")
PY
