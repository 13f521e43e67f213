// pgha/shared_cluster.hpp: one primary + one synchronous standby shared by many test
// cases and reset between them (drop user schemas and databases, restore a healthy sync
// pair whatever the last test did to it): 17-85 ms instead of ~300 ms for a fresh pair.
// Framework-free; pgha/catch2.hpp and pgha/gtest.hpp wrap it.
#pragma once

#include "pgha/build_mode.hpp"

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/node.hpp"
#include "pgha/options.hpp"

namespace pgha {

/// A primary and one synchronous standby that live for a whole test run and are reset
/// cheaply between tests: reset() repairs the topology (whichever node ends up primary)
/// and drops user objects. The roles of the two nodes may swap over the run: always ask
/// primary() / standby() after reset().
class SharedCluster {
public:
  explicit SharedCluster(Options opts = {});
  SharedCluster(const SharedCluster&) = delete;
  SharedCluster& operator=(const SharedCluster&) = delete;

  /// The node that currently is the primary (asks the servers). Throws StateError if none.
  Node& primary();
  /// The node that currently is the standby (asks the servers). Throws StateError if none.
  Node& standby();
  /// Both nodes, in creation order (roles may have swapped).
  Node& node(int i);

  /// Restores "one running primary + one streaming sync standby of it" and drops user
  /// objects: every non-system schema (public is re-created) and every database other than
  /// postgres/template0/template1. Cheap when the topology is intact.
  void reset();

private:
  // Lifts every fault of the node's replication link (a primary has none).
  static void clear_link_faults(Node& n) noexcept;
  // Drops what tests made for logical replication: subscriptions (in every database; each
  // is first detached from its slot, so dropping it never waits for a publisher), then
  // publications and logical slots (a slot in use has its walsender or backend ended first).
  // Physical slots are pgha's own and stay.
  static void drop_logical_replication(Node& p, Connection& c);
  static bool healthy(Node& p, Node& s);
  std::array<std::unique_ptr<Node>, 2> nodes_;
  SyncMode initial_mode_ = SyncMode::RemoteApply;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/shared_cluster.ipp"
#endif
