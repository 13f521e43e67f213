// tests/integrations/catch2_catch_first_only.cpp: the one pgha TU of pgha_catch2_catch_first
// (the other is the runner, tests/main.cpp, which does not include pgha). It includes Catch2
// first with no macro. Catch2 v3: the listener is registered here as anywhere. Catch2 v2:
// no TU of this program can declare the listener, so pgha says so on stderr at start-up.
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_test_macros.hpp>
#else
#include <catch2/catch.hpp>
#endif
#include <pgha/catch2.hpp>

#include <string>

#include "subprocess.hpp"

TEST_CASE("log demo: fails with a node", "[.logdemo]") {
  pgha::TempPrimary p;
  CHECK(p.query("SELECT 1").value(0, 0) == "2");
}

TEST_CASE("a program whose only pgha TU includes Catch2 first", "[catch2-fixtures]") {
  pgha_test::Output o = pgha_test::run_twice(pgha_test::self_cmd({"[logdemo]"}));
  INFO(pgha_test::explain({}, o));
  CHECK(o.exit_code != 0);
  CHECK(o.out.find("pgha:") == std::string::npos);
#if PGHA_DETAIL_CATCH2_V3
  CHECK(o.err.find("pgha: server logs of the nodes") != std::string::npos);
  CHECK(o.err.find("ready to accept connections") != std::string::npos);
  CHECK(o.err.find("pgha: event timeline of the failed test") != std::string::npos);
  CHECK(o.err.find(" start: started as primary") != std::string::npos);
  CHECK(o.err.find("pgha: note:") == std::string::npos);
#else
  CHECK(o.err.find("pgha: note: failing test cases will not show server logs") !=
        std::string::npos);
  CHECK(o.err.find("pgha: server logs") == std::string::npos);
  CHECK(o.err.find("pgha: event timeline") == std::string::npos);
#endif
}
