// pgha/cluster.hpp: TempCluster, a primary and N-1 standbys that fail over as a whole, the
// way an HA manager (Patroni, pg_auto_failover) does it: the most advanced standby is
// promoted and every other standby follows it, so the cluster commits again with no step
// of the test's own.
#pragma once

#include "pgha/build_mode.hpp"

#include <exception>
#include <memory>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/failover.hpp"
#include "pgha/detail/lineage_names.hpp"
#endif
#include "pgha/error.hpp"
#include "pgha/node.hpp"
#include "pgha/options.hpp"
#include "pgha/primary.hpp"
#include "pgha/standby.hpp"

namespace pgha {
class Node;
namespace detail {
/// A cluster's failover, one mechanism for pgha's own classes (TempCluster, Nemesis).
struct ClusterFailover {
  /// Stops `old` (`mode`), then promotes the one of `cands` (running standbys of `old`, not
  /// frozen) with the most WAL as each server reports it; the others follow it (take_over).
  /// Returns the new primary.
  static Node& run(Node& old, const std::vector<Node*>& cands, StopMode mode);
  /// `np` (one of `cands`; `old` is stopped) becomes the primary; the other standbys of
  /// `cands` follow it; a "failover" event says who is primary and who follows.
  static void take_over(Node& old, Node& np, const std::vector<Node*>& cands);
};
}  // namespace detail
}  // namespace pgha

namespace pgha {

/// How a primary with several standbys chooses the ones a commit waits for
/// (synchronous_standby_names).
enum class Quorum {
  First,  ///< FIRST n (a, b, ...): the first n listed that stream, by priority
  Any     ///< ANY n (a, b, ...): quorum commit, any n of those listed
};

/// "first", "any" (the keyword in synchronous_standby_names, lower case).
PGHA_DECL const char* to_string(Quorum q) noexcept;
/// The enumerator's name ("First", "Any"), as the enums print with <<.
PGHA_DECL const char* enum_name(Quorum q) noexcept;
PGHA_DECL std::ostream& operator<<(std::ostream& o, Quorum q);

/// Options for a TempCluster.
struct ClusterOptions {
  /// The options of every node (a standby's name, port and application_name are its own:
  /// with Options::name "db", the nodes are db1, db2, ...; a fixed port is a UsageError).
  Options node;
  /// How many standbys a commit waits for (1 to the number of standbys).
  int sync_count = 1;
  /// FIRST sync_count (...) by priority, or ANY sync_count (...), a quorum.
  Quorum quorum = Quorum::First;
};

/// A primary and size-1 standbys of it, started in parallel (each standby is a copy of the
/// primary's template or a backup of it, made on a thread of its own). The primary lists
/// every standby in synchronous_standby_names in creation order: with the defaults
/// `FIRST 1 (pgslave001, pgslave002, ...)`: node(1) is the sync standby, the others
/// potential ones. Every node keeps that rule (FIRST/ANY sync_count) through failovers.
///
/// Roles are asked from the servers (pg_is_in_recovery()), never from bookkeeping:
/// primary() and standbys() are whatever the nodes are now, after a failover, a switchover,
/// or a promote or rejoin the test did itself. The nodes are destroyed with the cluster.
///
/// Threads: the nodes may be used from any thread (see Node); the cluster's own calls
/// (failover, switchover, rejoin_stopped) are made from one thread at a time.
class TempCluster {
public:
  /// A primary and size-1 standbys (size >= 1; 0 or less is a UsageError, as is a
  /// sync_count below 1 or above size-1 when there are standbys, or a fixed port). Throws
  /// SetupError like TempPrimary and TempStandby.
  explicit TempCluster(int size, ClusterOptions opts = {});
  TempCluster(const TempCluster&) = delete;
  TempCluster& operator=(const TempCluster&) = delete;
  TempCluster(TempCluster&&) noexcept;
  TempCluster& operator=(TempCluster&&) noexcept;
  /// Destroys every node (standbys first).
  ~TempCluster();

  /// The number of nodes.
  int size() const noexcept;
  /// Node `i` in creation order (0: the first primary). UsageError when out of range.
  Node& node(int i);
  /// The node that is a running primary now, as the servers say. StateError when none is
  /// (or several are: a split brain the test made).
  Node& primary();
  /// The nodes that are running standbys now, as the servers say, in creation order.
  std::vector<Node*> standbys();
  /// The cluster's options.
  const ClusterOptions& options() const noexcept;

  /// Stops the primary (`mode`), promotes the running standby with the most WAL (each
  /// standby's pg_last_wal_receive_lsn() / pg_last_wal_replay_lsn(), asked once the old
  /// primary is down; on a tie, the first in creation order), and makes every other running
  /// standby follow it (rejoin(): a timeline switch, or a rewind/re-clone where it diverged),
  /// so the cluster commits again. The old primary stays stopped (rejoin_stopped()). Returns
  /// the new primary. When the primary is down already (it crashed, its WAL disk is full,
  /// the test stopped it), the one stopped node that was the primary is the old one: the
  /// failover a crash calls for. StateError at once, before anything is stopped, when no
  /// node is or was the primary (or several stopped ones were), or no running standby is
  /// left that is not frozen. A frozen standby is left as it is (thaw() it and rejoin() it
  /// to the new primary).
  Node& failover(StopMode mode = StopMode::Fast);

  /// Every stopped node rejoins as a standby of the current primary (rejoin()). Returns how
  /// many did. StateError when no node is a running primary.
  int rejoin_stopped();

  /// A clean switch to `target` (a running standby of this cluster): the primary stops
  /// (fast: its standbys receive all its WAL first), `target` is promoted, every other
  /// running standby follows it, and the old primary rejoins as its standby. UsageError
  /// for a node of another cluster or the current primary; StateError for a stopped or
  /// frozen one.
  void switchover(Node& target);

private:
  Options node_options(int i) const;
  std::vector<Node*> with_role(Role r);
  static std::string names(const std::vector<Node*>& ns);
  // The running standbys that can be promoted (not frozen); StateError when none.
  std::vector<Node*> promotable(const char* what, Node& old);

  ClusterOptions opts_;
  std::vector<std::unique_ptr<Node>> nodes_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/cluster.ipp"
#endif
