// tests/events.cpp: the event stream with real servers: what a sink sees for a standby's
// birth, a failover and a rejoin, link faults, a blocked and released commit, and the
// Mermaid timeline of it all.
#include <pgha/pgha.hpp>

#include <chrono>
#include <mutex>
#include <string>
#include <vector>

#include "catch.hpp"
#include "support.hpp"

using namespace std::chrono_literals;

namespace {

// Collects the events of its lifetime through set_log_sink.
class Sink {
public:
  Sink() {
    pgha::set_log_sink([this](const pgha::Event& e) {
      std::lock_guard<std::mutex> l(mu_);
      events_.push_back(e);
    });
  }
  ~Sink() { pgha::set_log_sink(nullptr); }
  std::vector<pgha::Event> events() {
    std::lock_guard<std::mutex> l(mu_);
    return events_;
  }
  // The first event of `node` with `kind` at or after index `from`; its index in `at`.
  const pgha::Event* find(const std::string& node, const std::string& kind, std::size_t from = 0,
                          std::size_t* at = nullptr) {
    std::lock_guard<std::mutex> l(mu_);
    for (std::size_t i = from; i < events_.size(); ++i)
      if (events_[i].node == node && events_[i].kind == kind) {
        if (at) *at = i;
        found_ = events_[i];
        return &found_;
      }
    return nullptr;
  }
  std::string dump() {
    std::string out;
    for (const auto& e : events())
      out += pgha::detail::format_event(e, pgha::detail::event_bus().origin(), true) + "\n";
    return out;
  }

private:
  std::mutex mu_;
  std::vector<pgha::Event> events_;
  pgha::Event found_;
};

}  // namespace

TEST_CASE("events: a standby's birth, a failover and a rejoin, in order, with their facts") {
  Sink sink;
  pgha::Options o;
  o.name = "ev_primary";
  pgha::TempPrimary p(o);
  o.name = "ev_standby";
  pgha::TempStandby s(p, o);
  {
    pgha::FailoverGuard g(p, s);
    p.stop();  // already stopped by the guard: no event
  }
  INFO(sink.dump());
  std::size_t i = 0;
  const pgha::Event* e = sink.find("ev_primary", "create", 0, &i);
  REQUIRE(e);
  CHECK(e->fact("port") == std::to_string(p.port()));
  CHECK(e->duration.count() > 0);
  REQUIRE(sink.find("ev_primary", "start", i, &i));
  REQUIRE(sink.find("ev_primary", "ready", i, &i));
  REQUIRE(sink.find("ev_standby", "create", i, &i));
  e = sink.find("ev_standby", "clone", i, &i);
  REQUIRE(e);
  CHECK(e->fact("peer") == "ev_primary");
  CHECK(e->fact("method") == "template copy");  // Auto, a standby of a fresh primary
  e = sink.find("ev_standby", "ready", i, &i);
  REQUIRE(e);
  CHECK(e->fact("sync_state") == "sync");
  CHECK(e->fact("timeline") == "1");
  e = sink.find("ev_primary", "stop", i, &i);
  REQUIRE(e);
  CHECK(e->fact("mode") == "fast");
  REQUIRE(sink.find("ev_standby", "promote", i, &i));
  e = sink.find("ev_standby", "timeline", i, &i);
  REQUIRE(e);
  CHECK(e->fact("timeline") == "2");
  CHECK(e->message == "timeline 1 -> 2");
  CHECK_FALSE(e->fact("lsn").empty());
  e = sink.find("ev_standby", "failover", i, &i);
  REQUIRE(e);
  CHECK(e->fact("peer") == "ev_primary");
  e = sink.find("ev_primary", "rejoin", i, &i);
  REQUIRE(e);
  CHECK(e->fact("method") == pgha::to_string(p.last_rejoin_method()));
  CHECK(e->fact("peer") == "ev_standby");
  CHECK(e->fact("timeline") == "2");
  std::size_t stops = 0;
  for (const auto& ev : sink.events())
    if (ev.node == "ev_primary" && ev.kind == "stop") ++stops;
  // The guard's stop only: stop() on a stopped node (ours, and the one a clean rejoin makes)
  // reports nothing.
  if (p.last_rejoin_method() == pgha::RejoinMethod::Resumed) CHECK(stops == 1);
}

TEST_CASE("events: link faults, and a commit blocked and released", "[tsan]") {
  Sink sink;
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  p.execute("create table t (id int)");
  s.cut_link(pgha::LinkCut::Reset);
  pgha::PendingQuery q = p.execute_async("insert into t values (1)");
  CHECK_FALSE(q.wait_for(200ms));
  s.heal_link();
  REQUIRE(q.wait_for(30s));
  q.get();
  s.set_link_delay(5ms);
  s.set_link_delay(0ms);
  INFO(sink.dump());
  std::size_t i = 0;
  const pgha::Event* e = sink.find(s.name(), "fault", 0, &i);
  REQUIRE(e);
  CHECK(e->message == "replication link cut (reset)");
  e = sink.find(p.name(), "blocked", i, &i);
  REQUIRE(e);
  CHECK(e->message.find("insert into t values (1)") != std::string::npos);
  REQUIRE(sink.find(s.name(), "heal", i, &i));
  e = sink.find(p.name(), "released", i, &i);
  REQUIRE(e);
  CHECK(e->duration >= 200ms);  // it was sent before the 200 ms wait
  e = sink.find(s.name(), "fault", i, &i);
  REQUIRE(e);
  CHECK(e->message == "replication link delay 5 ms");
  e = sink.find(s.name(), "heal", i, &i);
  REQUIRE(e);
  CHECK(e->message == "replication link delay 0 ms");
}

TEST_CASE("events: a Timeline draws a failover as a Mermaid sequence diagram") {
  pgha::Timeline t;
  pgha::Options o;
  o.name = "tl_a";
  pgha::TempPrimary a(o);
  o.name = "tl_b";
  pgha::TempStandby b(a, o);
  { pgha::FailoverGuard g(a, b, pgha::StopMode::Crash); }
  std::string d = t.mermaid();
  INFO(d);
  CHECK(d.rfind("sequenceDiagram\n  participant tl_a\n  participant tl_b\n", 0) == 0);
  CHECK(d.find("  tl_a->>tl_b: cloned from tl_a") != std::string::npos);
  CHECK(d.find("  Note over tl_a: stopped (crash)") != std::string::npos);
  CHECK(d.find("  Note over tl_b: timeline 1 -> 2") != std::string::npos);
  CHECK(d.find("  tl_b->>tl_a: rejoined as standby of tl_b") != std::string::npos);
  CHECK(d.find("  tl_a->>tl_b: failover from tl_a") != std::string::npos);
}

TEST_CASE("events: a long wait reports progress before it times out") {
  pgha::TempPrimary p;
  Sink sink;
  // The first report comes after 2 s; this test moves it to 100 ms (then 200 ms, 400 ms...).
  auto& first = pgha::detail::wait_progress_first_ms();
  first = 100;
  CHECK_THROWS_AS(p.wait_until("SELECT false", 300ms), pgha::TimeoutError);
  first = 2000;
  INFO(sink.dump());
  const pgha::Event* e = sink.find(p.name(), "progress");
  REQUIRE(e);
  CHECK(e->message.find("still waiting after ") == 0);
  CHECK(e->message.find("'SELECT false' to be true; last seen: f") != std::string::npos);
  CHECK(e->duration >= 100ms);
  CHECK(e->fact("repeat") == "0");
}

TEST_CASE("events: an endpoint's switch and a partition are events of their lanes") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  Sink sink;
  pgha::Timeline t;
  pgha::Endpoint db(node1);
  REQUIRE(sink.find(db.name(), "endpoint") != nullptr);
  db.point_to(node2, pgha::Switch::Keep);
  const pgha::Event* sw = sink.find(db.name(), "switch");
  INFO(sink.dump());
  REQUIRE(sw != nullptr);
  CHECK(sw->fact("peer") == node2.name());
  CHECK(sw->fact("mode") == "Keep");
  {
    pgha::Partition p({&node1}, {&node2});
    REQUIRE(sink.find(node2.name(), "fault") != nullptr);
    CHECK_THAT(sink.find(node2.name(), "fault")->message, Catch::Matchers::ContainsSubstring(node1.name()));
  }
  REQUIRE(sink.find(node1.name(), "heal") != nullptr);
  CHECK_THAT(t.mermaid(), Catch::Matchers::ContainsSubstring(db.name()));  // the endpoint's lane
}
