// tests/history_service.cpp: the application's own call in a Workload, against real servers:
// a small order service through a crash failover (verdict ok, its outage measured and
// placed against the failover's events), its exceptions and its own outcomes, a call stuck
// in the server past stop_grace; and reads through a Route::Standby endpoint: none stale
// with RemoteApply, stale ones found with Async and with On (flush only).
#include <pgha/pgha.hpp>

#include <chrono>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// Polls `pred` until it holds; fails the test with `what` after 60 s.
void svc_eventually(const std::string& what, const std::function<bool()>& pred) {
  pgha::detail::wait_until(what, std::chrono::seconds(60), "test",
                           [&](std::string&) { return pred(); }, [] { return std::string(); });
}

// The application under test: stores an order (customer, id) through a conninfo, one
// connection per client. Nothing sent: fail; a read-only server: fail (reconnect next time);
// the connection lost while the INSERT ran: throws (the Workload records unknown).
class SvcOrders {
public:
  SvcOrders(std::string conninfo, int clients) : conninfo_(std::move(conninfo)), conns_(clients) {}
  void place_order(pgha::Op& op, int client, const std::string& customer, const std::string& id) {
    auto& c = conns_[static_cast<std::size_t>(client)];
    if (!c) {
      try {
        c.emplace(conninfo_, std::chrono::seconds(2), "orders");
      } catch (const pgha::Error& e) {
        op.fail(std::string("no connection: ") + e.what());
        return;
      }
    }
    try {
      c->execute("INSERT INTO orders (customer, id) VALUES ($1, $2)", {customer, id});
    } catch (const pgha::QueryError& e) {
      if (e.sqlstate() == "25006") {  // read-only: nothing was written
        c.reset();
        op.fail(e.what());
        return;
      }
      throw;
    } catch (const pgha::Error&) {
      c.reset();
      throw;  // lost mid-statement: unknown
    }
  }

private:
  std::string conninfo_;
  std::vector<std::optional<pgha::Connection>> conns_;  // one per client thread
};

// Event time on the History clock (ns since the events' origin).
std::chrono::nanoseconds svc_since_origin(const pgha::Event& e) {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(e.time - pgha::detail::event_bus().origin());
}

// The first event of `kind` on `node` recorded by `t`; fails the test when there is none.
pgha::Event svc_event(const pgha::Timeline& t, const std::string& node, const std::string& kind) {
  for (const auto& e : t.events())
    if (e.node == node && e.kind == kind) return e;
  FAIL("no " << kind << " event on " << node);
  return {};
}

// A pair whose primary uses `mode`, and a built-in Workload that reads half of the time
// the key its client last wrote, through a Route::Standby endpoint; returns the verdict
// after at least `reads` ok reads, or as soon as a stale read shows when `until_stale`.
pgha::Verdict svc_reads_through_standby(pgha::SyncMode mode, bool until_stale, std::size_t reads) {
  pgha::Options opts;
  opts.sync_mode = mode;
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1);
  pgha::Endpoint ro({&node1, &node2}, pgha::Route::Standby);
  pgha::WorkloadOptions wo;
  wo.read_fraction = 0.5;
  wo.read_conninfo = ro.conninfo();
  pgha::Workload w(node1.conninfo(), 8, wo);
  w.start();
  // Looking for stale reads: once the workload's table and first writes are on the standby,
  // its replay is paused, so every write acknowledged from then on is a stale read there,
  // whatever the machine's speed (a race between the apply and the next read finds none on a
  // slow machine, as under ThreadSanitizer). Async and On (flush) acknowledge writes the
  // standby has not applied; RemoteApply would wait.
  if (until_stale) {
    w.wait_for_acknowledged(20);
    node1.wait_for_catchup(node2, pgha::CatchupMode::Replay);
    node2.pause_replay();
  }
  svc_eventually(until_stale ? "a stale read through the standby" : "ok reads through the standby", [&] {
    if (until_stale) return !w.history().check({}).stale_reads().empty();
    return w.history().count(pgha::Outcome::Ok, pgha::OpKind::Read) >= reads;
  });
  w.stop();
  pgha::Verdict v = w.check(node1);
  INFO(v.summary());
  CHECK(v.lost().empty());
  CHECK(v.phantom_reads().empty());
  CHECK(v.reads() > 0);
  return v;
}

}  // namespace

TEST_CASE("callback workload: an order service through a crash failover loses nothing and its outage is measured", "[tsan]") {
  pgha::Timeline t;
  pgha::Options o;
  o.name = "svc1";
  pgha::TempPrimary node1(o);
  o.name = "svc2";
  pgha::TempStandby node2(node1, o);
  node1.execute("CREATE TABLE orders (customer text NOT NULL, id text NOT NULL)");
  SvcOrders service(pgha::multi_host_conninfo({&node1, &node2}), 4);
  pgha::Workload w([&](pgha::Op& op, const pgha::Attempt& a) {
    service.place_order(op, a.client, a.key, a.value);
  }, 4);
  w.start();
  w.wait_for_acknowledged(100);
  std::size_t before = w.acknowledged();
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  w.wait_for_acknowledged(before + 50);  // the service went on, on node2
  w.stop();
  pgha::Verdict v = w.check(node2, "select customer, id from orders");
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.acknowledged() >= 150);
  CHECK(v.longest_gap() > 0ms);
  // The longest gap is the outage: it began before the failover was done and ended after
  // svc1 was stopped (the History and the events share one clock).
  std::vector<pgha::Gap> all = v.gaps(0ns);
  REQUIRE(!all.empty());
  pgha::Gap longest = all.front();
  for (const auto& g : all)
    if (g.length() > longest.length()) longest = g;
  CHECK(std::chrono::duration_cast<std::chrono::milliseconds>(longest.length()) == v.longest_gap());
  pgha::Event crash = svc_event(t, "svc1", "stop");
  pgha::Event failover = svc_event(t, "svc2", "failover");
  CHECK(longest.start < svc_since_origin(failover));
  CHECK(longest.end > svc_since_origin(crash));
  // Drawn: a gap event for each gap of 100 ms or more, the outage among them.
  std::size_t drawn = 0;
  for (const auto& e : t.events()) drawn += e.kind == "gap" && e.node == "workload";
  CHECK(drawn == v.gaps(100ms).size());
}

TEST_CASE("callback workload: a service that throws is unknown, one that records fail is failed", "[tsan]") {
  pgha::TempPrimary node1;
  node1.execute("CREATE TABLE orders (customer text NOT NULL, id text NOT NULL UNIQUE)");
  node1.execute("INSERT INTO orders VALUES ('k1', '0-1'), ('k2', '0-2')");  // taken ids
  pgha::WorkloadOptions wo;
  wo.keys = 4;
  const std::string ci = node1.conninfo();
  pgha::Workload w([ci](pgha::Op& op, const pgha::Attempt& a) {
    pgha::Connection c(ci, std::chrono::seconds(5), "orders");
    try {
      c.execute("INSERT INTO orders (customer, id) VALUES ($1, $2)", {a.key, a.value});
    } catch (const pgha::QueryError& e) {
      if (a.value == "0-2") op.fail(e.what());  // this one knows a unique violation did not commit
      throw;                                     // the other: unknown, its what() the note
    }
  }, 1, wo);
  w.start();
  w.wait_for_acknowledged(5);
  w.stop();
  auto ops = w.history().ops();
  REQUIRE(ops.size() >= 6);
  CHECK(ops[1].value == "0-1");
  CHECK(ops[1].outcome == pgha::Outcome::Unknown);
  CHECK_THAT(ops[1].note, ContainsSubstring("23505") || ContainsSubstring("duplicate key"));
  CHECK(ops[2].outcome == pgha::Outcome::Fail);
  // The two rows the test inserted itself are left out.
  pgha::Verdict v = w.check(node1, "SELECT customer, id FROM orders WHERE id NOT IN ('0-1', '0-2')");
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.failed() == 1);
  CHECK(v.unknown_absent() >= 1);
  CHECK_THROWS_AS(w.check(node1, "SELECT id FROM orders"), pgha::UsageError);
  CHECK_THROWS_AS(w.check(node1), pgha::UsageError);  // no table of its own
}

TEST_CASE("callback workload: a call stuck in the server past stop_grace makes stop() throw TimeoutError", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::WorkloadOptions wo;
  wo.stop_grace = 300ms;
  const std::string ci = node1.conninfo();
  pgha::Workload w([ci](pgha::Op&, const pgha::Attempt& a) {
    pgha::Connection c(ci, std::chrono::seconds(5), "svc");
    // Client 0's third call waits on the server without a bound of its own.
    c.execute(a.client == 0 && a.n == 2 ? "SELECT pg_sleep(3600) /* svc stuck */" : "SELECT 1",
              std::chrono::hours(1));
  }, 2, wo);
  w.start();
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_activity WHERE query LIKE '%svc stuck */'");
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(w.stop(), pgha::TimeoutError);
  CHECK(std::chrono::steady_clock::now() - t0 >= wo.stop_grace);  // it waited the grace first
  pgha::OpRecord stuck;
  for (const auto& r : w.history().ops())
    if (r.value == "0-2") stuck = r;
  CHECK(stuck.outcome == pgha::Outcome::Unknown);
  CHECK_THAT(stuck.note, ContainsSubstring("stop_grace"));
  // Release it, so the destructor joins the client rather than detaching it.
  node1.execute("SELECT pg_cancel_backend(pid) FROM pg_stat_activity WHERE query LIKE '%svc stuck */' "
                "AND pid <> pg_backend_pid()");
}

TEST_CASE("reads: with RemoteApply, reads through a Route::Standby endpoint see every acknowledged write", "[tsan]") {
  pgha::Verdict v = svc_reads_through_standby(pgha::SyncMode::RemoteApply, false, 2000);
  CHECK(v.stale_reads().empty());
  CHECK(v.ok());
}

TEST_CASE("reads: with Async, reads through a Route::Standby endpoint find stale reads", "[tsan]") {
  pgha::Verdict v = svc_reads_through_standby(pgha::SyncMode::Async, true, 0);
  CHECK_FALSE(v.stale_reads().empty());
  CHECK_FALSE(v.ok());
  CHECK_THAT(v.summary(), ContainsSubstring("STALE READS"));
}

TEST_CASE("reads: with On (flush, not apply), reads through a Route::Standby endpoint find stale reads", "[tsan]") {
  pgha::Verdict v = svc_reads_through_standby(pgha::SyncMode::On, true, 0);
  CHECK_FALSE(v.stale_reads().empty());
  CHECK_FALSE(v.ok());
}
