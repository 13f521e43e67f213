// pgha/failover_guard.hpp: a failover for the length of a scope. Like a transaction that
// rolls back in its destructor, the guard restores the topology on scope exit: the old
// primary comes back as a standby of the promoted one.
#pragma once

#include <exception>
#include <iostream>
#include <optional>
#include <string>

#include "pgha/detail/node_ref.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// Stops `old_primary` (StopMode::Fast by default, or Immediate/Crash to model a failure)
/// and promotes `standby`. On scope exit the old primary rejoins as a standby of the new
/// primary. Call rejoin() to do that explicitly and see errors; the destructor never
/// throws: a failure is an "error" event (pgha/events.hpp: sinks, PGHA_LOG, the failure
/// report) and a line on stderr.
///
/// The guard refers to its nodes without owning them (detail::NodeRef): a node destroyed
/// before the guard makes rejoin() (and old_primary()/new_primary()) throw StateError and
/// the destructor report it; a node destroyed on another thread during the guard's rejoin
/// waits for it to finish.
///
/// A frozen primary (freeze()) can be failed over in any stop mode:
/// `FailoverGuard(frozen, standby, StopMode::Crash)` models a hung primary.
class FailoverGuard {
public:
  /// Fails over from old_primary to standby; throws if the stop or the promote fails. If
  /// the promote fails, the old primary is started again (as the primary) and the error
  /// says whether that worked.
  FailoverGuard(Node& old_primary, Node& standby, StopMode mode = StopMode::Fast)
      : old_node_(&old_primary), new_node_(&standby) {
    if (&old_primary == &standby)
      throw StateError("FailoverGuard: the same node was given twice; expected a primary and "
                       "one of its standbys", old_primary.name());
    Role ro = old_primary.role();
    if (ro != Role::Primary)
      throw StateError("FailoverGuard: the first node must be a running primary; it is " +
                           std::string(to_string(ro)),
                       old_primary.name());
    Role rs = standby.role();
    if (rs != Role::Standby)
      throw StateError("FailoverGuard: the second node must be a running standby; it is " +
                           std::string(to_string(rs)),
                       standby.name());
    if (standby.state().server().frozen())
      throw StateError("FailoverGuard: the second node is frozen and could not be promoted; "
                       "expected it thawed (thaw()) before the failover", standby.name());
    old_primary.stop(mode);
    try {
      standby.promote();
    } catch (...) {
      // The promote's own exception goes on, as its own type with its own fields (a
      // QueryError keeps its SQLSTATE), with what the guard did in front of its message.
      std::exception_ptr failed = std::current_exception();
      std::string undo;
      try {
        old_primary.start();
        undo = "; " + old_primary.name() + " was started again and is still the primary";
      } catch (const std::exception& e2) {
        undo = "; starting " + old_primary.name() + " again also failed: " + e2.what();
      }
      try {
        std::rethrow_exception(failed);
      } catch (Error& e) {
        detail::ErrorAccess::prepend(e, "FailoverGuard: promoting " + standby.name() + " failed" + undo + ": ");
        throw;
      }
    }
    if (detail::events_on())
      detail::emit(standby.name(), "failover", "failover from " + old_primary.name() + " done: " + standby.name() + " is the primary",
                   {}, {{"peer", old_primary.name()}});
  }
  FailoverGuard(const FailoverGuard&) = delete;
  FailoverGuard& operator=(const FailoverGuard&) = delete;
  /// Rejoins the old primary unless rejoin() already ran; never throws, whatever state it
  /// finds (moved-from or destroyed nodes included): a failure is an "error" event.
  ~FailoverGuard() {
    if (done_) return;
    try {
      rejoin();
    } catch (const std::exception& e) {
      report(e.what());
    } catch (...) {
      report("unknown exception");
    }
  }
  /// Rejoins the old primary as a standby of the promoted node now; throws on failure
  /// (StateError if either node was destroyed or moved from).
  RejoinMethod rejoin() {
    done_ = true;
    auto old_state = old_.pin("FailoverGuard::rejoin()");
    auto new_state = new_.pin("FailoverGuard::rejoin()");
    method_ = detail::rejoin_step(*old_state, *new_state);
    rejoined_ = true;
    return method_;
  }
  /// The promoted node. StateError if it was destroyed (valid while the Node object lives
  /// where it was when the guard was made).
  Node& new_primary() {
    check(new_, "new_primary()");
    return *new_node_;
  }
  /// The node that was stopped. StateError if it was destroyed.
  Node& old_primary() {
    check(old_, "old_primary()");
    return *old_node_;
  }
  /// How the old primary was brought back (valid after rejoin(); Resumed before: see
  /// has_rejoined()).
  RejoinMethod method() const noexcept { return method_; }
  /// Whether the guard's rejoin ran and succeeded.
  bool has_rejoined() const noexcept { return rejoined_; }
  /// How the old primary was brought back, or empty while it has not been.
  std::optional<RejoinMethod> rejoined_method() const noexcept {
    return rejoined_ ? std::optional<RejoinMethod>(method_) : std::nullopt;
  }

private:
  // A handle whose node is gone (or moved from: its state went with the move, and the
  // Node object here may be gone) is a StateError.
  void check(const detail::NodeRef& r, const char* what) const {
    if (!r.alive())
      throw StateError(std::string("FailoverGuard::") + what + ": node " + r.name() +
                           " was destroyed; expected it to outlive the guard",
                       r.name());
  }
  void report(const char* what) noexcept {
    try {
      std::string line = "FailoverGuard could not rejoin " + old_.name() + " to " + new_.name() + ": " + what;
      if (detail::events_on()) detail::emit(old_.name(), "error", line, {}, {{"peer", new_.name()}});
      std::cerr << "pgha: " << line << "\n";
    } catch (...) {
    }
  }
  Node* old_node_;  // only for old_primary()/new_primary(), after a liveness check
  Node* new_node_;
  detail::NodeRef old_{old_node_->state()};
  detail::NodeRef new_{new_node_->state()};
  bool done_ = false;
  bool rejoined_ = false;
  RejoinMethod method_ = RejoinMethod::Resumed;
};

}  // namespace pgha
