// tests/os_faults.cpp: the faults that need the operating system's help (issue 24, part 4):
// LinkCut::Drop (the kernel drops a link's packets, so the client's own TCP timeouts fire)
// and Node::exhaust_wal_space (a full WAL disk). Both need root; elsewhere they report
// SKIPPED with the reason, and the SetupError is checked instead.
#include "support.hpp"

#include <unistd.h>

#include <chrono>
#include <fstream>
#include <string>

using namespace std::chrono_literals;

namespace {

// Waits until the node's server is gone (it PANICked and its crash recovery failed), bounded.
bool os_faults_wait_down(pgha::Node& n, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (n.is_running()) {
    if (std::chrono::steady_clock::now() > deadline) return false;
    std::this_thread::sleep_for(5ms);  // polls a real condition, bounded
  }
  return true;
}

// Whether the kernel is told to drop the packets of `port` now: this process's nftables
// table, as nft lists it (not pgha's own bookkeeping).
bool os_faults_dropping(int port) {
  const std::string out = test::nft_says("list table inet " + pgha::detail::PacketDrop::table_name(::getpid()));
  const std::string p = std::to_string(port);
  for (std::size_t at = out.find(p); at != std::string::npos; at = out.find(p, at + 1)) {
    const bool left = at > 0 && (out[at - 1] == ' ' || out[at - 1] == '{');
    const bool right = at + p.size() < out.size() && (out[at + p.size()] == ' ' || out[at + p.size()] == ',');
    if (left && right) return true;
  }
  return false;
}

// Whether something is mounted on a path ending in `tail` now, as the kernel lists it (a
// node's directory is renamed when it goes: a mount left inside would move with it).
bool os_faults_mounted(const std::string& tail) {
  std::ifstream m("/proc/self/mounts");
  for (std::string line; std::getline(m, line);)
    if (line.find(tail + " ") != std::string::npos) return true;
  return false;
}

}  // namespace

TEST_CASE("LinkCut::Drop: the kernel's rule goes with the heal, and with a link destroyed while cut") {
  if (!pgha::Link::drop_available()) PGHA_SKIP("LinkCut::Drop needs nftables and root here");
  pgha::TempPrimary node1;
  pgha::Endpoint ep(node1);
  ep.link().cut(pgha::LinkCut::Drop, pgha::Direction::Downstream);
  CHECK(os_faults_dropping(ep.port()));
  ep.link().heal();
  CHECK_FALSE(os_faults_dropping(ep.port()));
  int port = 0;
  {
    pgha::Endpoint gone(node1);
    port = gone.port();
    gone.link().cut(pgha::LinkCut::Drop);
    CHECK(os_faults_dropping(port));
  }
  CHECK_FALSE(os_faults_dropping(port));
}

TEST_CASE("exhaust_wal_space: a node destroyed while its WAL space is exhausted leaves no mount behind") {
  if (!pgha::Node::wal_space_available()) PGHA_SKIP("exhaust_wal_space needs root (a mount) here");
  std::string wal;
  {
    pgha::TempPrimary node1;
    const std::string data = node1.data_dir();  // <base>/pgha-node-XXXXXX/data
    wal = data.substr(data.rfind("/pgha-node-") + 1) + "/pg_wal";
    node1.exhaust_wal_space();
    CHECK(os_faults_mounted(wal));
  }
  CHECK_FALSE(os_faults_mounted(wal));
}

TEST_CASE("LinkCut::Drop: a client with tcp_user_timeout gets its own TCP error, a blackholed one waits for its deadline") {
  std::string why;
  if (!pgha::Link::drop_available(&why)) {
    CHECK_THROWS_AS(pgha::Link("127.0.0.1", 1).cut(pgha::LinkCut::Drop), pgha::SetupError);
    PGHA_SKIP("LinkCut::Drop needs nftables and root here: " << why);
  }
  pgha::TempPrimary node1;
  pgha::Endpoint ep(node1);
  const std::string ci = ep.conninfo() + " tcp_user_timeout=1000";

  // Drop: the kernel acknowledges nothing, so the client's TCP gives up on its own.
  pgha::Connection c(ci, 30s);
  CHECK(c.query("SELECT 1").value(0, 0) == "1");
  ep.link().cut(pgha::LinkCut::Drop);
  CHECK(ep.link().is_cut());
  const auto t0 = std::chrono::steady_clock::now();
  try {
    c.execute("SELECT 1", 20s);
    FAIL("the query went through a dropped link");
  } catch (const pgha::TimeoutError& e) {
    FAIL("the client waited for its own deadline instead of its TCP timeout: " << e.what());
  } catch (const pgha::ConnectionError& e) {
    INFO(e.what());
    CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("timed out"));
  }
  std::cout << "LinkCut::Drop: the client's error came after "
            << std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0).count()
            << " ms (tcp_user_timeout=1000)\n";
  ep.link().heal();
  CHECK_FALSE(ep.link().is_cut());
  CHECK(pgha::Connection(ci, 10s).query("SELECT 2").value(0, 0) == "2");

  // Blackhole: the relay's kernel acknowledges every byte, so the same client waits for its
  // own deadline: the difference Drop exists for.
  pgha::Connection b(ci, 30s);
  ep.link().cut(pgha::LinkCut::Blackhole);
  CHECK_THROWS_AS(b.execute("SELECT 1", 2500ms), pgha::TimeoutError);
  ep.link().heal();
}

TEST_CASE("LinkCut::Drop per direction, healed, and in a Partition: the standby streams again afterwards") {
  if (!pgha::Link::drop_available()) PGHA_SKIP("LinkCut::Drop needs nftables and root here");
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Link& link = node2.replication_link();
  link.cut(pgha::LinkCut::Drop, pgha::Direction::Upstream);
  CHECK(link.is_cut());
  link.heal();
  CHECK_FALSE(link.is_cut());
  node1.execute("CREATE TABLE t (id int)");  // a sync commit: the standby streams
  node1.wait_for_catchup(node2);
  {
    pgha::Partition p({&node1}, {&node2}, pgha::LinkCut::Drop);
    CHECK(link.is_cut());
    node1.set_sync_mode(pgha::SyncMode::Async);  // a sync commit would wait for the partition
    node1.execute("INSERT INTO t VALUES (1)");
    // The row does not reach the standby while the packets are dropped. A short wait: the
    // longer the partition, the longer TCP's retransmission backoff makes the walreceiver's
    // connection take to resume after the heal (30 s of drops cost 24 s more after it).
    CHECK_THROWS_AS(node2.wait_until("SELECT count(*) = 1 FROM t", 2s), pgha::TimeoutError);
  }
  CHECK_FALSE(link.is_cut());
  node1.wait_for_catchup(node2);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("LinkCut::Drop: a value outside the enumeration is a UsageError at once") {
  pgha::Link l("127.0.0.1", 1);
  CHECK_THROWS_AS(l.cut(static_cast<pgha::LinkCut>(7)), pgha::UsageError);
  CHECK(std::string(pgha::to_string(pgha::LinkCut::Drop)) == "drop");
}

TEST_CASE("exhaust_wal_space: the primary's next write fails with ENOSPC, the server stays down, a failover moves on, and it rejoins after release_wal_space") {
  std::string why;
  if (!pgha::Node::wal_space_available(&why)) {
    pgha::TempPrimary lone;
    CHECK_THROWS_AS(lone.exhaust_wal_space(), pgha::SetupError);
    PGHA_SKIP("exhaust_wal_space needs root (a mount) here: " << why);
  }
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (id int)");
  node1.execute("INSERT INTO t VALUES (1)");
  const std::size_t off = node1.log_offset();
  node1.exhaust_wal_space();
  CHECK(node1.wal_space_exhausted());
  node1.exhaust_wal_space();  // again: no change
  CHECK(node1.query("SHOW restart_after_crash").value(0, 0) == "off");  // a PANIC keeps it down
  // The next write cannot get its WAL to disk: never acknowledged.
  CHECK_THROWS_AS(node1.execute("INSERT INTO t VALUES (2)"), pgha::Error);
  CHECK_THAT(node1.wait_for_log("No space left on device", off), Catch::Matchers::ContainsSubstring("PANIC"));
  REQUIRE(os_faults_wait_down(node1, 30s));
  CHECK_THROWS_AS(node1.start(), pgha::StateError);
  CHECK_THROWS_AS(node1.rejoin(node2), pgha::StateError);

  {
    pgha::FailoverGuard g(node1, node2);  // node1 is down already: node2 is promoted
    CHECK(node2.role() == pgha::Role::Primary);
    CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");  // 2 was never acknowledged
    node1.release_wal_space();
    CHECK_FALSE(node1.wal_space_exhausted());
    node1.release_wal_space();  // again: nothing to do
    g.rejoin();
  }
  node2.execute("INSERT INTO t VALUES (3)");
  CHECK(node1.role() == pgha::Role::Standby);
  CHECK(node1.query("SELECT string_agg(id::text, ',' ORDER BY id) FROM t").value(0, 0) == "1,3");
}

TEST_CASE("exhaust_wal_space in a TempCluster: failover() from the primary that went down moves on, and it rejoins after release") {
  if (!pgha::Node::wal_space_available()) PGHA_SKIP("exhaust_wal_space needs root (a mount) here");
  pgha::TempCluster c(3);
  pgha::Node& old = c.primary();
  old.execute("CREATE TABLE t (id int)");
  old.exhaust_wal_space();
  CHECK_THROWS_AS(old.execute("INSERT INTO t VALUES (1)"), pgha::Error);
  REQUIRE(os_faults_wait_down(old, 30s));
  pgha::Node& now = c.failover();
  CHECK(&now != &old);
  now.execute("INSERT INTO t VALUES (2)");
  old.release_wal_space();
  c.rejoin_stopped();
  now.execute("INSERT INTO t VALUES (3)");
  CHECK(old.role() == pgha::Role::Standby);
  CHECK(old.query("SELECT string_agg(id::text, ',' ORDER BY id) FROM t").value(0, 0) == "2,3");
}

TEST_CASE("exhaust_wal_space on a stopped node: start() says to release first, and starts after the release") {
  if (!pgha::Node::wal_space_available()) PGHA_SKIP("exhaust_wal_space needs root (a mount) here");
  pgha::TempPrimary node1;
  node1.execute("CREATE TABLE t (id int); INSERT INTO t VALUES (1)");
  node1.stop();
  node1.exhaust_wal_space();
  CHECK(node1.wal_space_exhausted());
  CHECK_THROWS_WITH(node1.start(), Catch::Matchers::ContainsSubstring("release_wal_space() first"));
  CHECK_FALSE(node1.is_running());
  node1.release_wal_space();
  node1.start();
  node1.execute("INSERT INTO t VALUES (2)");  // restart_after_crash and pg_wal are back
  CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "2");
  CHECK(node1.query("SHOW restart_after_crash").value(0, 0) == "on");
}
