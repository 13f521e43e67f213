// examples/cancelled_sync_wait.cpp: what does cancelling a commit that waits for a
// synchronous standby do? The standby's link is cut, so a commit on the primary waits
// (wait_event SyncRep). The client cancels it: PostgreSQL warns "canceling wait for
// synchronous replication", the INSERT reports success and the row is visible on the
// primary although no standby has it. The primary then crashes and the standby is
// promoted: the row the primary showed is gone. Exit 0 if that is what happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>
#include <sstream>

using namespace std::chrono_literals;
using teaching::step;
using teaching::expect;
using teaching::ok;

namespace {

std::string ids(const char* name, pgha::Node& n) {
  std::string v = "{" + n.query("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t").value(0, 0) + "}";
  std::cout << name << " (" << pgha::to_string(n.role()) << ")=# SELECT id FROM t -> " << v << "\n";
  return v;
}

}  // namespace

int main() try {
  step("node1: primary; node2: synchronous standby (remote_apply)");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.execute("INSERT INTO t VALUES (1)");
  ids("node1", node1);
  ids("node2", node2);

  step("cut node2's replication link (connections reset): no standby confirms anything now");
  node2.cut_link(pgha::LinkCut::Reset);
  node1.wait_until("SELECT count(*) = 0 FROM pg_stat_replication");
  std::cout << "node1=# SELECT count(*) FROM pg_stat_replication -> "
            << node1.query("SELECT count(*) FROM pg_stat_replication").value(0, 0) << "\n";

  step("a commit on node1 waits for the synchronous standby");
  std::cout << "node1=# INSERT INTO t VALUES (2)\n";
  pgha::PendingQuery insert = node1.execute_async("INSERT INTO t VALUES (2)");
  bool returned = insert.wait_for(1s);
  std::cout << (returned ? "returned (unexpected!)" : "... still waiting after 1 s") << "\n";
  expect(!returned, "the commit waits");
  std::string pid = std::to_string(insert.backend_pid());
  node1.wait_until("SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = " + pid);
  std::cout << "node1=# SELECT wait_event FROM pg_stat_activity WHERE pid = " << pid << " -> "
            << node1.query("SELECT wait_event FROM pg_stat_activity WHERE pid = " + pid).value(0, 0) << "\n";

  step("the client cancels the waiting commit");
  insert.cancel();
  bool finished = insert.wait_for(10s);
  std::string status;
  try {
    status = finished ? insert.get().command_status() : "still waiting";
  } catch (const pgha::QueryError& e) {
    status = "ERROR " + e.sqlstate() + ": " + e.message().substr(0, e.message().find('\n'));
  }
  std::cout << "the INSERT returned: " << status << "\n";
  expect(status == "INSERT 0 1", "the cancelled commit reports success");
  std::string warning;  // what the client itself received, as libpq notices
  for (const std::string& n : insert.notices())
    if (n.find("canceling wait for synchronous replication") != std::string::npos ||
        n.find("already committed locally") != std::string::npos)
      warning += "client received: " + n + "\n";
  std::cout << warning;
  expect(!warning.empty(), "PostgreSQL warned that the wait was cancelled");
  std::string on1 = ids("node1", node1);
  std::string on2 = ids("node2", node2);
  expect(on1 == "{1,2}", "row 2 is visible on the primary");
  expect(on2 == "{1}", "no standby has row 2");

  step("node1 crashes; the link heals; node2 is promoted");
  node1.stop(pgha::StopMode::Crash);
  node2.heal_link();
  node2.promote();
  std::string after = ids("node2", node2);
  expect(after == "{1}", "row 2, which node1 showed to every reader, is gone");

  step("node1 rejoins as node2's standby: its copy of row 2 is discarded too");
  pgha::RejoinMethod how = node1.rejoin(node2);
  std::cout << "node1 rejoined: " << pgha::to_string(how) << "\n";
  ids("node1", node1);

  step(ok ? "OK" : "FAILED: see above");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "cancelled_sync_wait failed: " << e.what() << "\n";
  return 1;
}
