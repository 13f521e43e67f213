#!/usr/bin/env bash
# check_skip.sh BINARY CTEST: proves how skips are reported, on Catch2 v2 and v3 alike, by
# running the hidden test cases of pgha_skip_selftest (tests/skip_selftest.cpp):
#  1. the whole [skipdemo] group in one process: exit code 4, "SKIPPED" with the reason,
#     the test case after the skip still runs, and the closing "1 of 3 test cases skipped";
#  2. the skipping test case alone (as ctest runs it): exit code 4;
#  3. a real ctest run over a generated CTestTestfile with SKIP_RETURN_CODE 4: the skipping
#     test case is reported Skipped (not Passed) and the passing one Passed;
#  4. four failed assertions exit non-zero and not 4 (Catch2's own code would be 4);
#  5. a failure followed by a skip is a failure (non-zero, not 4).
# Prints one line per check; exits 1 if any failed.
set -uo pipefail
bin=$(realpath "$1")
ctest=$2
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
failures=0
check() {  # <description> <condition...>
  local what=$1; shift
  if "$@"; then echo "ok: $what"; else echo "FAILED: $what"; failures=$((failures + 1)); fi
}
run() {  # <name> <args...>: output in $tmp/<name>.out, exit code in rc_<name>
  local name=$1; shift
  "$bin" "$@" >"$tmp/$name.out" 2>&1
  printf -v "rc_$name" '%s' "$?"
}

run group "[skipdemo]"
check "whole group exits 4 (got $rc_group)" test "$rc_group" -eq 4
check "output says SKIPPED" grep -q "SKIPPED" "$tmp/group.out"
check "output gives the reason" grep -q "deliberate skip, reason 42" "$tmp/group.out"
check "the test case after the skip ran" grep -q "skipdemo: ran after the skip" "$tmp/group.out"
check "closing line counts the skip" grep -q "pgha: 1 of 3 test cases skipped" "$tmp/group.out"
check "PGHA_SKIP ended the test case" bash -c "! grep -q 'PGHA_SKIP returned' '$tmp/group.out'"

run single "skipdemo: skips"
check "the skipping test case alone exits 4 (got $rc_single)" test "$rc_single" -eq 4

mkdir "$tmp/ctest"
cat >"$tmp/ctest/CTestTestfile.cmake" <<CTEST
add_test(demo_skip "$bin" "skipdemo: skips")
set_tests_properties(demo_skip PROPERTIES SKIP_RETURN_CODE 4)
add_test(demo_pass "$bin" "skipdemo: passes before the skip")
set_tests_properties(demo_pass PROPERTIES SKIP_RETURN_CODE 4)
CTEST
(cd "$tmp/ctest" && "$ctest" --no-tests=error) >"$tmp/ctest.out" 2>&1
check "ctest reports the skip as Skipped" grep -Eq "demo_skip \.+\*+Skipped" "$tmp/ctest.out"
check "ctest reports the passing test as Passed" grep -Eq "demo_pass \.+ +Passed" "$tmp/ctest.out"
check "ctest does not report the skip as Passed" bash -c "! grep -Eq 'demo_skip \.+ +Passed' '$tmp/ctest.out'"

run four "[fourfailures]"
check "four failed assertions exit non-zero, not 4 (got $rc_four)" test "$rc_four" -ne 0 -a "$rc_four" -ne 4
run failskip "[failskip]"
check "a failure before a skip fails (got $rc_failskip)" test "$rc_failskip" -ne 0 -a "$rc_failskip" -ne 4

if [ "$failures" -ne 0 ]; then
  for f in "$tmp"/*.out; do echo "--- $(basename "$f")"; cat "$f"; done
  echo "check_skip: $failures check(s) failed"
  exit 1
fi
echo "check_skip: all checks passed"
