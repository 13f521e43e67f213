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
#include "pgha/node.hpp"

namespace pgha {

class Partition {
public:
  /// Cuts the links between `a` and `b` (StateError if a group is empty, a pointer is null, a
  /// node is in both groups, or a link to cut streams without a relay: Options::relay = false).
  Partition(std::vector<Node*> a, std::vector<Node*> b, LinkCut how = LinkCut::Blackhole) {
    for (Node* n : a) groups_[0].push_back(check(n));
    for (Node* n : b) groups_[1].push_back(check(n));
    for (int g = 0; g < 2; ++g)
      for (auto* x : groups_[g]) names_[g].push_back(x->dir().name());
    if (a.empty() || b.empty())
      throw StateError("pgha::Partition: an empty group; expected at least one node on each side");
    for (auto* x : groups_[0])
      if (std::find(groups_[1].begin(), groups_[1].end(), x) != groups_[1].end())
        throw StateError("pgha::Partition: a node is in both groups; expected two disjoint groups", x->label());
    try {
      for (int g = 0; g < 2; ++g)
        for (auto* x : groups_[g])
          for (auto* y : groups_[1 - g]) cut_if_streams(*x, *y, how);
    } catch (...) {
      heal_cuts();
      throw;
    }
    for (auto* y : groups_[1]) detail::Isolation::instance().add(y);
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

  /// Lifts the cuts on the links that still exist (a promoted node has none any more) and
  /// lets endpoints reach the second group again. Idempotent.
  void heal() {
    if (healed_) return;
    healed_ = true;
    for (auto* y : groups_[1]) detail::Isolation::instance().remove(y);
    heal_cuts();
    note("heal", "partition healed; reaches ");
  }
  /// Replication links cut when the partition began.
  std::size_t links_cut() const noexcept { return cut_.size(); }

private:
  static detail::NodeState* check(Node* n) {
    if (!n) throw StateError("pgha::Partition: a node pointer is null; expected live nodes");
    return &n->state();
  }
  void cut_if_streams(detail::NodeState& x, detail::NodeState& y, LinkCut how) {
    std::lock_guard<std::recursive_mutex> l(x.mutex());
    if (!x.topo().standby() || x.topo().upstream_port() != y.dir().port()) return;
    x.link().cut(how, Direction::Both);  // StateError without a relay
    cut_.push_back(&x);
    cut_id_.emplace_back(&x.dir(), detail::live_nodes().serial(&x.dir()));
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
  // Skips a node destroyed inside the partition's scope (live_nodes() tells; its serial
  // tells a new node at the same address apart).
  void heal_cuts() {
    for (std::size_t i = 0; i < cut_.size(); ++i) {
      detail::NodeState* x = cut_[i];
      if (detail::live_nodes().serial(cut_id_[i].first) != cut_id_[i].second) continue;
      std::lock_guard<std::recursive_mutex> l(x->mutex());
      if (Link* k = x->topo().link()) k->heal();
    }
  }

  std::vector<detail::NodeState*> groups_[2];
  std::vector<detail::NodeState*> cut_;
  std::vector<std::pair<const void*, std::uint64_t>> cut_id_;  // cut_[i] in detail::live_nodes()
  std::vector<std::string> names_[2];  // for events, read while the nodes surely live
  bool healed_ = false;
};

}  // namespace pgha
