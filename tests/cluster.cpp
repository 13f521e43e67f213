// tests/cluster.cpp: TempCluster (a primary and N-1 standbys that fail over as a whole) and
// a FailoverGuard whose old primary has other standbys. Every role is checked on the
// servers (pg_is_in_recovery(), pg_stat_replication, pg_stat_wal_receiver), not only in
// pgha's bookkeeping.
#include <string>
#include <vector>

#include "support.hpp"

using Catch::Matchers::ContainsSubstring;

namespace {
// "state/sync_state" of each walsender of `primary`, by application_name ("a=streaming/sync, ...").
std::string cl_walsenders(pgha::Node& primary) {
  pgha::Result r = primary.query(
      "SELECT string_agg(application_name || '=' || state || '/' || sync_state, ', ' ORDER BY "
      "application_name) FROM pg_stat_replication");
  return r.is_null(0, 0) ? "" : r.value(0, 0);
}
// `standby`'s wal receiver: its status and the timeline it receives.
std::string cl_receiver(pgha::Node& standby) {
  pgha::Result r = standby.query("SELECT status, received_tli FROM pg_stat_wal_receiver");
  return r.rows() ? r.value(0, 0) + " on timeline " + r.value(0, 1) : "no wal receiver";
}
// The primary's current timeline, from its WAL file name.
std::string cl_timeline(pgha::Node& primary) {
  return std::to_string(std::stoul(
      primary.query("SELECT substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8)").value(0, 0), nullptr, 16));
}
// Whether `standby`'s walsender row exists on `primary` under its application_name, streaming.
bool cl_streams_from(pgha::Node& standby, pgha::Node& primary) {
  pgha::Result r = primary.query(
      "SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' AND application_name = '" +
      standby.application_name() + "'");
  return r.value(0, 0) == "1" && test::in_recovery(standby) &&
         cl_receiver(standby) == "streaming on timeline " + cl_timeline(primary);
}
}  // namespace

TEST_CASE("TempCluster(3): a primary, a sync and a potential standby, as the servers say", "[tsan]") {
  pgha::TempCluster c(3);
  REQUIRE(c.size() == 3);
  pgha::Node& p = c.primary();
  CHECK(&p == &c.node(0));
  CHECK_FALSE(test::in_recovery(c.node(0)));
  CHECK(test::in_recovery(c.node(1)));
  CHECK(test::in_recovery(c.node(2)));
  CHECK(c.standbys() == std::vector<pgha::Node*>{&c.node(1), &c.node(2)});
  CHECK(p.query("SELECT current_setting('synchronous_standby_names')").value(0, 0) ==
        "FIRST 1 (pgslave001, pgslave002)");
  CHECK(c.node(1).application_name() == "pgslave001");
  CHECK(c.node(2).application_name() == "pgslave002");
  CHECK(cl_walsenders(p) == "pgslave001=streaming/sync, pgslave002=streaming/potential");
  p.execute("create table test (id int); insert into test values (1)");  // remote_apply on node1
  CHECK(test::ids(c.node(1)) == std::vector<int>{1});
  p.wait_for_catchup(c.node(2));
  CHECK(test::ids(c.node(2)) == std::vector<int>{1});
  CHECK(cl_streams_from(c.node(1), p));
  CHECK(cl_streams_from(c.node(2), p));
}

TEST_CASE("TempCluster failover(Crash): the cluster commits again with no user step, the other standby follows") {
  pgha::TempCluster c(3);
  pgha::Node& old = c.primary();
  old.execute("create table test (id int); insert into test values (1)");
  old.wait_for_catchup(c.node(2));
  pgha::Node& np = c.failover(pgha::StopMode::Crash);
  CHECK(&np == &c.node(1));  // a tie: the first standby
  CHECK_FALSE(old.is_running());
  CHECK(old.role() == pgha::Role::Stopped);
  CHECK_FALSE(test::in_recovery(np));
  CHECK(&c.primary() == &np);
  // A synchronous commit returns: the new primary lists the following standby.
  np.execute("insert into test values (2)");
  CHECK(test::ids(c.node(2)) == std::vector<int>{1, 2});  // remote_apply there
  CHECK(cl_walsenders(np) == "pgslave002=streaming/sync");
  CHECK(cl_streams_from(c.node(2), np));
  CHECK(cl_timeline(np) == "2");
  CHECK(c.standbys() == std::vector<pgha::Node*>{&c.node(2)});

  // The old primary comes back as a standby of the new one.
  CHECK(c.rejoin_stopped() == 1);
  CHECK(old.role() == pgha::Role::Standby);
  CHECK(test::in_recovery(old));
  CHECK(cl_streams_from(old, np));
  // The new primary lists its own (dormant) name first, the walkthrough's symmetric pair:
  // the old primary streams under it and is the sync standby again.
  CHECK(cl_walsenders(np) == "pgslave001=streaming/sync, pgslave002=streaming/potential");
  np.execute("insert into test values (3)");
  np.wait_for_catchup(old);
  CHECK(test::ids(old) == std::vector<int>{1, 2, 3});
  CHECK(c.rejoin_stopped() == 0);
}

TEST_CASE("TempCluster failover promotes the standby with the most WAL, as the servers report it") {
  pgha::TempCluster c(3);
  pgha::Node& p = c.primary();
  p.execute("create table test (id int); insert into test values (1)");
  p.wait_for_catchup(c.node(2));
  // node1 (the sync standby, first in creation order) falls behind: its link is cut, node2
  // becomes the sync standby and receives rows node1 never sees.
  c.node(1).cut_link(pgha::LinkCut::Reset);
  p.wait_until("SELECT count(*) = 1 FROM pg_stat_replication");
  p.execute("insert into test values (2)");  // returns once node2 applied it
  CHECK(cl_walsenders(p) == "pgslave002=streaming/sync");
  pgha::Node& np = c.failover(pgha::StopMode::Crash);
  CHECK(&np == &c.node(2));
  CHECK_FALSE(test::in_recovery(c.node(2)));
  CHECK(test::in_recovery(c.node(1)));
  CHECK(cl_streams_from(c.node(1), np));  // its cut was about the old path
  np.execute("insert into test values (3)");  // node1 is its sync standby now
  CHECK(test::ids(c.node(1)) == std::vector<int>{1, 2, 3});
  CHECK(cl_walsenders(np) == "pgslave001=streaming/sync");
}

TEST_CASE("TempCluster switchover: the old primary becomes a standby of the target") {
  pgha::TempCluster c(3);
  c.primary().execute("create table test (id int); insert into test values (1)");
  c.switchover(c.node(2));
  CHECK(&c.primary() == &c.node(2));
  CHECK_FALSE(test::in_recovery(c.node(2)));
  CHECK(c.node(0).role() == pgha::Role::Standby);
  CHECK(c.node(0).last_rejoin_method() == pgha::RejoinMethod::Resumed);  // a clean switch
  CHECK(cl_streams_from(c.node(0), c.node(2)));
  CHECK(cl_streams_from(c.node(1), c.node(2)));
  CHECK(c.node(2).query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming'").value(0, 0) == "2");
  c.node(2).execute("insert into test values (2)");
  c.node(2).wait_for_catchup(c.node(0));
  c.node(2).wait_for_catchup(c.node(1));
  CHECK(test::ids(c.node(0)) == std::vector<int>{1, 2});
  CHECK(test::ids(c.node(1)) == std::vector<int>{1, 2});
  // And back.
  c.switchover(c.node(0));
  CHECK(&c.primary() == &c.node(0));
  CHECK(cl_streams_from(c.node(2), c.node(0)));
  CHECK(cl_streams_from(c.node(1), c.node(0)));
  c.node(0).execute("insert into test values (3)");
}

TEST_CASE("ClusterOptions: Quorum::Any renders ANY n (...) and commits, FIRST 2 too") {
  pgha::ClusterOptions co;
  co.node = pgha::Options{};
  co.sync_count = 2;
  co.quorum = pgha::Quorum::Any;
  {
    pgha::TempCluster c(3, co);
    pgha::Node& p = c.primary();
    CHECK(p.query("SELECT current_setting('synchronous_standby_names')").value(0, 0) ==
          "ANY 2 (pgslave001, pgslave002)");
    CHECK(cl_walsenders(p) == "pgslave001=streaming/quorum, pgslave002=streaming/quorum");
    p.execute("create table test (id int); insert into test values (1)");  // both applied it
    CHECK(test::ids(c.node(1)) == std::vector<int>{1});
    CHECK(test::ids(c.node(2)) == std::vector<int>{1});
    // The rule survives a failover: the new primary renders it too.
    pgha::Node& np = c.failover();
    CHECK(np.query("SELECT current_setting('synchronous_standby_names')").value(0, 0) ==
          "ANY 2 (" + np.application_name() + ", pgslave002)");
  }
  co.quorum = pgha::Quorum::First;
  co.node.name = "fq";
  pgha::TempCluster c(4, co);
  CHECK(c.node(3).name() == "fq4");
  CHECK(c.primary().query("SELECT current_setting('synchronous_standby_names')").value(0, 0) ==
        "FIRST 2 (pgslave001, pgslave002, pgslave003)");
  CHECK(cl_walsenders(c.primary()) ==
        "pgslave001=streaming/sync, pgslave002=streaming/sync, pgslave003=streaming/potential");
  c.primary().execute("create table test (id int); insert into test values (1)");
  CHECK(test::ids(c.node(2)) == std::vector<int>{1});
}

TEST_CASE("TempCluster: bad inputs are answered at once") {
  CHECK_THROWS_AS(pgha::TempCluster(0), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::TempCluster(-2), ContainsSubstring("at least one node"));
  pgha::ClusterOptions co;
  co.sync_count = 3;
  CHECK_THROWS_WITH(pgha::TempCluster(3, co), ContainsSubstring("2 standby(s); expected 1 to 2"));
  co.sync_count = 0;
  CHECK_THROWS_AS(pgha::TempCluster(3, co), pgha::UsageError);
  co.sync_count = 1;
  co.node.port = 5999;
  CHECK_THROWS_AS(pgha::TempCluster(2, co), pgha::UsageError);

  pgha::TempCluster lone(1);
  CHECK(lone.standbys().empty());
  CHECK_THROWS_WITH(lone.failover(), ContainsSubstring("no running standby"));
  CHECK(lone.node(0).role() == pgha::Role::Primary);  // nothing was stopped

  pgha::TempCluster c(3);
  CHECK_THROWS_AS(c.node(3), pgha::UsageError);
  CHECK_THROWS_WITH(c.node(-1), ContainsSubstring("expected 0 to 2"));
  CHECK_THROWS_WITH(c.switchover(c.node(0)), ContainsSubstring("already the primary"));
  CHECK_THROWS_AS(c.switchover(c.node(0)), pgha::UsageError);
  CHECK_THROWS_AS(c.switchover(lone.node(0)), pgha::UsageError);
  c.node(2).stop();
  CHECK_THROWS_AS(c.switchover(c.node(2)), pgha::StateError);
  CHECK_THROWS_WITH(c.switchover(c.node(2)), ContainsSubstring("is stopped; expected a running standby"));
  c.node(1).stop();
  CHECK_THROWS_AS(c.failover(), pgha::StateError);
  CHECK(c.node(0).role() == pgha::Role::Primary);  // nothing was stopped
  CHECK(c.rejoin_stopped() == 2);
  CHECK(cl_streams_from(c.node(1), c.node(0)));
  CHECK(cl_streams_from(c.node(2), c.node(0)));
  // The primary went down (a crash, a full WAL disk): failover() fails over from it.
  c.node(0).stop(pgha::StopMode::Crash);
  pgha::Node& np = c.failover();
  CHECK(&np != &c.node(0));
  CHECK(np.role() == pgha::Role::Primary);
  CHECK(c.rejoin_stopped() == 1);
  CHECK(cl_streams_from(c.node(0), np));
  // Two stopped former primaries: which one to fail over from is not pgha's guess.
  np.stop();
  pgha::Node& other = &c.node(0) == &np ? c.node(1) : c.node(0);
  other.promote();
  other.stop();
  CHECK_THROWS_WITH(c.failover(), ContainsSubstring("stopped nodes were primaries"));
  CHECK_THROWS_WITH(c.rejoin_stopped(), ContainsSubstring("no node is a running primary"));
}

TEST_CASE("FailoverGuard with a third node re-points it and restores the topology at scope exit") {
  pgha::TempPrimary p;
  pgha::TempStandby s1(p);
  pgha::TempStandby s2(p);
  p.execute("create table test (id int); insert into test values (1)");
  p.wait_for_catchup(s2);
  {
    pgha::FailoverGuard g(p, s1, pgha::StopMode::Crash);
    CHECK(g.repointed() == std::vector<std::string>{s2.name()});
    CHECK_FALSE(test::in_recovery(s1));
    CHECK(cl_streams_from(s2, s1));
    s1.execute("insert into test values (2)");  // commits with no user step: s2 is sync
    CHECK(test::ids(s2) == std::vector<int>{1, 2});
    CHECK(cl_walsenders(s1) == s2.application_name() + "=streaming/sync");
    s2.stop(pgha::StopMode::Crash);  // the scope exit brings it back too
  }
  CHECK(test::in_recovery(p));
  CHECK(cl_streams_from(p, s1));
  CHECK(cl_streams_from(s2, s1));
  s1.execute("insert into test values (3)");
  s1.wait_for_catchup(p);
  s1.wait_for_catchup(s2);
  CHECK(test::ids(p) == std::vector<int>{1, 2, 3});
  CHECK(test::ids(s2) == std::vector<int>{1, 2, 3});
}

TEST_CASE("FailoverGuard of a pair re-points nothing") {
  pgha::TempPrimary p;
  pgha::TempStandby s(p);
  pgha::FailoverGuard g(p, s);
  CHECK(g.repointed().empty());
  CHECK(g.rejoin() == pgha::RejoinMethod::Resumed);
  CHECK(cl_streams_from(p, s));
}
