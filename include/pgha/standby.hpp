// pgha/standby.hpp: TempStandby, a streaming standby cloned from a running node.
#pragma once

#include "pgha/build_mode.hpp"

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/quote.hpp"
#endif
#include "pgha/node.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
namespace detail {
class NodeState;
}  // namespace detail
}  // namespace pgha

namespace pgha {

/// Names the upstream of a cascading standby explicitly:
/// `pgha::TempStandby node3(pgha::Upstream(node2));` where node2 is itself a TempStandby.
struct Upstream {
  explicit Upstream(Node& n);
  Node& node;
};

/// A new standby of `upstream`: a copy of the template a primary upstream was created from
/// (replaying its WAL since), or a base backup (the low-level backup API or pg_basebackup),
/// configured for streaming replication (standby.signal, or recovery.conf on PG 11),
/// started, and returned once it streams on upstream's timeline and, when upstream is a
/// primary that lists it in synchronous_standby_names, upstream gives it a sync priority:
/// the first standby of a primary is `sync`; later ones are `potential` candidates in the
/// order they attached, and take over when the sync one goes.
///
/// application_name: a standby that does not choose one (or inherits its upstream's) takes
/// the first name no other standby of that upstream or of its cluster (every node cloned
/// from the same primary, wherever it streams from) uses: pgslave001 (as in the walkthrough),
/// then pgslave002, ... An explicitly chosen name that another such standby already uses is
/// a SetupError. A node that rejoins under a name another standby of the cluster streams
/// with takes a free one (application_name() tells it; a "rename" event says so).
class TempStandby : public Node {
public:
  /// Standby with the same options as its upstream (binaries, sync mode, settings).
  explicit TempStandby(Node& upstream);
  /// A standby of a standby (cascading), or of any node, named explicitly.
  explicit TempStandby(Upstream up);
  /// Standby with its own options; an empty bin_dir means the upstream's binaries.
  TempStandby(Node& upstream, Options opts);
  TempStandby(TempStandby&&) noexcept;
  TempStandby& operator=(TempStandby&&) noexcept;

private:
  friend class TempCluster;
  // A standby created beside others of the same upstream, on threads of their own
  // (TempCluster): the upstream's lock is held only while the standby takes its name and
  // its place in the upstream's topology, not during the clone and the start, so the
  // clones run in parallel.
  struct Concurrent {
    int sync_count = 1;  // the commit rule the standby renders once promoted
    bool any = false;
  };
  TempStandby(Node& upstream, Options opts, Concurrent c);
  static Options inherit(Node& upstream);
  // The next name after `name`: its trailing number plus one, keeping the width
  // (pgslave001 -> pgslave002), or "2" appended.
  static std::string next_name(const std::string& name);
  // `reserved`: the upstream lists opts.application_name already, for this standby (a
  // TempCluster lists its standbys before they start): that is not a name in use.
  static std::string choose_name(detail::NodeState& up, const Options& opts, bool reserved = false);
  // "ready": streaming from `up`, with the sync_state `up` reports (events only).
  static void emit_ready(detail::NodeState& st, detail::NodeState& up);
  static std::unique_ptr<detail::NodeState> create(Node& upstream, Options opts,
                                                   const Concurrent* concurrent = nullptr);
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/standby.ipp"
#endif
