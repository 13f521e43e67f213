// pgha/failover_guard.hpp: a failover for the length of a scope. Like a transaction that
// rolls back in its destructor, the guard restores the topology on scope exit: the old
// primary comes back as a standby of the promoted one.
#pragma once

#include "pgha/build_mode.hpp"

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
  FailoverGuard(Node& old_primary, Node& standby, StopMode mode = StopMode::Fast);
  FailoverGuard(const FailoverGuard&) = delete;
  FailoverGuard& operator=(const FailoverGuard&) = delete;
  /// Rejoins the old primary unless rejoin() already ran; never throws, whatever state it
  /// finds (moved-from nodes included).
  ~FailoverGuard();
  /// Rejoins the old primary as a standby of the promoted node now; throws on failure.
  RejoinMethod rejoin();
  /// The promoted node.
  Node& new_primary() noexcept;
  /// The node that was stopped.
  Node& old_primary() noexcept;
  /// How the old primary was brought back (valid after rejoin()).
  RejoinMethod method() const noexcept;

private:
  // Rethrows `e` as its own type with `context` in front of its message.
  [[noreturn]] static void rethrow_with(const Error& e, const std::string& context);
  static std::string safe_name(Node* n) noexcept;
  void report(const char* what) noexcept;
  Node* old_;
  Node* new_;
  bool done_ = false;
  RejoinMethod method_ = RejoinMethod::Resumed;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/failover_guard.ipp"
#endif
