// pgha/failover_guard.hpp: a failover for the length of a scope. Like a transaction that
// rolls back in its destructor, the guard restores the topology on scope exit: the old
// primary comes back as a standby of the promoted one.
#pragma once

#include <exception>
#include <iostream>
#include <string>

#include "pgha/node.hpp"

namespace pgha {

/// Stops `old_primary` (StopMode::Fast by default, or Immediate/Crash to model a failure)
/// and promotes `standby`. On scope exit the old primary rejoins as a standby of the new
/// primary. Call rejoin() to do that explicitly and see errors; the destructor never
/// throws: it logs a failure to stderr.
///
/// A frozen primary (freeze()) can be failed over in any stop mode:
/// `FailoverGuard(frozen, standby, StopMode::Crash)` models a hung primary.
class FailoverGuard {
public:
  /// Fails over from old_primary to standby; throws if the stop or the promote fails. If
  /// the promote fails, the old primary is started again (as the primary) and the error
  /// says whether that worked.
  FailoverGuard(Node& old_primary, Node& standby, StopMode mode = StopMode::Fast)
      : old_(&old_primary), new_(&standby) {
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
    } catch (const Error& e) {
      std::string undo;
      try {
        old_primary.start();
        undo = "; " + old_primary.name() + " was started again and is still the primary";
      } catch (const std::exception& e2) {
        undo = "; starting " + old_primary.name() + " again also failed: " + e2.what();
      }
      rethrow_with(e, "FailoverGuard: promoting " + standby.name() + " failed" + undo);
    }
    if (detail::events_on())
      detail::emit(standby.name(), "failover", "failover from " + old_primary.name() + " done: " + standby.name() + " is the primary",
                   {}, {{"peer", old_primary.name()}});
  }
  FailoverGuard(const FailoverGuard&) = delete;
  FailoverGuard& operator=(const FailoverGuard&) = delete;
  /// Rejoins the old primary unless rejoin() already ran; never throws, whatever state it
  /// finds (moved-from nodes included).
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
  /// Rejoins the old primary as a standby of the promoted node now; throws on failure.
  RejoinMethod rejoin() {
    done_ = true;
    method_ = old_->rejoin(*new_);
    return method_;
  }
  /// The promoted node.
  Node& new_primary() noexcept { return *new_; }
  /// The node that was stopped.
  Node& old_primary() noexcept { return *old_; }
  /// How the old primary was brought back (valid after rejoin()).
  RejoinMethod method() const noexcept { return method_; }

private:
  // Rethrows `e` as its own type with `context` in front of its message.
  [[noreturn]] static void rethrow_with(const Error& e, const std::string& context) {
    std::string msg = context + ": " + e.message();
    if (dynamic_cast<const TimeoutError*>(&e)) throw TimeoutError(msg, e.node(), e.log_tail());
    if (dynamic_cast<const StateError*>(&e)) throw StateError(msg, e.node(), e.log_tail());
    if (dynamic_cast<const SetupError*>(&e)) throw SetupError(msg, e.node(), e.log_tail());
    throw Error(msg, e.node(), e.log_tail());
  }
  static std::string safe_name(Node* n) noexcept {
    try {
      return n->name();
    } catch (...) {
      return "(a moved-from node)";
    }
  }
  void report(const char* what) noexcept {
    try {
      std::cerr << "pgha: FailoverGuard could not rejoin " << safe_name(old_) << " to "
                << safe_name(new_) << ": " << what << "\n";
    } catch (...) {
    }
  }
  Node* old_;
  Node* new_;
  bool done_ = false;
  RejoinMethod method_ = RejoinMethod::Resumed;
};

}  // namespace pgha
