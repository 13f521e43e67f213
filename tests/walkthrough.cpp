// tests/walkthrough.cpp: every step of ../shared/seed/walkthrough.md, against real servers.
#include "support.hpp"

using namespace std::chrono_literals;
using pgha::Role;

TEST_CASE("step 1-2: a primary and a synchronous standby with remote_apply") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK_FALSE(test::in_recovery(node1));
  CHECK(test::in_recovery(node2));
  CHECK(node1.role() == Role::Primary);
  CHECK(node2.role() == Role::Standby);
  CHECK(test::sync_state(node1) == "streaming/sync");
  CHECK(node1.query("SHOW synchronous_commit").value(0, 0) == "remote_apply");
  CHECK(node1.query("SHOW synchronous_standby_names").value(0, 0) == "pgslave001");
  CHECK(node1.query("SHOW wal_level").value(0, 0) == "replica");
  CHECK(node2.query("SELECT status FROM pg_stat_wal_receiver").value(0, 0) == "streaming");
  // The replication role exists on both, as in the walkthrough.
  for (pgha::Node* n : {static_cast<pgha::Node*>(&node1), static_cast<pgha::Node*>(&node2)})
    CHECK(n->query("SELECT rolreplication AND rolcanlogin FROM pg_roles "
                   "WHERE rolname = 'replicauser'").value(0, 0) == "t");
}

TEST_CASE("step 3: a write on the primary is on the standby when it returns, the standby is read-only") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int, name varchar(100))");
  node1.execute("insert into test values (1,'1')");
  // remote_apply: no wait here; the row must already be visible on the standby.
  pgha::Result r = node2.query("select id, name from test order by id");
  REQUIRE(r.rows() == 1);
  CHECK(r.value(0, 0) == "1");
  CHECK(r.value(0, 1) == "1");
  CHECK(test::sqlstate_of([&] { node2.execute("insert into test values (1,'1')"); }) == "25006");
}

TEST_CASE("step 4: stop the primary, promote the standby, the next insert blocks") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int, name varchar(100)); insert into test values (1,'1')");
  node1.stop();
  CHECK_FALSE(node1.is_running());
  CHECK(node1.role() == Role::Stopped);
  CHECK_THROWS_AS(node1.connect(), pgha::ConnectionError);
  CHECK(test::sqlstate_of([&] { node2.execute("insert into test values (1,'1')"); }) == "25006");
  node2.promote();
  CHECK(node2.role() == Role::Primary);
  CHECK_FALSE(test::in_recovery(node2));
  pgha::PendingQuery p = node2.execute_async("insert into test values (2,'2')");
  CHECK_FALSE(p.wait_for(500ms));
  CHECK(test::wait_event(node2, p.backend_pid()) == "SyncRep");
  // Committed locally, invisible to other sessions until the sync standby confirms.
  CHECK(test::ids(node2) == std::vector<int>{1});
}

TEST_CASE("step 5: the old primary rejoins and the blocked insert returns") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int, name varchar(100)); insert into test values (1,'1')");
  node1.stop();
  node2.promote();
  pgha::PendingQuery p = node2.execute_async("insert into test values (2,'2')");
  REQUIRE_FALSE(p.wait_for(300ms));
  CHECK(node1.rejoin(node2) == pgha::RejoinMethod::Resumed);
  REQUIRE(p.wait_for(10s));
  CHECK(p.get().command_status() == "INSERT 0 1");
  CHECK(node1.role() == Role::Standby);
  CHECK(test::sync_state(node2) == "streaming/sync");
  CHECK(test::ids(node1) == std::vector<int>{1, 2});
  CHECK(test::ids(node2) == std::vector<int>{1, 2});
}

TEST_CASE("step 6: the mirror round with FailoverGuard, rows 1, 2, 3 on both nodes") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("create table test (id int, name varchar(100)); insert into test values (1,'1')");
  {
    pgha::FailoverGuard guard(node1, node2);
    CHECK_FALSE(node1.is_running());
    CHECK(node2.role() == Role::Primary);
    pgha::PendingQuery p = node2.execute_async("insert into test values (2,'2')");
    CHECK_FALSE(p.wait_for(300ms));
    CHECK(guard.rejoin() == pgha::RejoinMethod::Resumed);
    REQUIRE(p.wait_for(10s));
  }
  CHECK(node1.role() == Role::Standby);
  pgha::PendingQuery p3 = [&] {
    pgha::FailoverGuard guard(node2, node1);  // stops node2, promotes node1
    CHECK(node2.role() == Role::Stopped);
    CHECK(node1.role() == Role::Primary);
    CHECK_THROWS_AS(node2.execute("select 1"), pgha::StateError);
    pgha::PendingQuery p = node1.execute_async("insert into test values (3,'3')");
    CHECK_FALSE(p.wait_for(300ms));
    return p;
  }();  // scope exit: node2 rejoins as standby of node1
  REQUIRE(p3.wait_for(10s));
  CHECK(p3.get().command_status() == "INSERT 0 1");
  CHECK(node2.role() == Role::Standby);
  CHECK(test::sync_state(node1) == "streaming/sync");
  CHECK(test::ids(node1) == std::vector<int>{1, 2, 3});
  CHECK(test::ids(node2) == std::vector<int>{1, 2, 3});
}

TEST_CASE("failover and rejoin repeat on the same objects") {
  pgha::TempPrimary a;
  pgha::TempStandby b(a);
  a.execute("create table test (id int, name varchar(100))");
  pgha::Node* primary = &a;
  pgha::Node* standby = &b;
  for (int round = 1; round <= 4; ++round) {
    INFO("round " << round);
    primary->stop();
    standby->promote();
    pgha::PendingQuery p = standby->execute_async("insert into test values (" +
                                                  std::to_string(round) + ", 'x')");
    CHECK(primary->rejoin(*standby) == pgha::RejoinMethod::Resumed);
    REQUIRE(p.wait_for(10s));
    std::swap(primary, standby);
    CHECK(primary->role() == Role::Primary);
    CHECK(standby->role() == Role::Standby);
    CHECK(test::ids(*standby).size() == static_cast<size_t>(round));
  }
  CHECK(test::ids(a) == std::vector<int>{1, 2, 3, 4});
  CHECK(test::ids(b) == std::vector<int>{1, 2, 3, 4});
}

TEST_CASE("failover with two standbys: the other standby follows the new primary") {
  pgha::TempPrimary p;
  pgha::Options o = p.options();
  o.application_name = "s1";
  pgha::TempStandby s1(p, o);
  o.application_name = "s2";
  pgha::TempStandby s2(p, o);
  p.execute("create table test (id int, name varchar(100)); insert into test values (1,'1')");
  {
    pgha::FailoverGuard guard(p, s1);
    CHECK(s2.rejoin(s1) == pgha::RejoinMethod::Resumed);  // s2 now streams from s1
    pgha::PendingQuery q = s1.execute_async("insert into test values (2,'2')");
    REQUIRE(q.wait_for(10s));  // s2 is s1's sync standby meanwhile
    CHECK(test::ids(s2) == std::vector<int>{1, 2});
  }  // p rejoins s1
  CHECK(p.role() == Role::Standby);
  CHECK(test::sync_state(s1, "s2") != "absent");
  CHECK(test::sync_state(s1, "pgslave001") != "absent");
  s1.wait_for_catchup(p);
  CHECK(test::ids(p) == std::vector<int>{1, 2});
}
