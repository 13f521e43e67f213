// pgha/standby.hpp: TempStandby, a streaming standby cloned from a running node.
#pragma once

#include "pgha/node.hpp"

namespace pgha {

/// A new standby of `upstream`: a base backup taken with the low-level backup API,
/// configured for streaming replication (standby.signal, or recovery.conf on PG 11),
/// started, and returned once it streams on upstream's timeline and, when upstream lists
/// its application_name in synchronous_standby_names, is upstream's sync standby.
class TempStandby : public Node {
public:
  /// Standby with the same options as its upstream (binaries, sync mode, settings).
  explicit TempStandby(Node& upstream) : TempStandby(upstream, inherit(upstream)) {}
  /// A standby of a standby (cascading); without this overload the copy constructor
  /// would be picked for a TempStandby argument.
  explicit TempStandby(TempStandby& upstream) : TempStandby(static_cast<Node&>(upstream)) {}
  /// Standby with its own options; an empty bin_dir means the upstream's binaries.
  TempStandby(Node& upstream, Options opts) : Node(create(upstream, std::move(opts))) {}
  TempStandby(TempStandby&&) noexcept = default;
  TempStandby& operator=(TempStandby&&) noexcept = default;

private:
  static Options inherit(Node& upstream) {
    Options o = upstream.options();
    o.name.clear();
    o.port = 0;
    return o;
  }
  static std::unique_ptr<detail::NodeState> create(Node& upstream, Options opts) {
    auto& up = upstream.state();
    if (!up.running())
      throw StateError("cannot create a standby of a stopped node; expected a running upstream",
                       up.label());
    if (opts.bin_dir.empty()) opts.bin_dir = up.bins.bin_dir;
    int n = 0;
    auto st = make_state(std::move(opts), n);
    try {
      if (st->bins.major != up.bins.major)
        throw SetupError("standby binaries are PostgreSQL " + st->bins.version + " but upstream " +
                         up.label() + " runs " + up.bins.version + "; streaming replication "
                         "needs the same major version");
      st->creds = up.creds;
      if (up.admin().query("SELECT pg_is_in_recovery()").value(0, 0) == "f")
        up.arm_sync(st->app_name());
      st->standby = true;
      st->follow(up.lease.port());
      st->upstream_archive = up.archive;
      detail::clone_from(*st, up);
      auto offset = detail::file_size(st->log);
      st->start();
      detail::wait_healthy(*st, up, offset);
    } catch (...) {
      st->destroy();
      throw;
    }
    return st;
  }
};

}  // namespace pgha
