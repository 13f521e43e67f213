// pgha/nemesis_types.hpp: the value types of a Nemesis (pgha/nemesis.hpp): the kinds of
// fault it draws (Fault), its options (NemesisOptions) and one step of its schedule (Step).
// Plain values: no libpq, no server.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace pgha {

/// A kind of fault a Nemesis injects, each healed after its step's duration.
enum class Fault {
  Crash,              ///< SIGKILL of the node's server; healed by a start (a standby streams again)
  Stop,               ///< a fast stop; healed by a start
  Freeze,             ///< the whole server SIGSTOPped; healed by a thaw
  FreezeWalsender,    ///< the primary's walsenders SIGSTOPped
  FreezeWalreceiver,  ///< a standby's walreceiver SIGSTOPped
  PauseReplay,        ///< a standby's replay paused (pg_wal_replay_pause)
  CutLink,            ///< a standby's replication link reset (LinkCut::Reset)
  DelayLink,          ///< a standby's replication link delayed (the step's duration / 4, at most 200 ms)
  Partition,          ///< a node cut off from the others (pgha::Partition, blackhole)
  Failover,           ///< the primary crashed, the most advanced standby promoted, the other
                      ///< standbys follow it; healed by the old primary's rejoin
  ClientReset         ///< every client backend on the primary terminated (pg_terminate_backend)
};

/// Text of a Fault: "crash", "stop", "freeze", "freeze_walsender", "freeze_walreceiver",
/// "pause_replay", "cut_link", "delay_link", "partition", "failover", "client_reset".
PGHA_DECL const char* to_string(Fault f) noexcept;
/// The enumerator's name ("Crash", ...), as Fault prints with <<.
PGHA_DECL const char* enum_name(Fault f) noexcept;
PGHA_DECL std::ostream& operator<<(std::ostream& o, Fault f);

/// Options of a Nemesis.
struct NemesisOptions {
  /// 0: PGHA_SEED from the environment if set, else a fresh random seed. The same seed, the
  /// same options and the same number of nodes give the same steps.
  std::uint64_t seed = 0;
  /// The kinds of fault to draw from; empty (the default): every kind the cluster allows
  /// (a cluster of one node has no standby to fault).
  std::vector<Fault> faults;
  /// Faults in one run (0 to 10000).
  int steps = 10;
  /// Mean pause between two faults (each pause is uniform in [0, 2 * interval]).
  std::chrono::milliseconds interval = std::chrono::milliseconds(300);
  /// The longest a fault lasts before it is healed (each lasts max_fault/10 to max_fault).
  std::chrono::milliseconds max_fault = std::chrono::milliseconds(1000);
};

/// One step of a schedule.
struct Step {
  std::chrono::milliseconds at{0};        ///< when the fault begins, from the run's start
  std::chrono::milliseconds duration{0};  ///< how long it lasts before it is healed
  Fault fault = Fault::Crash;             ///< what
  /// Whom, by role at the time of the step: "primary" or "standby <i>" (1-based, the i-th
  /// standby in the order the nodes were given), so a replay hits the same roles.
  std::string target;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/nemesis_types.ipp"
#endif
