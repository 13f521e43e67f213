// tests/unit_events.cpp: the event stream (pgha/events.hpp) and the Mermaid timeline
// (pgha/timeline.hpp) without a server: sinks, step events, rendering.
#include <pgha/events.hpp>
#include <pgha/timeline.hpp>
#include <pgha/error.hpp>

#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <mutex>
#include <regex>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "catch.hpp"

using pgha::Event;
using us = std::chrono::microseconds;

namespace {

// Collects the events of one scope through set_log_sink; removes the sink at scope end.
struct Collect {
  Collect() {
    pgha::set_log_sink([this](const Event& e) { events.push_back(e); });
  }
  ~Collect() { pgha::set_log_sink(nullptr); }
  std::vector<Event> events;
};

Event ev(std::string node, std::string kind, std::string message, long long dur_us = 0,
         std::vector<std::pair<std::string, std::string>> facts = {}) {
  Event e;
  e.node = std::move(node);
  e.kind = std::move(kind);
  e.message = std::move(message);
  e.duration = us(dur_us);
  e.facts = std::move(facts);
  return e;
}

}  // namespace

TEST_CASE("nobody listens: no event is built and emit is a no-op") {
  const char* log = std::getenv("PGHA_LOG");
  const char* tl = std::getenv("PGHA_TIMELINE");
  if ((log && *log && std::string(log) != "0") || (tl && *tl) || ::isatty(STDERR_FILENO) == 1)
    PGHA_SKIP("PGHA_LOG or PGHA_TIMELINE is set, or stderr is a terminal: pgha listens itself");
  CHECK_FALSE(pgha::detail::events_on());
  bool filled = false;
  { pgha::detail::StepEvent s("n", "start", [&](Event& e) { filled = true; e.message = "x"; }); }
  CHECK_FALSE(filled);  // the callback that builds the strings never ran
}

TEST_CASE("set_log_sink receives events with node, kind, message, time, duration and facts") {
  auto before = std::chrono::system_clock::now();
  std::vector<Event> got;
  {
    Collect c;
    CHECK(pgha::detail::events_on());
    pgha::detail::emit("node1", "promote", "promoted to primary", us(51000),
                       {{"timeline", "2"}, {"lsn", "0/3000060"}});
    got = c.events;
  }
  REQUIRE(got.size() == 1);
  CHECK(got[0].node == "node1");
  CHECK(got[0].kind == "promote");
  CHECK(got[0].message == "promoted to primary");
  CHECK(got[0].duration == us(51000));
  CHECK(got[0].time >= before);
  CHECK(got[0].fact("timeline") == "2");
  CHECK(got[0].fact("lsn") == "0/3000060");
  CHECK(got[0].fact("port").empty());
}

TEST_CASE("set_log_sink(nullptr) removes the sink") {
  int n = 0;
  pgha::set_log_sink([&](const Event&) { ++n; });
  pgha::detail::emit("a", "start", "one");
  pgha::set_log_sink(nullptr);
  pgha::detail::emit("a", "start", "two");
  CHECK(n == 1);
}

TEST_CASE("a sink that throws does not break the emitter") {
  pgha::set_log_sink([](const Event&) { throw std::runtime_error("sink broke"); });
  CHECK_NOTHROW(pgha::detail::emit("a", "start", "x"));
  pgha::set_log_sink(nullptr);
}

TEST_CASE("StepEvent emits once its scope ends, with a duration, and not after an exception") {
  Collect c;
  {
    pgha::detail::StepEvent s("node2", "clone", [](Event& e) {
      e.message = "cloned";
      e.facts = {{"peer", "node1"}};
    });
    CHECK(c.events.empty());  // not before the step ended
    auto until = std::chrono::steady_clock::now() + std::chrono::milliseconds(2);
    while (std::chrono::steady_clock::now() < until) {
    }  // the step's own work: 2 ms of it
  }
  REQUIRE(c.events.size() == 1);
  CHECK(c.events[0].kind == "clone");
  CHECK(c.events[0].fact("peer") == "node1");
  CHECK(c.events[0].duration >= std::chrono::milliseconds(2));
  try {
    pgha::detail::StepEvent s("node2", "start", [](Event& e) { e.message = "started"; });
    throw std::runtime_error("the step failed");
  } catch (const std::runtime_error&) {
  }
  CHECK(c.events.size() == 1);  // a failed step is not reported as done
  { pgha::detail::StepEvent s("node2", "stop", [](Event&) {}); }
  CHECK(c.events.size() == 1);  // an empty message: nothing to report
}

TEST_CASE("events from many threads all reach the sink, one delivery at a time") {
  int delivered = 0;  // not atomic: deliveries are serialized
  pgha::set_log_sink([&](const Event&) { ++delivered; });
  std::vector<std::thread> ts;
  for (int t = 0; t < 4; ++t)
    ts.emplace_back([] {
      for (int i = 0; i < 250; ++i) pgha::detail::emit("n", "fault", "x");
    });
  for (auto& t : ts) t.join();
  pgha::set_log_sink(nullptr);
  CHECK(delivered == 1000);
}

TEST_CASE("format_event and format_duration") {
  using pgha::detail::format_duration;
  CHECK(format_duration(us(850)) == "850 us");
  CHECK(format_duration(us(51000)) == "51 ms");
  CHECK(format_duration(us(1250000)) == "1250 ms");
  CHECK(format_duration(us(12500000)) == "12.5 s");
  Event e = ev("node2", "promote", "promoted to primary", 51000, {{"timeline", "2"}});
  auto origin = std::chrono::system_clock::now();
  e.time = origin + std::chrono::milliseconds(1234);
  CHECK(pgha::detail::format_event(e, origin) == "+1.234s node2 promote: promoted to primary (51 ms)");
  CHECK(pgha::detail::format_event(e, origin, true) ==
        "+1.234s node2 promote: promoted to primary (51 ms) {timeline=2}");
  Event p = ev("", "binaries", "PostgreSQL 15");
  p.time = origin;
  CHECK(pgha::detail::format_event(p, origin) == "+0.000s binaries: PostgreSQL 15");
  CHECK(pgha::detail::node_of_label("node1 (port 5432)") == "node1");
  CHECK(pgha::detail::node_of_label("shared") == "shared");
}

TEST_CASE("PGHA_LOG values - off or on or debug in any case") {
  using pgha::detail::EventBus;
  for (const char* off : {"", "0", "off", "OFF", "false", "No"}) CHECK(EventBus::log_level(off) == 0);
  for (const char* on : {"1", "yes", "on", "true", "2"}) CHECK(EventBus::log_level(on) == 1);
  CHECK(EventBus::log_level("debug") == 2);
  CHECK(EventBus::log_level("DEBUG") == 2);
}

TEST_CASE("Timeline::render draws lanes, arrows from the peer and notes with durations") {
  std::vector<Event> es = {
      ev("", "binaries", "PostgreSQL 15.18"),  // process-wide: not drawn
      ev("node1", "create", "created, port 5432", 43000),
      ev("node2", "clone", "cloned from node1 with pg_basebackup", 133000, {{"peer", "node1"}}),
      ev("node2", "progress", "still waiting"),  // not drawn
      ev("node2", "promote", "promoted to primary", 28000),
      ev("node2", "blocked", "blocked after 300 ms: insert into t values (2,'2')"),
      ev("node1", "rejoin", "rejoined as standby of node2 (Resumed)", 64000, {{"peer", "node2"}}),
      ev("ep", "endpoint", "switched to node2", 0, {{"peer", "node2"}}),
  };
  CHECK(pgha::Timeline::render(es) ==
        "sequenceDiagram\n"
        "  participant node1\n"
        "  participant node2\n"
        "  participant ep\n"
        "  Note over node1: created, port 5432 (43 ms)\n"
        "  node1->>node2: cloned from node1 with pg_basebackup (133 ms)\n"
        "  Note over node2: promoted to primary (28 ms)\n"
        "  Note over node2: blocked after 300 ms: insert into t values (2,'2')\n"
        "  node2->>node1: rejoined as standby of node2 (Resumed) (64 ms)\n"
        "  node2->>ep: switched to node2\n");
}

TEST_CASE("Timeline::render keeps Mermaid syntax out of names and messages") {
  std::vector<Event> es = {ev("my node", "fault", "a; b # c\nd"), ev("end", "start", "x")};
  CHECK(pgha::Timeline::render(es) ==
        "sequenceDiagram\n"
        "  participant lane1 as my node\n"
        "  participant lane2 as end\n"
        "  Note over lane1: a, b nr  c d\n"
        "  Note over lane2: x\n");
  CHECK(pgha::Timeline::render({}) == "sequenceDiagram\n");
}

TEST_CASE("Timeline::render draws an endpoint switch as an arrow and never gives two lanes one identifier") {
  std::vector<Event> es = {
      ev("my node", "start", "started"),
      ev("lane1", "start", "started"),
      ev("endpoint5000", "switch", "new connections go to lane1; existing ones: Reset", 0, {{"peer", "lane1"}}),
  };
  CHECK(pgha::Timeline::render(es) ==
        "sequenceDiagram\n"
        "  participant lane2 as my node\n"
        "  participant lane1\n"
        "  participant endpoint5000\n"
        "  Note over lane2: started\n"
        "  Note over lane1: started\n"
        "  lane1->>endpoint5000: new connections go to lane1, existing ones: Reset\n");
}

TEST_CASE("a Timeline records the events of its lifetime and writes Markdown or a bare diagram") {
  std::vector<Event> got;
  {
    pgha::Timeline t;
    pgha::detail::emit("node1", "start", "started");
    got = t.events();
    std::string md = "/tmp/pgha-unit-events-" + std::to_string(::getpid()) + ".md";
    std::string mmd = "/tmp/pgha-unit-events-" + std::to_string(::getpid()) + ".mmd";
    t.write(md);
    t.write(mmd);
    std::stringstream a, b;
    a << std::ifstream(md).rdbuf();
    b << std::ifstream(mmd).rdbuf();
    std::remove(md.c_str());
    std::remove(mmd.c_str());
    CHECK(a.str() == "```mermaid\n" + t.mermaid() + "```\n");
    CHECK(b.str() == t.mermaid());
    CHECK(t.mermaid().find("Note over node1: started") != std::string::npos);
    CHECK_THROWS_AS(t.write("/nonexistent-dir/x.md"), pgha::SetupError);
  }
  REQUIRE(got.size() == 1);
  CHECK(got[0].message == "started");
  pgha::Timeline later;
  CHECK(later.events().empty());  // an earlier event is not replayed
}

TEST_CASE("annotate puts the application's note in its own lane: sink, Timeline and bad input") {
  std::vector<Event> seen;
  std::mutex seen_mu;
  pgha::set_log_sink([&](const Event& e) {
    std::lock_guard<std::mutex> l(seen_mu);
    seen.push_back(e);
  });
  pgha::Timeline t;
  pgha::annotate("orders-service", "retrying after 57P01");
  pgha::annotate("orders service (v2)", "odd lane: spaces and parentheses");
  pgha::set_log_sink(nullptr);
  std::vector<Event> got = t.events();
  REQUIRE(got.size() == 2);
  CHECK(got[0].node == "orders-service");
  CHECK(got[0].kind == "note");
  CHECK(got[0].message == "retrying after 57P01");
  {
    std::lock_guard<std::mutex> l(seen_mu);
    REQUIRE(seen.size() == 2);
    CHECK(seen[1].node == "orders service (v2)");
  }
  std::string m = t.mermaid();
  // A lane name Mermaid cannot take as an identifier gets one of its own, with the name shown.
  std::smatch id;
  REQUIRE(std::regex_search(m, id, std::regex("participant (\\w+) as orders-service\n")));
  CHECK(m.find("Note over " + id[1].str() + ": retrying after 57P01\n") != std::string::npos);
  REQUIRE(std::regex_search(m, id, std::regex("participant (\\w+) as orders service \\(v2\\)\n")));
  CHECK(m.find("Note over " + id[1].str() + ": odd lane: spaces and parentheses\n") != std::string::npos);
  CHECK_THROWS_AS(pgha::annotate("", "text"), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::annotate("svc", ""), Catch::Matchers::ContainsSubstring("the text is empty"));
}
