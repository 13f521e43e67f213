// pgha/standby.hpp: TempStandby, a streaming standby cloned from a running node.
#pragma once

#include <algorithm>
#include <cctype>
#include <string>
#include <vector>

#include "pgha/detail/quote.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// Names the upstream of a cascading standby explicitly:
/// `pgha::TempStandby node3(pgha::Upstream(node2));` where node2 is itself a TempStandby.
struct Upstream {
  explicit Upstream(Node& n) : node(n) {}
  Node& node;
};

/// A new standby of `upstream`: a copy of the template a primary upstream was created from
/// (replaying its WAL since), or a base backup (the low-level backup API or pg_basebackup),
/// configured for streaming replication (standby.signal, or recovery.conf on PG 11),
/// started, and returned once it streams on upstream's timeline and, when upstream is a
/// primary that lists it in synchronous_standby_names, upstream gives it a sync priority:
/// the first standby of a primary is `sync`; later ones are `potential` candidates in the
/// order they attached, and take over when the sync one goes.
///
/// application_name: a standby that does not choose one (or inherits its upstream's) takes
/// the first name no other standby of that upstream or of its cluster (every node cloned
/// from the same primary, wherever it streams from) uses: pgslave001 (as in the walkthrough),
/// then pgslave002, ... An explicitly chosen name that another such standby already uses is
/// a SetupError. A node that rejoins under a name another standby of the cluster streams
/// with takes a free one (application_name() tells it; a "rename" event says so).
class TempStandby : public Node {
public:
  /// Standby with the same options as its upstream (binaries, sync mode, settings).
  explicit TempStandby(Node& upstream) : TempStandby(upstream, inherit(upstream)) {}
  /// A standby of a standby (cascading), or of any node, named explicitly.
  explicit TempStandby(Upstream up) : TempStandby(up.node) {}
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
  // The next name after `name`: its trailing number plus one, keeping the width
  // (pgslave001 -> pgslave002), or "2" appended.
  static std::string next_name(const std::string& name) { return detail::next_app_name(name); }
  static std::string choose_name(detail::NodeState& up, const Options& opts) {
    std::vector<std::string> used = up.topo().sync_list();
    Result r = up.admin_query("SELECT application_name FROM pg_stat_replication");
    for (int i = 0; i < r.rows(); ++i) used.push_back(r.value(i, 0));
    // A name another standby of the lineage streams under is taken too (wherever it
    // streams from: after a failover, any of them may follow any other).
    const auto& lineage = up.lineage_names();
    auto taken = [&](const std::string& n) {
      if (lineage && lineage->standby_uses(n, nullptr)) return true;
      for (auto& u : used)
        if (detail::ascii_lower(u) == detail::ascii_lower(n)) return true;
      return false;
    };
    const std::string& given = opts.application_name;
    bool chosen = !given.empty() && given != up.topo().app_name();
    if (chosen) {
      if (taken(given))
        throw SetupError("application_name '" + given + "' is already used by a standby of " +
                         up.label() + " or of its cluster; expected a name no other standby of "
                         "it uses (or leave Options::application_name empty to get a free one)");
      return given;
    }
    std::string name = given.empty() ? "pgslave001" : given;
    while (taken(name)) name = next_name(name);
    return name;
  }
  // "ready": streaming from `up`, with the sync_state `up` reports (events only).
  static void emit_ready(detail::NodeState& st, detail::NodeState& up) {
    std::string sync, tli;
    try {
      Result r = up.admin_query("SELECT sync_state FROM pg_stat_replication WHERE application_name = " +
                                detail::sql_literal(st.topo().app_name()));
      sync = r.rows() ? r.value(0, 0) : "unknown";
      tli = std::to_string(st.current_timeline());
    } catch (...) {
    }
    detail::emit(st.dir().name(), "ready", "streaming on timeline " + tli + " as " + st.topo().app_name() + ", " + sync, {},
                 {{"peer", up.dir().name()}, {"sync_state", sync}, {"timeline", tli}, {"application_name", st.topo().app_name()}});
  }
  static std::unique_ptr<detail::NodeState> create(Node& upstream, Options opts) {
    auto& up = upstream.state();
    std::lock_guard<std::recursive_mutex> l(up.mutex());
    if (!up.running())
      throw StateError("cannot create a standby of a stopped node; expected a running upstream",
                       up.label());
    if (opts.bin_dir.empty()) opts.bin_dir = up.bins().bin_dir;
    opts.replication_slots = opts.replication_slots || up.opts().replication_slots;  // inherited
    auto st = make_state(opts);
    if (st->bins().major != up.bins().major)
      throw SetupError("standby binaries are PostgreSQL " + st->bins().version + " but upstream " +
                       up.label() + " runs " + up.bins().version + "; streaming replication "
                       "needs the same major version");
    if (detail::events_on())
      detail::emit(st->dir().name(), "create", "created as a standby of " + up.dir().name() + ", port " + std::to_string(st->dir().port()),
                   {}, {{"port", std::to_string(st->dir().port())}});
    st->init_member(choose_name(up, opts));
    st->attach_to(up, /*arm=*/false);  // armed while it starts (start_and_wait)
    detail::start_and_wait(*st, up, detail::clone_from(*st, up));
    if (detail::events_on()) emit_ready(*st, up);
    return st;
  }
};

}  // namespace pgha
