// tests/link_faults.cpp: faults on relayed links as the user and Partitions set them:
// Partitions compose with each other and with the user's cuts (also on links made while
// they live), every fault is an event in its lane, arguments are checked at once, a route
// endpoint never picks a node in transition, and failure reports name every relay port.
#include <pgha/pgha.hpp>
#include <pgha/detail/failure_report.hpp>  // failure_logs

#include <atomic>
#include <functional>
#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "catch.hpp"
#include "endpoint_client.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

// The events of its lifetime (set_log_sink); `lane_events` filters one lane.
class FaultEvents {
public:
  FaultEvents() {
    pgha::set_log_sink([this](const pgha::Event& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    });
  }
  ~FaultEvents() { pgha::set_log_sink(nullptr); }
  // "kind: message" of each event of `lane`, in order.
  std::vector<std::string> lane_events(const std::string& lane) {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& e : events_)
      if (e.node == lane && (e.kind == "fault" || e.kind == "heal")) out.push_back(e.kind + ": " + e.message);
    return out;
  }

private:
  std::mutex mu_;
  std::vector<pgha::Event> events_;
};

}  // namespace

// --- row 1: Partitions compose ---

TEST_CASE("nested Partitions of the same groups: the inner one's end keeps the outer one's cut") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  {
    pgha::Partition outer({&node1}, {&node2});
    CHECK(node2.replication_link().is_cut());
    {
      pgha::Partition inner({&node1}, {&node2});
      CHECK(inner.links_cut() == 1);
    }
    CHECK(node2.replication_link().is_cut());  // the outer Partition still lives
    pgha::Endpoint rw({&node2, &node1}, pgha::Route::Any);
    for (int i = 0; i < 3; ++i) {  // and still hides node2 from route endpoints
      test::Client c(rw.conninfo());
      REQUIRE(c.ok());
      CHECK(c.server_port() == node1.port());
    }
  }
  CHECK_FALSE(node2.replication_link().is_cut());
  node1.execute("CREATE TABLE t (x int)");  // a sync commit: node2 streams again
  node1.wait_for_catchup(node2);
}

TEST_CASE("a Partition's end keeps the user's cut - the user's heal keeps a live Partition's") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node2.replication_link().cut(pgha::LinkCut::Blackhole, pgha::Direction::Upstream);
  {
    pgha::Partition p({&node1}, {&node2});
  }
  CHECK(node2.replication_link().is_cut());  // the user's cut, set before the Partition
  node2.replication_link().heal();
  CHECK_FALSE(node2.replication_link().is_cut());
  {
    pgha::Partition p({&node1}, {&node2});
    node2.cut_link(pgha::LinkCut::Blackhole);
    node2.heal_link();
    CHECK(node2.replication_link().is_cut());  // the Partition's cut stays
  }
  CHECK_FALSE(node2.replication_link().is_cut());
  node1.execute("CREATE TABLE t (x int)");
  node1.wait_for_catchup(node2);
}

TEST_CASE("a link made while a Partition lives (a rejoin across it) is cut - the Partition's end heals it") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Options quick = node1.options();
  quick.timeout = 5s;  // the rejoin across the Partition cannot finish: it waits this long
  pgha::TempStandby node3(node1, quick);
  {
    pgha::Partition p({&node1, &node3}, {&node2});
    node2.promote();
    // node3 follows node2, across the Partition: its new link is cut as it is made.
    CHECK_THROWS_AS(node3.rejoin(node2), pgha::TimeoutError);
    CHECK(node3.role() == pgha::Role::Standby);
    CHECK(node3.replication_link().is_cut());
  }
  CHECK_FALSE(node3.replication_link().is_cut());
  node2.execute("CREATE TABLE t (x int)");
  node2.wait_for_catchup(node3);  // it streams from node2 now
  CHECK(node3.query("SELECT count(*) FROM pg_class WHERE relname = 't'").value(0, 0) == "1");
}

// --- row 2: every link fault is an event in its lane ---

TEST_CASE("faults set through replication_link() and Endpoint::link() are events in their lanes") {
  FaultEvents ev;
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint db(node1);
  pgha::Link& rl = node2.replication_link();
  rl.cut(pgha::LinkCut::Blackhole, pgha::Direction::Upstream);
  rl.heal();
  rl.delay(20ms, 5ms);
  rl.delay(0ms);
  rl.bandwidth(1 << 20);
  rl.bandwidth(0);
  rl.limit_data(1 << 20);
  rl.limit_data(0);
  rl.slow_close(500ms);
  rl.slow_close(0ms);
  rl.timeout(300ms, pgha::Direction::Upstream);
  rl.timeout(0ms);
  rl.slicer(64, 16, 200us);
  rl.slicer(0, 0, 0us);
  rl.reset_after(200ms);
  rl.reset_after(0ms);
  rl.toxicity(0.5);
  rl.toxicity(1.0);
  db.link().cut(pgha::LinkCut::Reset);
  db.link().heal();
  db.link().delay(3ms);
  const std::vector<std::string> want_node2 = {
      "fault: replication link cut (blackhole, upstream only)",
      "heal: replication link healed",
      "fault: replication link delay 20 ms +- 5 ms",
      "heal: replication link delay 0 ms",
      "fault: replication link bandwidth 1048576 bytes/s",
      "heal: replication link bandwidth unlimited",
      "fault: replication link closes each connection after 1048576 bytes",
      "heal: replication link byte limit off",
      "fault: replication link slow close 500 ms",
      "heal: replication link slow close off",
      "fault: replication link timeout 300 ms, upstream only",
      "heal: replication link timeout off",
      "fault: replication link slicer 64 +- 16 bytes every 200 us",
      "heal: replication link slicer off",
      "fault: replication link resets each connection 200 ms after it opens",
      "heal: replication link reset_after off",
      "fault: replication link toxicity 0.5 (share of new connections the toxics hit)",
      "heal: replication link toxicity 1 (share of new connections the toxics hit)"};
  CHECK(ev.lane_events(node2.name()) == want_node2);
  const std::vector<std::string> want_db = {"fault: client link cut (reset)", "heal: client link healed",
                                            "fault: client link delay 3 ms"};
  CHECK(ev.lane_events(db.name()) == want_db);
}

// --- row 3: out-of-range arguments ---

TEST_CASE("out-of-range link arguments are UsageErrors at once, and change nothing") {
  pgha::Link l("127.0.0.1", 1);
  const auto years300 = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::hours(24 * 365 * 300));
  CHECK_THROWS_AS(l.delay(years300), pgha::UsageError);
  CHECK_THROWS_AS(l.delay(-1ms), pgha::UsageError);
  CHECK_THROWS_AS(l.delay(0ms, -1ms), pgha::UsageError);
  CHECK_THROWS_AS(l.delay(1ms, std::chrono::milliseconds(INT64_MAX / 2)), pgha::UsageError);
  CHECK_THROWS_AS(l.delay(std::chrono::hours(1) + 1ms), pgha::UsageError);
  CHECK_THROWS_WITH(l.delay(years300), Catch::Matchers::ContainsSubstring("expected 0 (none) to 3600000 ms"));
  CHECK_NOTHROW(l.delay(std::chrono::hours(1), std::chrono::hours(1)));
  CHECK_NOTHROW(l.delay(0ms));
  CHECK_THROWS_AS(l.bandwidth(static_cast<std::uint64_t>(-1)), pgha::UsageError);
  CHECK_THROWS_AS(l.limit_data(static_cast<std::uint64_t>(-4096)), pgha::UsageError);
  CHECK_NOTHROW(l.bandwidth(1));
  CHECK_NOTHROW(l.limit_data(1));
  CHECK_THROWS_AS(l.cut(static_cast<pgha::LinkCut>(7)), pgha::UsageError);
  CHECK_THROWS_AS(l.cut(pgha::LinkCut::Reset, static_cast<pgha::Direction>(9)), pgha::UsageError);
  CHECK_FALSE(l.is_cut());
}

// --- row 4: Route::Primary and nodes in transition ---

TEST_CASE("Route::Primary: while the old primary rejoins, every new connection reaches the running primary") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node2.promote();  // a split brain: both are primaries, node1 listed first
  pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);
  {
    test::Client c(rw.conninfo());
    REQUIRE(c.ok());
    REQUIRE(c.server_port() == node1.port());
  }
  const std::uint64_t refused_before = rw.refused();
  std::atomic<bool> done{false};
  int attempts = 0, failed = 0, on_standby = 0;
  std::string last_error;
  std::thread app([&] {
    // Counted from the moment node1 is seen stopped (its rejoin is under way) to the
    // rejoin's return: node2 is a running primary all that time.
    while (node1.is_running() && !done.load()) std::this_thread::yield();
    do {
      ++attempts;
      test::Client c(rw.conninfo() + " connect_timeout=10");
      if (!c.ok()) { ++failed; last_error = c.error(); continue; }
      test::Reply r = c.exec("SELECT pg_is_in_recovery()");
      if (!r.ok) { ++failed; last_error = r.error; continue; }
      if (r.value != "f") ++on_standby;
    } while (!done.load());
  });
  node1.rejoin(node2);
  done = true;
  app.join();
  INFO("attempts " << attempts << ", last error: " << last_error);
  CHECK(attempts > 0);
  CHECK(failed == 0);
  CHECK(on_standby == 0);
  CHECK(rw.refused() == refused_before);
  test::Client after(rw.conninfo());
  REQUIRE(after.ok());
  CHECK(after.server_port() == node2.port());
}

TEST_CASE("an Endpoint counts a connection its chosen node refuses") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  node1.stop();  // chosen (pinned), but nothing listens on its port
  test::Client c(db.conninfo() + " connect_timeout=5");
  CHECK_FALSE(c.ok());
  CHECK(db.refused() >= 1);
}

// --- row 5: the failure report names every relay port ---

TEST_CASE("a failure report maps each relay port to the node and link it serves") {
  auto& logs = pgha::detail::failure_logs();
  logs.begin_test();
  std::string report;
  int relay = 0, ep = 0;
  std::string standby, primary;
  {
    pgha::Options o;
    pgha::TempPrimary node1(o);
    pgha::TempStandby node2(node1);
    pgha::Endpoint db(node1);
    relay = node2.replication_link().port();
    ep = db.port();
    standby = node2.name();
    primary = node1.name();
    report = logs.end_test(true);
  }
  INFO(report);
  CHECK(report.find("relay port " + std::to_string(relay) + ": replication link of " + standby + ", to " +
                    primary) != std::string::npos);
  CHECK(report.find("relay port " + std::to_string(ep) + ": client link of endpoint" + std::to_string(ep)) !=
        std::string::npos);
}

// --- row 6: misuse ---

TEST_CASE("Partition and Endpoint misuse are UsageErrors at once") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK_THROWS_AS(pgha::Partition({}, {&node1}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Partition({&node1}, {}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Partition({nullptr}, {&node1}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Partition({&node1}, {&node2, nullptr}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Partition({&node1, &node2}, {&node2}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Endpoint({}, pgha::Route::Primary), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Endpoint({&node1, nullptr}, pgha::Route::Any), pgha::UsageError);
  CHECK_FALSE(node2.replication_link().is_cut());  // nothing was cut by the failed ones
}

// --- issue 21: no public door into detail/ ---

namespace {
template <class L, class = void>
struct link_relay_open : std::false_type {};
template <class L>
struct link_relay_open<L, std::void_t<decltype(std::declval<L&>().relay())>> : std::true_type {};
}  // namespace

TEST_CASE("Link's doors into detail/ are closed to the user: no routed Link and no relay() without a key") {
  CHECK_FALSE(std::is_constructible<pgha::Link, pgha::detail::Relay::Chooser>::value);
  CHECK_FALSE(link_relay_open<pgha::Link>::value);
  CHECK(std::is_constructible<pgha::Link, std::string, int>::value);  // the public one stays
}

TEST_CASE("a replication_link() reference kept across a promote is a StateError - never a dangling access") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Link& kept = node2.replication_link();
  const int port = kept.port();
  kept.delay(std::chrono::milliseconds(0));  // a live link answers
  node1.stop();
  node2.promote();  // a primary has no replication link: the old one is closed, not freed
  CHECK_THROWS_AS(kept.cut(), pgha::StateError);
  CHECK_THROWS_WITH(kept.delay(std::chrono::milliseconds(10)), Catch::Matchers::ContainsSubstring("promoted"));
  CHECK_THROWS_AS(kept.is_cut(), pgha::StateError);
  CHECK(kept.port() == port);
  CHECK_THROWS_AS(node2.replication_link(), pgha::StateError);
  node1.rejoin(node2);  // node1's link is a new one; node2's old reference stays closed
  CHECK_NOTHROW(node1.replication_link().delay(std::chrono::milliseconds(0)));
  CHECK_THROWS_AS(kept.heal(), pgha::StateError);
}

// --- issue 24: the toxics Toxiproxy has (reset_after, timeout) against real servers ---

namespace {
// Polls `pred` every few ms until true or `timeout` (a bounded wait on a real condition).
bool toxic_wait_until(const std::function<bool()>& pred, std::chrono::milliseconds timeout) {
  const auto deadline = std::chrono::steady_clock::now() + timeout;
  while (!pred()) {
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(5ms);
  }
  return true;
}
// The pid of the walsender serving `standby` (`streaming`: only once it streams), as the
// primary reports it; "" if none.
std::string toxic_walsender_pid(pgha::Node& primary, pgha::Node& standby, bool streaming) {
  pgha::Result r = primary.query(std::string("SELECT pid FROM pg_stat_replication WHERE ") +
                                 (streaming ? "state = 'streaming' AND " : "") + "application_name = '" +
                                 standby.application_name() + "'");
  return r.rows() ? r.value(0, 0) : std::string();
}
}  // namespace

TEST_CASE("reset_after on a replication link: the walsender is reset again and again - removed, one streams on", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  node1.wait_for_catchup(node2);
  const std::string first = toxic_walsender_pid(node1, node2, true);
  REQUIRE_FALSE(first.empty());
  node2.replication_link().reset_after(300ms);
  // The open connection is reset 300 ms after the call, the ones the walreceiver opens after it
  // 300 ms after they open: the primary sees walsender after walsender end.
  std::vector<std::string> seen{first};
  CHECK(toxic_wait_until([&] {
    const std::string pid = toxic_walsender_pid(node1, node2, false);
    if (!pid.empty() && pid != seen.back()) seen.push_back(pid);
    return seen.size() >= 3;
  }, 30s));
  INFO("walsenders seen: " << seen.size());
  node2.replication_link().reset_after(0ms);
  std::string pid;
  REQUIRE(toxic_wait_until([&] { return !(pid = toxic_walsender_pid(node1, node2, true)).empty(); }, 30s));
  const auto since = std::chrono::steady_clock::now();
  // Commits and catch-ups through the same walsender for three times the old reset interval.
  int commits = 0;
  while (std::chrono::steady_clock::now() - since < 900ms) {
    node1.execute("INSERT INTO t VALUES (" + std::to_string(++commits) + ")");
    node1.wait_for_catchup(node2);
  }
  CHECK(toxic_walsender_pid(node1, node2, false) == pid);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == std::to_string(commits));
}

TEST_CASE("timeout on an Endpoint's link: an open client's query never reaches the server - the client gets an error", "[tsan]") {
  pgha::TempPrimary node1;
  pgha::Endpoint db(node1);
  test::Client c(db.conninfo() + " application_name=toxic_timeout");
  REQUIRE(c.ok());
  const auto active = [&] {
    return node1.query("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'toxic_timeout'").value(0, 0);
  };
  REQUIRE(active() == "1");
  const auto t0 = std::chrono::steady_clock::now();
  db.link().timeout(300ms);
  REQUIRE(c.send("CREATE TABLE toxic_reached (x int)"));
  test::Reply r;
  REQUIRE(c.wait_reply(30s, &r));
  CHECK(std::chrono::steady_clock::now() - t0 >= 300ms);  // closed, and not before the timeout
  CHECK_FALSE(r.ok);
  INFO("client error: " << r.error);
  CHECK(r.error.find("closed the connection") != std::string::npos);
  CHECK(toxic_wait_until([&] { return active() == "0"; }, 30s));  // the server saw the session end
  CHECK(node1.query("SELECT count(*) FROM pg_class WHERE relname = 'toxic_reached'").value(0, 0) == "0");
  db.link().timeout(0ms);
  test::Client after(db.conninfo());
  REQUIRE(after.ok());
  CHECK(after.exec("SELECT 1").value == "1");
}
