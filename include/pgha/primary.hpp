// pgha/primary.hpp: TempPrimary, a fresh primary in a private directory on a free port.
#pragma once

#include "pgha/node.hpp"

namespace pgha {

/// A new primary: a copy of a cached initdb, configured as in the walkthrough (replica
/// WAL, synchronous_standby_names, remote_apply), started, with a superuser password and
/// the replication role `replicauser` (generated passwords, SCRAM over TCP).
class TempPrimary : public Node {
public:
  /// Creates and starts the primary. Throws SetupError (binaries, initdb, start) with
  /// the server log tail.
  explicit TempPrimary(Options opts = {}) : Node(create(std::move(opts))) {}
  TempPrimary(TempPrimary&&) noexcept = default;
  TempPrimary& operator=(TempPrimary&&) noexcept = default;

private:
  static std::unique_ptr<detail::NodeState> create(Options opts) {
    int n = 0;
    auto st = make_state(std::move(opts), n);
    try {
      std::string tmpl = detail::ensure_template(st->bins, st->ra,
                                                 detail::temp_base(st->opts.tmp_dir),
                                                 st->opts.timeout);
      detail::copy_tree(tmpl, st->data, st->ra, [](const std::string&, bool) { return false; });
      st->creds = {detail::random_secret(), detail::random_secret()};
      st->sync_armed = false;  // armed when the first standby attaches
      st->start();
      // Setup must not wait for a sync standby that does not exist yet.
      st->admin().execute(
          "BEGIN; SET LOCAL synchronous_commit = local; "
          "ALTER ROLE postgres PASSWORD '" + st->creds.superuser_password + "'; "
          "CREATE ROLE replicauser WITH REPLICATION LOGIN PASSWORD '" +
          st->creds.replication_password + "'; COMMIT");
    } catch (...) {
      st->destroy();
      throw;
    }
    return st;
  }
};

}  // namespace pgha
