// tests/partition.cpp: cutting and healing the replication link while both servers run.
#include "support.hpp"

using namespace std::chrono_literals;

TEST_CASE("a reset link blocks sync commits while both servers run, healing releases them", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table t (x int)");
  node2.cut_link(pgha::LinkCut::Reset);
  node1.wait_until("SELECT count(*) = 0 FROM pg_stat_replication");  // the walsender saw the reset
  auto p = node1.execute_async("insert into t values (1)");
  CHECK_FALSE(p.wait_for(500ms));
  CHECK(test::wait_event(node1, p.backend_pid()) == "SyncRep");
  CHECK(node1.is_running());
  CHECK(node2.is_running());
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "0");
  node2.heal_link();
  REQUIRE(p.wait_for(30s));  // the standby reconnects and confirms
  CHECK(p.get().command_status() == "INSERT 0 1");
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
  CHECK(test::sync_state(node1) == "streaming/sync");
}

TEST_CASE("a blackholed link is noticed only through the replication timeouts", "[tsan]") {
  pgha::Options o;
  o.settings["wal_sender_timeout"] = "2s";
  o.settings["wal_receiver_timeout"] = "2s";
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);
  node1.execute("create table t (x int)");
  node2.cut_link(pgha::LinkCut::Blackhole);
  auto p = node1.execute_async("insert into t values (1)");
  CHECK_FALSE(p.wait_for(300ms));
  // No reset reached anyone: the walsender is dropped by its own timeout.
  node1.wait_until("SELECT count(*) = 0 FROM pg_stat_replication", 30s);
  CHECK_THAT(node1.log_tail(50), Catch::Matchers::ContainsSubstring("replication timeout"));
  node2.heal_link();
  REQUIRE(p.wait_for(30s));
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("a delayed link delays confirmations, not correctness", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table t (x int)");
  node2.set_link_delay(300ms);
  auto p = node1.execute_async("insert into t values (1)");
  // The relay holds every chunk 300 ms each way: no confirmation can arrive in 50 ms.
  CHECK_FALSE(p.wait_for(50ms));
  REQUIRE(p.wait_for(30s));
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
  node2.set_link_delay(0ms);
}

TEST_CASE("link calls on a node without a relayed link are StateErrors", "[tsan]") {
  pgha::TempPrimary node1;
  CHECK_THROWS_AS(node1.cut_link(), pgha::StateError);
  pgha::Options direct = node1.options();
  direct.relay = false;
  pgha::TempStandby node2(node1, direct);
  CHECK(test::sync_state(node1) == "streaming/sync");
  CHECK_THROWS_WITH(node2.cut_link(), Catch::Matchers::ContainsSubstring("Options::relay = false"));
}

TEST_CASE("losing the sync standby: commits block, pg_stat_replication changes") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table t (x int)");
  CHECK(test::sync_state(node1) == "streaming/sync");
  node2.stop();
  // The primary notices the standby's disconnection asynchronously.
  node1.wait_until("SELECT count(*) = 0 FROM pg_stat_replication");
  CHECK(test::sync_state(node1) == "absent");
  auto p = node1.execute_async("insert into t values (1)");
  CHECK_FALSE(p.wait_for(300ms));
  node2.start();
  REQUIRE(p.wait_for(30s));
  CHECK(test::sync_state(node1) == "streaming/sync");
}

// --- pgha::Partition: split brain ---

TEST_CASE("a Partition and a promote give two primaries - rejoin discards the old side's writes") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (who text)");
  node1.execute("INSERT INTO t VALUES ('before')");
  node1.wait_for_catchup(node2);
  // node2 listed first: during the split it is a primary too, and only the Partition keeps
  // the endpoint away from it.
  pgha::Endpoint rw({&node2, &node1}, pgha::Route::Primary);
  // Both sides commit locally: with the link cut no sync standby can confirm anything.
  node1.execute("SET synchronous_commit = local");
  {
    pgha::Partition p({&node1}, {&node2});
    CHECK(p.links_cut() == 1);
    CHECK(node2.replication_link().is_cut());
    node2.promote();  // two primaries now
    node2.execute("SET synchronous_commit = local");
    CHECK(node1.role() == pgha::Role::Primary);
    CHECK(node2.role() == pgha::Role::Primary);
    node1.execute("INSERT INTO t VALUES ('node1 split')");
    node2.execute("INSERT INTO t VALUES ('node2 split')");
    // The endpoint stays with the first group: the app writes to node1 too.
    pgha::Connection app(rw.conninfo(), std::chrono::seconds(10));
    CHECK(std::stoi(app.execute("SELECT inet_server_port()").value(0, 0)) == node1.port());
    app.execute("SET synchronous_commit = local");
    app.execute("INSERT INTO t VALUES ('app via endpoint')");
    CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "3");
    CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "2");
  }
  // Healed, but both are still primaries: the first listed one gets new connections.
  CHECK(node1.role() == pgha::Role::Primary);
  {
    pgha::Connection healed(rw.conninfo(), std::chrono::seconds(10));
    CHECK(std::stoi(healed.execute("SELECT inet_server_port()").value(0, 0)) == node2.port());
  }
  const pgha::RejoinMethod m = node1.rejoin(node2);
  CHECK(m != pgha::RejoinMethod::Resumed);  // diverged: rewound or re-cloned
  CHECK(node1.query("SELECT string_agg(who, ',' ORDER BY who) FROM t").value(0, 0) == "before,node2 split");
  pgha::Connection app(rw.conninfo(), std::chrono::seconds(10));
  CHECK(std::stoi(app.execute("SELECT inet_server_port()").value(0, 0)) == node2.port());
}

TEST_CASE("a Partition cuts nothing between nodes that do not stream from each other and rejects bad groups") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::TempStandby node3(node1);
  CHECK_THROWS_AS(pgha::Partition({&node1}, {&node1}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Partition({nullptr}, {&node1}), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::Partition({}, {&node1}), Catch::Matchers::ContainsSubstring("an empty group"));
  CHECK_THROWS_AS(pgha::Partition({&node1}, {}), pgha::UsageError);
  CHECK_FALSE(node2.replication_link().is_cut());
  {
    pgha::Partition p({&node2}, {&node3});
    CHECK(p.links_cut() == 0);
  }
  {
    pgha::Partition p({&node1, &node2}, {&node3}, pgha::LinkCut::Reset);
    CHECK(p.links_cut() == 1);
    CHECK(node3.replication_link().is_cut());
    CHECK_FALSE(node2.replication_link().is_cut());
    node1.wait_until("SELECT count(*) = 1 FROM pg_stat_replication");  // node3's walsender is gone
  }
  CHECK_FALSE(node3.replication_link().is_cut());
  node1.wait_until("SELECT count(*) = 2 FROM pg_stat_replication");
}
