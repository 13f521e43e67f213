// tests/history.cpp: Workload and Verdict against real servers. Each outcome class is
// produced by the server itself (a constraint, a terminated backend, a cancelled or
// terminated synchronous replication wait, a stop while blocked), then the known truths
// of crash failover: RemoteApply loses no acknowledged write, Async with a stalled
// walsender does, and a cancelled sync wait loses a row the primary had shown.
// A Partition split brain: writes acknowledged by the isolated old primary are discarded by
// its rejoin, and the verdict lists them as lost.
#include <pgha/pgha.hpp>

#include <chrono>
#include <functional>
#include <string>

#include "catch.hpp"
#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

namespace {

// Polls `pred` until it holds; fails the test with `what` after 30 s.
void eventually(const std::string& what, const std::function<bool()>& pred) {
  pgha::detail::wait_until(what, std::chrono::seconds(30), "test",
                           [&](std::string&) { return pred(); }, [] { return std::string(); });
}

// The ops recorded so far whose outcome is `o` and whose note contains `text`.
std::vector<pgha::OpRecord> ops_with(const pgha::History& h, pgha::Outcome o, const std::string& text) {
  std::vector<pgha::OpRecord> out;
  for (auto& op : h.ops())
    if (op.outcome == o && op.note.find(text) != std::string::npos) out.push_back(op);
  return out;
}

// pid of a backend whose commit waits for the synchronous standby, once there is one.
std::string sync_waiter(pgha::Node& n) {
  n.wait_until("SELECT count(*) > 0 FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
  return n.query("SELECT pid FROM pg_stat_activity WHERE wait_event = 'SyncRep' LIMIT 1").value(0, 0);
}

int rows_with_value(pgha::Node& n, const std::string& table, const std::string& value) {
  return std::stoi(n.query("SELECT count(*) FROM " + table + " WHERE value = $1", {value}).value(0, 0));
}

// The operations that were not ok, with their notes (for failure messages).
std::string not_ok(const pgha::Workload& w) {
  std::string s;
  for (auto& op : w.history().ops())
    if (op.outcome != pgha::Outcome::Ok)
      s += op.value + " " + pgha::to_string(op.outcome) + ": " + op.note + "\n";
  return s;
}

// Operations with an outcome so far (a sum of counters that only grow, so a read racing
// with a new invocation never comes out low, as size() - count(Pending) could).
std::size_t completed(const pgha::Workload& w) {
  return w.history().count(pgha::Outcome::Ok) + w.history().count(pgha::Outcome::Fail) +
         w.history().count(pgha::Outcome::Unknown);
}

// Cancels the commit waiting for the sync standby and waits until its outcome is recorded.
// `before` is read once the commit waits: the client recorded its previous op before it
// started this one, so the count cannot include a late completion of an earlier op.
void cancel_and_wait(pgha::Node& primary, pgha::Workload& w) {
  std::string pid = sync_waiter(primary);
  std::size_t before = completed(w);
  primary.execute("SELECT pg_cancel_backend(" + pid + ")");
  eventually("the cancelled commit's outcome", [&] { return completed(w) > before; });
}

// Cuts the standby's link. A commit in flight at the cut may have reached the standby
// without its confirmation coming back: with one client, that commit is cancelled here
// (and recorded as unknown), so every commit after this wrote WAL the standby never gets.
void cut_and_wait(pgha::Node& primary, pgha::Node& standby, pgha::Workload& w) {
  standby.cut_link(pgha::LinkCut::Reset);
  primary.wait_until("SELECT count(*) = 0 FROM pg_stat_replication");
  cancel_and_wait(primary, w);
}

}  // namespace

TEST_CASE("workload: acknowledged commits are ok and present", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Workload w(node1.conninfo(), 3);
  CHECK_THROWS_WITH(w.check(node1), Catch::Matchers::ContainsSubstring("before start()"));
  w.start();
  w.wait_for_acknowledged(60);
  w.stop();
  CHECK(w.history().count(pgha::Outcome::Pending) == 0);
  pgha::Verdict v = w.check(node1);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.acknowledged() >= 60);
  CHECK(v.lost().empty());
  CHECK(v.rows() == v.acknowledged() + v.unknown_present());
  CHECK_THROWS_AS(w.start(), pgha::StateError);
}

// Issue 20: a second Workload on the default table read the first one's rows as phantoms
// and duplicates. Each Workload tags its rows with its run id and checks only those.
TEST_CASE("workload: two workloads on one table, one after the other and at once, are each ok", "[tsan]") {
  pgha::TempPrimary node1;
  // A table left by an older pgha (no run column) with a row in it.
  node1.execute("CREATE TABLE pgha_workload (key text NOT NULL, value text NOT NULL, process int "
                "NOT NULL, written_at timestamptz NOT NULL DEFAULT clock_timestamp())");
  node1.execute("INSERT INTO pgha_workload (key, value, process) VALUES ('k0', '0-0', 0)");
  auto run = [&](pgha::Workload& w) {
    w.wait_for_acknowledged(20);
    w.stop();
    pgha::Verdict v = w.check(node1);
    INFO(w.run_id() << ": " << v.summary());
    CHECK(v.ok());
    CHECK(v.rows() == v.acknowledged() + v.unknown_present());
  };
  {
    pgha::Workload first(node1.conninfo(), 2);
    first.start();
    run(first);
  }
  pgha::Workload second(node1.conninfo(), 2);  // same table, same values "0-0", "1-0", ...
  second.start();
  run(second);

  pgha::Workload a(node1.conninfo(), 2), b(node1.conninfo(), 2);
  CHECK(a.run_id() != b.run_id());
  CHECK(a.table() == b.table());
  a.start();
  b.start();
  b.wait_for_acknowledged(20);
  run(a);
  run(b);
}

TEST_CASE("workload: an error before COMMIT is a failure and its row is absent", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Workload w(node1.conninfo(), 2);
  w.start();
  w.wait_for_acknowledged(10);
  node1.execute("ALTER TABLE pgha_workload ADD CONSTRAINT refuse CHECK (false) NOT VALID");
  eventually("10 failed inserts", [&] { return w.history().count(pgha::Outcome::Fail) >= 10; });
  w.stop();
  auto failed = ops_with(w.history(), pgha::Outcome::Fail, "before COMMIT was sent");
  REQUIRE(failed.size() >= 10);
  CHECK_THAT(failed.front().note, ContainsSubstring("refuse"));
  pgha::Verdict v = w.check(node1);
  INFO(v.summary());
  CHECK(v.ok());  // no failed row is present
  CHECK(v.failed() >= 10);
  CHECK(v.revived().empty());
}

TEST_CASE("workload: a connection lost before COMMIT is a failure", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Workload w(node1.conninfo(), 1);
  w.start();
  w.wait_for_acknowledged(5);
  pgha::Connection locker = node1.connect();
  locker.execute("BEGIN");
  locker.execute("LOCK TABLE pgha_workload IN ACCESS EXCLUSIVE MODE");
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
                   "AND query LIKE 'INSERT INTO pgha_workload%'");
  std::size_t before = completed(w);
  node1.execute("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE "
                "wait_event_type = 'Lock' AND query LIKE 'INSERT INTO pgha_workload%'");
  eventually("the terminated insert's outcome", [&] { return completed(w) > before; });
  locker.execute("COMMIT");
  auto failed = ops_with(w.history(), pgha::Outcome::Fail, "before COMMIT was sent");
  REQUIRE(failed.size() == 1);
  CHECK_THAT(failed[0].note, ContainsSubstring("57P01"));
  std::size_t acked = w.acknowledged();
  w.wait_for_acknowledged(acked + 5);  // the client reconnected
  w.stop();
  pgha::Verdict v = w.check(node1);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(rows_with_value(node1, w.table(), failed[0].value) == 0);
}

TEST_CASE("workload: a cancelled or terminated sync wait is unknown and never ok nor failed", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Workload w(node1.conninfo(), 1);
  w.start();
  w.wait_for_acknowledged(5);
  cut_and_wait(node1, node2, w);

  // Cancelled wait: a WARNING, the COMMIT reports success, the row is local only.
  cancel_and_wait(node1, w);
  auto cancelled = ops_with(w.history(), pgha::Outcome::Unknown, "canceling wait for synchronous replication");
  INFO(not_ok(w));
  REQUIRE(cancelled.size() == 2);  // the first one was in flight at the cut
  CHECK_THAT(cancelled[1].note, ContainsSubstring("already committed locally"));
  CHECK(rows_with_value(node1, w.table(), cancelled[1].value) == 1);
  CHECK(rows_with_value(node2, w.table(), cancelled[1].value) == 0);

  // Terminated during the wait: the session ends with 57P01 after COMMIT was sent.
  std::string pid = sync_waiter(node1);
  std::size_t before = completed(w);
  node1.execute("SELECT pg_terminate_backend(" + pid + ")");
  eventually("the terminated commit's outcome", [&] { return completed(w) > before; });
  auto terminated = ops_with(w.history(), pgha::Outcome::Unknown, "during COMMIT");
  REQUIRE(terminated.size() == 1);
  CHECK_THAT(terminated[0].note, ContainsSubstring("57P01"));
  CHECK(rows_with_value(node1, w.table(), terminated[0].value) == 1);

  std::size_t acked = w.acknowledged();
  sync_waiter(node1);  // the client reconnected and waits again
  w.stop();            // that wait is cancelled by stop(): unknown as well
  CHECK(w.acknowledged() == acked);
  CHECK(w.history().count(pgha::Outcome::Fail) == 0);
  CHECK(w.history().count(pgha::Outcome::Pending) == 0);
  pgha::Verdict v = w.check(node1);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.unknown_present() == 4);  // all four committed locally
  node2.heal_link();
}

TEST_CASE("workload: stop is bounded when clients are blocked on a frozen server", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Workload w(node1.conninfo(), 3);
  w.start();
  w.wait_for_acknowledged(5);
  node2.cut_link(pgha::LinkCut::Reset);
  // Three commits wait and no walsender is left to release them: read from one snapshot of
  // the backends, so a commit still waiting here cannot be acknowledged by a reply the old
  // walsender read after the cut (CI saw that once: two open operations, not three).
  node1.wait_until("SELECT count(*) FILTER (WHERE backend_type = 'walsender') = 0 AND "
                   "count(*) FILTER (WHERE wait_event = 'SyncRep') = 3 FROM pg_stat_activity");
  node1.freeze();  // a cancel can no longer be answered
  w.stop();        // returns: the cancels get stop_grace, then the sessions are closed
  node1.thaw();
  CHECK(w.history().count(pgha::Outcome::Pending) == 0);
  auto open = ops_with(w.history(), pgha::Outcome::Unknown, "did not answer its cancel");
  INFO(not_ok(w));
  CHECK(open.size() == 3);
  CHECK_FALSE(w.running());
  node2.heal_link();
}

TEST_CASE("workload: RemoteApply and a crash failover lose no acknowledged write", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Workload w(pgha::multi_host_conninfo({&node1, &node2}), 4);
  w.start();
  w.wait_for_acknowledged(100);
  std::size_t before = w.acknowledged();
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  w.wait_for_acknowledged(before + 50);  // the clients went on writing on node2
  w.stop();
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.lost().empty());
  CHECK(v.acknowledged() >= 150);
}

TEST_CASE("workload: Async and a crash failover with a frozen walsender lose acknowledged writes", "[tsan]") {
  pgha::Options opts;
  opts.sync_mode = pgha::SyncMode::Async;
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1, opts);
  pgha::Workload w(node1.conninfo(), 2);
  w.start();
  w.wait_for_acknowledged(20);
  node1.wait_for_catchup(node2);  // the table and the first rows are on node2
  node1.freeze_walsender();
  std::size_t before = w.acknowledged();
  w.wait_for_acknowledged(before + 20);  // acknowledged, and never sent to node2
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  w.stop();
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK_FALSE(v.ok());
  REQUIRE(v.lost().size() >= 18);  // all but the (at most 2) in flight at the freeze
  for (const auto& op : v.lost()) {
    CHECK(op.outcome == pgha::Outcome::Ok);
    CHECK(rows_with_value(node2, w.table(), op.value) == 0);
  }
  CHECK_THAT(v.summary(), ContainsSubstring("LOST " + std::to_string(v.lost().size()) + " acknowledged: " +
                                   v.lost()[0].key + "=" + v.lost()[0].value));
}

TEST_CASE("workload: a cancelled sync wait and a crash failover lose a row the primary had shown", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Workload w(node1.conninfo(), 1);
  w.start();
  w.wait_for_acknowledged(10);
  cut_and_wait(node1, node2, w);
  cancel_and_wait(node1, w);
  auto cancelled = ops_with(w.history(), pgha::Outcome::Unknown, "canceling wait for synchronous replication");
  INFO(not_ok(w));
  REQUIRE(cancelled.size() == 2);
  const std::string shown = cancelled[1].value;
  CHECK(rows_with_value(node1, w.table(), shown) == 1);  // every reader of node1 sees it

  node1.stop(pgha::StopMode::Crash);  // the client's next commit is lost with its connection
  node2.heal_link();
  node2.promote();
  w.stop();
  CHECK(rows_with_value(node2, w.table(), shown) == 0);  // gone after the failover
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK(v.ok());  // nothing acknowledged was lost: the row had been reported as unknown
  CHECK(v.unknown_absent() >= 1);
  CHECK(ops_with(w.history(), pgha::Outcome::Ok, "").size() == v.acknowledged());
  node1.rejoin(node2);
}

TEST_CASE("workload: a split brain's writes on the isolated old primary are lost on rejoin", "[tsan]") {
  pgha::Options opts;
  opts.sync_mode = pgha::SyncMode::Async;  // node1 acknowledges while no standby confirms
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1, opts);
  pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);
  pgha::Workload w(rw.conninfo(), 2);
  w.start();
  w.wait_for_acknowledged(20);
  node1.wait_for_catchup(node2);  // the table and the first rows are on node2
  std::size_t before = 0;
  {
    pgha::Partition p({&node1}, {&node2});
    before = w.acknowledged();
    w.wait_for_acknowledged(before + 20);  // acknowledged by node1 only
    node2.promote();                       // two primaries now
  }
  w.stop();
  CHECK(node1.role() == pgha::Role::Primary);
  const pgha::RejoinMethod m = node1.rejoin(node2);  // node1's split-brain writes go
  CHECK(m != pgha::RejoinMethod::Resumed);
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK_FALSE(v.ok());
  REQUIRE(v.lost().size() >= 18);  // all but the (at most 2) in flight at the cut
  node2.wait_for_catchup(node1);
  for (const auto& op : v.lost()) {
    CHECK(op.outcome == pgha::Outcome::Ok);
    CHECK(rows_with_value(node2, w.table(), op.value) == 0);
    CHECK(rows_with_value(node1, w.table(), op.value) == 0);  // discarded by the rejoin
  }
  CHECK(v.revived().empty());
  CHECK(v.phantom().empty());
}
