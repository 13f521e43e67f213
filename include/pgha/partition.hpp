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

#include <algorithm>
#include <cstdint>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "pgha/detail/isolation.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/node_ref.hpp"
#include "pgha/node.hpp"

namespace pgha {

class Partition {
public:
  /// Cuts the links between `a` and `b`, and every link between them created while the
  /// Partition lives (a rejoin across it). Partitions compose with each other and with the
  /// user's own cuts: a link is cut while any of them cuts it; the end of one lifts only its
  /// own. UsageError if a group is empty, a pointer is null or a node is in both groups;
  /// StateError if a link to cut streams without a relay (Options::relay = false).
  Partition(std::vector<Node*> a, std::vector<Node*> b, LinkCut how = LinkCut::Blackhole) {
    if (a.empty() || b.empty())
      throw UsageError("pgha::Partition: an empty group (" + std::to_string(a.size()) + " and " +
                       std::to_string(b.size()) + " nodes); expected at least one node on each side");
    for (Node* n : a) groups_[0].push_back(check(n));
    for (Node* n : b) groups_[1].push_back(check(n));
    for (auto* x : groups_[0])
      if (std::find(groups_[1].begin(), groups_[1].end(), x) != groups_[1].end())
        throw UsageError("pgha::Partition: node " + x->dir().name() +
                         " is in both groups; expected two disjoint groups", x->label());
    for (int g = 0; g < 2; ++g)
      for (auto* x : groups_[g]) {
        names_[g].push_back(x->dir().name());
        refs_[g].emplace_back(*x);
      }
    std::vector<const void*> keys[2];
    for (int g = 0; g < 2; ++g) keys[g].assign(groups_[g].begin(), groups_[g].end());
    // Registered first: a link created from here on (attach_to) is cut by it as it is made.
    id_ = detail::Isolation::instance().begin(std::move(keys[0]), std::move(keys[1]), how);
    try {
      for (int g = 0; g < 2; ++g)
        for (auto* x : groups_[g])
          for (auto* y : groups_[1 - g]) cut_if_streams(*x, *y, how);
    } catch (...) {
      detail::Isolation::instance().end(id_);
      heal_cuts();
      throw;
    }
    note("fault", "partitioned from ");
  }
  /// Heals (see heal()); never throws: a failure is written to stderr.
  ~Partition() {
    try { heal(); } catch (const std::exception& e) {
      std::cerr << "pgha: Partition could not heal: " << e.what() << "\n";
    }
  }
  Partition(const Partition&) = delete;
  Partition& operator=(const Partition&) = delete;

  /// Lifts this Partition's cuts on the links that still exist (a promoted node has none
  /// any more), including links made while it lived; cuts of other live Partitions and the
  /// user's own stay. Lets endpoints reach the second group again unless another Partition
  /// hides it. Idempotent.
  void heal() {
    if (healed_) return;
    healed_ = true;
    detail::Isolation::instance().end(id_);
    heal_cuts();
    note("heal", "partition healed; reaches ");
  }
  /// Replication links cut when the partition began.
  std::size_t links_cut() const noexcept { return cut_; }

private:
  static detail::NodeState* check(Node* n) {
    if (!n) throw UsageError("pgha::Partition: a node pointer is null; expected live nodes");
    return &n->state();
  }
  void cut_if_streams(detail::NodeState& x, detail::NodeState& y, LinkCut how) {
    std::lock_guard<std::recursive_mutex> l(x.mutex());
    if (!x.topo().standby() || x.topo().upstream_port() != y.dir().port()) return;
    detail::LinkAccess::of(x.link()).partition_cut(id_, how);  // StateError without a relay
    ++cut_;
  }
  // One event per node of each group, naming the other group.
  void note(const char* kind, const std::string& what) const noexcept {
    if (!detail::events_on()) return;
    try {
      for (int g = 0; g < 2; ++g) {
        std::string others;
        for (const auto& y : names_[1 - g]) others += (others.empty() ? "" : ", ") + y;
        for (const auto& x : names_[g]) detail::emit(x, kind, what + others);
      }
    } catch (...) {
    }
  }
  // Lifts this partition's cut on the link of every node of both groups (links made after
  // it began included). Skips a node destroyed inside the partition's scope: each node is
  // reached through its handle, pinned (alive until the pin goes) before it is locked, so
  // the check and the use are one step; a node being destroyed meanwhile is skipped.
  void heal_cuts() {
    for (int g = 0; g < 2; ++g)
      for (const detail::NodeRef& ref : refs_[g]) {
        if (!ref.alive()) continue;
        try {
          auto x = ref.pin("pgha::Partition heal");
          std::lock_guard<std::recursive_mutex> l(x->mutex());
          if (Link* k = x->topo().link()) detail::LinkAccess::of(*k).partition_heal(id_);
        } catch (const StateError&) {  // destroyed between alive() and pin(): nothing to heal
        }
      }
  }

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
