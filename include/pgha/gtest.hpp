// pgha/gtest.hpp: GoogleTest fixtures for pgha, and server logs when a test fails.
// Optional: the core (pgha/pgha.hpp) does not depend on any test framework.
//
//   using PrimaryTest = pgha::gtest::PrimaryTest;
//   TEST_F(PrimaryTest, X) { primary().execute("..."); }
//   class MyClusterTest : public pgha::gtest::ClusterTest {};  // primary + 1 sync standby
//   TEST_F(MyClusterTest, Y) { standby().query("..."); }
//   // shared per test run (register once, e.g. in main, before RUN_ALL_TESTS()):
//   ::testing::AddGlobalTestEnvironment(new pgha::gtest::SharedClusterEnvironment);
//   using SharedClusterTest = pgha::gtest::SharedClusterTest;  // TEST_F takes a plain name
//   TEST_F(SharedClusterTest, Z) { cluster().primary().execute("..."); }
//
// Server logs on failure: including this header appends a test event listener (before
// main runs). When a test fails, it prints on stderr the last PGHA_GTEST_LOG_LINES (default
// 30) log lines of every pgha node alive in the process (fixture or not: a TempPrimary made
// in a plain TEST counts) and of every node destroyed during that test, each named by its
// server port, after the test's event timeline (pgha/events.hpp: every step pgha took
// during it, with durations): after gtest's failure messages, before its "[  FAILED  ]" line.
#pragma once

#include <gtest/gtest.h>

#include <cstddef>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

#include "pgha/detail/failure_report.hpp"
#include "pgha/error.hpp"
#include "pgha/options.hpp"
#include "pgha/primary.hpp"
#include "pgha/shared_cluster.hpp"  // framework-free SharedCluster
#include "pgha/standby.hpp"

// Deprecated: this header also includes all of pgha (<pgha/pgha.hpp>), which it does not
// use. Define PGHA_NO_UMBRELLA to get only what it uses (the fixtures' classes) and include
// the rest yourself; the umbrella include goes away in a later release (CHANGELOG.md,
// Deprecated).
#ifndef PGHA_NO_UMBRELLA
#include "pgha/pgha.hpp"
#endif

#ifndef PGHA_GTEST_LOG_LINES
#define PGHA_GTEST_LOG_LINES 30
#endif

namespace pgha {
namespace gtest {

/// A fresh primary per test, created in SetUp (a setup failure fails the test).
class PrimaryTest : public ::testing::Test {
protected:
  /// Options used for the primary; override to customize.
  virtual Options primary_options() { return Options{}; }
  /// The primary.
  TempPrimary& primary() { return *primary_; }
  void SetUp() override { primary_ = std::make_unique<TempPrimary>(primary_options()); }
  void TearDown() override { primary_.reset(); }

private:
  std::unique_ptr<TempPrimary> primary_;
};

/// A fresh primary plus one synchronous standby per test: application_name "standby1"
/// (the primary's is "primary"), synchronous_standby_names "FIRST 1 (standby1, primary)".
class ClusterTest : public ::testing::Test {
protected:
  /// Options used for the primary (the standby copies them); override to customize.
  virtual Options primary_options() { return Options{}; }
  /// The node created as the primary (after a failover it may be a standby).
  TempPrimary& primary() { return *primary_; }
  /// The i-th standby, 0-based; this fixture has one. Throws std::out_of_range otherwise.
  TempStandby& standby(std::size_t i = 0) {
    if (i >= standby_count()) throw std::out_of_range("ClusterTest has one standby, standby(0)");
    return *standby_;
  }
  /// The number of standbys (1).
  static constexpr std::size_t standby_count() { return 1; }
  void SetUp() override {
    Options po = primary_options();
    // Listed on every node, so the old primary ("primary") is a sync standby after a failover.
    po.settings["synchronous_standby_names"] = "FIRST 1 (standby1, primary)";
    if (po.application_name.empty()) po.application_name = "primary";
    primary_ = std::make_unique<TempPrimary>(po);
    Options so = primary_->options();
    so.name.clear();
    so.port = 0;
    so.application_name = "standby1";
    standby_ = std::make_unique<TempStandby>(*primary_, so);
  }
  void TearDown() override {
    standby_.reset();
    primary_.reset();
  }

private:
  std::unique_ptr<TempPrimary> primary_;
  std::unique_ptr<TempStandby> standby_;
};

/// A primary + sync standby shared by the whole test run: created in SetUp, destroyed in
/// TearDown. Register it once: ::testing::AddGlobalTestEnvironment(new SharedClusterEnvironment).
class SharedClusterEnvironment : public ::testing::Environment {
public:
  explicit SharedClusterEnvironment(Options opts = {}) : opts_(std::move(opts)) {}
  void SetUp() override { slot() = std::make_unique<SharedCluster>(opts_); }
  void TearDown() override { slot().reset(); }
  /// The shared cluster; throws StateError if the environment is not set up.
  static SharedCluster& cluster() {
    if (!slot())
      throw StateError("SharedClusterEnvironment is not set up; register it with "
                       "::testing::AddGlobalTestEnvironment", "shared");
    return *slot();
  }
  /// Whether the environment is set up.
  static bool available() { return static_cast<bool>(slot()); }

private:
  static std::unique_ptr<SharedCluster>& slot() {
    static std::unique_ptr<SharedCluster> c;
    return c;
  }
  Options opts_;
};

/// Test fixture on the shared cluster: reset() in SetUp; cluster().primary() and
/// cluster().standby() are the current roles.
class SharedClusterTest : public ::testing::Test {
protected:
  /// The shared cluster (see SharedClusterEnvironment).
  SharedCluster& cluster() { return SharedClusterEnvironment::cluster(); }
  void SetUp() override { cluster().reset(); }
};

namespace detail {

/// Prints the server logs of a failed test (see the top of this header). gtest calls the
/// OnTestEnd of listeners in reverse order of registration: this one runs before the
/// default printer's "[  FAILED  ]" line, after the failure messages it printed.
class LogListener : public ::testing::EmptyTestEventListener {
public:
  void OnTestStart(const ::testing::TestInfo&) override {
    pgha::detail::failure_logs().begin_test();
  }
  void OnTestEnd(const ::testing::TestInfo& info) override {
    const ::testing::TestResult* r = info.result();
    pgha::detail::FailureLogs::print(pgha::detail::failure_logs().end_test(r && r->Failed()));
  }
};

// Appended once per program, whichever TUs include this header (one inline variable).
inline const bool log_listener_appended = [] {
  pgha::detail::failure_logs().set_lines(PGHA_GTEST_LOG_LINES);
  ::testing::UnitTest::GetInstance()->listeners().Append(new LogListener);
  return true;
}();

}  // namespace detail
}  // namespace gtest
}  // namespace pgha
