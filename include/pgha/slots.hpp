// pgha/slots.hpp: the public types of replication slots and logical decoding.
//
// What each PostgreSQL version does with slots through a failover:
// - physical slots (Options::replication_slots): every version pgha supports (11+). A
//   standby streams through a slot on its upstream named after its application_name;
//   rejoin() creates the slot on the new primary and drops the rejoining node's own slots
//   from its former life (they would hold WAL back forever).
// - logical slots (Node::create_logical_slot): 11+, with settings["wal_level"] = "logical".
//   Before 17 a logical slot lives on one node only: after a failover it does not exist on
//   the new primary, and a consumer must create it again (changes in between are lost).
// - failover slots (create_logical_slot(..., failover = true)): 17+ only. pgha configures
//   the standbys (sync_replication_slots, hot_standby_feedback, primary_slot_name, dbname)
//   and the primary (synchronized_standby_slots), so the slot's synced copy on the
//   promoted standby continues where the consumer stopped.
#pragma once

#include "pgha/build_mode.hpp"

#include <string>
#include <utility>

#include "pgha/error.hpp"

namespace pgha {

/// One row of logical decoding output, as pg_logical_slot_get_changes returns it.
struct Change {
  std::string lsn;   ///< WAL position of the change, e.g. "0/30001A8"
  std::string xid;   ///< transaction id
  std::string data;  ///< the plugin's output: text for test_decoding, raw bytes for pgoutput
};

/// A feature the node's PostgreSQL version does not have (failover slots before 17, ...).
/// A SetupError: the binaries chosen for the test decide it.
class VersionError : public SetupError {
public:
  /// `needed_major`: the first major version that has the feature.
  VersionError(const std::string& message, int needed_major, int major, std::string node = {});
  /// The first major version that has the feature (17 for failover slots).
  int needed_major() const noexcept;
  /// The node's major version.
  int major() const noexcept;

private:
  int needed_;
  int major_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/slots.ipp"
#endif
