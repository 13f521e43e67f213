// examples/read_your_writes.cpp: after a commit returns on the primary, does a read on
// the standby see the row? For synchronous_commit = remote_apply, on and remote_write,
// replay is paused on the standby (it still receives and flushes WAL), a row is committed
// and we look at whether the commit returns and whether the standby sees the row right
// after. remote_apply waits for replay (so it blocks until replay resumes, and then the
// read sees the row); on waits for the flush and remote_write for the write (both return
// at once, and the standby read misses the row). Exit 0 if that is what happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using teaching::step;

namespace {

bool standby_sees(pgha::Node& standby, int id) {
  std::string sql = "SELECT count(*) FROM t WHERE id = " + std::to_string(id);
  std::string n = standby.query(sql).value(0, 0);
  std::cout << "node2=# " << sql << " -> " << n << (n == "1" ? "  (the standby SEES the row)\n" : "  (the standby does NOT see the row)\n");
  return n == "1";
}

// One mode; returns true if the behaviour matched the expectation.
bool run(pgha::Node& node1, pgha::Node& node2, pgha::SyncMode mode, int id) {
  std::string setting = pgha::to_setting(mode);
  bool waits_for_replay = mode == pgha::SyncMode::RemoteApply;
  step("synchronous_commit = " + setting + " (waits for the standby to " +
       (waits_for_replay ? "replay" : mode == pgha::SyncMode::On ? "flush" : "write") + " the commit)");
  node1.set_sync_mode(mode);
  node1.wait_until("SELECT current_setting('synchronous_commit') = '" + setting + "'");
  std::cout << "node1=# SHOW synchronous_commit -> " << node1.query("SHOW synchronous_commit").value(0, 0) << "\n";

  std::cout << "node2=# SELECT pg_wal_replay_pause()\n";
  node2.pause_replay();
  node2.wait_until("SELECT pg_get_wal_replay_pause_state() <> 'not paused'");
  std::cout << "node2=# SELECT pg_get_wal_replay_pause_state() -> "
            << node2.query("SELECT pg_get_wal_replay_pause_state()").value(0, 0) << "\n";

  std::string sql = "INSERT INTO t VALUES (" + std::to_string(id) + ")";
  std::cout << "node1=# " << sql << "\n";
  pgha::PendingQuery insert = node1.execute_async(sql);
  bool returned = insert.wait_for(1500ms);
  bool seen_at_return = false;
  if (returned) {
    std::cout << insert.get().command_status() << "   <- returned while replay is paused\n";
    seen_at_return = standby_sees(node2, id);
  } else {
    std::cout << "... still waiting after 1500 ms (replay is paused)\n";
    standby_sees(node2, id);
  }

  std::cout << "node2=# SELECT pg_wal_replay_resume()\n";
  node2.resume_replay();
  if (!returned) {
    bool now = insert.wait_for(10s);
    std::cout << (now ? insert.get().command_status() + "   <- returned once replay resumed\n"
                      : std::string("... still waiting 10 s after replay resumed\n"));
    if (now) seen_at_return = standby_sees(node2, id);
    returned = now;
  }
  node1.wait_for_catchup(node2);
  std::cout << "after catch-up: ";
  standby_sees(node2, id);

  bool expected = waits_for_replay ? (returned && seen_at_return) : (returned && !seen_at_return);
  std::cout << setting << ": the commit " << (waits_for_replay ? "blocked until replay" : "returned at once")
            << "; a standby read right after it " << (seen_at_return ? "saw" : "missed") << " the row -> "
            << (expected ? "as expected" : "UNEXPECTED") << "\n";
  return expected;
}
}  // namespace

int main() try {
  step("node1: primary; node2: synchronous standby");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  std::cout << "node1=# SELECT application_name, sync_state FROM pg_stat_replication -> "
            << node1.query("SELECT application_name || ' | ' || sync_state FROM pg_stat_replication").value(0, 0) << "\n";

  bool ok = true;
  ok &= run(node1, node2, pgha::SyncMode::RemoteApply, 1);
  ok &= run(node1, node2, pgha::SyncMode::On, 2);
  ok &= run(node1, node2, pgha::SyncMode::RemoteWrite, 3);

  step("summary");
  std::cout << "remote_apply gives read-your-writes on the standby; on and remote_write do not\n"
            << (ok ? "OK" : "FAILED: unexpected outcome") << "\n";
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "read_your_writes failed: " << e.what() << "\n";
  return 1;
}
