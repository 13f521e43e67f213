// tests/integrations/gtest_fixtures.cpp: pgha/gtest.hpp against real servers.
#include <pgha/gtest.hpp>

#include <mutex>
#include <string>
#include <vector>

#include "subprocess.hpp"

namespace {

bool has_table(pgha::Node& n, const std::string& name) {
  return n.query("SELECT to_regclass('public." + name + "') IS NOT NULL").value(0, 0) == "t";
}

}  // namespace

using PrimaryTest = pgha::gtest::PrimaryTest;
using ClusterTest = pgha::gtest::ClusterTest;
using SharedClusterTest = pgha::gtest::SharedClusterTest;

TEST_F(PrimaryTest, IsAWritablePrimary) {
  EXPECT_EQ(primary().query("SELECT pg_is_in_recovery()").value(0, 0), "f");
  primary().execute("CREATE TABLE t (id int)");
  primary().execute("INSERT INTO t VALUES (1)");
  EXPECT_EQ(primary().query("SELECT count(*) FROM t").value(0, 0), "1");
  // conninfo() defaults: superuser postgres, database postgres.
  pgha::Connection c = primary().connect();
  EXPECT_EQ(c.query("SELECT current_user").value(0, 0), "postgres");
  EXPECT_EQ(c.query("SELECT current_database()").value(0, 0), "postgres");
}

TEST_F(ClusterTest, StandbyIsSyncAndAppliesCommits) {
  static_assert(standby_count() == 1, "ClusterTest has one standby");
  EXPECT_THROW(standby(1), std::out_of_range);
  EXPECT_EQ(standby().query("SELECT pg_is_in_recovery()").value(0, 0), "t");
  pgha::Result r = primary().query(
      "SELECT application_name, state, sync_state FROM pg_stat_replication");
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.value(0, 0), "standby1");
  EXPECT_EQ(r.value(0, 1), "streaming");
  EXPECT_EQ(r.value(0, 2), "sync");
  primary().execute("CREATE TABLE t (id int)");
  primary().execute("INSERT INTO t VALUES (5)");
  EXPECT_EQ(standby(0).query("SELECT id FROM t").value(0, 0), "5");
}

TEST_F(ClusterTest, FailoverGuardKeepsTheOldPrimarySync) {
  primary().execute("CREATE TABLE t (id int)");
  {
    pgha::FailoverGuard g(primary(), standby());
    EXPECT_EQ(standby().role(), pgha::Role::Primary);
  }
  EXPECT_EQ(primary().role(), pgha::Role::Standby);
  EXPECT_EQ(standby().query("SELECT sync_state FROM pg_stat_replication").value(0, 0), "sync");
  standby().execute("INSERT INTO t VALUES (9)");
  EXPECT_EQ(primary().query("SELECT id FROM t").value(0, 0), "9");
}

// Issue 20: set_sync_mode(Async) on the fixture's primary clears its sync standby (the
// fixture lists the names as a user setting, which used to win), and back.
TEST_F(ClusterTest, AsyncClearsTheSyncStandbyAndBack) {
  std::mutex mu;
  std::vector<std::string> said;  // the primary's sync_mode events
  std::string name = primary().name();
  pgha::set_log_sink([&](const pgha::Event& e) {
    std::lock_guard<std::mutex> l(mu);
    if (e.node == name && e.kind == "sync_mode") said.push_back(e.message);
  });
  primary().set_sync_mode(pgha::SyncMode::Async);
  EXPECT_EQ(primary().query("SHOW synchronous_standby_names").value(0, 0), "");
  standby().freeze_walreceiver();  // a commit no longer waits for it
  EXPECT_NO_THROW(primary().execute("CREATE TABLE t (id int)"));
  standby().thaw_walreceiver();
  primary().set_sync_mode(pgha::SyncMode::RemoteApply);
  EXPECT_EQ(primary().query("SHOW synchronous_standby_names").value(0, 0),
            "FIRST 1 (standby1, primary)");
  primary().execute("INSERT INTO t VALUES (1)");
  EXPECT_EQ(standby().query("SELECT count(*) FROM t").value(0, 0), "1");
  pgha::set_log_sink(nullptr);
  ASSERT_EQ(said.size(), 2u);
  EXPECT_NE(said[0].find("synchronous_standby_names = ''"), std::string::npos) << said[0];
  EXPECT_NE(said[1].find("synchronous_standby_names = 'FIRST 1 (standby1, primary)'"),
            std::string::npos) << said[1];
}

// A and B only mean something in one process, A then B; gtest_discover_tests runs each test
// in its own process, so they are disabled and SharedCluster.AThenBInOneProcess runs both.
TEST_F(SharedClusterTest, DISABLED_A_CreateTableAndFailOver) {
  pgha::Node& p = cluster().primary();
  pgha::Node& s = cluster().standby();
  p.execute("CREATE TABLE leftover (id int)");
  ASSERT_TRUE(has_table(s, "leftover"));
  p.stop(pgha::StopMode::Immediate);
  s.promote();
  EXPECT_EQ(s.role(), pgha::Role::Primary);
}

TEST_F(SharedClusterTest, DISABLED_B_AfterResetNoTableAndHealthy) {
  pgha::Node& p = cluster().primary();
  pgha::Node& s = cluster().standby();
  // The same cluster as in A: A promoted node(1), and reset() kept it as the primary.
  EXPECT_EQ(&p, &cluster().node(1));
  EXPECT_FALSE(has_table(p, "leftover"));
  EXPECT_FALSE(has_table(s, "leftover"));
  EXPECT_EQ(p.query("SELECT pg_is_in_recovery()").value(0, 0), "f");
  EXPECT_EQ(s.query("SELECT pg_is_in_recovery()").value(0, 0), "t");
  EXPECT_EQ(p.query("SELECT sync_state FROM pg_stat_replication WHERE state = 'streaming'")
                .value(0, 0), "sync");
  p.execute("CREATE TABLE probe (id int)");
  p.execute("INSERT INTO probe VALUES (3)");
  EXPECT_EQ(s.query("SELECT id FROM probe").value(0, 0), "3");
}

TEST(SharedCluster, AThenBInOneProcess) {
  int code = -1;
  std::string out = pgha_test::run_merged(
      pgha_test::self_cmd({"--gtest_also_run_disabled_tests",
                           "--gtest_filter=SharedClusterTest.DISABLED_A_*:"
                           "SharedClusterTest.DISABLED_B_*"}), code);
  EXPECT_EQ(code, 0) << out;
  EXPECT_NE(out.find("[  PASSED  ] 2 tests."), std::string::npos) << out;
  // B alone fails: it needs what A left behind, so the passing run above did carry it.
  out = pgha_test::run_merged(
      pgha_test::self_cmd({"--gtest_also_run_disabled_tests",
                           "--gtest_filter=SharedClusterTest.DISABLED_B_*"}), code);
  EXPECT_NE(code, 0) << out;
  EXPECT_NE(out.find("[  FAILED  ] 1 test,"), std::string::npos) << out;
}

// Fails on purpose, in a plain TEST with its own nodes; run in a subprocess below.
TEST(LogDemo, DISABLED_PlainTestFails) {
  int gone_port = 0;
  {
    pgha::TempPrimary gone;  // destroyed before the failure: its log is copied as it goes
    gone_port = gone.port();
    EXPECT_ANY_THROW(gone.execute("SELECT pgha_gone_marker()"));
  }
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  EXPECT_ANY_THROW(p.execute("SELECT pgha_primary_marker()"));
  EXPECT_ANY_THROW(s.query("SELECT pgha_standby_marker()"));
  pgha::annotate("orders-service", "pgha_annotate_marker: retrying after 57P01");
  ADD_FAILURE() << "pgha-demo ports: primary=" << p.port() << " standby=" << s.port()
                << " gone=" << gone_port;
}

TEST(FailureLogs, PlainTestPrintsItsNodesLogsOnStderrAfterTheFailure) {
  pgha_test::Output o = pgha_test::run_twice(pgha_test::self_cmd(
      {"--gtest_also_run_disabled_tests", "--gtest_filter=LogDemo.DISABLED_PlainTestFails"}));
  std::vector<std::string> problems = pgha_test::check_demo_report(o);
  EXPECT_TRUE(problems.empty()) << pgha_test::explain(problems, o);
}

TEST(FailureLogs, NotPrintedOnSuccess) {
  pgha_test::Output o = pgha_test::run_twice(
      pgha_test::self_cmd({"--gtest_filter=PrimaryTest.IsAWritablePrimary"}));
  EXPECT_EQ(o.exit_code, 0) << o.merged;
  EXPECT_EQ(o.merged.find("pgha: server logs"), std::string::npos) << o.merged;
  EXPECT_EQ(o.merged.find("pgha: event timeline"), std::string::npos) << o.merged;
  EXPECT_EQ(o.merged.find("---- pgha: "), std::string::npos) << o.merged;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pgha::gtest::SharedClusterEnvironment);
  return RUN_ALL_TESTS();
}
