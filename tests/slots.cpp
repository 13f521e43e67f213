// tests/slots.cpp: replication slots through a failover, against real servers: physical
// slots on every node before and after promote and rejoin, logical decoding (read and
// confirm), a change consumer across a failover (PG 17+: continues from the synced failover
// slot; before 17: the slot does not exist on the new primary), and a logical subscriber
// of the HA pair that is pointed at the new primary.
#include <pgha/pgha.hpp>

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

namespace {

struct SlotRow {
  std::string name, type, active, restart_lsn;
};

// pg_replication_slots of a node, by name.
std::vector<SlotRow> slots_of(pgha::Node& n) {
  pgha::Result r = n.query("SELECT slot_name, slot_type, active::text, coalesce(restart_lsn::text, '') "
                           "FROM pg_replication_slots ORDER BY slot_name");
  std::vector<SlotRow> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back({r.value(i, 0), r.value(i, 1), r.value(i, 2), r.value(i, 3)});
  return out;
}

std::string slot_names(pgha::Node& n) {
  std::string out;
  for (auto& s : slots_of(n)) out += (out.empty() ? "" : ",") + s.name;
  return out;
}

// The slot a standby's wal receiver streams through ("" = none).
std::string receiver_slot(pgha::Node& standby) {
  pgha::Result r = standby.query("SELECT coalesce(slot_name, '') FROM pg_stat_wal_receiver");
  return r.rows() ? r.value(0, 0) : "no wal receiver";
}

// The primary holds exactly one physical slot, `name`, active, with a restart_lsn; the
// standby streams through it and holds no slot of its own.
void check_pair(pgha::Node& primary, pgha::Node& standby, const std::string& name) {
  auto p = slots_of(primary);
  REQUIRE(p.size() == 1);
  CHECK(p[0].name == name);
  CHECK(p[0].type == "physical");
  CHECK(p[0].active == "true");
  CHECK_FALSE(p[0].restart_lsn.empty());
  CHECK(slot_names(standby).empty());
  CHECK(receiver_slot(standby) == name);
}

// The slot keeps only the WAL the standby still needs: its restart_lsn follows the standby.
void check_slot_follows(pgha::Node& primary, pgha::Node& standby, const std::string& name) {
  primary.execute("INSERT INTO t SELECT coalesce(max(id), 0) + 1 FROM t");
  std::string lsn = primary.current_lsn();
  primary.wait_for_catchup(standby);
  primary.wait_until("SELECT restart_lsn >= '" + lsn + "'::pg_lsn FROM pg_replication_slots "
                     "WHERE slot_name = '" + name + "'");
}

pgha::Options logical_options() {
  pgha::Options o;
  o.replication_slots = true;
  o.settings["wal_level"] = "logical";
  return o;
}

// ids in test_decoding INSERT lines of table t ("table public.t: INSERT: id[integer]:4").
std::vector<int> inserted_ids(const std::vector<pgha::Change>& changes) {
  std::vector<int> out;
  const std::string key = "table public.t: INSERT: id[integer]:";
  for (auto& c : changes) {
    auto at = c.data.find(key);
    if (at != std::string::npos) out.push_back(std::stoi(c.data.substr(at + key.size())));
  }
  return out;
}

// a >= b as WAL positions. (A COMMIT row shows the position where the next transaction's
// first change may start, so "after" is not strict.)
bool lsn_not_before(pgha::Node& n, const std::string& a, const std::string& b) {
  return n.query("SELECT $1::pg_lsn >= $2::pg_lsn", {a, b}).value(0, 0) == "t";
}

std::vector<int> ids_of(pgha::Node& n) {
  pgha::Result r = n.query("SELECT id FROM t ORDER BY id");
  std::vector<int> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(std::stoi(r.value(i, 0)));
  return out;
}

int major_of(pgha::Node& n) { return n.server_version_num() / 10000; }

}  // namespace

TEST_CASE("slots: standbys stream through physical slots before and after promote and rejoin") {
  pgha::Options o;
  o.replication_slots = true;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);  // inherits replication_slots
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");

  check_pair(node1, node2, "pgslave001");
  check_slot_follows(node1, node2, "pgslave001");

  // A standby with options of its own still inherits replication_slots from its upstream.
  {
    pgha::Options own;
    own.relay = false;
    pgha::TempStandby node3(node1, own);
    CHECK(receiver_slot(node3) == "pgslave002");
    CHECK(slot_names(node1) == "pgslave001,pgslave002");
  }
  // node3 is gone for good: its slot went with it, so node1 keeps no WAL for it.
  CHECK(slot_names(node1) == "pgslave001");

  node1.stop();
  node2.promote();
  node1.rejoin(node2);
  // node2 streams to node1 through a new slot; node1's slot for node2 (its former standby)
  // is gone, so it holds no WAL back.
  check_pair(node2, node1, "pgslave001");
  check_slot_follows(node2, node1, "pgslave001");

  // And back again.
  node2.stop();
  node1.promote();
  node2.rejoin(node1);
  check_pair(node1, node2, "pgslave001");
  check_slot_follows(node1, node2, "pgslave001");
  CHECK(ids_of(node2) == ids_of(node1));
}

TEST_CASE("slots: physical slots after a crash failover and a repaired rejoin") {
  pgha::Options o;
  o.replication_slots = true;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  pgha::RejoinMethod how;
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
    how = g.rejoin();
  }
  INFO("rejoined: " << pgha::to_string(how));
  check_pair(node2, node1, "pgslave001");
  check_slot_follows(node2, node1, "pgslave001");
}

TEST_CASE("slots: a cascading standby streams through a slot on its standby upstream") {
  pgha::Options o;
  o.replication_slots = true;
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  pgha::TempStandby node3(pgha::Upstream{node2});
  std::string app3 = node3.application_name();
  auto on2 = slots_of(node2);
  REQUIRE(on2.size() == 1);
  CHECK(on2[0].name == app3);
  CHECK(on2[0].active == "true");
  CHECK(receiver_slot(node3) == app3);
  CHECK(slot_names(node1) == "pgslave001");
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  check_slot_follows(node1, node2, "pgslave001");
  node1.wait_for_catchup(node3);
  CHECK(ids_of(node3) == ids_of(node1));
}

TEST_CASE("slots: without replication_slots standbys stream without a slot") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK(slot_names(node1).empty());
  CHECK(receiver_slot(node2).empty());
}

TEST_CASE("slots: logical decoding reads and confirms changes") {
  pgha::TempPrimary node1(logical_options());
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding");
  node1.execute("INSERT INTO t VALUES (1), (2)");
  auto first = node1.read_changes("cdc");
  CHECK(inserted_ids(first) == std::vector<int>{1, 2});
  REQUIRE(first.size() == 4);  // BEGIN, two INSERTs, COMMIT
  CHECK(first.front().data.rfind("BEGIN", 0) == 0);
  CHECK(first.back().data.rfind("COMMIT", 0) == 0);
  CHECK_FALSE(first.front().lsn.empty());
  CHECK(first.front().xid == first.back().xid);
  // Confirmed: a second read returns nothing, a new change only itself.
  CHECK(node1.read_changes("cdc").empty());
  node1.execute("INSERT INTO t VALUES (3)");
  auto second = node1.read_changes("cdc");
  CHECK(inserted_ids(second) == std::vector<int>{3});
  CHECK(lsn_not_before(node1, second.front().lsn, first.back().lsn));

  // pgoutput: binary messages, 'B'egin ... 'C'ommit, for the publication asked for.
  node1.execute("CREATE PUBLICATION pub FOR TABLE t");
  node1.create_logical_slot("out", "pgoutput");
  CHECK_THROWS_AS(node1.read_changes("out"), pgha::StateError);  // publication_names missing
  node1.execute("INSERT INTO t VALUES (4)");
  auto bin = node1.read_changes("out", {{"publication_names", "pub"}});
  REQUIRE(bin.size() >= 3);
  CHECK(bin.front().data.at(0) == 'B');
  CHECK(bin.back().data.at(0) == 'C');
  bool insert_seen = std::any_of(bin.begin(), bin.end(), [](const pgha::Change& c) { return c.data.at(0) == 'I'; });
  CHECK(insert_seen);
}

TEST_CASE("slots: logical slot misuse is a clear error") {
  pgha::TempPrimary plain;  // wal_level = replica
  CHECK_THROWS_WITH(plain.create_logical_slot("cdc"),
                    Catch::Matchers::ContainsSubstring("wal_level = logical"));
  CHECK_THROWS_AS(plain.create_logical_slot("cdc"), pgha::StateError);
  CHECK_THROWS_WITH(plain.read_changes("nope"),
                    Catch::Matchers::ContainsSubstring("no replication slot \"nope\""));
  CHECK_THROWS_AS(plain.wait_for_slot_sync("nope"), pgha::Error);
}

TEST_CASE("slots: failover = true before PostgreSQL 17 is a VersionError") {
  pgha::TempPrimary node1(logical_options());
  if (major_of(node1) >= 17) PGHA_SKIP("PostgreSQL " << major_of(node1) << " has failover slots");
  try {
    node1.create_logical_slot("cdc", "test_decoding", true);
    FAIL("expected a VersionError");
  } catch (const pgha::VersionError& e) {
    CHECK(e.needed_major() == 17);
    CHECK(e.major() == major_of(node1));
    CHECK_THAT(e.message(), Catch::Matchers::ContainsSubstring("needs PostgreSQL 17"));
  }
  CHECK(slot_names(node1).empty());
}

// A consumer read up to X on node1; node1 goes, node2 is promoted. 17+: the consumer
// continues on node2 with exactly the changes after X. Before 17: node2 has no slot.
TEST_CASE("slots: a change consumer through a failover") {
  pgha::TempPrimary node1(logical_options());
  pgha::TempStandby node2(node1);
  bool failover = major_of(node1) >= 17;
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding", failover);
  node1.execute("INSERT INTO t VALUES (1), (2), (3)");
  auto before = node1.read_changes("cdc");
  REQUIRE(inserted_ids(before) == std::vector<int>{1, 2, 3});
  std::string x = before.back().lsn;
  if (failover) node2.wait_for_slot_sync("cdc");
  node1.execute("INSERT INTO t VALUES (4)");
  node1.execute("INSERT INTO t VALUES (5)");

  node1.stop();
  node2.promote();
  if (!failover) {
    CHECK(slot_names(node2).empty());
    CHECK_THROWS_WITH(node2.read_changes("cdc"),
                      Catch::Matchers::ContainsSubstring("before PostgreSQL 17"));
    return;
  }
  auto after = node2.read_changes("cdc");
  CHECK(inserted_ids(after) == std::vector<int>{4, 5});  // none missing, none repeated
  for (auto& c : after) CHECK(lsn_not_before(node2, c.lsn, x));

  // node1 rejoins: its own old copy of "cdc" is gone, it syncs node2's slot instead.
  node1.rejoin(node2);
  node2.execute("INSERT INTO t VALUES (6)");
  CHECK(inserted_ids(node2.read_changes("cdc")) == std::vector<int>{6});
  node1.wait_for_slot_sync("cdc");
  CHECK(node1.query("SELECT synced FROM pg_replication_slots WHERE slot_name = 'cdc'").value(0, 0) == "t");
}

TEST_CASE("slots: PG 17 failover slot configuration and sync") {
  pgha::TempPrimary node1(logical_options());
  if (major_of(node1) < 17)
    PGHA_SKIP("failover slots need PostgreSQL 17+; this is " << major_of(node1));
  pgha::TempStandby node2(node1);
  CHECK(node2.query("SHOW sync_replication_slots").value(0, 0) == "on");
  CHECK(node2.query("SHOW hot_standby_feedback").value(0, 0) == "on");
  CHECK(node2.query("SHOW primary_slot_name").value(0, 0) == "pgslave001");
  CHECK_THAT(node2.query("SHOW primary_conninfo").value(0, 0),
             Catch::Matchers::ContainsSubstring("dbname=postgres"));
  CHECK(node1.query("SHOW synchronized_standby_slots").value(0, 0) == "pgslave001");

  // A standby that goes away for good leaves neither its slot nor its name in
  // synchronized_standby_slots behind (a listed slot that is gone would hold every
  // failover slot's consumer back).
  {
    pgha::TempStandby node3(node1);
    CHECK(node1.query("SHOW synchronized_standby_slots").value(0, 0) == "pgslave001,pgslave002");
  }
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding", true);
  CHECK(node1.query("SHOW synchronized_standby_slots").value(0, 0) == "pgslave001");
  node1.create_logical_slot("local", "test_decoding", false);
  node1.execute("INSERT INTO t VALUES (1)");
  CHECK(inserted_ids(node1.read_changes("cdc")) == std::vector<int>{1});
  node2.wait_for_slot_sync("cdc");
  CHECK(slot_names(node2) == "cdc");  // the non-failover slot is not synced
  CHECK_THROWS_WITH(node2.wait_for_slot_sync("local"),
                    Catch::Matchers::ContainsSubstring("failover = false"));
  CHECK_THROWS_WITH(node2.read_changes("cdc"), Catch::Matchers::ContainsSubstring("synced copy"));
  CHECK_THROWS_AS(node1.wait_for_slot_sync("cdc"), pgha::StateError);  // a primary
}

TEST_CASE("slots: a failover slot consumer waits for a stopped standby") {
  pgha::Options o = logical_options();
  o.timeout = std::chrono::seconds(5);  // the bound on the read that is expected to wait
  pgha::TempPrimary node1(o);
  if (major_of(node1) < 17)
    PGHA_SKIP("failover slots need PostgreSQL 17+; this is " << major_of(node1));
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding", true);
  node1.set_sync_mode(pgha::SyncMode::Async);  // commits go on without node2
  node2.stop();
  node1.execute("INSERT INTO t VALUES (1)");
  CHECK_THROWS_WITH(node1.read_changes("cdc"),
                    Catch::Matchers::ContainsSubstring("synchronized_standby_slots (pgslave001)"));
  node2.start();
  CHECK(inserted_ids(node1.read_changes("cdc")) == std::vector<int>{1});  // nothing lost
}

// A subscriber cluster subscribed to a publication on the HA pair; the publisher fails over
// and the subscription is pointed at the new primary.
TEST_CASE("slots: a logical subscriber follows its publisher through a failover") {
  pgha::TempPrimary node1(logical_options());
  pgha::TempStandby node2(node1);
  bool failover = major_of(node1) >= 17;
  pgha::Options so;
  so.name = "subscriber";
  pgha::TempPrimary sub(so);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR TABLE t; "
                "INSERT INTO t VALUES (1), (2)");
  sub.execute("CREATE TABLE t (id int PRIMARY KEY)");
  sub.execute("CREATE SUBSCRIPTION sub CONNECTION " + pgha::detail::sql_literal(node1.conninfo()) +
              " PUBLICATION pub" + (failover ? " WITH (failover = true)" : ""));
  sub.wait_until("SELECT count(*) = 2 FROM t");
  node1.execute("INSERT INTO t VALUES (3)");
  sub.wait_until("SELECT count(*) = 3 FROM t");
  if (failover) node2.wait_for_slot_sync("sub");
  node1.execute("INSERT INTO t VALUES (4)");
  if (!failover) sub.wait_until("SELECT count(*) = 4 FROM t");

  node1.stop();
  node2.promote();
  std::string to_node2 = "ALTER SUBSCRIPTION sub CONNECTION " + pgha::detail::sql_literal(node2.conninfo());
  if (failover) {
    CHECK(slot_names(node2) == "sub");
  } else {
    // Before 17 the subscription's slot stayed on node1; a new one on node2 starts at
    // node2's current WAL position (anything written on node2 before it is never sent).
    CHECK(slot_names(node2).empty());
    node2.execute("SELECT pg_create_logical_replication_slot('sub', 'pgoutput')");
  }
  sub.execute(to_node2);
  node1.rejoin(node2);  // node2 commits wait for a synchronous standby again
  node2.execute("INSERT INTO t VALUES (5)");
  sub.wait_until("SELECT count(*) = 5 FROM t");
  CHECK(ids_of(sub) == ids_of(node2));
  CHECK(ids_of(sub) == std::vector<int>{1, 2, 3, 4, 5});
}

// The configuration dialects of slots, no server: what each version is given.
TEST_CASE("slots: configuration per version (no server)") {
  using namespace pgha::detail;
  auto input = [](int major, bool standby) {
    ConfigInput in;
    in.major = major;
    in.port = 5432;
    in.socket_dir = "/tmp/s";
    in.cluster_name = "n";
    in.standby = standby;
    in.primary_conninfo = "host=127.0.0.1 port=6432 user=replicauser";
    in.primary_slot_name = standby ? "pgslave001" : "";
    return in;
  };
  // 11: primary_slot_name goes into recovery.conf; postgresql.conf would stop the server.
  CHECK(server_settings(input(11, true)).count("primary_slot_name") == 0);
  CHECK_THAT(render_recovery_conf(input(11, true)),
             Catch::Matchers::ContainsSubstring("primary_slot_name = 'pgslave001'"));
  CHECK(server_settings(input(15, true)).at("primary_slot_name") == "pgslave001");
  // 17+ with slot sync: the standby's settings; none of them without it (16 has none).
  auto sync = input(17, true);
  sync.sync_slots = true;
  auto s = server_settings(sync);
  CHECK(s.at("sync_replication_slots") == "on");
  CHECK(s.at("hot_standby_feedback") == "on");
  CHECK_THAT(s.at("primary_conninfo"), Catch::Matchers::ContainsSubstring("dbname=postgres"));
  CHECK(server_settings(input(16, true)).count("sync_replication_slots") == 0);
  CHECK(server_settings(input(17, true)).count("sync_replication_slots") == 0);
  // The primary's synchronized_standby_slots; a user's value still wins.
  auto p = input(17, false);
  p.standby_slots = slot_list({"pgslave001", "pgslave002"});
  CHECK(server_settings(p).at("synchronized_standby_slots") == "pgslave001,pgslave002");
  p.settings["synchronized_standby_slots"] = "";
  CHECK(server_settings(p).at("synchronized_standby_slots").empty());
  // Which nodes use slots, and their names.
  pgha::Options o;
  CHECK_FALSE(uses_slot(o, 18));
  o.settings["wal_level"] = "logical";
  CHECK_FALSE(uses_slot(o, 16));
  CHECK(uses_slot(o, 17));
  o.settings.clear();
  o.replication_slots = true;
  CHECK(uses_slot(o, 11));
  CHECK(physical_slot_name("Standby 1") == "standby_1");
  CHECK(physical_slot_name(std::string(70, 'a')).size() == 63);
}
