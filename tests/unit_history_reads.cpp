// tests/unit_history_reads.cpp: reads (stale, phantom, their JSON lines), gaps and the
// History clock, and the Workload that runs the application's own call, without a server:
// the call is a lambda, so each outcome rule (returns: ok, throws: unknown, an outcome
// recorded inside wins, a call that does not return: stop() throws) is exact.
#include <pgha/history.hpp>
#include <pgha/timeline.hpp>
#include <pgha/workload.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <condition_variable>
#include <limits>
#include <mutex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using Catch::Matchers::ContainsSubstring;
using Values = std::vector<std::string>;

namespace {
// The completion times of the acknowledged appends of `h`, sorted.
std::vector<std::int64_t> reads_test_ack_times(const pgha::History& h) {
  std::vector<std::int64_t> t;
  for (const auto& o : h.ops())
    if (o.kind == pgha::OpKind::Append && o.outcome == pgha::Outcome::Ok) t.push_back(o.complete_time_ns);
  std::sort(t.begin(), t.end());
  return t;
}

// Events of `kind` recorded by `t`.
std::vector<pgha::Event> reads_test_events(const pgha::Timeline& t, const std::string& kind) {
  std::vector<pgha::Event> out;
  for (const auto& e : t.events())
    if (e.kind == kind) out.push_back(e);
  return out;
}
}  // namespace

TEST_CASE("history reads: a read invoked after an acknowledged append that misses it is stale") {
  pgha::History h;
  h.invoke("k1", "a").ok();
  pgha::Op concurrent = h.invoke("k1", "b");  // acknowledged only after the reads below began
  pgha::Op fresh = h.read("k1");
  pgha::Op stale = h.read("k1", 3);
  pgha::Op other_key = h.read("k2");
  concurrent.ok();
  fresh.ok(Values{"a"});        // saw the acknowledged one; "b" was not yet acknowledged
  stale.ok(Values{});           // missed "a"
  other_key.ok(Values{});       // nothing was appended to k2
  pgha::Verdict v = h.check({{"k1", "a"}, {"k1", "b"}});
  REQUIRE(v.stale_reads().size() == 1);
  CHECK(v.stale_reads()[0].id == stale.id());
  CHECK(v.stale_reads()[0].process == 3);
  CHECK(v.stale_reads()[0].kind == pgha::OpKind::Read);
  CHECK(v.phantom_reads().empty());
  CHECK_FALSE(v.ok());
  CHECK(v.reads() == 3);
  CHECK(v.attempted() == 2);  // appends only
  CHECK(v.acknowledged() == 2);
  CHECK(v.lost().empty());
  CHECK_THAT(v.summary(), ContainsSubstring("STALE READS 1") && ContainsSubstring("read k1 -> []") &&
                              ContainsSubstring("missed k1=a"));
}

TEST_CASE("history reads: a read that saw a value never attempted for its key is a phantom read") {
  pgha::History h;
  h.invoke("k1", "a").fail("rejected");  // attempted: a read may see it (the failure lied)
  h.invoke("k2", "z").ok();
  pgha::Op seen_failed = h.read("k1");
  pgha::Op phantom = h.read("k1");
  seen_failed.ok(Values{"a"});
  phantom.ok(Values{"a", "z"});  // "z" was appended to k2, never to k1
  pgha::Verdict v = h.check({{"k2", "z"}});
  REQUIRE(v.phantom_reads().size() == 1);
  CHECK(v.phantom_reads()[0].id == phantom.id());
  CHECK(v.phantom_reads()[0].read_values == Values{"a", "z"});
  CHECK(v.stale_reads().empty());
  CHECK_FALSE(v.ok());
  CHECK_THAT(v.summary(), ContainsSubstring("PHANTOM READS 1"));
}

TEST_CASE("history reads: failed and unknown reads are not checked, and a clean read history is ok") {
  pgha::History h;
  h.invoke("k1", "a").ok();
  h.read("k1").fail("no connection");
  h.read("k1").unknown("timed out");
  { pgha::Op dropped = h.read("k1"); }  // out of scope: unknown
  h.read("k1").ok(Values{"a"});
  pgha::Verdict v = h.check({{"k1", "a"}});
  CHECK(v.ok());
  CHECK(v.reads() == 4);
  CHECK(v.stale_reads().empty());
  CHECK(h.count(pgha::Outcome::Ok) == 2);
  CHECK(h.count(pgha::Outcome::Ok, pgha::OpKind::Read) == 1);
  CHECK(h.count(pgha::Outcome::Unknown, pgha::OpKind::Read) == 2);
  CHECK(h.count(pgha::Outcome::Ok, pgha::OpKind::Append) == 1);
  CHECK_THAT(v.summary(), ContainsSubstring("4 reads (1 ok)."));
}

TEST_CASE("history reads: a verdict whose reads all failed says that no read was checked") {
  pgha::History h;
  h.invoke("k1", "a").ok();
  h.read("k1").fail("relation does not exist");
  h.read("k1").unknown("timed out");
  pgha::Verdict v = h.check({{"k1", "a"}});
  CHECK(v.stale_reads().empty());
  CHECK_THAT(v.summary(), ContainsSubstring("2 reads (0 ok): no read succeeded, so none was checked"));
}

TEST_CASE("history reads: ok with values on an append, ok without on a read, twice on a read: UsageError") {
  pgha::History h;
  pgha::Op a = h.invoke("k1", "a");
  pgha::Op r = h.read("k1");
  CHECK_FALSE(a.is_read());
  CHECK(r.is_read());
  CHECK_THROWS_AS(a.ok(Values{"a"}), pgha::UsageError);
  CHECK_THROWS_AS(r.ok(), pgha::UsageError);
  CHECK_FALSE(a.done());  // a refused call records nothing
  CHECK_FALSE(r.done());
  a.ok();
  r.ok(Values{"a"});
  CHECK_THROWS_AS(r.ok(Values{"a"}), pgha::UsageError);  // a read already completed
  CHECK_THROWS_AS(r.fail(), pgha::UsageError);
  CHECK(h.op(r.id()).read_values == Values{"a"});
  CHECK_THROWS_AS(h.op(99), pgha::UsageError);
  CHECK(h.check({{"k1", "a"}}).ok());
}

TEST_CASE("history reads: JSON lines of a read: f read, value null then the observed list") {
  pgha::History h;
  pgha::Op r = h.read("k1", 2);
  r.ok(Values{"a", "b\"c"});
  h.read("k2").fail("no server");
  std::ostringstream out;
  h.write_jsonl(out);
  std::vector<std::string> lines;
  std::istringstream in(out.str());
  for (std::string l; std::getline(in, l);) lines.push_back(l);
  REQUIRE(lines.size() == 4);
  CHECK_THAT(lines[0], ContainsSubstring("\"process\":2,\"type\":\"invoke\",\"f\":\"read\",\"key\":\"k1\",\"value\":null,"));
  CHECK_THAT(lines[1], ContainsSubstring("\"type\":\"ok\",\"f\":\"read\",\"key\":\"k1\",\"value\":[\"a\",\"b\\\"c\"],"));
  CHECK_THAT(lines[3], ContainsSubstring("\"type\":\"fail\",\"f\":\"read\",\"key\":\"k2\",\"value\":null,"));
  auto ev = h.events();
  CHECK(ev[1].kind == pgha::OpKind::Read);
  CHECK(ev[1].read_values == Values{"a", "b\"c"});
  CHECK(ev[0].read_values.empty());
  std::ostringstream k;
  k << pgha::OpKind::Read << " " << pgha::to_string(pgha::OpKind::Append);
  CHECK(k.str() == "Read append");
}

TEST_CASE("history gaps: gaps and longest_gap are the times between consecutive acknowledged appends") {
  pgha::History h;
  CHECK(h.check({}).longest_gap().count() == 0);  // fewer than two acknowledgements
  h.invoke("k1", "1").ok();
  h.invoke("k1", "2").fail();  // not acknowledged: no end of a gap
  h.read("k1").ok(Values{"1"});  // reads do not count
  std::this_thread::sleep_for(std::chrono::milliseconds(30));  // elapsed time, not a wait
  h.invoke("k1", "3").ok();
  h.invoke("k1", "4").ok();
  pgha::Verdict v = h.check({{"k1", "1"}, {"k1", "3"}, {"k1", "4"}});
  const std::vector<std::int64_t> t = reads_test_ack_times(h);
  REQUIRE(t.size() == 3);
  std::vector<pgha::Gap> all = v.gaps(std::chrono::nanoseconds(0));
  REQUIRE(all.size() == 2);
  CHECK(all[0].start.count() == t[0]);
  CHECK(all[0].end.count() == t[1]);
  CHECK(all[1].start.count() == t[1]);
  CHECK(all[1].length().count() == t[2] - t[1]);
  const std::int64_t longest = std::max(t[1] - t[0], t[2] - t[1]);
  CHECK(v.longest_gap() == std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::nanoseconds(longest)));
  CHECK(v.longest_gap() >= std::chrono::milliseconds(30));  // the sleep is inside the first gap
  std::vector<pgha::Gap> big = v.gaps(std::chrono::nanoseconds(longest));
  REQUIRE(big.size() >= 1);
  for (const auto& g : big) CHECK(g.length().count() == longest);
  CHECK(v.gaps(std::chrono::nanoseconds(longest + 1)).empty());
  CHECK_THROWS_AS(v.gaps(std::chrono::milliseconds(-1)), pgha::UsageError);
  CHECK(v.ok());  // an outage is measured, not judged
}

TEST_CASE("history clock: History times and event times are on one clock (ns since the events' origin)") {
  std::vector<pgha::Event> seen;
  pgha::set_log_sink([&](const pgha::Event& e) { seen.push_back(e); });
  pgha::History h;
  h.invoke("k1", "1").ok();
  pgha::detail::emit("reads_test", "note", "between the two appends");
  h.invoke("k1", "2").ok();
  pgha::set_log_sink(nullptr);
  REQUIRE(seen.size() == 1);
  const auto origin = pgha::detail::event_bus().origin();
  const std::int64_t ev = std::chrono::duration_cast<std::chrono::nanoseconds>(seen[0].time - origin).count();
  auto ops = h.ops();
  CHECK(ops[0].complete_time_ns < ev);
  CHECK(ev < ops[1].invoke_time_ns);
  CHECK(h.now().count() >= ops[1].complete_time_ns);
}

TEST_CASE("callback workload: returning is ok, throwing is unknown with what(), an outcome recorded inside wins", "[tsan]") {
  pgha::WorkloadOptions o;
  o.keys = 3;
  std::atomic<int> calls{0};
  pgha::Workload w([&](pgha::Op& op, const pgha::Attempt& a) {
    ++calls;
    if (a.n == 1) throw std::runtime_error("place_order: connection lost");
    if (a.n == 2) op.fail("rejected: out of stock");
    if (a.n == 3) { op.unknown("my own note"); throw std::runtime_error("after the outcome"); }
    if (a.n == 4) op.ok();
  }, 1, o);
  w.start();
  w.wait_for_acknowledged(3);  // ops 0, 4 and 5: the first five are complete
  w.stop();
  CHECK_FALSE(w.running());
  std::vector<pgha::OpRecord> mine = w.history().ops();
  CHECK(calls == static_cast<int>(mine.size()));
  REQUIRE(mine.size() >= 5);
  CHECK(mine[0].key == "k0");
  CHECK(mine[0].value == "0-0");
  CHECK(mine[0].outcome == pgha::Outcome::Ok);
  CHECK(mine[1].key == "k1");
  CHECK(mine[1].outcome == pgha::Outcome::Unknown);
  CHECK(mine[1].note == "place_order: connection lost");
  CHECK(mine[2].outcome == pgha::Outcome::Fail);
  CHECK(mine[2].note == "rejected: out of stock");
  CHECK(mine[3].key == "k0");  // n % keys
  CHECK(mine[3].outcome == pgha::Outcome::Unknown);
  CHECK(mine[3].note == "my own note");
  CHECK(mine[4].outcome == pgha::Outcome::Ok);
  CHECK(w.acknowledged() == w.history().count(pgha::Outcome::Ok, pgha::OpKind::Append));
  CHECK_THAT(w.last_error(), ContainsSubstring("connection lost") || ContainsSubstring("after the outcome"));
  CHECK_THROWS_AS(w.start(), pgha::StateError);
}

TEST_CASE("callback workload: a call that does not return makes stop() throw TimeoutError, its op unknown", "[tsan]") {
  std::mutex m;
  std::condition_variable cv;
  bool release = false;
  bool entered = false;
  std::atomic<bool> saw_stopping{false};
  {
    pgha::WorkloadOptions o;
    o.stop_grace = std::chrono::milliseconds(200);
    pgha::Workload w([&](pgha::Op&, const pgha::Attempt& a) {
      if (a.client == 0 && a.n == 3) {
        std::unique_lock<std::mutex> l(m);
        entered = true;
        cv.notify_all();
        cv.wait(l, [&] { return release; });  // stuck until the test releases it
        saw_stopping = a.stopping();
      }
    }, 2, o);
    w.start();
    {
      std::unique_lock<std::mutex> l(m);
      REQUIRE(cv.wait_for(l, std::chrono::seconds(30), [&] { return entered; }));
    }
    CHECK_THROWS_AS(w.stop(), pgha::TimeoutError);
    CHECK_FALSE(w.running());
    CHECK_NOTHROW(w.stop());  // a second stop does nothing
    pgha::OpRecord stuck;
    for (const auto& r : w.history().ops())
      if (r.value == "0-3") stuck = r;
    CHECK(stuck.outcome == pgha::Outcome::Unknown);
    CHECK_THAT(stuck.note, ContainsSubstring("stop_grace"));
    {
      std::lock_guard<std::mutex> l(m);
      release = true;
    }
    cv.notify_all();
    // The destructor joins the released client; its late "ok" does not replace the unknown.
  }
  CHECK(saw_stopping);
}

TEST_CASE("callback workload: bad inputs are a UsageError at once", "[tsan]") {
  auto call = [](pgha::Op&, const pgha::Attempt&) {};
  CHECK_THROWS_AS(pgha::Workload(pgha::Workload::Call(), 4), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Workload(call, 0), pgha::UsageError);
  pgha::WorkloadOptions o;
  o.read_fraction = 0.5;
  CHECK_THROWS_AS(pgha::Workload(call, 2, o), pgha::UsageError);  // reads are the built-in's
  for (double f : {-0.1, 1.5, std::numeric_limits<double>::quiet_NaN()}) {
    o.read_fraction = f;
    CHECK_THROWS_AS(pgha::Workload("host=127.0.0.1", 2, o), pgha::UsageError);
  }
  o.read_fraction = 1.0;
  o.read_conninfo = "host='unterminated";
  CHECK_THROWS_AS(pgha::Workload("host=127.0.0.1", 2, o), pgha::UsageError);
  pgha::WorkloadOptions g;
  g.gap_event = std::chrono::milliseconds(-1);
  CHECK_THROWS_AS(pgha::Workload(call, 2, g), pgha::UsageError);
  pgha::Workload never_started(call, 1);  // its destructor returns at once
  CHECK_FALSE(never_started.running());
}

TEST_CASE("callback workload: a gap of at least gap_event is a gap event, drawn in the Timeline", "[tsan]") {
  pgha::Timeline t;
  pgha::WorkloadOptions o;
  o.gap_event = std::chrono::milliseconds(100);
  pgha::Workload w([&](pgha::Op&, const pgha::Attempt& a) {
    if (a.n == 5) std::this_thread::sleep_for(std::chrono::milliseconds(150));  // the outage
  }, 1, o);
  w.start();
  w.wait_for_acknowledged(10);
  w.stop();
  pgha::Verdict v = w.history().check({});
  std::vector<pgha::Gap> gaps = v.gaps(std::chrono::milliseconds(100));
  REQUIRE(!gaps.empty());
  CHECK(v.longest_gap() >= std::chrono::milliseconds(150));
  std::vector<pgha::Event> drawn = reads_test_events(t, "gap");
  REQUIRE(drawn.size() == gaps.size());  // one event per gap, exactly those
  const auto origin = pgha::detail::event_bus().origin();
  for (std::size_t i = 0; i < gaps.size(); ++i) {
    CHECK(drawn[i].node == "workload");
    CHECK(drawn[i].duration == std::chrono::duration_cast<std::chrono::microseconds>(gaps[i].length()));
    CHECK(drawn[i].time - origin >= gaps[i].end);  // emitted when the gap ended
    CHECK_FALSE(drawn[i].fact("start").empty());
    CHECK_FALSE(drawn[i].fact("end").empty());
  }
  std::string mermaid = t.mermaid();
  CHECK_THAT(mermaid, ContainsSubstring("participant workload"));
  CHECK_THAT(mermaid, ContainsSubstring("Note over workload: no write acknowledged from +"));
}
