#!/usr/bin/env bash
# Compile-time rows of issue 22, measured side by side in one run: user+sys CPU seconds of
# `g++ -std=c++17 -O2 -c` (the compiler's children included), best of N runs (default 1;
# PGHA_BENCH_RUNS=3 on a quiet machine).
#   bash bench/compile_time.sh [--runner]   (--runner also times Catch2 v2's runner TU, ~20 s)
# Prints a Markdown table. It checks no thresholds (the rows are the issue's targets).
set -euo pipefail
src="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$src/bench/compile_time"
cxx="${CXX:-g++}"
runs="${PGHA_BENCH_RUNS:-1}"
pq="$(pkg-config --cflags libpq 2>/dev/null || echo -isystem /usr/include/postgresql)"
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
inc="-I$src/include"

cpu() {  # <command...>: best user+sys CPU seconds over $runs runs
  local best="" t
  for ((i = 0; i < runs; i++)); do
    /usr/bin/time -f "%U %S" -o "$tmp/t" "$@" >/dev/null 2>"$tmp/err" || { cat "$tmp/err" >&2; return 1; }
    t="$(awk '{printf "%.2f", $1 + $2}' "$tmp/t")"
    if [[ -z "$best" ]] || awk -v a="$t" -v b="$best" 'BEGIN{exit !(a < b)}'; then best="$t"; fi
  done
  echo "$best"
}
row() { printf '| %s | %s s |\n' "$1" "$2"; }

# shellcheck disable=SC2086
{
floor=$(cpu "$cxx" -std=c++17 -O2 -c $pq "$dir/floor.cpp" -o "$tmp/a.o")
compiled=$(cpu "$cxx" -std=c++17 -O2 -c $pq $inc -DPGHA_SEPARATE_COMPILATION "$dir/pgha_tu.cpp" -o "$tmp/b.o")
header_only=$(cpu "$cxx" -std=c++17 -O2 -c $pq $inc "$dir/pgha_tu.cpp" -o "$tmp/c.o")
header_only_O0=$(cpu "$cxx" -std=c++17 -O0 -g -c $pq $inc "$dir/pgha_tu.cpp" -o "$tmp/d.o")
echo '#include <pgha/pgha.hpp>' >"$tmp/umbrella.cpp"
syntax=$(cpu "$cxx" -std=c++17 -fsyntax-only $pq $inc "$tmp/umbrella.cpp")
syntax_sep=$(cpu "$cxx" -std=c++17 -fsyntax-only $pq $inc -DPGHA_SEPARATE_COMPILATION "$tmp/umbrella.cpp")
library=$(cpu "$cxx" -std=c++17 -O2 -c $pq $inc -DPGHA_SEPARATE_COMPILATION "$src/src/pgha_compiled.cpp" -o "$tmp/e.o")
runner=0
if [[ "${1:-}" == "--runner" ]]; then
  runner=$(cpu "$cxx" -std=c++17 -O2 -c "$dir/runner.cpp" -o "$tmp/f.o")
fi
}

echo "| compile time, $("$cxx" --version | head -1), user+sys CPU, best of $runs | |"
echo "| --- | ---: |"
row "floor: a Catch2 v2 test TU that opens a libpq connection, \`-O2 -c\`" "$floor"
row "the same TU with \`<pgha/pgha.hpp>\`, a pair, a FailoverGuard, a query: **compiled mode** (\`pgha::compiled\`)" "$compiled"
row "the same TU **header-only**, \`-O2 -c\`" "$header_only"
row "the same TU header-only, \`-O0 -g\`" "$header_only_O0"
row "\`#include <pgha/pgha.hpp>\` \`-fsyntax-only\`, header-only" "$syntax"
row "\`#include <pgha/pgha.hpp>\` \`-fsyntax-only\`, compiled mode" "$syntax_sep"
row "pgha::compiled's library TU (\`src/pgha_compiled.cpp\`, once per build)" "$library"
[[ "$runner" != 0 ]] && row "Catch2 v2's runner TU (\`CATCH_CONFIG_MAIN\`, once per program, both modes)" "$runner"
awk -v f="$floor" -v c="$compiled" -v h="$header_only" -v l="$library" -v r="$runner" 'BEGIN {
  printf "| compiled TU / floor (target <= 2) | %.2fx |\n", c / f
  printf "| suite of 10 such files + a runner: header-only %.1f s, compiled %.1f s (incl. the library) | %.1fx faster |\n",
         10 * h + r, 10 * c + l + r, (10 * h + r) / (10 * c + l + r)
}'
[[ "$runner" == 0 ]] && echo "(runner not timed: pass --runner; the suite rows then include it)"
exit 0
