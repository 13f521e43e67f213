// tests/integrations/catch2_failure_logs.cpp: server logs of failing test cases. This TU
// includes Catch2 itself first, with no macro, and pgha/catch2.hpp after it: a v2 TU that
// cannot see Catch2's listener API (the listener comes from catch2_fixtures.cpp).
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_test_macros.hpp>
#else
#include <catch2/catch.hpp>
#endif
#include <pgha/catch2.hpp>

#include <string>
#include <vector>

#include "subprocess.hpp"

// Hidden: fail on purpose; the test cases below run them in a subprocess.
TEST_CASE("log demo: a plain TEST_CASE with its own nodes fails", "[.logdemo]") {
  int gone_port = 0;
  {
    pgha::TempPrimary gone;  // destroyed before the failure: its log is copied as it goes
    gone_port = gone.port();
    CHECK_THROWS(gone.execute("SELECT pgha_gone_marker()"));
  }
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  CHECK_THROWS(p.execute("SELECT pgha_primary_marker()"));
  CHECK_THROWS(s.query("SELECT pgha_standby_marker()"));
  pgha::annotate("orders-service", "pgha_annotate_marker: retrying after 57P01");
  INFO("pgha-demo ports: primary=" << p.port() << " standby=" << s.port()
                                   << " gone=" << gone_port);
  CHECK(p.query("SELECT 1").value(0, 0) == "2");
}

TEST_CASE("log demo: an exception escapes a fixture test case", "[.logdemo2]") {
  pgha::catch2::PrimaryFixture f;
  f.primary().execute("SELECT * FROM no_such_table");
}

TEST_CASE("a failing plain TEST_CASE prints its nodes' logs on stderr after the failure",
          "[catch2-fixtures]") {
  pgha_test::Output o = pgha_test::run_twice(pgha_test::self_cmd({"[logdemo]"}));
  std::vector<std::string> problems = pgha_test::check_demo_report(o);
  INFO(pgha_test::explain(problems, o));
  CHECK(problems.empty());
}

TEST_CASE("an exception escaping a test case prints the logs after Catch2's report",
          "[catch2-fixtures]") {
  pgha_test::Output o = pgha_test::run_twice(pgha_test::self_cmd({"[logdemo2]"}));
  INFO(pgha_test::explain({}, o));
  CHECK(o.exit_code != 0);
  CHECK(o.out.find("pgha: server logs") == std::string::npos);
  std::size_t logs = o.err.find("pgha: server logs");
  REQUIRE(logs != std::string::npos);
  // The server's own words about the failed statement, in the destroyed node's section.
  CHECK(o.err.find("destroyed during the test", logs) != std::string::npos);
  CHECK(o.err.find("relation \"no_such_table\" does not exist", logs) != std::string::npos);
  std::size_t report = o.merged.find("due to unexpected exception");
  CHECK(report != std::string::npos);
  CHECK(report < o.merged.find("pgha: server logs"));
}

TEST_CASE("with -r junit stdout holds only the XML report and the logs go to stderr",
          "[catch2-fixtures]") {
  pgha_test::Output o = pgha_test::run_twice(pgha_test::self_cmd({"[logdemo]", "-r", "junit"}));
  INFO(pgha_test::explain({}, o));
  CHECK(o.exit_code != 0);
  CHECK(o.out.rfind("<?xml", 0) == 0);
  CHECK(o.out.find("</testsuites>") != std::string::npos);
  CHECK(o.out.find("pgha:") == std::string::npos);
  CHECK(o.out.find("pgha_primary_marker") == std::string::npos);
  CHECK(o.err.find("pgha: server logs of the nodes") != std::string::npos);
  CHECK(o.err.find("pgha_primary_marker") != std::string::npos);
}
