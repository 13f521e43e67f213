// tests/waits.cpp: the exact waits of PostgreSQL's TAP framework: a log line after an offset
// (log_offset, wait_for_log) and a standby's catch-up by mode (Sent, Write, Flush, Replay).
#include "support.hpp"

using namespace std::chrono_literals;

TEST_CASE("wait_for_log finds a line written after the offset, not one before it") {
  pgha::TempPrimary node1;
  // Written before the offset: found from 0, never from the offset.
  node1.execute("DO $$BEGIN RAISE LOG 'pgha marker one'; END$$");
  CHECK_THAT(node1.wait_for_log("pgha marker one"), Catch::Matchers::ContainsSubstring("LOG:  pgha marker one"));
  std::size_t off = node1.log_offset();
  CHECK_THROWS_AS(node1.wait_for_log("pgha marker one", off, 200ms), pgha::TimeoutError);
  node1.execute("DO $$BEGIN RAISE LOG 'pgha marker %', 40 + 2; END$$");
  CHECK_THAT(node1.wait_for_log("pgha marker [0-9]+$", off), Catch::Matchers::ContainsSubstring("pgha marker 42"));
  CHECK_THROWS_AS(node1.wait_for_log("pgha marker (", off), pgha::UsageError);
  CHECK_THROWS_AS(node1.wait_for_log("x", node1.log_offset() + 1000), pgha::UsageError);
  try {
    node1.wait_for_log("never written", off, 100ms);
    FAIL("no TimeoutError");
  } catch (const pgha::TimeoutError& e) {
    CHECK_THAT(e.what(), Catch::Matchers::ContainsSubstring("pgha marker 42"));  // the log tail
  }
}

TEST_CASE("wait_for_catchup by mode: flushed is not replayed while replay is paused") {
  pgha::Options opts;
  opts.sync_mode = pgha::SyncMode::Async;  // the insert returns without the standby
  opts.timeout = 3s;
  pgha::TempPrimary node1(opts);
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE t (id int)");
  node1.wait_for_catchup(node2, pgha::CatchupMode::Replay);
  node2.pause_replay();
  node1.execute("INSERT INTO t VALUES (1)");
  node1.wait_for_catchup(node2, pgha::CatchupMode::Sent);
  node1.wait_for_catchup(node2, pgha::CatchupMode::Write);
  node1.wait_for_catchup(node2, pgha::CatchupMode::Flush);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "0");  // flushed, not replayed
  CHECK_THROWS_AS(node1.wait_for_catchup(node2, pgha::CatchupMode::Replay), pgha::TimeoutError);
  node2.resume_replay();
  node1.wait_for_catchup(node2, pgha::CatchupMode::Replay);
  CHECK(node2.query("SELECT count(*) FROM t").value(0, 0) == "1");
}

TEST_CASE("wait_for_catchup by mode is a StateError at once for itself or a node that does not stream from it") {
  pgha::TempPrimary node1;
  pgha::TempPrimary other;
  CHECK_THROWS_AS(node1.wait_for_catchup(node1, pgha::CatchupMode::Flush), pgha::StateError);
  // A StateError from the first look, not a TimeoutError after the node's timeout.
  CHECK_THROWS_AS(node1.wait_for_catchup(other, pgha::CatchupMode::Flush), pgha::StateError);
  CHECK_THROWS_WITH(node1.wait_for_catchup(other, pgha::CatchupMode::Flush),
                    Catch::Matchers::ContainsSubstring("no walsender"));
}
