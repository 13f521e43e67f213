// examples/walkthrough.cpp: the manual failover walkthrough (../shared/seed/walkthrough.md,
// originally PostgreSQL 11.3 by hand) as a program: two nodes with synchronous streaming
// replication and remote_apply, failover, the blocked insert that returns when the old
// primary rejoins, and the mirror round. Prints each step and what each node returns.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <cstdlib>
#include <iostream>
#include <string>
#include <vector>

using namespace std::chrono_literals;
using teaching::expect;
using teaching::step;

namespace {

// Prints the rows as psql would and returns their ids.
std::vector<std::string> show(const char* node, pgha::Node& n, const std::string& sql) {
  pgha::Result r = n.query(sql);
  std::cout << node << "=# " << sql << "\n";
  std::cout << " id | name\n----+------\n";
  std::vector<std::string> ids;
  for (int i = 0; i < r.rows(); ++i) {
    std::cout << "  " << r.value(i, 0) << " | " << r.value(i, 1) << "\n";
    ids.push_back(r.value(i, 0));
  }
  std::cout << "(" << r.rows() << (r.rows() == 1 ? " row)\n" : " rows)\n");
  return ids;
}

// Runs an insert and prints what the server answered: the command status, or the error
// it raised (its own text and SQLSTATE). Returns "" on success, else the SQLSTATE.
std::string try_insert(const char* node, pgha::Node& n, const std::string& sql) {
  std::cout << node << "=# " << sql << "\n";
  try {
    std::cout << n.execute(sql).command_status() << "\n";
    return "";
  } catch (const pgha::QueryError& e) {
    std::cout << e.message() << "\n";  // the server's text, with its SQLSTATE
    return e.sqlstate().empty() ? "none" : e.sqlstate();
  }
}

void describe(const char* name, pgha::Node& n) {
  std::cout << name << ": " << pgha::to_string(n.role()) << " on port " << n.port() << "\n";
}

std::vector<std::string> ids_up_to(int id) {
  std::vector<std::string> v;
  for (int i = 1; i <= id; ++i) v.push_back(std::to_string(i));
  return v;
}

// Failover round: `primary` fails, `standby` is promoted, an insert blocks until
// `primary` rejoins as the standby of `standby`.
void failover_round(const char* pname, pgha::Node& primary, const char* sname, pgha::Node& standby, int id) {
  step("stop " + std::string(pname) + " (the primary fails)");
  primary.stop();
  std::cout << pname << ": ";
  try {
    primary.connect();
    std::cout << "connected (unexpected!)\n";
    expect(false, std::string(pname) + " refuses connections once stopped");
  } catch (const pgha::Error& e) {
    std::cout << "connection refused (" << pgha::to_string(primary.role()) << "): " << e.message() << "\n";
    expect(primary.role() == pgha::Role::Stopped, std::string(pname) + " is stopped");
  }
  std::string sql = "insert into test values (" + std::to_string(id) + ",'" + std::to_string(id) + "')";
  step(std::string(sname) + " is still read-only");
  expect(try_insert(sname, standby, sql) == "25006",
         "the insert on standby " + std::string(sname) + " fails with SQLSTATE 25006 (read-only transaction)");
  step("promote " + std::string(sname));
  standby.promote();
  describe(sname, standby);
  expect(standby.role() == pgha::Role::Primary, std::string(sname) + " is a primary");
  step("insert on " + std::string(sname) + ": it BLOCKS (remote_apply, no sync standby)");
  std::cout << sname << "=# " << sql << "\n";
  pgha::PendingQuery insert = standby.execute_async(sql);
  bool done = insert.wait_for(300ms);
  std::cout << (done ? "returned (unexpected!)" : "... still waiting after 300 ms") << "\n";
  expect(!done, "the insert has not returned");
  if (!done) {
    std::string wait = standby.query("SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = " +
                                     std::to_string(insert.backend_pid())).value(0, 0);
    std::cout << sname << "=# select wait_event from pg_stat_activity where pid = "
              << insert.backend_pid() << "\n  " << wait << "\n";
    expect(wait == "SyncRep", "its backend waits for a synchronous standby (wait_event SyncRep)");
  }
  step(std::string(pname) + " rejoins as the standby of " + sname);
  pgha::RejoinMethod how = primary.rejoin(standby);
  std::cout << pname << ": rejoined (" << pgha::to_string(how) << ")\n";
  describe(pname, primary);
  expect(primary.role() == pgha::Role::Standby, std::string(pname) + " is a standby");
  // A clean stop whose shutdown checkpoint the standby received: nothing to repair.
  expect(how == pgha::RejoinMethod::Resumed, std::string(pname) + " resumed on the new timeline, no repair");
  step("the blocked insert returns");
  bool returned = insert.wait_for(10s);
  expect(returned, "the insert returned once " + std::string(pname) + " became its sync standby");
  if (returned) {
    std::string status = insert.get().command_status();  // throws the real error if it failed
    std::cout << sname << "=# " << sql << "\n" << status << "\n";
    expect(status == "INSERT 0 1", "it inserted the row");
  }
  step("both nodes return the same rows");
  auto want = ids_up_to(id);
  expect(show(pname, primary, "select * from test order by id") == want,
         std::string(pname) + " shows ids 1 to " + std::to_string(id));
  expect(show(sname, standby, "select * from test order by id") == want,
         std::string(sname) + " shows ids 1 to " + std::to_string(id));
}
}  // namespace

int main() try {
  step("node1: initdb, configure (wal_level=replica, synchronous_commit=remote_apply, "
       "synchronous_standby_names='pgslave001', archive), start");
  pgha::Options opts;
  opts.archive = true;  // archive_command = 'cp %p <node>/archive/%f', as in the document
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  describe("node1", node1);
  expect(node1.role() == pgha::Role::Primary, "node1 is a primary");
  step("node2: base backup of node1, standby config (primary_conninfo ... application_name=pgslave001), start");
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  describe("node2", node2);
  expect(node2.role() == pgha::Role::Standby, "node2 is a standby");
  pgha::Result rep = node1.query(
      "select application_name || ' | ' || state || ' | ' || sync_state from pg_stat_replication");
  std::cout << "node1=# select application_name, state, sync_state from pg_stat_replication\n";
  for (int i = 0; i < rep.rows(); ++i) std::cout << "  " << rep.value(i, 0) << "\n";
  expect(rep.rows() == 1 && rep.value(0, 0) == "pgslave001 | streaming | sync",
         "node1 has one standby, pgslave001, streaming and sync");

  step("write on node1, read on node2");
  std::cout << "node1=# create table test (id int, name varchar(100))\n"
            << node1.execute("create table test (id int, name varchar(100))").command_status() << "\n";
  expect(try_insert("node1", node1, "insert into test values (1,'1')").empty(), "the insert on node1 succeeds");
  expect(show("node2", node2, "select * from test order by id") == ids_up_to(1),
         "node2 shows row 1 as soon as the insert returned (remote_apply)");
  expect(try_insert("node2", node2, "insert into test values (1,'1')") == "25006",
         "the insert on node2 fails with SQLSTATE 25006 (read-only transaction)");

  failover_round("node1", node1, "node2", node2, 2);  // failover 1: node2 becomes primary
  failover_round("node2", node2, "node1", node1, 3);  // failover 2, the mirror round

  if (!std::getenv("PGHA_TIMELINE"))
    std::cout << "\n(PGHA_TIMELINE=run.md draws this run as a Mermaid diagram; PGHA_LOG=1 logs each step)\n";
  step("done: node1 is " + std::string(pgha::to_string(node1.role())) + ", node2 is " +
       pgha::to_string(node2.role()) + "; both nodes are removed on exit");
  if (!teaching::ok) std::cout << "\nwalkthrough: some expected behaviour did not happen (FAILED above)\n";
  return teaching::ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "walkthrough failed: " << e.what() << "\n";
  return 1;
}
