// tests/integrations/catch2_fixtures.cpp: pgha/catch2.hpp against real servers. One of the
// three TUs of pgha_catch2_fixtures: this one includes <pgha/catch2.hpp> first (and alone);
// catch2_failure_logs.cpp includes Catch2 first; tests/main.cpp is the runner.
#include <pgha/catch2.hpp>

#include <chrono>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace {

bool has_table(pgha::Node& n, const std::string& name) {
  return n.query("SELECT to_regclass('public." + name + "') IS NOT NULL").value(0, 0) == "t";
}

void require_healthy(pgha::SharedCluster& c) {
  pgha::Node& p = c.primary();
  pgha::Node& s = c.standby();
  REQUIRE(&p != &s);
  REQUIRE(p.query("SELECT pg_is_in_recovery()").value(0, 0) == "f");
  REQUIRE(s.query("SELECT pg_is_in_recovery()").value(0, 0) == "t");
  REQUIRE(p.query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                  "AND sync_state = 'sync'").value(0, 0) == "1");
  // A commit on the primary is applied on the standby when it returns (remote_apply).
  p.execute("CREATE TABLE probe (id int)");
  p.execute("INSERT INTO probe VALUES (42)");
  REQUIRE(s.query("SELECT id FROM probe").value(0, 0) == "42");
  p.execute("DROP TABLE probe");
}

}  // namespace

TEST_CASE_METHOD(pgha::catch2::PrimaryFixture, "PrimaryFixture gives a writable primary",
                 "[catch2-fixtures]") {
  REQUIRE(primary().query("SELECT pg_is_in_recovery()").value(0, 0) == "f");
  primary().execute("CREATE TABLE t (id int)");
  primary().execute("INSERT INTO t VALUES (1), (2)");
  REQUIRE(primary().query("SELECT count(*) FROM t").value(0, 0) == "2");
  // conninfo() defaults: superuser postgres, database postgres.
  CHECK(primary().conninfo().find("user='postgres'") != std::string::npos);
  CHECK(primary().conninfo().find("dbname='postgres'") != std::string::npos);  // values are quoted
  pgha::Connection c = primary().connect();
  REQUIRE(c.query("SELECT current_user, current_database()").value(0, 0) == "postgres");
  REQUIRE(c.query("SELECT current_user, current_database()").value(0, 1) == "postgres");
}

TEST_CASE_METHOD(pgha::catch2::ClusterFixture<2>, "ClusterFixture<2> has two sync standbys",
                 "[catch2-fixtures]") {
  STATIC_REQUIRE(standby_count() == 2);  // N standbys, N + 1 nodes
  REQUIRE_THROWS_AS(standby(2), std::out_of_range);
  pgha::Result r = primary().query(
      "SELECT application_name, state, sync_state FROM pg_stat_replication "
      "ORDER BY application_name");
  REQUIRE(r.rows() == 2);
  CHECK(r.value(0, 0) == "standby1");
  CHECK(r.value(1, 0) == "standby2");
  for (int i = 0; i < 2; ++i) {
    CHECK(r.value(i, 1) == "streaming");
    CHECK(r.value(i, 2) == "sync");
  }
  CHECK(primary().query("SHOW synchronous_standby_names").value(0, 0) ==
        "FIRST 2 (standby1, standby2, primary)");
  for (std::size_t i = 0; i < standby_count(); ++i)
    REQUIRE(standby(i).query("SELECT pg_is_in_recovery()").value(0, 0) == "t");
  // remote_apply on both: a returned commit is visible on each standby at once.
  primary().execute("CREATE TABLE t (id int)");
  primary().execute("INSERT INTO t VALUES (7)");
  for (std::size_t i = 0; i < standby_count(); ++i)
    REQUIRE(standby(i).query("SELECT id FROM t").value(0, 0) == "7");
}

TEST_CASE_METHOD(pgha::catch2::ClusterFixture<1>, "ClusterFixture<1> fails over and rejoins",
                 "[catch2-fixtures]") {
  primary().execute("CREATE TABLE t (id int)");
  {
    pgha::FailoverGuard g(primary(), standby());
    REQUIRE(standby().role() == pgha::Role::Primary);
    REQUIRE(primary().role() == pgha::Role::Stopped);
  }
  REQUIRE(primary().role() == pgha::Role::Standby);
  // The rejoined old primary ("primary") is listed, so it is the new primary's sync standby.
  REQUIRE(standby().query("SELECT application_name, sync_state FROM pg_stat_replication")
              .value(0, 1) == "sync");
  standby().execute("INSERT INTO t VALUES (1)");  // returns: remote_apply on "primary"
  REQUIRE(primary().query("SELECT count(*) FROM t").value(0, 0) == "1");
}

// Issue 20: the fixture lists the sync names as a user setting, which used to be written
// after pgha's sync rule, so set_sync_mode(Async) left them set and commits kept waiting.
// The call now clears them on the server, and its event quotes what the server has.
TEST_CASE_METHOD(pgha::catch2::ClusterFixture<1>,
                 "ClusterFixture<1>: set_sync_mode(Async) clears the sync standby, and back",
                 "[catch2-fixtures]") {
  std::mutex mu;
  std::vector<std::string> said;  // the primary's sync_mode events
  std::string name = primary().name();
  pgha::set_log_sink([&](const pgha::Event& e) {
    std::lock_guard<std::mutex> l(mu);
    if (e.node == name && e.kind == "sync_mode") said.push_back(e.message);
  });
  primary().set_sync_mode(pgha::SyncMode::Async);
  CHECK(primary().query("SHOW synchronous_standby_names").value(0, 0) == "");
  // A commit no longer waits for the standby: with its walreceiver frozen it still returns.
  standby().freeze_walreceiver();
  CHECK_NOTHROW(primary().execute("CREATE TABLE t (id int)"));
  standby().thaw_walreceiver();
  primary().set_sync_mode(pgha::SyncMode::RemoteApply);
  CHECK(primary().query("SHOW synchronous_standby_names").value(0, 0) == "FIRST 1 (standby1, primary)");
  primary().execute("INSERT INTO t VALUES (1)");  // remote_apply again: visible on the standby
  CHECK(standby().query("SELECT count(*) FROM t").value(0, 0) == "1");
  pgha::set_log_sink(nullptr);
  REQUIRE(said.size() == 2);
  INFO(said[0] << "\n" << said[1]);
  CHECK(said[0].find("synchronous_standby_names = ''") != std::string::npos);
  CHECK(said[1].find("synchronous_standby_names = 'FIRST 1 (standby1, primary)'") != std::string::npos);
}

// A and B are hidden: they only mean something in one process, A then B. ctest runs each
// test case in its own process, so the next test case runs them both in a subprocess.
TEST_CASE("shared cluster A: create a table and fail over without restoring", "[.shared-ab]") {
  auto& c = pgha::catch2::shared_cluster();
  c.reset();
  pgha::Node& p = c.primary();
  pgha::Node& s = c.standby();
  p.execute("CREATE TABLE leftover (id int)");
  p.execute("CREATE SCHEMA extra");
  p.execute("CREATE DATABASE scratch");
  REQUIRE(has_table(s, "leftover"));
  p.stop(pgha::StopMode::Immediate);  // a crash-like failover, left broken on purpose
  s.promote();
  REQUIRE(s.role() == pgha::Role::Primary);
  REQUIRE(p.role() == pgha::Role::Stopped);
}

TEST_CASE("shared cluster B: after reset() the table is gone and the pair is healthy",
          "[.shared-ab]") {
  auto& c = pgha::catch2::shared_cluster();
  c.reset();
  // The same cluster as in A: A promoted node(1), and reset() kept it as the primary.
  REQUIRE(&c.primary() == &c.node(1));
  REQUIRE_FALSE(has_table(c.primary(), "leftover"));
  REQUIRE_FALSE(has_table(c.standby(), "leftover"));
  REQUIRE(c.primary().query("SELECT count(*) FROM pg_namespace WHERE nspname = 'extra'")
              .value(0, 0) == "0");
  REQUIRE(c.primary().query("SELECT count(*) FROM pg_database WHERE datname = 'scratch'")
              .value(0, 0) == "0");
  require_healthy(c);
}

TEST_CASE("shared cluster: A then B in one process carries state and reset() repairs it",
          "[catch2-fixtures][shared]") {
  int code = -1;
  std::string out = pgha_test::run_merged(
      pgha_test::self_cmd({"--order", "decl", "[shared-ab]"}), code);
  INFO(out);
  CHECK(code == 0);
  CHECK(out.find("All tests passed") != std::string::npos);
  CHECK(out.find("in 2 test cases") != std::string::npos);
  // B alone fails: it needs what A left behind, so the passing run above did carry it.
  out = pgha_test::run_merged(
      pgha_test::self_cmd({"shared cluster B: after reset() the table is gone and the pair is healthy"}),
      code);
  INFO(out);
  CHECK(code != 0);
  CHECK(out.find("1 failed") != std::string::npos);
}

TEST_CASE("shared cluster: reset() repairs every broken topology in one process",
          "[catch2-fixtures][shared]") {
  auto& c = pgha::catch2::shared_cluster();
  c.reset();
  require_healthy(c);
  SECTION("clean FailoverGuard") {
    c.primary().execute("CREATE TABLE leftover (id int)");
    pgha::FailoverGuard g(c.primary(), c.standby());
  }
  SECTION("primary crashed, standby promoted") {
    c.primary().execute("CREATE TABLE leftover (id int)");
    pgha::Node& old = c.primary();
    pgha::Node& s = c.standby();
    old.stop(pgha::StopMode::Crash);
    s.promote();
  }
  SECTION("standby stopped") { c.standby().stop(); }
  SECTION("split brain: standby promoted while primary runs") {
    pgha::Node& p = c.primary();
    c.standby().promote();
    p.execute("BEGIN; SET LOCAL synchronous_commit = local; CREATE TABLE leftover (id int); COMMIT");
  }
  SECTION("async mode left on") { c.primary().set_sync_mode(pgha::SyncMode::Async); }
  c.reset();
  REQUIRE_FALSE(has_table(c.primary(), "leftover"));
  require_healthy(c);
  REQUIRE(c.primary().query("SHOW synchronous_commit").value(0, 0) == "remote_apply");
}

// What reset() costs is a bench row (bench/bench.cpp, "SharedCluster::reset()"); this test
// checks that reset after reset, and after failovers, leaves a healthy pair.
TEST_CASE("shared cluster: repeated reset() keeps the pair healthy", "[catch2-fixtures]") {
  auto& c = pgha::catch2::shared_cluster();
  c.reset();
  for (int i = 0; i < 3; ++i) {
    c.primary().execute("CREATE TABLE t (id int)");
    c.reset();
    REQUIRE_FALSE(has_table(c.primary(), "t"));
  }
  for (int i = 0; i < 3; ++i) {
    pgha::Node& p = c.primary();
    p.stop(pgha::StopMode::Fast);
    c.standby().promote();
    c.reset();
    require_healthy(c);
  }
}

TEST_CASE("passing test cases print no server log", "[catch2-fixtures]") {
  pgha_test::Output o =
      pgha_test::run_twice(pgha_test::self_cmd({"PrimaryFixture gives a writable primary"}));
  INFO(o.merged);
  CHECK(o.exit_code == 0);
  CHECK(o.merged.find("pgha: server logs") == std::string::npos);
  CHECK(o.merged.find("pgha: event timeline") == std::string::npos);
  CHECK(o.merged.find("---- pgha: ") == std::string::npos);
}
