// pgha/failover_guard.hpp: a failover for the length of a scope. Like a transaction that
// rolls back in its destructor, the guard restores the topology on scope exit: the old
// primary comes back as a standby of the promoted one, and so does every other standby of
// the old primary the guard re-pointed, should it have left the promoted one meanwhile.
#pragma once

#include "pgha/build_mode.hpp"

#include <exception>
#include <iostream>
#include <optional>
#include <string>
#include <vector>

#include "pgha/detail/node_ref.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// Stops `old_primary` (StopMode::Fast by default, or Immediate/Crash to model a failure)
/// and promotes `standby`. Every other running standby of the old primary (a third node
/// built with TempStandby, say; a frozen one is left alone) is re-pointed to the new primary
/// at once, as an HA manager does (Node::rejoin: a timeline switch, or a rewind/re-clone
/// where it diverged), so the cluster commits again inside the scope; repointed() names
/// them. On scope exit the old primary rejoins as a standby of the new primary, and each
/// re-pointed standby that no longer streams from it (stopped, crashed, rejoined elsewhere
/// during the scope) rejoins it too: one primary, every node of the guard its standby.
/// Call rejoin() to do that explicitly and see errors; the destructor never
/// throws: a failure is an "error" event (pgha/events.hpp: sinks, PGHA_LOG, the failure
/// report) and a line on stderr.
///
/// The guard refers to its nodes without owning them (detail::NodeRef): a node destroyed
/// before the guard makes rejoin() (and old_primary()/new_primary()) throw StateError and
/// the destructor report it; a node destroyed on another thread during the guard's rejoin
/// waits for it to finish.
///
/// A primary that is down already (crashed, its WAL disk full: Node::exhaust_wal_space) is
/// failed over as it is: the stop has nothing to do.
///
/// A frozen primary (freeze()) can be failed over in any stop mode:
/// `FailoverGuard(frozen, standby, StopMode::Crash)` models a hung primary.
class FailoverGuard {
public:
  /// Fails over from old_primary to standby; throws if the stop or the promote fails. If
  /// the promote fails, the old primary is started again (as the primary) and the error
  /// says whether that worked. If re-pointing another standby fails, the error says so; the
  /// failover itself stands (the promoted node is the primary, the old one stays stopped).
  FailoverGuard(Node& old_primary, Node& standby, StopMode mode = StopMode::Fast);
  FailoverGuard(const FailoverGuard&) = delete;
  FailoverGuard& operator=(const FailoverGuard&) = delete;
  /// Rejoins the old primary unless rejoin() already ran; never throws, whatever state it
  /// finds (moved-from or destroyed nodes included): a failure is an "error" event.
  ~FailoverGuard();
  /// Rejoins the old primary as a standby of the promoted node now, then every re-pointed
  /// standby that no longer streams from it (one destroyed meanwhile is skipped); throws on
  /// the first failure (StateError if either of the guard's two nodes was destroyed or
  /// moved from). Returns how the old primary was brought back.
  RejoinMethod rejoin();
  /// The names of the other standbys of the old primary that the guard re-pointed to the
  /// new primary, in the order it did.
  std::vector<std::string> repointed() const;
  /// The promoted node. StateError if it was destroyed (valid while the Node object lives
  /// where it was when the guard was made).
  Node& new_primary();
  /// The node that was stopped. StateError if it was destroyed.
  Node& old_primary();
  /// How the old primary was brought back (valid after rejoin(); Resumed before: see
  /// has_rejoined()).
  RejoinMethod method() const noexcept;
  /// Whether the guard's rejoin ran and succeeded.
  bool has_rejoined() const noexcept;
  /// How the old primary was brought back, or empty while it has not been.
  std::optional<RejoinMethod> rejoined_method() const noexcept;

private:
  // A handle whose node is gone (or moved from: its state went with the move, and the
  // Node object here may be gone) is a StateError.
  void check(const detail::NodeRef& r, const char* what) const;
  void report(const char* what) noexcept;
  Node* old_node_;  // only for old_primary()/new_primary(), after a liveness check
  Node* new_node_;
  detail::NodeRef old_;  // set in the constructor (detail::NodeRef's is in the library)
  detail::NodeRef new_;
  std::vector<detail::NodeRef> others_;  // the re-pointed standbys
  bool done_ = false;
  bool rejoined_ = false;
  RejoinMethod method_ = RejoinMethod::Resumed;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/failover_guard.ipp"
#endif
