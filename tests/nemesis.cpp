// tests/nemesis.cpp: seeded fault schedules over real clusters: the same seed gives the same
// steps; a run heals the cluster (asked of the servers); a Workload through a Route::Primary
// endpoint on RemoteApply loses nothing acknowledged under a run; bad input is refused at once.
#include "support.hpp"

#include <pgha/timeline.hpp>

#include <set>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The servers' own view: exactly one node out of recovery, every other one streaming from
// it (its application_name in the primary's pg_stat_replication). Returns what is wrong.
std::string nemesis_cluster_problem(const std::vector<pgha::Node*>& nodes) {
  pgha::Node* primary = nullptr;
  for (pgha::Node* n : nodes) {
    if (!n->is_running()) return n->name() + " is not running";
    if (n->query("SELECT pg_is_in_recovery()").value(0, 0) == "f") {
      if (primary) return "two primaries: " + primary->name() + " and " + n->name();
      primary = n;
    }
  }
  if (!primary) return "no primary";
  for (pgha::Node* n : nodes) {
    if (n == primary) continue;
    if (primary->query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND "
                       "application_name = '" + n->application_name() + "'").value(0, 0) != "1")
      return n->name() + " does not stream from " + primary->name();
  }
  return "";
}

pgha::Node& nemesis_primary_of(const std::vector<pgha::Node*>& nodes) {
  for (pgha::Node* n : nodes)
    if (n->query("SELECT pg_is_in_recovery()").value(0, 0) == "f") return *n;
  throw std::runtime_error("no primary");
}

}  // namespace

TEST_CASE("a Nemesis schedule is a function of the seed and the cluster's shape", "[nemesis]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::TempStandby node3(node1);
  pgha::NemesisOptions o;
  o.seed = 42;
  o.steps = 50;
  pgha::Nemesis a({&node1, &node2, &node3}, o);
  pgha::Nemesis b({&node1, &node2, &node3}, o);
  REQUIRE(a.steps().size() == 50);
  std::set<pgha::Fault> kinds;
  for (std::size_t i = 0; i < a.steps().size(); ++i) {
    const pgha::Step& x = a.steps()[i];
    const pgha::Step& y = b.steps()[i];
    CHECK(x.fault == y.fault);
    CHECK(x.target == y.target);
    CHECK(x.at == y.at);
    CHECK(x.duration == y.duration);
    CHECK(x.duration >= 100ms);  // max_fault / 10
    CHECK(x.duration <= 1000ms);
    if (i > 0) CHECK(x.at >= a.steps()[i - 1].at + a.steps()[i - 1].duration);
    kinds.insert(x.fault);
  }
  CHECK(kinds.size() >= 8);  // 50 draws from 11 kinds
  o.seed = 43;
  pgha::Nemesis c({&node1, &node2, &node3}, o);
  bool differs = false;
  for (std::size_t i = 0; i < 50; ++i)
    differs = differs || c.steps()[i].fault != a.steps()[i].fault || c.steps()[i].at != a.steps()[i].at;
  CHECK(differs);
  CHECK(a.seed() == 42);
  CHECK_THAT(a.schedule(), Catch::Matchers::ContainsSubstring("PGHA_SEED=42 replays it"));
  // PGHA_SEED is the seed when the options leave it 0.
  ::setenv("PGHA_SEED", "42", 1);
  o.seed = 0;
  pgha::Nemesis from_env({&node1, &node2, &node3}, o);
  ::setenv("PGHA_SEED", "forty-two", 1);
  CHECK_THROWS_AS(pgha::Nemesis({&node1, &node2, &node3}, o), pgha::UsageError);
  ::unsetenv("PGHA_SEED");
  CHECK(from_env.seed() == 42);
  CHECK(from_env.schedule() == a.schedule());
}

TEST_CASE("a Nemesis refuses what it cannot run, at once", "[nemesis]") {
  pgha::TempPrimary node1;
  pgha::NemesisOptions o;
  o.faults = {pgha::Fault::Failover};
  CHECK_THROWS_WITH(pgha::Nemesis({&node1}, o), Catch::Matchers::ContainsSubstring("Fault::Failover needs a standby"));
  CHECK_THROWS_AS(pgha::Nemesis({}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Nemesis({&node1, nullptr}), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Nemesis({&node1, &node1}), pgha::UsageError);
  pgha::NemesisOptions bad;
  bad.steps = -1;
  CHECK_THROWS_AS(pgha::Nemesis({&node1}, bad), pgha::UsageError);
  bad = {};
  bad.max_fault = 0ms;
  CHECK_THROWS_AS(pgha::Nemesis({&node1}, bad), pgha::UsageError);
  // Two primaries are not one cluster; nor is a standby of another primary.
  pgha::TempPrimary other;
  pgha::TempStandby others_standby(other);
  CHECK_THROWS_WITH(pgha::Nemesis({&node1, &other}), Catch::Matchers::ContainsSubstring("2 running primaries"));
  CHECK_THROWS_WITH(pgha::Nemesis({&node1, &others_standby}),
                    Catch::Matchers::ContainsSubstring("does not stream from"));
  // One node: the faults without a standby only.
  pgha::NemesisOptions one;
  one.steps = 40;
  one.seed = 7;
  one.interval = 20ms;  // the steps' kinds are the point here, not their timing
  one.max_fault = 100ms;
  pgha::Nemesis n({&node1}, one);
  for (const pgha::Step& s : n.steps()) {
    CHECK(s.target == "primary");
    CHECK((s.fault == pgha::Fault::Crash || s.fault == pgha::Fault::Stop || s.fault == pgha::Fault::Freeze ||
           s.fault == pgha::Fault::ClientReset));
  }
  n.run();
  CHECK_THROWS_AS(n.run(), pgha::StateError);
  CHECK(node1.query("SELECT pg_is_in_recovery()").value(0, 0) == "f");
}

TEST_CASE("Nemesis runs over three nodes with a Workload on RemoteApply: nothing acknowledged is lost, the cluster heals",
          "[nemesis][tsan]") {
  pgha::ClusterOptions co;
  co.node.sync_mode = pgha::SyncMode::RemoteApply;
  pgha::TempCluster c(3, co);
  std::vector<pgha::Node*> nodes = {&c.node(0), &c.node(1), &c.node(2)};
  pgha::Endpoint ep(nodes, pgha::Route::Primary);
  pgha::Timeline timeline;
  std::size_t steps_ran = 0;
  for (std::uint64_t seed : {1u, 2u, 3u}) {
    pgha::NemesisOptions o;
    o.seed = seed;
    o.steps = 4;
    o.interval = 100ms;
    o.max_fault = 400ms;
    pgha::Workload w(ep.conninfo(), 3);
    w.start();
    pgha::Nemesis n(c, o);
    CHECK(n.steps().size() == 4);
    n.start();
    CHECK(n.running());
    n.stop();  // waits for nothing: stop() ends the run at once (the step under way is healed)
    pgha::Nemesis full(nodes, o);
    full.run();
    steps_ran += full.steps_started();
    w.stop();
    INFO(full.schedule());
    CHECK(nemesis_cluster_problem(nodes) == "");
    pgha::Verdict v = w.check(nemesis_primary_of(nodes));
    INFO(v.summary());
    CHECK(v.acknowledged() > 0);
    CHECK(v.lost().empty());
    CHECK(v.ok());
  }
  CHECK(steps_ran == 12);
  // Every step is an event in its target's lane.
  std::size_t in_node_lanes = 0;
  for (const pgha::Event& e : timeline.events())
    if (e.kind == "nemesis" && e.node.rfind("node", 0) == 0) ++in_node_lanes;
  CHECK(in_node_lanes >= 24);  // a begin and a healed event per step
  // The schedule of each run is one event in the nemesis lane, with its replay line.
  std::size_t schedules = 0;
  for (const pgha::Event& e : timeline.events())
    if (e.node == "nemesis" && e.message.find("1. +") != std::string::npos &&
        e.message.find("replays it") != std::string::npos)
      ++schedules;
  CHECK(schedules == 6);  // two Nemesis runs per seed
}

TEST_CASE("Nemesis::stop() from two threads at once: both return, once the cluster is healed", "[nemesis][tsan]") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::NemesisOptions o;
  o.seed = 11;
  o.steps = 6;
  o.interval = 100ms;
  o.max_fault = 400ms;
  pgha::Nemesis n({&node1, &node2}, o);
  n.start();
  std::string other_error = "not returned";
  std::thread other([&] {
    try {
      n.stop();
      other_error.clear();
    } catch (const std::exception& e) {
      other_error = e.what();
    }
  });
  std::string main_error;
  try {
    n.stop();
  } catch (const std::exception& e) {
    main_error = e.what();
  }
  other.join();
  CHECK(main_error == "");
  CHECK(other_error == "");
  CHECK_FALSE(n.running());
  CHECK(nemesis_cluster_problem({&node1, &node2}) == "");
}
