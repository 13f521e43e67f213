#!/usr/bin/env bash
# check-doc-snippets.sh: every ```cpp block of README.md and docs/*.md stands, line for line
# (leading and trailing blanks aside, blank lines skipped), in tests/snippets.cpp, which
# pgha_tests compiles and ctest runs. So no snippet in the docs can stop compiling or start
# lying without a red test. ctest runs this script (docs.snippets). Exits 1 naming each block
# that is missing, with the first line that differs.
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
python3 - "$src" <<'PY'
import glob, os, sys
src = sys.argv[1]
def norm(lines):
    return [l.strip() for l in lines if l.strip()]
code = norm(open(os.path.join(src, "tests/snippets.cpp")).read().split("\n"))
def contains(hay, needle):
    n = len(needle)
    return any(hay[i:i + n] == needle for i in range(len(hay) - n + 1))
def best_prefix(hay, needle):
    best = 0
    for i in range(len(hay)):
        k = 0
        while k < len(needle) and i + k < len(hay) and hay[i + k] == needle[k]:
            k += 1
        best = max(best, k)
    return best
docs = [os.path.join(src, "README.md")] + sorted(glob.glob(os.path.join(src, "docs", "*.md")))
blocks = bad = 0
for path in docs:
    lines = open(path).read().split("\n")
    i = 0
    while i < len(lines):
        if lines[i].strip() == "```cpp":
            start = i + 1
            j = start
            while j < len(lines) and lines[j].strip() != "```":
                j += 1
            block = norm(lines[start:j])
            blocks += 1
            if block and not contains(code, block):
                bad += 1
                k = best_prefix(code, block)
                rel = os.path.relpath(path, src)
                print(f"{rel}:{start}: this C++ block is not in tests/snippets.cpp; "
                      f"first line that differs: {block[min(k, len(block) - 1)]!r}")
            i = j
        i += 1
if bad:
    print(f"{bad} of {blocks} C++ blocks in the docs are not compiled by tests/snippets.cpp")
    sys.exit(1)
print(f"all {blocks} C++ blocks of README.md and docs/ stand in tests/snippets.cpp")
PY
