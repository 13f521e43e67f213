// examples/lost_writes.cpp: can a crash failover lose a commit the client was told
// succeeded? For SyncMode::Async and SyncMode::RemoteApply: the standby lags (the
// primary's walsender is frozen), a row is committed, the primary crashes (SIGKILL), the
// standby is promoted and the old primary rejoins. Expected: Async lost an acknowledged
// row; RemoteApply never acknowledged the row it lost. Exit 0 if both hold.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using teaching::step;

namespace {

std::string ids(pgha::Node& n) {
  pgha::Result r = n.query("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t");
  return "{" + r.value(0, 0) + "}";
}

void show(const char* name, pgha::Node& n) {
  std::cout << name << " (" << pgha::to_string(n.role()) << ")=# SELECT id FROM t -> " << ids(n) << "\n";
}

bool has_row(pgha::Node& n, int id) {
  return n.query("SELECT count(*) FROM t WHERE id = " + std::to_string(id)).value(0, 0) == "1";
}

// Runs one round; returns true if an acknowledged row was lost.
bool round(pgha::SyncMode mode, const char* label) {
  step(std::string(label) + ": node1 primary, node2 standby, synchronous_commit = " +
       (mode == pgha::SyncMode::Async ? "on, synchronous_standby_names = '' (async)" : "remote_apply"));
  pgha::Options opts;
  opts.sync_mode = mode;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  std::cout << "node1=# SHOW synchronous_commit -> " << node1.query("SHOW synchronous_commit").value(0, 0)
            << "; synchronous_standby_names -> '" << node1.query("SHOW synchronous_standby_names").value(0, 0) << "'\n";
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.execute("INSERT INTO t VALUES (1)");
  node1.wait_for_catchup(node2);
  show("node1", node1);
  show("node2", node2);

  step(std::string(label) + ": freeze node1's walsender (SIGSTOP): node2 stops receiving WAL");
  node1.freeze_walsender();
  std::cout << "node1=# INSERT INTO t VALUES (2)\n";
  bool acked = false;
  pgha::PendingQuery insert = node1.execute_async("INSERT INTO t VALUES (2)");
  if (insert.wait_for(2s)) {
    std::cout << insert.get().command_status() << "   <- acknowledged to the client\n";
    acked = true;
  } else {
    std::cout << "... no answer after 2 s: the commit waits for node2 (never acknowledged)\n";
  }
  show("node1", node1);
  show("node2", node2);

  step(std::string(label) + ": crash node1 (SIGKILL of the postmaster and all its children)");
  node1.stop(pgha::StopMode::Crash);
  std::cout << "node1: " << pgha::to_string(node1.role()) << "\n";
  if (!acked) {
    insert.wait_for(5s);
    try {
      insert.get();
      std::cout << "the pending INSERT returned success (unexpected)\n";
      acked = true;
    } catch (const pgha::Error& e) {
      std::cout << "the pending INSERT failed: " << e.message().substr(0, e.message().find('\n')) << "\n";
    }
  }

  step(std::string(label) + ": promote node2, rejoin node1 as its standby");
  node2.promote();
  pgha::RejoinMethod how = node1.rejoin(node2);
  std::cout << "node1 rejoined: " << pgha::to_string(how) << "\n";
  node2.wait_for_catchup(node1);
  show("node2", node2);
  show("node1", node1);

  bool lost = acked && !has_row(node2, 2);
  std::cout << label << ": row 2 was " << (acked ? "acknowledged" : "NOT acknowledged") << " and is "
            << (has_row(node2, 2) ? "present" : "absent") << " on the new primary -> "
            << (lost ? "an ACKNOWLEDGED WRITE WAS LOST" : "no acknowledged write lost") << "\n";
  return lost;
}
}  // namespace

int main() try {
  bool async_lost = round(pgha::SyncMode::Async, "Async");
  bool apply_lost = round(pgha::SyncMode::RemoteApply, "RemoteApply");
  step("summary");
  std::cout << "Async:       acknowledged row lost: " << (async_lost ? "yes" : "no") << " (expected yes)\n"
            << "RemoteApply: acknowledged row lost: " << (apply_lost ? "yes" : "no") << " (expected no)\n";
  bool ok = async_lost && !apply_lost;
  std::cout << (ok ? "OK" : "FAILED: unexpected outcome") << "\n";
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "lost_writes failed: " << e.what() << "\n";
  return 1;
}
