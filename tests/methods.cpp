// tests/methods.cpp: each way to clone a standby and to repair a diverged node, forced,
// so that every path runs on every version that has the tools it needs.
#include <boost/filesystem.hpp>
#include <fstream>

#include "support.hpp"

using namespace std::chrono_literals;
using pgha::RejoinMethod;

namespace {
// A field of the backup_label a node's recovery started from (renamed to
// backup_label.old when recovery began), as PostgreSQL or pg_rewind wrote it. LABEL is
// "pgha" for the low-level backup API (CloneMethod::BackupApi) and "pg_basebackup base
// backup" for pg_basebackup; pg_rewind writes "BACKUP METHOD: pg_rewind" and no LABEL.
std::string backup_field(pgha::Node& n, const std::string& field) {
  std::ifstream f(n.data_dir() + "/backup_label.old");
  if (!f) return "no backup_label.old";
  std::string line, prefix = field + ": ";
  while (std::getline(f, line))
    if (line.compare(0, prefix.size(), prefix) == 0) return line.substr(prefix.size());
  return "no " + field + " line";
}
std::string backup_label(pgha::Node& n) { return backup_field(n, "LABEL"); }
// pg_basebackup and pg_rewind log to <node root>/<tool>.log; the backup API path runs no tool.
bool tool_log_exists(pgha::Node& n, const std::string& tool) {
  return boost::filesystem::exists(n.data_dir() + "/../" + tool + ".log");
}

// A crash failover leaving node1 diverged (it holds a commit node2 never got).
void diverge(pgha::Node& node1, pgha::Node& node2) {
  node1.execute("create table test (id int); insert into test values (1)");
  node1.freeze_walsender();
  auto p = node1.execute_async("insert into test values (2)");
  REQUIRE_FALSE(p.wait_for(200ms));
  node1.stop(pgha::StopMode::Crash);
  node2.promote();
}
}  // namespace

TEST_CASE("standby cloned with the low-level backup API (no client tools)") {
  pgha::Options o;
  o.clone_method = pgha::CloneMethod::BackupApi;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  CHECK(backup_label(node2) == "pgha");
  CHECK_FALSE(tool_log_exists(node2, "pg_basebackup"));
  node1.execute("create table t (x int); insert into t values (1)");
  CHECK(node2.query("select count(*) from t").value(0, 0) == "1");
  CHECK(test::sync_state(node1) == "streaming/sync");
}

TEST_CASE("standby cloned with a version-matched pg_basebackup") {
  if (test::binaries().pg_basebackup.empty())
    PGHA_SKIP("no pg_basebackup " << test::binaries().major << " on this machine");
  pgha::Options o;
  o.clone_method = pgha::CloneMethod::BaseBackup;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  CHECK(backup_label(node2) == "pg_basebackup base backup");
  CHECK(tool_log_exists(node2, "pg_basebackup"));
  node1.execute("create table t (x int); insert into t values (1)");
  CHECK(node2.query("select count(*) from t").value(0, 0) == "1");
  CHECK(test::sync_state(node1) == "streaming/sync");
}

TEST_CASE("CloneMethod::BaseBackup without pg_basebackup is a SetupError") {
  if (!test::binaries().pg_basebackup.empty())
    PGHA_SKIP("pg_basebackup " << test::binaries().major << " exists here; the error path needs a server-only build");
  pgha::Options o;
  o.clone_method = pgha::CloneMethod::BaseBackup;
  pgha::TempPrimary node1(o);
  CHECK_THROWS_WITH(pgha::TempStandby(node1), Catch::Matchers::ContainsSubstring("pg_basebackup"));
}

TEST_CASE("a diverged node is repaired by re-cloning") {
  pgha::Options o;
  o.repair = pgha::RepairMethod::Reclone;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  diverge(node1, node2);
  CHECK(node1.rejoin(node2) == RejoinMethod::Recloned);
  CHECK(node1.last_rejoin_method() == RejoinMethod::Recloned);
  CHECK_FALSE(tool_log_exists(node1, "pg_rewind"));
  // The re-clone is a fresh clone with the node's CloneMethod (Auto here): node2 was
  // promoted (timeline 2), so no template copy: the low-level backup API.
  CHECK(backup_label(node1) == "pgha");
  CHECK(test::ids(node1) == std::vector<int>{1});
  CHECK(test::sync_state(node2) == "streaming/sync");
}

TEST_CASE("a diverged node is repaired with a version-matched pg_rewind") {
  if (test::binaries().pg_rewind.empty())
    PGHA_SKIP("no pg_rewind " << test::binaries().major << " on this machine");
  pgha::Options o;
  o.repair = pgha::RepairMethod::Rewind;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  diverge(node1, node2);
  CHECK(node1.rejoin(node2) == RejoinMethod::Rewound);
  CHECK(node1.last_rejoin_method() == RejoinMethod::Rewound);
  CHECK(tool_log_exists(node1, "pg_rewind"));
  CHECK(backup_field(node1, "BACKUP METHOD") == "pg_rewind");  // not a clone's backup_label
  CHECK(test::ids(node1) == std::vector<int>{1});
  CHECK(test::sync_state(node2) == "streaming/sync");
  // The rewound node keeps its own identity: port and name, not the source's.
  CHECK(node1.query("SHOW port").value(0, 0) == std::to_string(node1.port()));
  CHECK(node1.query("SHOW cluster_name").value(0, 0) == node1.name());
}

TEST_CASE("a cleanly stopped primary whose shutdown the standby saw is resumed, not repaired") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int); insert into test values (1)");
  node1.stop(pgha::StopMode::Fast);
  node2.promote();
  CHECK(node1.rejoin(node2) == RejoinMethod::Resumed);
  CHECK(node1.last_rejoin_method() == RejoinMethod::Resumed);
  CHECK(backup_label(node1) == "no backup_label.old");  // its own data dir, not a clone
  CHECK_FALSE(tool_log_exists(node1, "pg_rewind"));
  // Rejoining a node that is already a healthy standby of the same primary resumes too.
  CHECK(node1.rejoin(node2) == RejoinMethod::Resumed);
  CHECK(test::ids(node1) == std::vector<int>{1});
}

TEST_CASE("a primary stopped while its standby was cut off has diverged and is repaired") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int); insert into test values (1)");
  node1.freeze_walsender();  // node2 never sees the shutdown checkpoint
  auto p = node1.execute_async("insert into test values (2)");
  REQUIRE_FALSE(p.wait_for(200ms));
  node1.stop(pgha::StopMode::Immediate);
  node2.promote();
  CHECK(test::ids(node2) == std::vector<int>{1});  // node2 never saw row 2
  // Repaired with RepairMethod::Auto: a re-clone (pg_rewind only when asked for).
  CHECK(node1.rejoin(node2) == RejoinMethod::Recloned);
  CHECK_FALSE(tool_log_exists(node1, "pg_rewind"));
  CHECK(backup_label(node1) == "pgha");
  CHECK(test::ids(node1) == std::vector<int>{1});
}
