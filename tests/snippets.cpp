// tests/snippets.cpp: every C++ block of README.md and docs/*.md, line for line, compiled into
// pgha_tests and run by ctest. scripts/check-doc-snippets.sh (ctest: docs.snippets) fails
// when a block of the docs is not here. Each block stands as the docs show it; what a block
// needs around it (the nodes it names, the application's service) is written around it here.

// README.md, the 30-second example (a whole test file):
#include <pgha/pgha.hpp>
#include <pgha/catch2.hpp>                      // Catch2 v2 or v3: server logs of a failing test

TEST_CASE("a failover and a rejoin") {
  pgha::TempPrimary node1;                      // initdb (cached), configure, start on a free port
  pgha::TempStandby node2(node1);               // synchronous standby, streaming
  node1.execute("create table test (id int, name varchar(100))");
  node1.execute("insert into test values (1,'1')");  // returns once node2 applied it (remote_apply)
  REQUIRE(node2.query("select name from test where id = 1").value(0, 0) == "1");
  REQUIRE_THROWS_AS(node2.execute("insert into test values (2,'2')"),
                    pgha::QueryError);          // a standby: sqlstate() "25006"

  node1.stop();                                 // fast shutdown
  node2.promote();                              // returns once node2 accepts writes
  pgha::PendingQuery p = node2.execute_async("insert into test values (2,'2')");
  REQUIRE_FALSE(p.wait_for(std::chrono::milliseconds(500)));  // blocked: no sync standby
  node1.rejoin(node2);                          // node1 becomes node2's sync standby
  REQUIRE(p.wait_for(std::chrono::seconds(10)));  // the insert returned
  {
    pgha::FailoverGuard guard(node2, node1);    // stops node2, promotes node1
  }                                             // scope exit: node2 rejoins as standby of node1
  REQUIRE(node2.query("select count(*) from test").value(0, 0) == "2");
}

// docs/frameworks.md: the Catch2 fixtures.
#include <pgha/catch2.hpp>   // Catch2 v2 or v3; any TU, any include order, no macro


TEST_CASE_METHOD(pgha::catch2::PrimaryFixture, "a primary takes writes") {
  primary().execute("create table t (id int)");
  REQUIRE(primary().execute("insert into t values (1)").affected_rows() == 1);
}
TEST_CASE_METHOD(pgha::catch2::ClusterFixture<2>, "two sync standbys see the table") {  // 3 nodes
  primary().execute("create table t (id int); insert into t values (1)");
  for (std::size_t i = 0; i < standby_count(); ++i)  // remote_apply: every standby has the row
    REQUIRE(standby(i).query("select * from t").rows() == 1);
}
TEST_CASE("a shared pair reset between tests") {
  auto& c = pgha::catch2::shared_cluster();
  c.reset();                                   // 17-85 ms instead of ~300 ms for a fresh pair
  c.primary().execute("create table t (id int)");
  REQUIRE(c.standby().query("select count(*) from t").value(0, 0) == "0");
}

// docs/history.md, the pattern around an application's own write: a small service that
// writes orders through its own connection and tells its callers what happened.
#include <optional>
#include <stdexcept>
#include "support.hpp"

namespace snippet_history {
struct Rejected : std::runtime_error { using std::runtime_error::runtime_error; };
struct Unknown : std::runtime_error { using std::runtime_error::runtime_error; };
struct OrdersService {
  pgha::Connection db;
  void place_order(const std::string& customer, const std::string& order_id) {
    try {
      db.execute("insert into orders values ($1, $2)", {customer, order_id});
    } catch (const pgha::QueryError& e) {
      throw Rejected(e.what());
    } catch (const pgha::ConnectionError& e) {
      throw Unknown(e.what());
    }
  }
};
}  // namespace snippet_history

TEST_CASE("docs: the History pattern around an application's write gives an honest verdict") {
  using snippet_history::Rejected;
  using snippet_history::Unknown;
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table orders (customer text, order_id text)");
  snippet_history::OrdersService service{node1.connect()};
  pgha::History history;
  const std::string customer = "alice", order_id = "1001";
  pgha::Op op = history.invoke(customer, order_id);  // about to append order_id to customer
  try { service.place_order(customer, order_id); op.ok(); }  // the caller was told: committed
  catch (const Rejected& e) { op.fail(e.what()); }    // told: definitely not
  catch (const Unknown& e) { op.unknown(e.what()); }  // told: don't know (lost during COMMIT)
  pgha::Verdict v = history.check(node2.query("SELECT customer, order_id FROM orders"));
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.acknowledged() == 1);
  // The same check against a table that lacks the order: the verdict must see it lost.
  node1.execute("delete from orders");
  CHECK_FALSE(history.check(node2.query("SELECT customer, order_id FROM orders")).ok());
}

// docs/history.md, the Workload.
TEST_CASE("docs: a Workload through a crash failover loses nothing on RemoteApply") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Workload w(node1.conninfo(), 4);   // or multi_host_conninfo({&node1, &node2})
  w.start();
  w.wait_for_acknowledged(100);
  { pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash); }
  w.stop();                                // bounded even when clients are blocked
  pgha::Verdict v = w.check(node2);        // reads its table on node2
  REQUIRE(v.ok());                         // RemoteApply: nothing acknowledged lost
}

// README.md and docs/history.md, the application's own call in a Workload and its outage.
// The service opens a connection per call (the call runs on 4 client threads at once).
namespace snippet_history {
struct PerCallOrders {
  std::string conninfo;
  void place_order(const std::string& customer, const std::string& order_id) {
    std::optional<pgha::Connection> db;
    try {
      db.emplace(conninfo, std::chrono::seconds(2), "orders");
    } catch (const pgha::Error& e) {
      throw Rejected(e.what());  // nothing was sent
    }
    try {
      db->execute("insert into orders values ($1, $2)", {customer, order_id});
    } catch (const pgha::QueryError& e) {
      throw Rejected(e.what());  // refused (25006 on a standby): not committed
    }  // a ConnectionError propagates: the outcome is unknown
  }
};
}  // namespace snippet_history

TEST_CASE("docs: the application's own call in a Workload through a crash failover, its outage measured") {
  using snippet_history::Rejected;
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table orders (customer text, order_id text)");
  snippet_history::PerCallOrders service{pgha::multi_host_conninfo({&node1, &node2})};
  pgha::Workload w([&](pgha::Op& op, const pgha::Attempt& a) {
    try { service.place_order(a.key, a.value); }     // returns: acknowledged (ok)
    catch (const Rejected& e) { op.fail(e.what()); }  // told: definitely not; other throws: unknown
  }, 4);                                             // 4 client threads call your own code
  w.start();
  w.wait_for_acknowledged(100);
  { pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash); }
  w.stop();
  pgha::Verdict v = w.check(node2, "select customer, order_id from orders");  // (key, value) rows
  REQUIRE(v.ok());                                 // nothing acknowledged lost, nothing failed present
  std::chrono::milliseconds outage = v.longest_gap();  // the longest time without an acknowledged order
  std::vector<pgha::Gap> gaps = v.gaps(std::chrono::milliseconds(100));  // on the events' clock
  INFO(v.summary());
  CHECK(outage.count() >= 0);
  for (const pgha::Gap& g : gaps) CHECK(g.length() >= std::chrono::milliseconds(100));
}

// docs/history.md, a read recorded by hand.
TEST_CASE("docs: a read recorded in a History") {
  pgha::History history;
  history.invoke("alice", "1001").ok();
  pgha::Op r = history.read("alice");               // about to read alice's orders
  r.ok(std::vector<std::string>{"1001"});           // the values the read observed
  pgha::Verdict v = history.check({{"alice", "1001"}});
  CHECK(v.ok());
  CHECK(v.reads() == 1);
}

// README.md and docs/history.md, the built-in workload's reads through a standby.
TEST_CASE("docs: reads through a Route::Standby endpoint with RemoteApply are never stale") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint replica({&node1, &node2}, pgha::Route::Standby);
  pgha::WorkloadOptions wo;
  wo.read_fraction = 0.5;                  // half of the operations read the key last written ...
  wo.read_conninfo = replica.conninfo();   // ... through the standby
  pgha::Workload r(node1.conninfo(), 8, wo);
  r.start();
  r.wait_for_acknowledged(500);
  r.stop();
  REQUIRE(r.check(node1).stale_reads().empty());  // RemoteApply; SyncMode::On or Async: stale reads
  CHECK(r.check(node1).reads() > 0);
}

// docs/slots.md: a failover slot through a failover (PostgreSQL 17+).
TEST_CASE("docs: slots and logical decoding through a failover") {
  {
    pgha::TempPrimary probe;
    if (probe.server_version_num() < 170000)
      PGHA_SKIP("failover slots need PostgreSQL 17; this is " << probe.server_version_num());
  }
  pgha::Options o;
  o.replication_slots = true;                  // standbys stream through physical slots
  o.settings["wal_level"] = "logical";         // logical decoding; on 17+ also failover slots
  pgha::TempPrimary node1(o);
  pgha::TempStandby node2(node1);              // on 17+ configured to sync failover slots
  node1.create_logical_slot("cdc", "test_decoding", /*failover=*/true);  // 17+ only
  std::vector<pgha::Change> ch = node1.read_changes("cdc");  // reads and confirms
  node2.wait_for_slot_sync("cdc");             // 17+: node2's synced copy caught up
  CHECK(node2.query("SELECT synced FROM pg_replication_slots WHERE slot_name = 'cdc'").value(0, 0) == "t");
}

// docs/faults.md: an Endpoint, a Link and a Partition.
TEST_CASE("docs: an Endpoint, links and a partition", "[tsan]") {
  using namespace std::chrono_literals;
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint db(node1);                      // db.conninfo(), db.port(), db.host()
  db.point_to(node2, pgha::Switch::Blackhole);   // Reset (default) | Blackhole | Keep
  pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);  // follows a FailoverGuard by itself
  db.link().delay(50ms, 10ms);                   // latency + jitter per chunk
  db.link().bandwidth(64 * 1024);                // bytes/s per connection and direction
  node2.replication_link().cut(pgha::LinkCut::Blackhole, pgha::Direction::Upstream);
  { pgha::Partition p({&node1}, {&node2}); node2.promote(); }  // split brain for a scope
  CHECK(node1.role() == pgha::Role::Primary);  // split brain: both are primaries now
  CHECK(node2.role() == pgha::Role::Primary);
  CHECK(rw.conninfo() != db.conninfo());
}

// docs/faults.md: Toxiproxy's toxics on a Link.
#include "endpoint_client.hpp"

TEST_CASE("docs: Toxiproxy's toxics on a Link", "[tsan]") {
  using namespace std::chrono_literals;
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  pgha::Link& l = db.link();                         // or node2.replication_link()
  l.slicer(64, 16, std::chrono::microseconds(200));  // 48..80-byte writes, 200 us apart
  l.timeout(300ms, pgha::Direction::Upstream);       // requests dropped, closed after 300 ms
  l.slow_close(500ms);                               // each close waits 500 ms
  l.reset_after(200ms);                              // an RST 200 ms after each connection opens
  l.toxicity(0.5);                                   // half the new connections get the toxics
  l.timeout(0ms);                                    // 0 removes a toxic
  l.reset_after(0ms);
  l.toxicity(1.0);
  test::Client c(db.conninfo());  // sliced, and every close delayed: still a working session
  REQUIRE(c.ok());
  CHECK(c.exec("SELECT repeat('x', 1000)").value == std::string(1000, 'x'));
}

// docs/pooler.md: a switchover inside PgBouncer's PAUSE ... RESUME.
TEST_CASE("docs: a paused switchover behind PgBouncer") {
  if (std::string why; !pgha::TempPgBouncer::available(&why)) PGHA_SKIP(why);
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
pgha::Endpoint ep({&node1, &node2}, pgha::Route::Primary);
pgha::PgBouncerOptions opts;
opts.settings["server_login_retry"] = "1";   // default 15 s: see below
pgha::TempPgBouncer bouncer(ep, pgha::PoolMode::Transaction, opts);
pgha::Workload w(bouncer.conninfo(), 4);     // the service connects to the pooler
w.start();
w.wait_for_acknowledged(50);
bouncer.pause();                             // in-flight transactions finish, the next ones wait
{ pgha::FailoverGuard g(node1, node2); }     // switchover; node1 rejoins as node2's standby
bouncer.resume();
w.wait_for_acknowledged(w.acknowledged() + 50);
REQUIRE(w.history().count(pgha::Outcome::Fail) == 0);  // none failed across the switchover
w.stop();                                    // (stop() may cancel the operations in flight)
REQUIRE(w.check(node2).ok());
}

// docs/api.md, "A cluster that fails over as a whole":
TEST_CASE("docs: a TempCluster fails over as a whole") {
pgha::TempCluster c(3);                      // a primary and 2 standbys, started in parallel
c.primary().execute("create table t (id int); insert into t values (1)");
pgha::Node& np = c.failover(pgha::StopMode::Crash);  // the standby with the most WAL
np.execute("insert into t values (2)");      // commits: the other standby follows np
c.rejoin_stopped();                          // the old primary: a standby of np
c.switchover(c.node(0));                     // and back, cleanly
REQUIRE(c.standbys().size() == 2);

pgha::ClusterOptions co;
co.sync_count = 2;
co.quorum = pgha::Quorum::Any;               // synchronous_standby_names 'ANY 2 (...)'
pgha::TempCluster q(3, co);
q.primary().execute("create table t (id int)");  // returns once both standbys have it
}
