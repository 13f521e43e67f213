// pgha/catch2.hpp: Catch2 fixtures for pgha (Catch2 v2 <catch2/catch.hpp> or v3
// <catch2/catch_all.hpp>, picked with __has_include). Optional: the core (pgha/pgha.hpp)
// does not depend on any test framework; this header does not define CATCH_CONFIG_MAIN.
//
//   TEST_CASE_METHOD(pgha::catch2::PrimaryFixture, "...") { primary.execute("..."); }
//   TEST_CASE_METHOD(pgha::catch2::ClusterFixture<2>, "...") { standbys[1].query("..."); }
//   TEST_CASE("...") { auto& c = pgha::catch2::shared_cluster(); c.reset(); c.primary()...; }
//
// Server logs on failure: fixtures (and the shared cluster) register their nodes in a
// small thread-safe registry. An event listener prints the last 30 log lines of every
// registered node on the first failed assertion of a test case (and the logs of nodes
// destroyed by an escaping exception at the end of that test case). The listener is
// registered with CATCH_REGISTER_LISTENER, which defines a static object, so it is
// registered only in the ONE translation unit that defines PGHA_CATCH2_IMPLEMENT before
// including this header:
//
//   #define PGHA_CATCH2_IMPLEMENT   // in exactly one .cpp of the test binary
//   #include <pgha/catch2.hpp>
//
// Every other TU includes <pgha/catch2.hpp> without the macro. PGHA_CATCH2_LOG_LINES
// (default 30) sets the number of lines printed per node.
#pragma once

#if __has_include(<catch2/catch_all.hpp>)
#include <catch2/catch_all.hpp>
#include <catch2/reporters/catch_reporter_event_listener.hpp>
#include <catch2/reporters/catch_reporter_registrars.hpp>
#define PGHA_CATCH2_V3 1
#elif __has_include(<catch2/catch.hpp>)
// v2: the listener base classes are only declared with CATCH_CONFIG_EXTERNAL_INTERFACES,
// so include this header before any other inclusion of <catch2/catch.hpp> in a TU (or
// define CATCH_CONFIG_EXTERNAL_INTERFACES yourself).
#ifndef CATCH_CONFIG_EXTERNAL_INTERFACES
#define CATCH_CONFIG_EXTERNAL_INTERFACES
#endif
#include <catch2/catch.hpp>
#define PGHA_CATCH2_V3 0
#else
#error "pgha/catch2.hpp needs Catch2 (v2 <catch2/catch.hpp> or v3 <catch2/catch_all.hpp>)"
#endif

#include <array>
#include <cstddef>
#include <exception>
#include <iostream>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

#include "pgha/pgha.hpp"

#ifndef PGHA_CATCH2_LOG_LINES
#define PGHA_CATCH2_LOG_LINES 30
#endif

#include "pgha/shared_cluster.hpp"  // framework-free SharedCluster
// ---------------------------------------------------------------------------------------

namespace pgha {
namespace catch2 {

/// Thread-safe registry of the nodes whose logs are printed when a test case fails.
class NodeRegistry {
public:
  static NodeRegistry& instance() {
    static NodeRegistry r;
    return r;
  }
  void add(const Node* n) {
    std::lock_guard<std::mutex> l(m_);
    nodes_.push_back(n);
  }
  /// Removes a node. When an exception is escaping (the test is failing), its log tail is
  /// kept and printed at the end of the test case: the node directory is about to go.
  void remove(const Node* n) {
    std::string keep;
    if (std::uncaught_exceptions() > 0) keep = snapshot(*n);
    std::lock_guard<std::mutex> l(m_);
    for (auto it = nodes_.begin(); it != nodes_.end(); ++it)
      if (*it == n) { nodes_.erase(it); break; }
    if (!keep.empty()) kept_.push_back(std::move(keep));
  }
  /// Log tails of all registered nodes, plus kept ones (cleared).
  std::string dump(int lines = PGHA_CATCH2_LOG_LINES) {
    std::lock_guard<std::mutex> l(m_);
    std::string out;
    for (auto& k : kept_) out += k;
    kept_.clear();
    for (const Node* n : nodes_) out += snapshot(*n, lines);
    return out;
  }
  /// Only the kept log tails (cleared).
  std::string take_kept() {
    std::lock_guard<std::mutex> l(m_);
    std::string out;
    for (auto& k : kept_) out += k;
    kept_.clear();
    return out;
  }
  std::size_t size() {
    std::lock_guard<std::mutex> l(m_);
    return nodes_.size();
  }
  void clear_kept() {
    std::lock_guard<std::mutex> l(m_);
    kept_.clear();
  }

  static std::string snapshot(const Node& n, int lines = PGHA_CATCH2_LOG_LINES) {
    std::string out = "---- pgha: last " + std::to_string(lines) + " log lines of " + n.name();
    try {
      out += " (port " + std::to_string(n.port()) + ", " + n.log_file() + ") ----\n";
      std::string t = n.log_tail(lines);
      out += t;
      if (!t.empty() && t.back() != '\n') out += '\n';
    } catch (const std::exception& e) {
      out += " ---- (log unavailable: " + std::string(e.what()) + ")\n";
    }
    return out;
  }

private:
  std::mutex m_;
  std::vector<const Node*> nodes_;
  std::vector<std::string> kept_;
};

/// RAII registration of a node in the NodeRegistry.
class LogRegistration {
public:
  explicit LogRegistration(const Node& n) : n_(&n) { NodeRegistry::instance().add(n_); }
  LogRegistration(const LogRegistration&) = delete;
  LogRegistration& operator=(const LogRegistration&) = delete;
  ~LogRegistration() { NodeRegistry::instance().remove(n_); }

private:
  const Node* n_;
};

/// TEST_CASE_METHOD fixture: one fresh primary per test case.
struct PrimaryFixture {
  TempPrimary primary;
  PrimaryFixture() : primary(), reg_(primary) {}
  explicit PrimaryFixture(Options opts) : primary(std::move(opts)), reg_(primary) {}

private:
  LogRegistration reg_;
};

/// synchronous_standby_names of a ClusterFixture with n standbys.
inline std::string cluster_sync_names(std::size_t n) {
  std::string names = "FIRST " + std::to_string(n) + " (";
  for (std::size_t i = 1; i <= n; ++i) names += "standby" + std::to_string(i) + ", ";
  return names + "primary)";
}

/// TEST_CASE_METHOD fixture: a fresh primary with N synchronous standbys (N >= 1) named
/// (application_name) standby1..standbyN; the primary's own application_name is "primary".
/// synchronous_standby_names (on every node, so it survives a failover) is
/// "FIRST N (standby1, ..., standbyN, primary)": every standby is `sync`, and a commit on
/// the primary returns once all N applied it (remote_apply). After a failover to standbyK,
/// the old primary rejoining as "primary" is again a listed sync standby.
template <std::size_t N>
struct ClusterFixture {
  static_assert(N >= 1, "ClusterFixture needs at least one standby");
  TempPrimary primary;
  std::vector<TempStandby> standbys;

  ClusterFixture() : ClusterFixture(Options{}) {}
  explicit ClusterFixture(Options opts) : primary(primary_options(opts)) {
    regs_.push_back(std::make_unique<LogRegistration>(primary));
    standbys.reserve(N);
    for (std::size_t i = 1; i <= N; ++i) {
      Options so = primary.options();
      so.name.clear();
      so.port = 0;
      so.application_name = "standby" + std::to_string(i);
      standbys.emplace_back(primary, so);
      regs_.push_back(std::make_unique<LogRegistration>(standbys.back()));
    }
  }
  ~ClusterFixture() {
    // Unregister before the nodes go (members are destroyed in reverse order anyway).
    regs_.clear();
  }

private:
  static Options primary_options(Options o) {
    o.settings["synchronous_standby_names"] = cluster_sync_names(N);
    if (o.application_name.empty()) o.application_name = "primary";
    return o;
  }
  std::vector<std::unique_ptr<LogRegistration>> regs_;
};

/// The process-wide shared primary + standby, created on first use (its nodes' logs are
/// registered for failure reports) and destroyed at exit. Call reset() at the start of
/// each test case that uses it.
inline SharedCluster& shared_cluster() {
  struct Holder {
    SharedCluster cluster;
    LogRegistration r0, r1;
    Holder() : cluster(), r0(cluster.node(0)), r1(cluster.node(1)) {}
  };
  static Holder h;
  return h.cluster;
}

/// Catch2 event listener that prints the registered nodes' log tails on failure.
#if PGHA_CATCH2_V3
class LogListener : public Catch::EventListenerBase {
public:
  using Catch::EventListenerBase::EventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const&) override { begin(); }
  void assertionEnded(Catch::AssertionStats const& s) override { on_assertion(s); }
  void testCaseEnded(Catch::TestCaseStats const& s) override { on_end(s); }
#else
class LogListener : public Catch::TestEventListenerBase {
public:
  using Catch::TestEventListenerBase::TestEventListenerBase;
  void testCaseStarting(Catch::TestCaseInfo const& info) override {
    Catch::TestEventListenerBase::testCaseStarting(info);
    begin();
  }
  bool assertionEnded(Catch::AssertionStats const& s) override {
    on_assertion(s);
    return true;
  }
  void testCaseEnded(Catch::TestCaseStats const& s) override {
    on_end(s);
    Catch::TestEventListenerBase::testCaseEnded(s);
  }
#endif

private:
  void begin() {
    printed_ = false;
    NodeRegistry::instance().clear_kept();
  }
  void on_assertion(Catch::AssertionStats const& s) {
    if (s.assertionResult.isOk() || printed_) return;
    printed_ = true;
    print(NodeRegistry::instance().dump());
  }
  void on_end(Catch::TestCaseStats const& s) {
    std::string kept;
    // Nodes destroyed by an escaping exception were kept by the registry.
    if (s.totals.assertions.failed > 0) kept = printed_ ? kept_only() : NodeRegistry::instance().dump();
    NodeRegistry::instance().clear_kept();
    print(kept);
  }
  static std::string kept_only() { return NodeRegistry::instance().take_kept(); }
  static void print(const std::string& text) {
    if (text.empty()) return;
    std::cout << "\npgha: server logs of the nodes involved in the failing test case:\n"
              << text << std::flush;
  }
  bool printed_ = false;
};

}  // namespace catch2
}  // namespace pgha

#ifdef PGHA_CATCH2_IMPLEMENT
namespace pgha {
namespace catch2 {
CATCH_REGISTER_LISTENER(LogListener)
}  // namespace catch2
}  // namespace pgha
#endif
