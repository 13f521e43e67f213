#!/usr/bin/env bash
# run-examples.sh: builds every example and runs each one; an example exits non-zero
# when the behaviour it demonstrates did not happen. Prints "N passed, N failed".
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/bootstrap.sh >/dev/null
build=${PGHA_BUILD_DIR:-build}
cmake -S . -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" >/dev/null
passed=0 failed=0
for src in examples/*.cpp; do
  name=$(basename "$src" .cpp)
  log=$(mktemp)
  if "$build/examples/$name" >"$log" 2>&1; then
    echo "example $name: passed"; passed=$((passed + 1))
  else
    echo "example $name: FAILED"; tail -30 "$log"; failed=$((failed + 1))
  fi
  rm -f "$log"
done
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
