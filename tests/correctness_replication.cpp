// tests/correctness_replication.cpp: issue 20's wrong answers about replication. A rejoin or
// a new standby returns only when that node streams; a rejoin reads its own failure lines;
// promote and rejoin write nothing the server rejects; a PG 17+ failover slot read once
// syncs to the standby whatever the user writes before waiting for it.
#include "support.hpp"

#include <algorithm>

#include <pgha/detail/file_ops.hpp>

using namespace std::chrono_literals;

namespace {
// Rows of `primary`'s pg_stat_replication that stream, as "name/state" sorted by name.
std::vector<std::string> corr_streaming_names(pgha::Node& primary) {
  pgha::Result r = primary.query("SELECT application_name FROM pg_stat_replication "
                                 "WHERE state = 'streaming' ORDER BY application_name");
  std::vector<std::string> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(r.value(i, 0));
  return out;
}

// Whether `standby` replays a row written on `primary` now (bounded by `within`).
bool corr_replays(pgha::Node& primary, pgha::Node& standby, int id,
                  std::chrono::milliseconds within = 10s) {
  primary.execute("SET synchronous_commit = local; INSERT INTO test VALUES (" + std::to_string(id) + ")");
  try {
    standby.wait_until("SELECT count(*) = 1 FROM test WHERE id = " + std::to_string(id), within);
    return true;
  } catch (const pgha::TimeoutError&) {
    return false;
  }
}

// Three nodes: crash p, promote the second standby, rejoin p, then the first standby.
void corr_three_node_failover(pgha::Options o) {
  pgha::TempPrimary p(o);
  pgha::TempStandby s1(p);
  pgha::TempStandby s2(p);
  p.execute("CREATE TABLE test (id int)");
  CHECK(s1.application_name() != s2.application_name());
  {
    pgha::FailoverGuard g(p, s2, pgha::StopMode::Crash);
    g.rejoin();
    INFO("p is " << p.application_name() << ", s1 is " << s1.application_name());
    CHECK(p.application_name() != s1.application_name());
    s1.rejoin(s2);
    // Both stream from s2, each under a name of its own, and each replays a write on s2.
    auto names = corr_streaming_names(s2);
    CHECK(names.size() == 2);
    CHECK(std::find(names.begin(), names.end(), s1.application_name()) != names.end());
    CHECK(std::find(names.begin(), names.end(), p.application_name()) != names.end());
    CHECK(corr_replays(s2, s1, 1));
    CHECK(corr_replays(s2, p, 2));
    CHECK(s1.query("SELECT status FROM pg_stat_wal_receiver").value(0, 0) == "streaming");
    CHECK(p.query("SELECT status FROM pg_stat_wal_receiver").value(0, 0) == "streaming");
  }
}
}  // namespace

TEST_CASE("correctness: three nodes with slots and a crash failover: every rejoin streams") {
  pgha::Options o;
  o.replication_slots = true;
  corr_three_node_failover(o);
}

TEST_CASE("correctness: PG 17+ with logical WAL (failover slots) and a crash failover: every rejoin streams") {
  if (test::binaries().major < 17)
    PGHA_SKIP("standbys stream through slots for failover slots on PostgreSQL 17+ only; this is "
              << test::binaries().major);
  pgha::Options o;
  o.settings["wal_level"] = "logical";
  corr_three_node_failover(o);
}

TEST_CASE("correctness: three nodes with an archive and a crash failover to the second standby: the old primary rejoins") {
  pgha::Options o;
  o.archive = true;
  pgha::TempPrimary p(o);
  pgha::TempStandby s1(p);
  pgha::TempStandby s2(p);
  p.execute("CREATE TABLE test (id int); INSERT INTO test VALUES (0)");
  pgha::FailoverGuard g(p, s2, pgha::StopMode::Crash);
  // s1 still follows p's port: once p runs again (as a standby) s1 asks it for WAL p no
  // longer has, and p's walsender logs so. That is s1's trouble, not p's.
  CHECK_NOTHROW(g.rejoin());
  CHECK(corr_replays(s2, p, 1));
  s1.rejoin(s2);
  CHECK(corr_replays(s2, s1, 2));
}

namespace {
// The lines of `n`'s server log that say the server rejected part of its configuration.
std::string corr_config_errors(pgha::Node& n) {
  std::string text = pgha::detail::read_file(n.log_file()), out;
  std::size_t at = 0;
  while (at < text.size()) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.find("contains errors") != std::string::npos ||
        line.find("cannot be changed without restarting") != std::string::npos ||
        line.find("unrecognized configuration parameter") != std::string::npos ||
        line.find("invalid value for parameter") != std::string::npos)
      out += line + "\n";
  }
  return out;
}
}  // namespace

TEST_CASE("correctness: promote and rejoin write nothing the server rejects") {
  std::vector<pgha::Options> variants(2);
  variants[1].archive = true;
  variants[1].replication_slots = true;
  if (test::binaries().major >= 17) variants[1].settings["wal_level"] = "logical";
  for (auto& o : variants) {
    pgha::TempPrimary node1(o);
    pgha::TempStandby node2(node1);
    node1.execute("CREATE TABLE test (id int)");
    { pgha::FailoverGuard g(node1, node2); }                          // promote, clean rejoin
    { pgha::FailoverGuard g(node2, node1, pgha::StopMode::Crash); }   // and a repaired one
    node1.execute("INSERT INTO test VALUES (1)");
    node1.set_sync_mode(pgha::SyncMode::On);                          // a reload of each role
    node2.set_sync_mode(pgha::SyncMode::On);
    INFO("archive " << o.archive << ", slots " << o.replication_slots);
    CHECK(corr_config_errors(node1) == "");
    CHECK(corr_config_errors(node2) == "");
  }
}

namespace {
// The ids of test_decoding's INSERT changes ("table public.t: INSERT: id[integer]:7").
std::vector<int> corr_inserted(const std::vector<pgha::Change>& changes) {
  std::vector<int> out;
  for (auto& c : changes) {
    auto at = c.data.find("INSERT: id[integer]:");
    if (at != std::string::npos) out.push_back(std::stoi(c.data.substr(at + 20)));
  }
  return out;
}
}  // namespace

TEST_CASE("correctness: PG 17+ failover slot read once then a write: the standby's copy syncs and the consumer goes on after a failover") {
  if (test::binaries().major < 17)
    PGHA_SKIP("failover slots need PostgreSQL 17+; this is " << test::binaries().major);
  for (bool change_before_read : {false, true}) {
    INFO("a change before the first read: " << change_before_read);
    pgha::Options o;
    o.settings["wal_level"] = "logical";
    o.timeout = 10s;  // bounds the wait that used to time out
    pgha::TempPrimary node1(o);
    pgha::TempStandby node2(node1);
    node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
    node1.create_logical_slot("cdc", "test_decoding", true);
    if (change_before_read) node1.execute("INSERT INTO t VALUES (1)");
    CHECK(corr_inserted(node1.read_changes("cdc")) ==
          (change_before_read ? std::vector<int>{1} : std::vector<int>{}));
    node1.execute("INSERT INTO t VALUES (2)");  // a write between the read and the wait
    CHECK_NOTHROW(node2.wait_for_slot_sync("cdc"));
    node1.execute("INSERT INTO t VALUES (3)");
    pgha::FailoverGuard g(node1, node2);
    // Exactly the changes after the consumer's last read, on the promoted standby.
    CHECK(corr_inserted(node2.read_changes("cdc")) == std::vector<int>{2, 3});
  }
}

TEST_CASE("correctness: PG 17+ a failover slot never read cannot sync: wait_for_slot_sync says which order works") {
  if (test::binaries().major < 17)
    PGHA_SKIP("failover slots need PostgreSQL 17+; this is " << test::binaries().major);
  pgha::Options o;
  o.settings["wal_level"] = "logical";
  o.timeout = 10s;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding", true);
  node1.execute("INSERT INTO t VALUES (1)");
  // Not a TimeoutError after 10 s: the standby's refusal is final until a read.
  CHECK_THROWS_AS(node2.wait_for_slot_sync("cdc"), pgha::StateError);
  CHECK_THROWS_WITH(node2.wait_for_slot_sync("cdc"), Catch::Matchers::ContainsSubstring("read_changes(\"cdc\") on the primary"));
  CHECK(corr_inserted(node1.read_changes("cdc")) == std::vector<int>{1});
  CHECK_NOTHROW(node2.wait_for_slot_sync("cdc"));
}
