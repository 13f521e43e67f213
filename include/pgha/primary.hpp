// pgha/primary.hpp: TempPrimary, a fresh primary in a private directory on a free port.
#pragma once

#include "pgha/detail/scram.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// A new primary: a copy of a cached initdb, configured as in the walkthrough (replica
/// WAL, synchronous_standby_names, remote_apply), started, with a superuser password and
/// the replication role `replicauser` (generated passwords, SCRAM over TCP).
class TempPrimary : public Node {
public:
  /// Creates and starts the primary. Throws SetupError (options, binaries, initdb, start)
  /// with the server log tail.
  explicit TempPrimary(Options opts = {}) : Node(create(std::move(opts))) {}
  TempPrimary(TempPrimary&&) noexcept = default;
  TempPrimary& operator=(TempPrimary&&) noexcept = default;

private:
  static std::unique_ptr<detail::NodeState> create(Options opts) {
    auto st = make_state(opts);
    const detail::NodeDir& dir = st->dir();
    {
      detail::StepEvent ev(dir.name(), "create", [&](Event& e) {
        e.message = "created from the initdb template of PostgreSQL " + dir.bins().version + ", port " + std::to_string(dir.port());
        e.facts = {{"port", std::to_string(dir.port())}, {"version", dir.bins().version}};
      });
      std::string base = detail::temp_base(opts.tmp_dir);
      std::string tmpl = detail::ensure_template(dir.bins(), dir.run_as(), base, opts.timeout);
      detail::background().fresh_copy(tmpl, base, dir.data(), dir.run_as());
    }
    // A lone primary accepts writes: synchronous_standby_names is armed when the first
    // standby attaches.
    st->init_cluster(opts.application_name.empty() ? "pgslave001" : opts.application_name,
                     /*armed=*/false);
    st->start();
    // Setup must not wait for a sync standby that does not exist yet. The passwords go in
    // as SCRAM secrets computed here (detail/scram.hpp): hashing them costs the server 5-7
    // ms each, and every client connecting over TCP as much again.
    st->admin_query("BEGIN; SET LOCAL synchronous_commit = local; "
                    "ALTER ROLE postgres PASSWORD " +
                    detail::sql_literal(detail::scram_secret(st->creds().superuser_password)) +
                    "; CREATE ROLE replicauser WITH REPLICATION LOGIN PASSWORD " +
                    detail::sql_literal(detail::scram_secret(st->creds().replication_password)) +
                    "; COMMIT");
    if (detail::events_on()) detail::emit(dir.name(), "ready", "primary, accepts writes on timeline 1", {}, {{"timeline", "1"}});
    return st;
  }
};

}  // namespace pgha
