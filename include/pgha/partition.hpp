// pgha/partition.hpp: pgha::Partition, a network split for one scope. Two groups of nodes
// cannot reach each other: every replication link from a node of one group to an upstream
// in the other is cut (Blackhole by default: a silent partition, noticed only through
// wal_receiver_timeout / wal_sender_timeout; both directions). Route endpoints (Endpoint over
// several nodes) stay with the first group: they stop sending new connections to the second
// group's nodes, as a proxy in the first group's network would. Clients that connect to a
// node directly still reach it, so a promote in the second group gives two primaries that
// both accept writes: a split brain. Scope exit heals what is still there to heal;
// node.rejoin(other) afterwards discards the rejoining node's split-brain writes.
#pragma once

#include "pgha/build_mode.hpp"
#ifdef PGHA_SEPARATE_COMPILATION  // types the header-only mode gets through detail/
#include "pgha/options.hpp"
#endif

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/isolation.hpp"
#include "pgha/detail/live_nodes.hpp"
#endif
#include "pgha/detail/node_ref.hpp"
#include "pgha/node.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
namespace detail {
class NodeState;
}  // namespace detail
}  // namespace pgha

namespace pgha {

class Partition {
public:
  /// Cuts the links between `a` and `b`, and every link between them created while the
  /// Partition lives (a rejoin across it). Partitions compose with each other and with the
  /// user's own cuts: a link is cut while any of them cuts it; the end of one lifts only its
  /// own. UsageError if a group is empty, a pointer is null or a node is in both groups;
  /// StateError if a link to cut streams without a relay (Options::relay = false).
  Partition(std::vector<Node*> a, std::vector<Node*> b, LinkCut how = LinkCut::Blackhole);
  /// Heals (see heal()); never throws: a failure is written to stderr.
  ~Partition();
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  /// Lifts this Partition's cuts on the links that still exist (a promoted node has none
  /// any more), including links made while it lived; cuts of other live Partitions and the
  /// user's own stay. Lets endpoints reach the second group again unless another Partition
  /// hides it. Idempotent.
  void heal();
  /// Replication links cut when the partition began.
  std::size_t links_cut() const noexcept;

private:
  static detail::NodeState* check(Node* n);
  void cut_if_streams(detail::NodeState& x, detail::NodeState& y, LinkCut how);
  // One event per node of each group, naming the other group.
  void note(const char* kind, const std::string& what) const noexcept;
  // Lifts this partition's cut on the link of every node of both groups (links made after
  // it began included). Skips a node destroyed inside the partition's scope: each node is
  // reached through its handle, pinned (alive until the pin goes) before it is locked, so
  // the check and the use are one step; a node being destroyed meanwhile is skipped.
  void heal_cuts();

  // The nodes' states as identities only (the isolation registry's keys, the checks at
  // construction while the caller's nodes surely live): never dereferenced after that.
  std::vector<detail::NodeState*> groups_[2];
  std::vector<detail::NodeRef> refs_[2];  // how the nodes are reached after construction
  std::vector<std::string> names_[2];  // for events, read while the nodes surely live
  std::uint64_t id_ = 0;
  std::size_t cut_ = 0;
  bool healed_ = false;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/partition.ipp"
#endif
