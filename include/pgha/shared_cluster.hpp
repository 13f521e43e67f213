// pgha/shared_cluster.hpp: one primary + one synchronous standby shared by many test
// cases and reset between them (drop user schemas and databases, restore a healthy sync
// pair whatever the last test did to it): 17-85 ms instead of ~300 ms for a fresh pair.
// Framework-free; pgha/catch2.hpp and pgha/gtest.hpp wrap it.
#pragma once

#include <array>
#include <memory>
#include <string>
#include <vector>

#include "pgha/pgha.hpp"

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
      try { n->thaw(); } catch (const std::exception&) {}  // SIGCONT to all: walsender/-receiver too
    }
    // Every fault of the links, not only cuts: a delay, a bandwidth cap or a byte limit left
    // by the last test would slow (or, a limit, stall) every later one, and this reset too.
    for (Node* n : {&b, &a}) clear_link_faults(*n);
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
    drop_logical_replication(*p, c);
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
  // Lifts every fault of the node's replication link (a primary has none).
  static void clear_link_faults(Node& n) noexcept {
    try {
      if (!n.is_running() || n.role() != Role::Standby) return;
      Link& l = n.replication_link();
      l.heal();
      l.delay(std::chrono::milliseconds(0));
      l.bandwidth(0);
      l.limit_data(0);
    } catch (const std::exception&) {  // no relay (Options::relay = false): nothing to lift
    }
  }
  // Drops what tests made for logical replication: subscriptions (in every database; each
  // is first detached from its slot, so dropping it never waits for a publisher), then
  // publications and logical slots (a slot in use has its walsender or backend ended first).
  // Physical slots are pgha's own and stay.
  static void drop_logical_replication(Node& p, Connection& c) {
    Result subs = c.query("SELECT quote_ident(s.subname), quote_ident(d.datname), d.datname "
                          "FROM pg_subscription s JOIN pg_database d ON d.oid = s.subdbid");
    for (int i = 0; i < subs.rows(); ++i) {
      const std::string sub = subs.value(i, 0);
      auto drop = [&](Connection& in) {
        in.execute("ALTER SUBSCRIPTION " + sub + " DISABLE");
        in.execute("ALTER SUBSCRIPTION " + sub + " SET (slot_name = NONE)");
        in.execute("DROP SUBSCRIPTION " + sub);
      };
      if (subs.value(i, 2) == "postgres") {
        drop(c);
      } else {
        Connection other = p.connect(subs.value(i, 2));
        drop(other);
      }
    }
    Result pubs = c.query("SELECT quote_ident(pubname) FROM pg_publication");
    for (int i = 0; i < pubs.rows(); ++i) c.execute("DROP PUBLICATION " + pubs.value(i, 0));
    c.execute("SELECT pg_terminate_backend(active_pid) FROM pg_replication_slots "
              "WHERE slot_type = 'logical' AND active_pid IS NOT NULL");
    p.wait_until("SELECT NOT EXISTS (SELECT 1 FROM pg_replication_slots "
                 "WHERE slot_type = 'logical' AND active_pid IS NOT NULL)");
    c.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
              "WHERE slot_type = 'logical'");
  }
  static bool healthy(Node& p, Node& s) {
    try {
      if (s.role() != Role::Standby) return false;
      Result w = s.query("SELECT status FROM pg_stat_wal_receiver");
      if (!w.rows() || w.value(0, 0) != "streaming") return false;
      Result r = p.query("SELECT count(*) FROM pg_stat_replication WHERE state = 'streaming' "
                         "AND sync_state IN ('sync', 'quorum') AND application_name = " +
                         detail::sql_literal(s.application_name()));
      return r.value(0, 0) == "1";
    } catch (const std::exception&) {
      return false;
    }
  }
  std::array<std::unique_ptr<Node>, 2> nodes_;
  SyncMode initial_mode_ = SyncMode::RemoteApply;
};

}  // namespace pgha
