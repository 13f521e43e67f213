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

// ---------------------------------------------------------------------------------------
// Framework-free shared cluster (identical in pgha/catch2.hpp and pgha/gtest.hpp; the
// guard makes including both headers fine).
#ifndef PGHA_DETAIL_SHARED_CLUSTER_DEFINED
#define PGHA_DETAIL_SHARED_CLUSTER_DEFINED
namespace pgha {

/// A primary and one synchronous standby that live for a whole test run and are reset
/// cheaply between tests: reset() repairs the topology (whichever node ends up primary)
/// and drops user objects. The roles of the two nodes may swap over the run: always ask
/// primary() / standby() after reset().
class SharedCluster {
public:
  explicit SharedCluster(Options opts = {}) {
    initial_mode_ = opts.sync_mode;
    auto p = std::make_unique<TempPrimary>(opts);
    auto s = std::make_unique<TempStandby>(*p);
    nodes_[0] = std::move(p);
    nodes_[1] = std::move(s);
  }
  SharedCluster(const SharedCluster&) = delete;
  SharedCluster& operator=(const SharedCluster&) = delete;

  /// The node that currently is the primary (asks the servers). Throws StateError if none.
  Node& primary() {
    for (auto& n : nodes_)
      if (n->role() == Role::Primary) return *n;
    throw StateError("shared cluster: no node is a running primary; call reset()", "shared");
  }
  /// The node that currently is the standby (asks the servers). Throws StateError if none.
  Node& standby() {
    for (auto& n : nodes_)
      if (n->role() == Role::Standby) return *n;
    throw StateError("shared cluster: no node is a running standby; call reset()", "shared");
  }
  /// Both nodes, in creation order (roles may have swapped).
  Node& node(int i) { return *nodes_.at(static_cast<std::size_t>(i)); }

  /// Restores "one running primary + one streaming sync standby of it" and drops user
  /// objects: every non-system schema (public is re-created) and every database other than
  /// postgres/template0/template1. Cheap when the topology is intact.
  void reset() {
    Node& a = *nodes_[0];
    Node& b = *nodes_[1];
    for (Node* n : {&a, &b}) {
      if (!n->is_running()) continue;
      try { n->thaw(); } catch (const std::exception&) {}
    }
    try { if (b.is_running()) b.heal_link(); } catch (const std::exception&) {}
    try { if (a.is_running()) a.heal_link(); } catch (const std::exception&) {}
    Role ra = a.role(), rb = b.role();
    if (ra == Role::Stopped && rb == Role::Stopped) { a.start(); ra = a.role(); }
    if (ra == Role::Stopped && rb == Role::Standby) { b.promote(); rb = Role::Primary; }
    if (rb == Role::Stopped && ra == Role::Standby) { a.promote(); ra = Role::Primary; }
    if (ra == Role::Standby && rb == Role::Standby) { a.promote(); ra = Role::Primary; }
    Node* p = (ra == Role::Primary) ? &a : &b;
    Node* s = (p == &a) ? &b : &a;
    if (p->options().sync_mode != initial_mode_) p->set_sync_mode(initial_mode_);
    if (!healthy(*p, *s)) s->rejoin(*p);
    try {
      if (s->query("SELECT pg_is_wal_replay_paused()").value(0, 0) == "t") s->resume_replay();
    } catch (const std::exception&) {}
    // Drop user objects without waiting for the standby on each commit.
    Connection c = p->connect();
    c.execute("SET synchronous_commit = local");
    Result dbs = c.query("SELECT quote_ident(datname) FROM pg_database "
                         "WHERE datname NOT IN ('postgres', 'template0', 'template1')");
    for (int i = 0; i < dbs.rows(); ++i)
      c.execute("DROP DATABASE IF EXISTS " + dbs.value(i, 0) +
                (p->server_version_num() >= 130000 ? " WITH (FORCE)" : ""));
    c.execute(
        "BEGIN; "
        "DO $pgha$ DECLARE r record; BEGIN "
        "FOR r IN SELECT nspname FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%' "
        "AND nspname NOT IN ('information_schema', 'public') LOOP "
        "EXECUTE format('DROP SCHEMA %I CASCADE', r.nspname); END LOOP; END $pgha$; "
        "DROP SCHEMA IF EXISTS public CASCADE; CREATE SCHEMA public; "
        "GRANT ALL ON SCHEMA public TO PUBLIC; COMMIT");
    p->wait_for_catchup(*s);
  }

private:
  static bool healthy(Node& p, Node& s) {
    try {
      if (s.role() != Role::Standby) return false;
      Result w = s.query("SELECT status FROM pg_stat_wal_receiver");
      if (!w.rows() || w.value(0, 0) != "streaming") return false;
      Result r = p.query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                         "AND sync_state IN ('sync', 'quorum') AND application_name = '" +
                         (s.options().application_name.empty() ? std::string("pgslave001")
                                                               : s.options().application_name) +
                         "'");
      return r.value(0, 0) == "1";
    } catch (const std::exception&) {
      return false;
    }
  }
  std::array<std::unique_ptr<Node>, 2> nodes_;
  SyncMode initial_mode_ = SyncMode::RemoteApply;
};

}  // namespace pgha
#endif  // PGHA_DETAIL_SHARED_CLUSTER_DEFINED
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

/// A fresh primary plus one synchronous standby per test (application_name "standby1").
class ClusterTest : public ::testing::Test {
protected:
  std::unique_ptr<TempPrimary> primary_;
  std::unique_ptr<TempStandby> standby_;
  virtual Options primary_options() { return Options{}; }
  TempPrimary& primary() { return *primary_; }
  TempStandby& standby() { return *standby_; }
  void SetUp() override {
    primary_ = std::make_unique<TempPrimary>(primary_options());
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
