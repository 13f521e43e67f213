// examples/walkthrough.cpp: the manual failover walkthrough (../shared/seed/walkthrough.md,
// originally PostgreSQL 11.3 by hand) as a program: two nodes with synchronous streaming
// replication and remote_apply, failover, the blocked insert that returns when the old
// primary rejoins, and the mirror round. Prints each step and what each node returns.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using teaching::step;

namespace {

void show(const char* node, pgha::Node& n, const std::string& sql) {
  pgha::Result r = n.query(sql);
  std::cout << node << "=# " << sql << "\n";
  std::cout << " id | name\n----+------\n";
  for (int i = 0; i < r.rows(); ++i) std::cout << "  " << r.value(i, 0) << " | " << r.value(i, 1) << "\n";
  std::cout << "(" << r.rows() << (r.rows() == 1 ? " row)\n" : " rows)\n");
}

void try_insert(const char* node, pgha::Node& n, const std::string& sql) {
  std::cout << node << "=# " << sql << "\n";
  try {
    std::cout << n.execute(sql).command_status() << "\n";
  } catch (const pgha::QueryError& e) {
    std::cout << "ERROR (SQLSTATE " << e.sqlstate() << "): cannot execute INSERT in a read-only transaction\n";
  }
}

void describe(const char* name, pgha::Node& n) {
  std::cout << name << ": " << pgha::to_string(n.role()) << " on port " << n.port() << "\n";
}

// Failover round: `primary` fails, `standby` is promoted, an insert blocks until
// `primary` rejoins as the standby of `standby`.
void failover_round(const char* pname, pgha::Node& primary, const char* sname, pgha::Node& standby, int id) {
  step("stop " + std::string(pname) + " (the primary fails)");
  primary.stop();
  std::cout << pname << ": ";
  try {
    primary.connect();
  } catch (const pgha::Error& e) {
    std::cout << "connection refused, as expected (" << pgha::to_string(primary.role()) << ")\n";
  }
  step(std::string(sname) + " is still read-only");
  try_insert(sname, standby, "insert into test values (" + std::to_string(id) + ",'" + std::to_string(id) + "')");
  step("promote " + std::string(sname));
  standby.promote();
  describe(sname, standby);
  step("insert on " + std::string(sname) + ": it BLOCKS (remote_apply, no sync standby)");
  std::string sql = "insert into test values (" + std::to_string(id) + ",'" + std::to_string(id) + "')";
  std::cout << sname << "=# " << sql << "\n";
  pgha::PendingQuery insert = standby.execute_async(sql);
  bool done = insert.wait_for(300ms);
  std::cout << (done ? "returned (unexpected!)" : "... still waiting after 300 ms") << "\n";
  step(std::string(pname) + " rejoins as the standby of " + sname);
  pgha::RejoinMethod how = primary.rejoin(standby);
  std::cout << pname << ": rejoined (" << pgha::to_string(how) << ")\n";
  describe(pname, primary);
  step("the blocked insert returns");
  insert.wait_for(10s);
  std::cout << sname << "=# " << sql << "\n" << insert.get().command_status() << "\n";
  step("both nodes return the same rows");
  show(pname, primary, "select * from test order by id");
  show(sname, standby, "select * from test order by id");
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
  step("node2: base backup of node1, standby config (primary_conninfo ... application_name=pgslave001), start");
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  describe("node2", node2);
  std::cout << "node1=# select application_name, state, sync_state from pg_stat_replication\n  "
            << node1.query("select application_name || ' | ' || state || ' | ' || sync_state from pg_stat_replication").value(0, 0) << "\n";

  step("write on node1, read on node2");
  std::cout << "node1=# create table test (id int, name varchar(100))\n"
            << node1.execute("create table test (id int, name varchar(100))").command_status() << "\n";
  try_insert("node1", node1, "insert into test values (1,'1')");
  show("node2", node2, "select * from test order by id");
  try_insert("node2", node2, "insert into test values (1,'1')");

  failover_round("node1", node1, "node2", node2, 2);  // failover 1: node2 becomes primary
  failover_round("node2", node2, "node1", node1, 3);  // failover 2, the mirror round

  step("done: node1 is " + std::string(pgha::to_string(node1.role())) + ", node2 is " +
       pgha::to_string(node2.role()) + "; both nodes are removed on exit");
  return 0;
} catch (const std::exception& e) {
  std::cerr << "walkthrough failed: " << e.what() << "\n";
  return 1;
}
