// tests/endpoint.cpp: pgha::Endpoint and pgha::Link with real libpq clients: the Switch modes
// of point_to, Route::Primary across a failover, per-direction cuts on a replication link,
// toxics changed while traffic flows, limit_data, counters, and no fd/thread leak.
#include "support.hpp"
#include "endpoint_client.hpp"

#include <optional>
#include <thread>

using namespace std::chrono_literals;
using test::Client;
using test::Reply;

namespace {

// Polls `pred` every few ms until true or `timeout`: a wait for a condition, not a sleep.
template <class F>
bool eventually(F pred, std::chrono::milliseconds timeout = 10s) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(2ms);
  }
  return true;
}

long ms_since(std::chrono::steady_clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(
      std::chrono::steady_clock::now() - t).count());
}

}  // namespace

TEST_CASE("an Endpoint forwards a libpq client and counts its bytes and connections", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  CHECK(db.host() == "127.0.0.1");
  CHECK(db.port() != node1.port());
  CHECK(db.connections() == 0);
  {
    Client c(db.conninfo());
    REQUIRE(c.ok());
    CHECK(c.server_port() == node1.port());
    CHECK(db.connections() == 1);
    const auto up = db.link().bytes_up(), down = db.link().bytes_down();
    CHECK(c.exec("SELECT repeat('x', 10000)").value.size() == 10000);
    // Counted after send() returns, which may be just after the client read the bytes.
    CHECK(eventually([&] { return db.link().bytes_down() >= down + 10000; }));
    CHECK(db.link().bytes_up() > up);
  }
  CHECK(eventually([&] { return db.connections() == 0; }));
}

TEST_CASE("point_to with Switch::Reset: the open client fails at once - new ones reach the new node", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint db(node1);
  Client c(db.conninfo());
  REQUIRE(c.ok());
  REQUIRE(c.exec("SELECT 1").ok);
  db.point_to(node2);  // Switch::Reset is the default
  // No client timeout is set: the call returns only because the RST arrived. libpq reports
  // the broken connection itself (no SQLSTATE): "server closed the connection unexpectedly"
  // or "could not receive data from server: Connection reset by peer".
  Reply r = c.exec("SELECT 1");
  CHECK_FALSE(r.ok);
  CHECK(r.sqlstate == "");
  CHECK(!c.ok());
  INFO("libpq said: " << r.error);
  CHECK((r.error.find("server closed the connection unexpectedly") != std::string::npos ||
         r.error.find("Connection reset by peer") != std::string::npos));
  Client d(db.conninfo());
  REQUIRE(d.ok());
  CHECK(d.server_port() == node2.port());
}

TEST_CASE("point_to with Switch::Blackhole: the open client hangs until its own deadline", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint db(node1);
  // Aggressive TCP-level timeouts, which would end the wait on a real VIP move (the
  // segments vanish there). Through the relay they never fire: its kernel still
  // acknowledges every segment and keepalive probe on loopback.
  Client c(db.conninfo() + " tcp_user_timeout=300 keepalives=1 keepalives_idle=1"
                           " keepalives_interval=1 keepalives_count=1");
  REQUIRE(c.ok());
  REQUIRE(c.exec("SELECT 1").ok);
  db.point_to(node2, pgha::Switch::Blackhole);
  REQUIRE(c.send("SELECT 1"));
  // The query goes nowhere and no error comes back: only the application's own deadline
  // (here 2.5 s, past the keepalive and tcp_user_timeout) ends the wait.
  CHECK_FALSE(c.wait_reply(2500ms));
  CHECK(c.ok());  // libpq still thinks the connection is fine
  CHECK(db.connections() == 1);
  Client d(db.conninfo());  // new connections go to the new node meanwhile
  REQUIRE(d.ok());
  CHECK(d.server_port() == node2.port());
  { Client gone = std::move(c); }  // the app gives up: closes its socket
  CHECK(eventually([&] { return db.connections() == 1; }));  // only d is left
}

TEST_CASE("point_to with Switch::Keep: the open client still writes to the old primary", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (who text)");
  pgha::Endpoint db(node1);
  Client old_client(db.conninfo());
  REQUIRE(old_client.ok());
  db.point_to(node2, pgha::Switch::Keep);
  Client new_client(db.conninfo());
  REQUIRE(new_client.ok());
  CHECK(new_client.server_port() == node2.port());
  Reply w = old_client.exec("INSERT INTO t VALUES ('old client')");
  CHECK(w.ok);  // the trap: it still lands on node1
  CHECK(old_client.server_port() == node1.port());
  Reply ro = new_client.exec("INSERT INTO t VALUES ('new client')");
  CHECK(ro.sqlstate == "25006");  // read_only_sql_transaction: node2 is a standby
  CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("Route::Primary follows a FailoverGuard - Route::Standby the other way", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);
  pgha::Endpoint ro({&node1, &node2}, pgha::Route::Standby);
  CHECK(Client(rw.conninfo()).server_port() == node1.port());
  CHECK(Client(ro.conninfo()).server_port() == node2.port());
  {
    pgha::FailoverGuard g(node1, node2);
    Client c(rw.conninfo());
    REQUIRE(c.ok());
    CHECK(c.server_port() == node2.port());
    CHECK(c.exec("SELECT pg_is_in_recovery()").value == "f");  // a primary: writes would wait for node1
    // node1 is stopped: no standby to route to, the connection is reset.
    Client none(ro.conninfo());
    CHECK_FALSE(none.ok());
    INFO("libpq said: " << none.error());
    CHECK(ro.refused() == 1);
  }
  CHECK(Client(rw.conninfo()).server_port() == node2.port());
  CHECK(Client(ro.conninfo()).server_port() == node1.port());
}

TEST_CASE("cutting an Endpoint's link: Reset refuses at once - Blackhole hangs until connect_timeout", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  db.link().cut(pgha::LinkCut::Reset);
  CHECK(db.link().is_cut());
  Client refused(db.conninfo());
  CHECK_FALSE(refused.ok());
  db.link().cut(pgha::LinkCut::Blackhole);
  const auto t0 = std::chrono::steady_clock::now();
  Client hung(db.conninfo() + " connect_timeout=2");
  CHECK_FALSE(hung.ok());
  CHECK_THAT(hung.error(), Catch::Matchers::ContainsSubstring("timeout expired"));
  CHECK(ms_since(t0) >= 1000);  // libpq's connect_timeout fired, nothing else
  db.link().heal();
  CHECK(Client(db.conninfo()).ok());
}

TEST_CASE("an Upstream-only cut of the replication link lets WAL in but no confirmation out", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  pgha::Link& l = node2.replication_link();
  SECTION("Upstream only: the standby has the row, the primary's commit still waits") {
    l.cut(pgha::LinkCut::Blackhole, pgha::Direction::Upstream);
    auto p = node1.execute_async("INSERT INTO t VALUES (1)");
    node2.wait_until("SELECT count(*) = 1 FROM t");  // WAL arrived and was replayed
    CHECK_FALSE(p.wait_for(300ms));
    CHECK(test::wait_event(node1, p.backend_pid()) == "SyncRep");
    l.heal();
    REQUIRE(p.wait_for(30s));
  }
  SECTION("Both ways: the standby never sees the row while the commit waits") {
    l.cut(pgha::LinkCut::Blackhole);
    auto p = node1.execute_async("INSERT INTO t VALUES (1)");
    CHECK_FALSE(p.wait_for(300ms));
    CHECK(test::wait_event(node1, p.backend_pid()) == "SyncRep");
    CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "0");
    l.heal();
    REQUIRE(p.wait_for(30s));
    CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
  }
}

TEST_CASE("delay and bandwidth compose and can be changed while a result streams") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  Client c(db.conninfo());
  REQUIRE(c.ok());
  db.link().delay(100ms, 20ms);
  auto t0 = std::chrono::steady_clock::now();
  REQUIRE(c.exec("SELECT 1").ok);
  CHECK(ms_since(t0) >= 160);  // at least 80 ms each way: a round trip cannot be faster
  db.link().bandwidth(64 * 1024);
  const std::size_t size = 1 << 20;  // 16 s at 64 KiB/s
  const auto down0 = db.link().bytes_down();
  REQUIRE(c.send("SELECT repeat('x', " + std::to_string(size) + ")"));
  REQUIRE(eventually([&] { return db.link().bytes_down() > down0 + 32 * 1024; }));
  const auto mid = db.link().bytes_down() - down0;
  CHECK(mid < size);  // still streaming when the toxics change
  db.link().bandwidth(0);
  db.link().delay(0ms);
  Reply r;
  REQUIRE(c.wait_reply(30s, &r));
  CHECK(r.value.size() == size);
}

TEST_CASE("limit_data closes each connection after so many bytes - reset_connections resets what is open") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  Client a(db.conninfo()), b(db.conninfo());
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(db.connections() == 2);
  db.link().reset_connections();
  CHECK(db.connections() == 0);
  CHECK_FALSE(a.exec("SELECT 1").ok);
  CHECK_FALSE(b.exec("SELECT 1").ok);
  Client c(db.conninfo());  // new connections pass
  REQUIRE(c.ok());
  db.link().limit_data(16 * 1024);
  const auto before = db.link().bytes_up() + db.link().bytes_down();
  Reply r = c.exec("SELECT repeat('x', 100000)");
  CHECK_FALSE(r.ok);
  INFO("libpq said: " << r.error);
  CHECK_THAT(r.error, Catch::Matchers::ContainsSubstring("server closed the connection unexpectedly"));
  CHECK(db.link().bytes_up() + db.link().bytes_down() - before <= 16 * 1024);
  db.link().limit_data(0);
  Client d(db.conninfo());
  REQUIRE(d.ok());
  CHECK(d.exec("SELECT repeat('x', 100000)").value.size() == 100000);
}

TEST_CASE("bad endpoint arguments throw at once") {
  CHECK_THROWS_AS(pgha::Endpoint({}, pgha::Route::Primary), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Endpoint({nullptr}, pgha::Route::Any), pgha::UsageError);
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  CHECK_THROWS_AS(db.link().delay(-1ms), pgha::UsageError);
}

TEST_CASE("a node destroyed behind an Endpoint counts as stopped - its connections are reset", "[tsan]") {
  pgha::TempPrimary node1;
  std::optional<pgha::TempStandby> node2;
  node2.emplace(node1);
  std::optional<pgha::TempPrimary> other;
  other.emplace();
  pgha::Endpoint pinned(*other);
  pgha::Endpoint any({&*node2, &node1}, pgha::Route::Standby);
  {
    Client c(any.conninfo());
    REQUIRE(c.ok());
    CHECK(c.server_port() == node2->port());
  }
  other.reset();  // the endpoint's only node is gone
  node2.reset();  // the Route::Standby endpoint's only standby is gone
  Client a(pinned.conninfo());
  CHECK_FALSE(a.ok());  // reset by the endpoint, never forwarded to the old port
  // libpq words the reset by when it lands: after the TCP handshake ("server closed the
  // connection unexpectedly") or during it ("Connection reset by peer"). Either way no
  // server answered (the bug was a password failure from whatever server took the port).
  CHECK_THAT(a.error(), Catch::Matchers::ContainsSubstring("server closed the connection unexpectedly") ||
                            Catch::Matchers::ContainsSubstring("Connection reset by peer"));
  CHECK(pinned.refused() == 1);
  Client b(any.conninfo());
  CHECK_FALSE(b.ok());
  CHECK(any.refused() == 1);
}

TEST_CASE("a Partition heals around a node destroyed inside its scope") {
  pgha::TempPrimary node1;
  std::optional<pgha::TempStandby> node2;
  node2.emplace(node1);
  pgha::TempStandby node3(node1);
  {
    pgha::Partition p({&node1}, {&*node2, &node3});
    CHECK(p.links_cut() == 2);
    node2.reset();  // its link went with it; heal() must not touch it (ASan checks)
  }
  CHECK_FALSE(node3.replication_link().is_cut());
  node1.execute("CREATE TABLE healed (id int)");
  node1.wait_for_catchup(node3);
  CHECK(node3.query("SELECT count(*) FROM healed").value(0, 0) == "0");
}

TEST_CASE("an Endpoint leaves no descriptor and no thread behind", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("SELECT 1");  // the node's own sessions exist before counting
  REQUIRE(pgha::detail::background().wait_idle(std::chrono::seconds(10)));  // its copies hold fds
  const int fds = test::open_fds(), threads = test::threads();
  {
    pgha::Endpoint db(node1);
    pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);
    CHECK(test::threads() == threads + 2);
    Client a(db.conninfo()), b(rw.conninfo()), c(db.conninfo());
    REQUIRE(c.ok());
    db.point_to(node2, pgha::Switch::Blackhole);  // a and c frozen, as at destruction
    db.link().delay(1s);
    Client d(db.conninfo());
    REQUIRE(d.ok());
  }
  CHECK(test::threads() == threads);
  CHECK(test::open_fds() == fds);
}
