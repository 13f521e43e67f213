// pgha/catch2.hpp: Catch2 fixtures for pgha, and server logs when a test case fails.
// Works with Catch2 v2 (<catch2/catch.hpp>) and v3 (<catch2/catch_all.hpp>), in any number
// of translation units, before or after your own Catch2 include, with no macro to define.
// It does not define a main: link Catch2's main (or your own runner) as usual.
//
//   #include <pgha/catch2.hpp>
//   TEST_CASE_METHOD(pgha::catch2::PrimaryFixture, "...") { primary().execute("..."); }
//   TEST_CASE_METHOD(pgha::catch2::ClusterFixture<2>, "...") { standby(1).query("..."); }
//   TEST_CASE("...") { auto& c = pgha::catch2::shared_cluster(); c.reset(); c.primary()...; }
//
// Server logs on failure: when a test case fails, an event listener prints on stderr, after
// Catch2's own report of the failure, the last PGHA_CATCH2_LOG_LINES (default 30) log lines
// of every pgha node alive in the process (fixture or not: a TempPrimary made in a plain
// TEST_CASE counts) and of every node destroyed during that test case, each named by its
// server port, after the test case's event timeline (pgha/events.hpp: every step pgha took
// during it, with durations). stdout (where a JUnit/XML reporter may write) gets none of it.
//
// Catch2 v2 declares the listener API only in translation units that define
// CATCH_CONFIG_EXTERNAL_INTERFACES (or CATCH_CONFIG_MAIN/RUNNER) before <catch2/catch.hpp>.
// This header defines that macro when it is the first to include Catch2; in a TU where
// <catch2/catch.hpp> came first without it, it provides the fixtures only and relies on
// another TU of the program (one that included this header first, or the TU with
// CATCH_CONFIG_MAIN/RUNNER that includes it anywhere) to register the listener, once for
// the whole program. If no TU of the program could, a note on stderr at start-up says so
// (GCC and Clang: it checks a weak symbol that only the registering TUs define).
#pragma once

// Which Catch2: the one already included decides; __has_include only if none is.
#if defined(CATCH_VERSION_MAJOR)
#if CATCH_VERSION_MAJOR >= 3
#define PGHA_DETAIL_CATCH2_V3 1
#else
#define PGHA_DETAIL_CATCH2_V3 0
#endif
#elif defined(TWOBLUECUBES_SINGLE_INCLUDE_CATCH_HPP_INCLUDED)
#define PGHA_DETAIL_CATCH2_V3 0
#elif defined(CATCH_USER_CONFIG_HPP_INCLUDED) || defined(CATCH_TEST_MACROS_HPP_INCLUDED) || \
    defined(CATCH_SESSION_HPP_INCLUDED)
#define PGHA_DETAIL_CATCH2_V3 1
#elif __has_include(<catch2/catch_all.hpp>)
#define PGHA_DETAIL_CATCH2_V3 1
#elif __has_include(<catch2/catch.hpp>)
#define PGHA_DETAIL_CATCH2_V3 0
#else
#error "pgha/catch2.hpp needs Catch2 (v2 <catch2/catch.hpp> or v3 <catch2/catch_all.hpp>)"
#endif

#if PGHA_DETAIL_CATCH2_V3
// (Without catch_all.hpp on the path, the amalgamated v3 header was included: it has all.)
#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_test_macros.hpp>  // TEST_CASE_METHOD for the fixtures
#include <catch2/reporters/catch_reporter_event_listener.hpp>
#include <catch2/reporters/catch_reporter_registrars.hpp>
#ifndef PGHA_NO_UMBRELLA  // deprecated: see below
#include <catch2/catch_all.hpp>
#endif
#endif
#define PGHA_DETAIL_CATCH2_LISTENER 1
#else
// Already included (perhaps from a vendored "catch.hpp"): its guard makes a second include
// a no-op, so include only if it is not.
#ifndef TWOBLUECUBES_SINGLE_INCLUDE_CATCH_HPP_INCLUDED
#ifndef CATCH_CONFIG_EXTERNAL_INTERFACES
#define CATCH_CONFIG_EXTERNAL_INTERFACES  // we include Catch2 first: ask for the listener API
#endif
#include <catch2/catch.hpp>
#endif
// CATCH_REGISTER_LISTENER is defined exactly when v2 declared its reporter interfaces here.
#ifdef CATCH_REGISTER_LISTENER
#define PGHA_DETAIL_CATCH2_LISTENER 1
#else
#define PGHA_DETAIL_CATCH2_LISTENER 0
#endif
#endif

#include <cstddef>
#include <iostream>
#include <string>
#include <utility>
#include <vector>

#include "pgha/detail/failure_report.hpp"
#include "pgha/options.hpp"
#include "pgha/primary.hpp"
#include "pgha/shared_cluster.hpp"  // framework-free SharedCluster
#include "pgha/standby.hpp"

// Deprecated: this header also includes all of pgha (<pgha/pgha.hpp>) and, with Catch2 v3,
// all of Catch2 (<catch2/catch_all.hpp>), which it does not use. Define PGHA_NO_UMBRELLA to
// get only what it uses (the fixtures' classes, and Catch2 v3's test macros) and include the
// rest yourself; the umbrella includes go away in a later release (CHANGELOG.md, Deprecated).
#ifndef PGHA_NO_UMBRELLA
#include "pgha/pgha.hpp"
#endif

#ifndef PGHA_CATCH2_LOG_LINES
#define PGHA_CATCH2_LOG_LINES 30
#endif

namespace pgha {
namespace catch2 {

/// TEST_CASE_METHOD fixture: one fresh primary per test case, as primary().
class PrimaryFixture {
public:
  PrimaryFixture() : PrimaryFixture(Options{}) {}
  explicit PrimaryFixture(Options opts) : primary_(std::move(opts)) {}
  /// The primary (application_name as in the options).
  TempPrimary& primary() { return primary_; }

private:
  TempPrimary primary_;
};

/// synchronous_standby_names of a ClusterFixture with n standbys.
inline std::string cluster_sync_names(std::size_t n) {
  std::string names = "FIRST " + std::to_string(n) + " (";
  for (std::size_t i = 1; i <= n; ++i) names += "standby" + std::to_string(i) + ", ";
  return names + "primary)";
}

/// TEST_CASE_METHOD fixture: a fresh primary and N synchronous standbys (N >= 1 standbys, so
/// N + 1 nodes). standby(i), i in [0, N), streams with application_name "standby<i+1>"; the
/// primary's application_name is "primary". synchronous_standby_names (set on every node, so
/// it survives a failover) is "FIRST N (standby1, ..., standbyN, primary)": every standby is
/// `sync`, and a commit on the primary returns once all N applied it (remote_apply). After a
/// failover to standby(k), the old primary rejoining as "primary" is again a sync standby.
template <std::size_t N>
class ClusterFixture {
  static_assert(N >= 1, "ClusterFixture<N> has N standbys; N must be at least 1");

public:
  ClusterFixture() : ClusterFixture(Options{}) {}
  explicit ClusterFixture(Options opts) : primary_(primary_options(std::move(opts))) {
    standbys_.reserve(N);
    for (std::size_t i = 1; i <= N; ++i) {
      Options so = primary_.options();
      so.name.clear();
      so.port = 0;
      so.application_name = "standby" + std::to_string(i);
      standbys_.emplace_back(primary_, so);
    }
  }
  /// The node created as the primary (after a failover it may be a standby).
  TempPrimary& primary() { return primary_; }
  /// The i-th standby, 0-based (application_name "standby<i+1>"); throws std::out_of_range.
  TempStandby& standby(std::size_t i = 0) { return standbys_.at(i); }
  /// The number of standbys, N.
  static constexpr std::size_t standby_count() { return N; }

private:
  static Options primary_options(Options o) {
    o.settings["synchronous_standby_names"] = cluster_sync_names(N);
    if (o.application_name.empty()) o.application_name = "primary";
    return o;
  }
  TempPrimary primary_;
  std::vector<TempStandby> standbys_;
};

/// The process-wide shared primary + standby, created on first use and destroyed at exit.
/// Call reset() at the start of each test case that uses it.
inline SharedCluster& shared_cluster() {
  static SharedCluster cluster;
  return cluster;
}

namespace detail {

#if PGHA_DETAIL_CATCH2_LISTENER
#if PGHA_DETAIL_CATCH2_V3
using ListenerBase = Catch::EventListenerBase;
#else
using ListenerBase = Catch::TestEventListenerBase;
#endif

/// Prints the server logs of a failed test case (see the top of this header).
class LogListener : public ListenerBase {
public:
  using ListenerBase::ListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    ListenerBase::testCaseStarting(info);
    pgha::detail::failure_logs().set_lines(PGHA_CATCH2_LOG_LINES);
    pgha::detail::failure_logs().begin_test();
  }
  // Listeners hear testCaseEnded before the reporter, after it printed the failures
  // (console, compact) or buffered them (JUnit, XML): our report comes after either.
  void testCaseEnded(Catch::TestCaseStats const& stats) override {
    bool failed = stats.totals.assertions.failed > 0;
    pgha::detail::FailureLogs::print(pgha::detail::failure_logs().end_test(failed));
    ListenerBase::testCaseEnded(stats);
  }
};

// One registration for the whole program, whichever TUs include this header: an inline
// variable is a single object, initialized once.
#if PGHA_DETAIL_CATCH2_V3
inline const Catch::ListenerRegistrar<LogListener> log_listener_registrar{"pgha-server-logs"};
#else
inline const Catch::ListenerRegistrar<LogListener> log_listener_registrar{};
#endif
#endif  // PGHA_DETAIL_CATCH2_LISTENER

}  // namespace detail
}  // namespace catch2
}  // namespace pgha

// Catch2 v2: whether any TU of the program registered the listener. A weak symbol,
// defined by the TUs that register it; TUs that cannot check for it at start-up.
#if defined(__GNUC__) && !PGHA_DETAIL_CATCH2_V3
#if PGHA_DETAIL_CATCH2_LISTENER
extern "C" __attribute__((weak)) void pgha_catch2_log_listener_registered() {}
#else
extern "C" __attribute__((weak)) void pgha_catch2_log_listener_registered();
namespace pgha {
namespace catch2 {
namespace detail {
inline const bool log_listener_checked = [] {
  if (&pgha_catch2_log_listener_registered == nullptr)
    std::cerr << "pgha: note: failing test cases will not show server logs: every translation "
                 "unit that includes <pgha/catch2.hpp> included <catch2/catch.hpp> (v2) before "
                 "it. Include <pgha/catch2.hpp> first in one of them, or in the file that "
                 "defines CATCH_CONFIG_MAIN or CATCH_CONFIG_RUNNER.\n";
  return true;
}();
}  // namespace detail
}  // namespace catch2
}  // namespace pgha
#endif
#endif
