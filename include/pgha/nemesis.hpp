// pgha/nemesis.hpp: pgha::Nemesis, a seeded schedule of faults over a cluster. Random runs
// find the fault sequences nobody thought to script (a freeze during a rejoin's aftermath, a
// cut while replay is paused); the seed of a run that broke something replays the same steps
// on purpose, until the bug is fixed:
//
//   pgha::Nemesis n({&node1, &node2, &node3});      // PGHA_SEED=<seed> replays a run
//   n.start();  ... a Workload runs ...  n.stop();   // or n.run() in the foreground
//   std::cout << n.schedule();                       // "PGHA_SEED=1234 replays it"
//
// One fault at a time, each healed before the next; targets are roles ("primary",
// "standby 2"), resolved against the servers at each step, so a replay hits the same roles
// even after a failover moved the primary. Every step is an event in its target's lane
// (PGHA_LOG, a Timeline, a failing test's event timeline); the schedule is one event in
// the "nemesis" lane when the run starts.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "pgha/cluster.hpp"
#include "pgha/nemesis_types.hpp"
#include "pgha/node.hpp"

namespace pgha {

class Nemesis {
public:
  /// A Nemesis over `nodes`: one primary and its streaming standbys, as the servers say
  /// (each standby's application_name streams in the primary's pg_stat_replication).
  /// Computes the schedule (nothing runs yet). UsageError at once for no node, a null or
  /// repeated node, nodes that are not one such cluster, a fault the cluster cannot have
  /// (Fault::Failover on one node), steps outside 0..10000, a negative interval, a max_fault
  /// outside 1 ms..1 h, a PGHA_SEED that is not a number.
  explicit Nemesis(std::vector<Node*> nodes, NemesisOptions opts = {});
  /// A Nemesis over every node of `cluster` (in the order of cluster.node(i)).
  explicit Nemesis(TempCluster& cluster, NemesisOptions opts = {});
  /// Stops a run still going (heals; bounded, never throws).
  ~Nemesis();
  Nemesis(const Nemesis&) = delete;
  Nemesis& operator=(const Nemesis&) = delete;

  /// Runs every step in the foreground, then heals the cluster: one primary, every other
  /// node a streaming standby of it. Throws the first step's failure (a pgha::Error naming
  /// the step and the seed) after healing; StateError if it ran before.
  void run();
  /// Runs the steps on a thread of the Nemesis (e.g. while a Workload runs).
  void start();
  /// Ends a background run: the step under way is healed at once (its remaining duration
  /// skipped), no other step starts, and the cluster is healed as after run(). Bounded by
  /// one heal (a rejoin at worst). Throws like run(); nothing to do if not started.
  void stop();
  /// Whether a run is going (started, not yet ended by run() or stop()). stop() and
  /// running() may be called from any thread; a second stop() waits for the first.
  bool running() const noexcept;

  /// The seed of this run.
  std::uint64_t seed() const noexcept;
  /// The schedule: every step, in order (the same for the same seed, options and number of nodes).
  const std::vector<Step>& steps() const noexcept;
  /// Steps that began so far.
  std::size_t steps_started() const;
  /// The schedule as text, one line per step, ending with "PGHA_SEED=<seed> replays it".
  std::string schedule() const;

private:
  void loop() noexcept;
  void apply(const Step& s, std::size_t i);
  // Waits until `until` or stop(); false when stopped.
  bool wait_until_or_stop(std::chrono::steady_clock::time_point until);
  Node& resolve(const std::string& target);
  Node& primary_now();
  std::vector<Node*> standbys_now();
  void fail_over(Node& old, std::chrono::milliseconds d);
  void heal_cluster();
  void finish();
  void end_run();
  static std::vector<Node*> nodes_of(TempCluster& c);

  std::vector<Node*> nodes_;
  NemesisOptions opts_;
  std::uint64_t seed_ = 0;
  std::vector<Step> steps_;
  std::thread thread_;
  std::mutex join_m_;  // held while a caller joins thread_ and heals (end_run())
  mutable std::mutex m_;
  std::condition_variable cv_;
  bool started_ = false, stopping_ = false, finished_ = false;
  std::size_t started_steps_ = 0;
  std::string error_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/nemesis.ipp"
#endif
