// examples/lost_writes.cpp: can a crash failover lose a commit the client was told
// succeeded? For SyncMode::Async and SyncMode::RemoteApply: a pgha::Workload (two client
// threads appending unique values) writes to node1; the standby stops receiving WAL (the
// primary's walsender is frozen); the primary crashes (SIGKILL) and the standby is
// promoted. The Verdict compares what the clients were told with what node2 holds.
// Expected: Async lost acknowledged writes and the verdict names them; RemoteApply lost
// none (its commits waited, and the ones cut off by the crash are "unknown").
// Exit 0 if both hold.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using teaching::expect;
using teaching::step;

namespace {

pgha::Verdict round(pgha::SyncMode mode, const char* label) {
  step(std::string(label) + ": node1 primary, node2 standby, synchronous_commit = " +
       (mode == pgha::SyncMode::Async ? "on, synchronous_standby_names = '' (async)" : "remote_apply"));
  pgha::Options opts;
  opts.sync_mode = mode;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);

  step(std::string(label) + ": 2 clients append unique values through node1's conninfo");
  pgha::Workload w(node1.conninfo(), 2);
  w.start();
  w.wait_for_acknowledged(20);
  node1.wait_for_catchup(node2);
  std::cout << "acknowledged so far: " << w.acknowledged() << "\n";

  step(std::string(label) + ": freeze node1's walsender (SIGSTOP): node2 stops receiving WAL");
  node1.freeze_walsender();
  std::size_t before = w.acknowledged();
  if (mode == pgha::SyncMode::Async) {
    w.wait_for_acknowledged(before + 20);
    std::cout << "node1 went on acknowledging: " << w.acknowledged() - before << " more commits\n";
  } else {
    node1.wait_until("SELECT count(*) = 2 FROM pg_stat_activity WHERE wait_event = 'SyncRep'");
    std::cout << "both clients' COMMITs wait for node2 (wait_event SyncRep); acknowledged since: "
              << w.acknowledged() - before << "\n";
  }

  step(std::string(label) + ": crash node1 (SIGKILL), promote node2; node1 rejoins at scope exit");
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  w.stop();
  pgha::Verdict v = w.check(node2);
  std::cout << "verdict on node2: " << v.summary() << "\n";
  return v;
}

}  // namespace

int main() try {
  pgha::Verdict async = round(pgha::SyncMode::Async, "Async");
  pgha::Verdict apply = round(pgha::SyncMode::RemoteApply, "RemoteApply");
  step("summary");
  std::cout << "Async:       acknowledged writes lost: " << async.lost().size() << " (expected > 0)\n"
            << "RemoteApply: acknowledged writes lost: " << apply.lost().size() << " (expected 0)\n";
  expect(!async.lost().empty(), "Async lost acknowledged writes");
  expect(!async.lost().empty() &&
             async.summary().find(async.lost()[0].key + "=" + async.lost()[0].value) != std::string::npos,
         "the verdict names them");
  expect(apply.ok(), "RemoteApply lost no acknowledged write");
  std::cout << (teaching::ok ? "OK" : "FAILED: unexpected outcome") << "\n";
  return teaching::ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "lost_writes failed: " << e.what() << "\n";
  return 1;
}
