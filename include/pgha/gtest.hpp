// pgha/gtest.hpp: GoogleTest fixtures for pgha. Optional: the core (pgha/pgha.hpp) does not
// depend on any test framework.
//
//   TEST_F(pgha::gtest::PrimaryTest, X) ...        // using MyTest = pgha::gtest::PrimaryTest;
//   class MyClusterTest : public pgha::gtest::ClusterTest {};   // primary + 1 sync standby
//   // shared per test run (register once, e.g. in main or with a static initializer):
//   ::testing::AddGlobalTestEnvironment(new pgha::gtest::SharedClusterEnvironment);
//   TEST_F(pgha::gtest::SharedClusterTest, Y) { cluster().primary().execute("..."); }
//
// Logs on failure: in TearDown, when the test HasFailure(), each fixture prints the last
// PGHA_GTEST_LOG_LINES (default 30) server log lines of its nodes to std::cout, right
// after gtest's failure messages and before "[  FAILED  ]".
#pragma once

#include <gtest/gtest.h>

#include <array>
#include <cstddef>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "pgha/pgha.hpp"

#ifndef PGHA_GTEST_LOG_LINES
#define PGHA_GTEST_LOG_LINES 30
#endif

#include "pgha/shared_cluster.hpp"  // framework-free SharedCluster
// ---------------------------------------------------------------------------------------

namespace pgha {
namespace gtest {

/// Prints the log tails of `nodes` to std::cout (null entries are skipped).
inline void print_logs(const std::vector<const Node*>& nodes, int lines = PGHA_GTEST_LOG_LINES) {
  std::string out = "pgha: server logs of the nodes involved in the failing test:\n";
  for (const Node* n : nodes) {
    if (!n) continue;
    out += "---- pgha: last " + std::to_string(lines) + " log lines of " + n->name();
    try {
      out += " (port " + std::to_string(n->port()) + ", " + n->log_file() + ") ----\n";
      std::string t = n->log_tail(lines);
      out += t;
      if (!t.empty() && t.back() != '\n') out += '\n';
    } catch (const std::exception& e) {
      out += " ---- (log unavailable: " + std::string(e.what()) + ")\n";
    }
  }
  std::cout << out << std::flush;
}

/// A fresh primary per test, created in SetUp (a setup failure fails the test).
class PrimaryTest : public ::testing::Test {
protected:
  std::unique_ptr<TempPrimary> primary_;
  /// Options used for the primary; override to customize.
  virtual Options primary_options() { return Options{}; }
  TempPrimary& primary() { return *primary_; }
  void SetUp() override { primary_ = std::make_unique<TempPrimary>(primary_options()); }
  void TearDown() override {
    if (HasFailure() && primary_) print_logs({primary_.get()});
    primary_.reset();
  }
};

/// A fresh primary plus one synchronous standby per test: application_name "standby1"
/// (the primary's is "primary"), synchronous_standby_names "FIRST 1 (standby1, primary)".
class ClusterTest : public ::testing::Test {
protected:
  std::unique_ptr<TempPrimary> primary_;
  std::unique_ptr<TempStandby> standby_;
  virtual Options primary_options() { return Options{}; }
  TempPrimary& primary() { return *primary_; }
  TempStandby& standby() { return *standby_; }
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
    if (HasFailure()) print_logs({primary_.get(), standby_.get()});
    standby_.reset();
    primary_.reset();
  }
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
  static bool available() { return static_cast<bool>(slot()); }

private:
  static std::unique_ptr<SharedCluster>& slot() {
    static std::unique_ptr<SharedCluster> c;
    return c;
  }
  Options opts_;
};

/// Test fixture on the shared cluster: reset() in SetUp, logs of both nodes on failure.
class SharedClusterTest : public ::testing::Test {
protected:
  SharedCluster& cluster() { return SharedClusterEnvironment::cluster(); }
  void SetUp() override { cluster().reset(); }
  void TearDown() override {
    if (HasFailure() && SharedClusterEnvironment::available())
      print_logs({&cluster().node(0), &cluster().node(1)});
  }
};

}  // namespace gtest
}  // namespace pgha
