// pgha/primary.hpp: TempPrimary, a fresh primary in a private directory on a free port.
#pragma once

#include "pgha/build_mode.hpp"

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/scram.hpp"
#endif
#include "pgha/node.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
namespace detail {
class NodeState;
}  // namespace detail
}  // namespace pgha

namespace pgha {

/// A new primary: a copy of a cached initdb, configured as in the walkthrough (replica
/// WAL, synchronous_standby_names, remote_apply), started, with a superuser password and
/// the replication role `replicauser` (generated passwords, SCRAM over TCP).
class TempPrimary : public Node {
public:
  /// Creates and starts the primary. Throws SetupError (options, binaries, initdb, start)
  /// with the server log tail.
  explicit TempPrimary(Options opts = {});
  TempPrimary(TempPrimary&&) noexcept;
  TempPrimary& operator=(TempPrimary&&) noexcept;

private:
  static std::unique_ptr<detail::NodeState> create(Options opts);
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/primary.ipp"
#endif
