// tests/skip_selftest.cpp: test cases for tests/check_skip.sh, which runs this binary and
// checks how PGHA_SKIP is reported (exit code 4, "SKIPPED: <reason>", the run going on past a
// skip, ctest's "Skipped"). Hidden ([.]): they run only when named, never in the suite.
#include <iostream>

#include "catch.hpp"

TEST_CASE("skipdemo: passes before the skip", "[.][skipdemo]") { CHECK(1 + 1 == 2); }

TEST_CASE("skipdemo: skips", "[.][skipdemo]") {
  PGHA_SKIP("deliberate skip, reason " << 42);
  FAIL("PGHA_SKIP returned instead of ending the test case");
}

TEST_CASE("skipdemo: runs after the skip", "[.][skipdemo]") {
  std::cout << "skipdemo: ran after the skip" << std::endl;
  CHECK(2 + 2 == 4);
}

// Four failed assertions: Catch2 itself would exit with 4, which ctest would take for a skip.
TEST_CASE("skipdemo: four failures", "[.][fourfailures]") {
  CHECK(1 == 2);
  CHECK(1 == 3);
  CHECK(1 == 4);
  CHECK(1 == 5);
}

// A failure before a skip is a failure.
TEST_CASE("skipdemo: fails, then skips", "[.][failskip]") {
  CHECK(1 == 2);
  PGHA_SKIP("skip after a failure");
}
