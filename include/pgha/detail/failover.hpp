// pgha/detail/failover.hpp: promote, and the way back: rejoin decides whether a former
// primary can resume as a standby of the new primary (a clean stop whose last checkpoint
// lies before the fork point of the new timeline) or diverged (a crash, a promote it did not
// see, another cluster altogether) and must be rewound or re-cloned.
#pragma once

#include <signal.h>

#include <chrono>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/clone.hpp"
#include "pgha/detail/node_state.hpp"
#include "pgha/detail/replication.hpp"
#include "pgha/detail/wal_history.hpp"

namespace pgha::detail {

// Turns a running standby into a primary; returns once it accepts writes.
inline void promote(NodeState& n) {
  NodeState::Transition t(n);
  std::lock_guard<std::recursive_mutex> l(n.mutex());
  if (!n.running())
    throw StateError("promote() needs a running standby; the node is stopped", n.label(),
                     n.log_tail());
  if (n.server().frozen())
    throw StateError("promote() called on a frozen node; expected it thawed (thaw())", n.label());
  // One round trip: the role, and the startup process to wake below.
  Rows sp = n.admin_query("SELECT pg_is_in_recovery(), (SELECT pid FROM pg_stat_activity "
                            "WHERE backend_type = 'startup' LIMIT 1)");
  if (sp.value(0, 0) != "t")
    throw StateError("promote() called on a primary; expected a standby", n.label());
  pid_t startup = sp.is_null(0, 1) ? 0 : static_cast<pid_t>(std::stol(sp.value(0, 1)));
  if (n.bins().major >= 12) {
    n.admin_query("SELECT pg_promote(false)");  // polled below at ms granularity
  } else {
    // PG 11 has no pg_promote(): do what `pg_ctl promote` does.
    write_file(n.dir().data() + "/promote", "", n.dir().run_as());
    n.server().signal_postmaster(SIGUSR1);
  }
  // The startup process acts on the promote request only after its wait between two
  // attempts to reach its upstream ends: up to wal_retrieve_retry_interval (50 ms) when the
  // upstream is gone (the slow mode of a bimodal promote). The promote request stays set
  // once seen, so waking the startup process again makes its next check promote: SIGUSR2,
  // the signal the postmaster itself forwards on promote (PG 11 to 18), sent to the startup
  // process again every millisecond while the promotion is pending. A wake-up that lands before
  // the startup process begins that wait is used up by the wait it was in; hence repeated.
  // Polled every millisecond (not with wait_until's backoff): each poll also wakes it.
  auto deadline = std::chrono::steady_clock::now() + n.opts().timeout;
  for (;;) {
    std::string seen = n.admin_query("SELECT pg_is_in_recovery()").value(0, 0);
    if (seen == "f") break;
    if (std::chrono::steady_clock::now() >= deadline)
      throw TimeoutError("timed out after " + std::to_string(n.opts().timeout.count()) +
                             " ms waiting for promotion to finish; last seen: "
                             "pg_is_in_recovery() = " + seen,
                         n.label(), n.log_tail());
    if (startup > 0 && !n.server().signal_child(startup, SIGUSR2)) startup = 0;  // it exited
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  n.detach();
}

// Waits until standby `n` has replayed up to `lsn` (Node::wait_for_replay, a promote's
// catch-up): polled every millisecond, bounded by the node's timeout.
inline void wait_replayed(NodeState& n, const std::string& lsn) {
  std::string sql = "SELECT pg_last_wal_replay_lsn(), pg_last_wal_replay_lsn() >= " +
                    sql_literal(lsn) + "::pg_lsn";
  wait_until("the standby to replay its upstream's WAL up to " + lsn, n.opts().timeout, n.label(),
             std::chrono::milliseconds(1),
             [&](std::string& seen) {
               Rows r = n.admin_query(sql);
               seen = "replayed up to " + (r.is_null(0, 0) ? "nothing" : r.value(0, 0));
               return r.value(0, 1) == "t";
             },
             [&] { return n.log_tail(); });
}

// Starts `n`, configured as a standby of `up` and cloned as `c` says, and waits until it is
// healthy. A copy of the template is consistent (and accepts connections) at the template's
// checkpoint, before it replayed what upstream wrote since: it is ready once it replayed
// up to where upstream's WAL ended when it was copied, as a backup would be. If upstream
// recycled WAL it needs meanwhile, it is cloned again with a real backup.
// The node was attached without arming (attach_to(up, false)): `up` lists it as a sync
// candidate while its server starts.
inline void start_and_wait(NodeState& n, NodeState& up, const CloneOutcome& c = {}) {
  auto offset = file_size(n.dir().log());
  n.start([&] { n.arm_upstream(up); });
  try {
    wait_healthy(n, up, offset);
  } catch (const WalRemoved&) {
    if (!c.from_template || n.opts().clone_method == CloneMethod::TemplateCopy) throw;
    n.stop(StopMode::Immediate);
    start_and_wait(n, up, clone_from(n, up, /*allow_template=*/false));
    return;
  }
  if (!c.catch_up_lsn.empty()) wait_replayed(n, c.catch_up_lsn);
}

// A cleanly stopped node of the same lineage whose last checkpoint lies before the point
// where its timeline forked in the new primary's history has nothing the new primary lacks.
inline bool can_resume(NodeState& n, NodeState& p, const std::string& lineage_before) {
  if (lineage_before != p.lineage()) return false;  // another cluster: nothing to resume
  auto ci = read_control(n.dir().data());
  if (!ci.ok || !ci.clean()) return false;  // after a crash the WAL end is unknown
  std::uint32_t tli = p.current_timeline();
  if (ci.timeline == tli) return true;
  if (ci.timeline > tli) return false;
  std::string hist = read_file(p.dir().data() + "/pg_wal/" + history_file_name(tli));
  std::uint64_t fork = switchpoint(hist, ci.timeline);
  if (fork == 0 || ci.checkpoint >= fork) return false;
  // The node will follow timeline `tli`: given its history file now (history files never
  // change), it starts on that timeline at once instead of streaming to the end of its old
  // one, fetching the file and restarting on the new one (4-5 ms).
  try {
    write_file(n.dir().data() + "/pg_wal/" + history_file_name(tli), hist, n.dir().run_as());
  } catch (...) {
  }
  return true;
}

// Repairs a diverged, stopped node: pg_rewind when asked for (same lineage only:
// pg_rewind cannot tell two of pgha's clusters apart), else re-clone (Auto: a test-sized
// cluster re-clones faster than pg_rewind runs, and needs no client tool).
inline RejoinMethod repair(NodeState& n, NodeState& p, bool same_lineage, CloneOutcome& c) {
  RepairMethod want = n.opts().repair;
  bool have_rewind = !n.bins().pg_rewind.empty();
  if (want == RepairMethod::Rewind && !have_rewind)
    throw SetupError("RepairMethod::Rewind needs pg_rewind " + std::to_string(n.bins().major) +
                     ", and none was found; use RepairMethod::Reclone", n.label());
  // pg_rewind before 13 refuses a target that was not shut down cleanly.
  bool clean = read_control(n.dir().data()).clean();
  if (same_lineage && want == RepairMethod::Rewind && (clean || n.bins().major >= 13)) {
    if (rewind(n, p)) return RejoinMethod::Rewound;
    if (want == RepairMethod::Rewind)
      throw SetupError("pg_rewind failed; expected it to rewind onto " + p.label(), n.label(),
                       tail_lines(n.dir().root() + "/pg_rewind.log"));
  }
  c = clone_from(n, p);
  return RejoinMethod::Recloned;
}

// Makes `n` a synchronous standby of the running primary `p`; returns the method used.
inline RejoinMethod rejoin(NodeState& n, NodeState& p) {
  if (&n == &p) throw StateError("rejoin() onto itself; expected another node", n.label());
  NodeState::Transition t(n);  // before the locks: it ends after they are released
  std::unique_lock<std::recursive_mutex> ln(n.mutex(), std::defer_lock);
  std::unique_lock<std::recursive_mutex> lp(p.mutex(), std::defer_lock);
  std::lock(ln, lp);
  Role pr = p.role();
  if (pr != Role::Primary)
    throw StateError("rejoin() needs a running primary to follow; " + p.label() + " is " +
                         to_string(pr),
                     n.label());
  if (p.bins().major != n.bins().major)
    throw StateError("rejoin() across major versions (" + n.bins().version + " onto " +
                         p.bins().version + ") is not possible", n.label());
  n.stop(StopMode::Fast);
  std::string lineage_before = n.lineage();
  n.attach_to(p, /*arm=*/false);  // armed while it starts (start_and_wait)
  bool diverged = !can_resume(n, p, lineage_before);
  if (!diverged) {
    try {
      start_and_wait(n, p);
      return RejoinMethod::Resumed;
    } catch (const Diverged&) {
      n.stop(StopMode::Immediate);
    }
  }
  CloneOutcome c;
  RejoinMethod method = repair(n, p, lineage_before == p.lineage(), c);
  start_and_wait(n, p, c);
  return method;
}

// rejoin() as a step of the node's history: its "rejoin" event (method, peer, timeline)
// and the method recorded in the node (Node::last_rejoin()). Node::rejoin and
// FailoverGuard::rejoin both come here.
inline RejoinMethod rejoin_step(NodeState& n, NodeState& p) {
  n.check_wal_space("rejoin()");
  RejoinMethod m{};
  const std::string peer = p.dir().name();
  StepEvent ev(n.dir().name(), "rejoin", [&](Event& e) {
    std::uint32_t tli = 0;
    try { tli = n.current_timeline(); } catch (...) {}
    e.message = std::string("rejoined as standby of ") + peer + " (" + to_string(m) + ")";
    e.facts = {{"peer", peer}, {"method", to_string(m)}, {"timeline", std::to_string(tli)}};
  });
  m = rejoin(n, p);
  n.note_rejoin(m);
  return m;
}

// --- a failover of a whole cluster (TempCluster, FailoverGuard) ---

// Waits until no wal receiver of `standbys` streams any more (their upstream was just
// stopped: a receiver still reading what was in flight, through a relay say, may yet move
// its position), bounded by the first one's timeout; a receiver that still streams then
// (a blackholed link notices only at wal_receiver_timeout) counts with what it has.
inline void wait_receivers_idle(const std::vector<NodeState*>& standbys) {
  if (standbys.empty()) return;
  auto deadline = std::chrono::steady_clock::now() + standbys.front()->opts().timeout;
  for (NodeState* s : standbys) {
    while (std::chrono::steady_clock::now() < deadline) {
      Rows r = s->admin_query("SELECT count(*) FROM pg_stat_wal_receiver WHERE status = 'streaming'");
      if (r.value(0, 0) == "0") break;
      std::this_thread::sleep_for(std::chrono::milliseconds(1));
    }
  }
}

// The WAL position a standby has: what its wal receiver wrote to disk, or what it replayed
// when that is further (restored from an archive) or nothing was received.
inline std::uint64_t received_lsn(NodeState& s) {
  Rows r = s.admin_query("SELECT pg_last_wal_receive_lsn()::text, pg_last_wal_replay_lsn()::text");
  std::uint64_t rcv = r.is_null(0, 0) ? 0 : parse_lsn(r.value(0, 0));
  std::uint64_t rep = r.is_null(0, 1) ? 0 : parse_lsn(r.value(0, 1));
  return rcv > rep ? rcv : rep;
}

// Of the running standbys `candidates`, the one with the most WAL, as each server says
// (pg_last_wal_receive_lsn / pg_last_wal_replay_lsn); on a tie, the first. Their upstream
// was stopped before this is asked. `seen` gets "name lsn, ..." for messages and events.
inline std::size_t most_advanced(const std::vector<NodeState*>& candidates, std::string& seen) {
  wait_receivers_idle(candidates);
  std::size_t best = 0;
  std::uint64_t best_lsn = 0;
  for (std::size_t i = 0; i < candidates.size(); ++i) {
    std::uint64_t lsn = received_lsn(*candidates[i]);
    seen += (i ? ", " : "") + candidates[i]->dir().name() + " " + format_lsn(lsn);
    if (i == 0 || lsn > best_lsn) best = i, best_lsn = lsn;
  }
  return best;
}

// Every standby of `followers` follows the new primary `p`: each rejoins it (a timeline
// switch when its WAL is a prefix of p's history; a rewind or re-clone where it diverged),
// one after the other (a rejoin holds p's lock). The one mechanism of Node::rejoin.
inline void follow(NodeState& p, const std::vector<NodeState*>& followers) {
  for (NodeState* f : followers) rejoin_step(*f, p);
}

}  // namespace pgha::detail
