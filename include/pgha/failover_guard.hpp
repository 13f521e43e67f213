// pgha/failover_guard.hpp: a failover for the length of a scope. Like a transaction that
// rolls back in its destructor, the guard restores the topology on scope exit: the old
// primary comes back as a standby of the promoted one.
#pragma once

#include <iostream>

#include "pgha/node.hpp"

namespace pgha {

/// Stops `old_primary` (StopMode::Fast by default, or Immediate/Crash to model a failure)
/// and promotes `standby`. On scope exit the old primary rejoins as a standby of the new
/// primary. Call rejoin() to do that explicitly and see errors; the destructor never
/// throws: it logs a failure to stderr.
class FailoverGuard {
public:
  /// Fails over from old_primary to standby; throws if the stop or the promote fails.
  FailoverGuard(Node& old_primary, Node& standby, StopMode mode = StopMode::Fast)
      : old_(&old_primary), new_(&standby) {
    if (old_primary.role() != Role::Primary)
      throw StateError("FailoverGuard: the first node must be a running primary; it is " +
                           std::string(to_string(old_primary.role())),
                       old_primary.name());
    if (standby.role() != Role::Standby)
      throw StateError("FailoverGuard: the second node must be a running standby; it is " +
                           std::string(to_string(standby.role())),
                       standby.name());
    old_primary.stop(mode);
    standby.promote();
  }
  FailoverGuard(const FailoverGuard&) = delete;
  FailoverGuard& operator=(const FailoverGuard&) = delete;
  /// Rejoins the old primary unless rejoin() already ran; never throws.
  ~FailoverGuard() {
    if (done_) return;
    try {
      rejoin();
    } catch (const std::exception& e) {
      std::cerr << "pgha: FailoverGuard could not rejoin " << old_->name() << " to "
                << new_->name() << ": " << e.what() << "\n";
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
  Node* old_;
  Node* new_;
  bool done_ = false;
  RejoinMethod method_ = RejoinMethod::Resumed;
};

}  // namespace pgha
