// tests/integrations/gtest_fixtures.cpp: pgha/gtest.hpp against real servers.
#include <pgha/gtest.hpp>

#include <cstdio>
#include <string>
#include <unistd.h>

namespace {

std::string self_exe() {
  char buf[4096];
  ssize_t n = ::readlink("/proc/self/exe", buf, sizeof buf - 1);
  return n > 0 ? std::string(buf, static_cast<std::size_t>(n)) : std::string();
}

std::string run(const std::string& cmd, int& status) {
  std::string out;
  FILE* f = ::popen(cmd.c_str(), "r");
  if (!f) return out;
  char buf[4096];
  std::size_t n;
  while ((n = std::fread(buf, 1, sizeof buf, f)) > 0) out.append(buf, n);
  status = ::pclose(f);
  return out;
}

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
}

TEST_F(ClusterTest, StandbyIsSyncAndAppliesCommits) {
  EXPECT_EQ(standby().query("SELECT pg_is_in_recovery()").value(0, 0), "t");
  pgha::Result r = primary().query(
      "SELECT application_name, state, sync_state FROM pg_stat_replication");
  ASSERT_EQ(r.rows(), 1);
  EXPECT_EQ(r.value(0, 0), "standby1");
  EXPECT_EQ(r.value(0, 1), "streaming");
  EXPECT_EQ(r.value(0, 2), "sync");
  primary().execute("CREATE TABLE t (id int)");
  primary().execute("INSERT INTO t VALUES (5)");
  EXPECT_EQ(standby().query("SELECT id FROM t").value(0, 0), "5");
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

TEST_F(SharedClusterTest, A_CreateTableAndFailOver) {
  pgha::Node& p = cluster().primary();
  pgha::Node& s = cluster().standby();
  p.execute("CREATE TABLE leftover (id int)");
  ASSERT_TRUE(has_table(s, "leftover"));
  p.stop(pgha::StopMode::Immediate);
  s.promote();
  EXPECT_EQ(s.role(), pgha::Role::Primary);
}

TEST_F(SharedClusterTest, B_AfterResetNoTableAndHealthy) {
  pgha::Node& p = cluster().primary();
  pgha::Node& s = cluster().standby();
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

// Fails on purpose; run in a subprocess by FailureLogs.ArePrinted.
TEST_F(PrimaryTest, DISABLED_LogDemo) {
  EXPECT_EQ(primary().query("SELECT 1").value(0, 0), "2");
}

TEST(FailureLogs, ArePrinted) {
  int status = 0;
  std::string out = run("'" + self_exe() + "' --gtest_also_run_disabled_tests "
                        "--gtest_filter=PrimaryTest.DISABLED_LogDemo 2>&1", status);
  EXPECT_NE(status, 0) << out;
  EXPECT_NE(out.find("pgha: server logs of the nodes involved"), std::string::npos) << out;
  EXPECT_NE(out.find("database system is ready to accept connections"), std::string::npos)
      << out;
}

TEST(FailureLogs, NotPrintedOnSuccess) {
  int status = 0;
  std::string out = run("'" + self_exe() + "' --gtest_filter=PrimaryTest.IsAWritablePrimary 2>&1",
                        status);
  EXPECT_EQ(status, 0) << out;
  EXPECT_EQ(out.find("pgha: server logs"), std::string::npos) << out;
}

int main(int argc, char** argv) {
  ::testing::InitGoogleTest(&argc, argv);
  ::testing::AddGlobalTestEnvironment(new pgha::gtest::SharedClusterEnvironment);
  return RUN_ALL_TESTS();
}
