// tests/server_processes.cpp: freezing one of a server's own processes (freeze_process,
// freeze_walsender, freeze_walreceiver) hits exactly that process, whatever the node's name,
// and the server behaves as it does when that process hangs.
#include "support.hpp"

#include <set>

using namespace std::chrono_literals;

namespace {

// The titles of a server's children that are stopped (SIGSTOP: state 'T'), read from /proc.
std::set<std::string> stopped_children_of(const pgha::Node& n) {
  std::set<std::string> out;
  for (pid_t c : pgha::detail::child_pids(n.pid()))
    if (pgha::detail::process_state(c) == 'T') out.insert(pgha::detail::process_title(c));
  return out;
}

// Whether every title in `titles` is of process type `type` on node `n` (and there is one).
bool all_of_type(const std::set<std::string>& titles, const pgha::Node& n, const std::string& type) {
  if (titles.empty()) return false;
  for (const auto& t : titles)
    if (t.rfind("postgres: " + n.name() + ": " + type, 0) != 0) return false;
  return true;
}

}  // namespace

TEST_CASE("freeze_process(Startup) stops a standby's replay, unknown to the server, until thaw") {
  pgha::Options opts;
  opts.sync_mode = pgha::SyncMode::Async;  // the insert returns without the standby
  opts.timeout = 3s;
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE t (id int)");
  node1.wait_for_catchup(node2, pgha::CatchupMode::Replay);
  node2.freeze_process(pgha::ServerProcess::Startup);
  std::set<std::string> stopped = stopped_children_of(node2);
  CHECK(all_of_type(stopped, node2, "startup"));
  CHECK(stopped.size() == 1);
  node1.execute("INSERT INTO t VALUES (1)");
  node1.wait_for_catchup(node2, pgha::CatchupMode::Flush);  // the walreceiver still runs
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "0");
  // Not a pause the server knows of: pg_is_wal_replay_paused() says it replays.
  CHECK(node2.query("SELECT pg_is_wal_replay_paused()").value(0, 0) == "f");
  CHECK_THROWS_AS(node1.wait_for_catchup(node2, pgha::CatchupMode::Replay), pgha::TimeoutError);
  node2.thaw_process(pgha::ServerProcess::Startup);
  CHECK(stopped_children_of(node2).empty());
  node1.wait_for_catchup(node2, pgha::CatchupMode::Replay);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("freeze_process(Checkpointer) holds a CHECKPOINT until thaw") {
  pgha::TempPrimary node1;
  node1.freeze_process(pgha::ServerProcess::Checkpointer);
  CHECK(all_of_type(stopped_children_of(node1), node1, "checkpointer"));
  pgha::PendingQuery cp = node1.execute_async("CHECKPOINT");
  // The backend has sent its request and waits for the checkpointer.
  node1.wait_until("SELECT count(*) = 1 FROM pg_stat_activity WHERE query = 'CHECKPOINT' AND state = 'active'");
  CHECK_FALSE(cp.ready());
  node1.thaw_process(pgha::ServerProcess::Checkpointer);
  CHECK(cp.wait_for(30s));
  CHECK(cp.get().command_status() == "CHECKPOINT");
}

TEST_CASE("freezing a walsender or walreceiver hits only that process, even on nodes named after one") {
  pgha::Options p;
  p.name = "walsender";
  p.archive = true;  // an archiver to freeze
  pgha::Options s;
  s.name = "walreceiver";
  pgha::TempPrimary node1(p);
  pgha::TempStandby node2(node1, s);
  node1.freeze_walsender();
  std::set<std::string> on1 = stopped_children_of(node1);
  INFO("stopped on the primary: " << on1.size());
  CHECK(all_of_type(on1, node1, "walsender"));
  node1.thaw_walsender();
  node2.freeze_walreceiver();
  CHECK(all_of_type(stopped_children_of(node2), node2, "walreceiver"));
  CHECK(stopped_children_of(node1).empty());
  node2.thaw_walreceiver();
  node1.execute("CREATE TABLE t (id int)");  // commits: the sync standby confirms again
  node2.wait_for_replay(node1.current_lsn());
  CHECK(stopped_children_of(node2).empty());
  node2.freeze_process(pgha::ServerProcess::BgWriter);
  CHECK(all_of_type(stopped_children_of(node2), node2, "background writer"));
  node2.thaw_process(pgha::ServerProcess::BgWriter);
  node1.freeze_process(pgha::ServerProcess::WalWriter);
  CHECK(all_of_type(stopped_children_of(node1), node1, "walwriter"));
  node1.thaw_process(pgha::ServerProcess::WalWriter);
  node1.freeze_process(pgha::ServerProcess::Archiver);
  CHECK(all_of_type(stopped_children_of(node1), node1, "archiver"));
  node1.thaw_process(pgha::ServerProcess::Archiver);
  CHECK(stopped_children_of(node1).empty());
}

TEST_CASE("freeze_process of a process the server does not run is a StateError at once") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK_THROWS_WITH(node1.freeze_process(pgha::ServerProcess::Startup),
                    Catch::Matchers::ContainsSubstring("runs no startup process") &&
                        Catch::Matchers::ContainsSubstring("expected a standby"));
  // Without archiving, no archiver.
  CHECK(node1.query("SHOW archive_mode").value(0, 0) == "off");
  CHECK_THROWS_WITH(node1.freeze_process(pgha::ServerProcess::Archiver),
                    Catch::Matchers::ContainsSubstring("runs no archiver process"));
  CHECK(stopped_children_of(node1).empty());
  CHECK(stopped_children_of(node2).empty());
  node2.stop();
  CHECK_THROWS_AS(node2.freeze_process(pgha::ServerProcess::Checkpointer), pgha::StateError);
  CHECK(pgha::to_string(pgha::ServerProcess::BgWriter) == std::string("background writer"));
  std::ostringstream o;
  o << pgha::ServerProcess::WalWriter;
  CHECK(o.str() == "WalWriter");
}
