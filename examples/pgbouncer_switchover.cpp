// examples/pgbouncer_switchover.cpp: a planned switchover behind a real PgBouncer. A service
// (here a Workload of 4 clients) writes through PgBouncer in transaction pooling, in front of
// a Route::Primary endpoint over node1 (primary) and node2 (synchronous standby).
//   1. switchover node1 -> node2 as it is: the transactions in flight when node1 stops fail
//      (how many depends on the moment);
//   2. switchover node2 -> node1 inside PgBouncer's PAUSE ... RESUME: the transactions in
//      flight finish, the next ones wait in the pooler, none fails.
// Exit 0 if the paused switchover failed no operation and no acknowledged write was lost.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using teaching::expect;
using teaching::ok;
using teaching::step;

namespace {
std::size_t not_ok(const pgha::Workload& w) {
  return w.history().count(pgha::Outcome::Fail) + w.history().count(pgha::Outcome::Unknown);
}
}  // namespace

int main() try {
  step("node1: primary; node2: synchronous standby; an endpoint to the primary; PgBouncer (transaction pooling) in front");
  pgha::Options o1, o2;
  o1.name = "node1";
  o2.name = "node2";
  pgha::TempPrimary node1(o1);
  pgha::TempStandby node2(node1, o2);
  pgha::Endpoint ep({&node1, &node2}, pgha::Route::Primary);
  pgha::PgBouncerOptions bo;
  // After a server login failed (node1 stopped, node2 not yet promoted), PgBouncer turns
  // every client away for server_login_retry: 15 s by default, 1 s here.
  bo.settings["server_login_retry"] = "1";
  pgha::TempPgBouncer bouncer(ep, pgha::PoolMode::Transaction, bo);
  std::cout << "PgBouncer " << bouncer.version() << " on port " << bouncer.port() << "\n";

  step("a Workload of 4 clients writes through PgBouncer");
  pgha::Workload w(bouncer.conninfo(), 4);
  w.start();
  w.wait_for_acknowledged(100);

  step("switchover node1 -> node2 without PAUSE");
  std::size_t bad_before = not_ok(w);
  { pgha::FailoverGuard g(node1, node2, pgha::StopMode::Fast); }  // node1 rejoins as node2's standby
  w.wait_for_acknowledged(w.acknowledged() + 100);
  std::size_t unpaused = not_ok(w) - bad_before;
  std::cout << "operations that failed or ended unknown: " << unpaused << " (last error: "
            << w.last_error().substr(0, w.last_error().find('\n')) << ")\n";

  step("switchover node2 -> node1 inside PAUSE ... RESUME");
  bad_before = not_ok(w);
  bouncer.pause();  // in-flight transactions finish; the next ones wait in PgBouncer
  const auto switch_began = std::chrono::steady_clock::now();
  { pgha::FailoverGuard g(node2, node1, pgha::StopMode::Fast); }
  const auto switch_took = std::chrono::steady_clock::now() - switch_began;
  bouncer.resume();
  w.wait_for_acknowledged(w.acknowledged() + 100);
  std::size_t paused = not_ok(w) - bad_before;
  std::cout << "operations that failed or ended unknown: " << paused << "\n";
  expect(paused == 0, "no operation failed across the paused switchover");

  w.stop();
  pgha::Verdict v = w.check(node1);
  std::cout << v.summary() << "\n";
  expect(v.lost().empty(), "no acknowledged write was lost");
  // The outage the clients saw: the longest time without an acknowledged write, beside the
  // switchover it spans (the unpaused switchover's gap is there too: compare them).
  using ms = std::chrono::milliseconds;
  std::cout << "paused switchover took " << std::chrono::duration_cast<ms>(switch_took).count()
            << " ms; gaps of 50 ms or more between acknowledged writes:";
  for (const pgha::Gap& g : v.gaps(ms(50)))
    std::cout << " " << std::chrono::duration_cast<ms>(g.length()).count() << " ms";
  std::cout << "\n";
  expect(v.longest_gap() >= std::chrono::duration_cast<ms>(switch_took),
         "the longest gap covers the paused switchover");

  step(ok ? "OK" : "FAILED: see above");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "pgbouncer_switchover failed: " << e.what() << "\n";
  return 1;
}
