// pgha/detail/replication.hpp: cloning a running node (the low-level backup API over
// libpq plus a file copy, so no pg_basebackup is needed) and waiting for a standby to be
// healthy. "streaming" + "sync" in pg_stat_replication is not proof of health: a
// diverged standby shows exactly that for a moment every few seconds. A standby counts
// as healthy only when its own wal receiver streams on its upstream's current timeline.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "pgha/detail/node_state.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/detail/socket_ports.hpp"
#include "pgha/detail/wal_history.hpp"

namespace pgha::detail {

// Files a base backup leaves out, and directories it copies empty (as pg_basebackup does).
inline bool backup_skips(const std::string& rel, bool is_dir) {
  static const char* dirs[] = {"pg_wal", "pg_replslot", "pg_dynshmem", "pg_notify", "pg_serial",
                               "pg_snapshots", "pg_stat_tmp", "pg_subtrans", "base/pgsql_tmp"};
  static const char* files[] = {"postmaster.pid", "postmaster.opts", "backup_label",
                                "tablespace_map", "standby.signal", "recovery.signal",
                                "recovery.conf", "recovery.done", "pgha.conf", "promote",
                                "global/pg_control", "current_logfiles", "pgha.conf.pgha-tmp"};
  if (is_dir) {
    for (auto d : dirs) if (rel == d) return true;
    return false;
  }
  for (auto f : files) if (rel == f) return true;
  return rel.find("pg_internal.init") != std::string::npos;
}


// Copies `source` (running) into target.data with the non-exclusive low-level backup API.
inline void clone_data(NodeState& target, NodeState& source) {
  const NodeDir& to = target.dir();
  const NodeDir& from = source.dir();
  Client c(from.admin_conninfo(), source.opts().timeout, source.label());
  c.execute("SET synchronous_commit = local");
  c.execute(backup_start_sql(from.bins().major));
  // A commit waiting for a sync standby (this clone, often) is in clog and WAL before the
  // backup's redo point, but still in the proc array, so the running-xacts record the
  // backup checkpoint wrote lists it as running and its latestCompletedXid is below it.
  // The clone starts its hot standby snapshot from that record and never replays the
  // commit: TransactionIdIsInProgress() says 'in progress' while latestCompletedXid is
  // below the xid, and snapshots end before it, so the row stays hidden. 11-13 advance
  // latestCompletedXid only when a later xid's commit/abort is replayed (forever, on an
  // idle primary); 14+ also at the next running-xacts record (PostgreSQL commit
  // dc7420c2c92). So end one transaction with a fresh xid now: its commit record lies
  // between the backup's checkpoint and its end, and is replayed before the clone accepts
  // connections. (Measured: the same commit made after the clone started did not show the
  // row in every run.) A standby source cannot assign xids: its clone waits for the
  // primary's next commit like any other standby.
  c.execute("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE txid_current() END");
  copy_tree(from.data(), to.data(), to.run_as(), backup_skips);
  Rows stop = c.query(backup_stop_sql(from.bins().major));
  // pg_control last, after the backup ended (as pg_basebackup sends it last).
  copy_regular(from.data() + "/global/pg_control", to.data() + "/global/pg_control", 0600,
               to.run_as());
  write_file(to.data() + "/backup_label", stop.value(0, 0), to.run_as());
  if (!stop.is_null(0, 1) && !stop.value(0, 1).empty())
    write_file(to.data() + "/tablespace_map", stop.value(0, 1), to.run_as());
  make_owned_dir(to.data() + "/pg_wal/archive_status", to.run_as());
}

inline bool log_shows_divergence(const std::string& text) {
  return text.find("forked off current database system timeline") != std::string::npos ||
         text.find("is not a child of this server's history") != std::string::npos ||
         text.find("does not contain minimum recovery point") != std::string::npos;
}

// Thrown inside wait_healthy when the standby's log proves it diverged from upstream.
struct Diverged : StateError {
  using StateError::StateError;
};

// Thrown inside wait_healthy when upstream no longer has WAL the standby needs (a copy of
// the template whose upstream recycled segments since): the caller takes a real backup.
struct WalRemoved : SetupError {
  using SetupError::SetupError;
};
// Only the node's own wal receiver counts: its walsenders (serving a standby that still
// follows this node's port, say) log "has already been removed" about WAL that standby wants.
inline bool log_shows_wal_removed(const std::string& text) {
  for (std::size_t at = 0; at < text.size();) {
    std::size_t end = text.find('\n', at);
    if (end == std::string::npos) end = text.size();
    std::string line = text.substr(at, end - at);
    at = end + 1;
    if (line.find("has already been removed") == std::string::npos) continue;
    if (line.find("could not receive data from WAL stream") != std::string::npos ||
        line.find("could not start WAL streaming") != std::string::npos)
      return true;
  }
  return false;
}

// Waits until `standby` streams from `upstream` on upstream's current timeline and, when
// upstream lists it as a synchronous standby, upstream gives it a sync priority (it is then
// reported sync, quorum, or potential behind another sync standby).
// The names in a synchronous_standby_names value: bare words and double-quoted names ("" is
// a quote inside one), without the FIRST/ANY keywords and numbers around them.
inline std::vector<std::string> sync_name_list(const std::string& v) {
  std::vector<std::string> out;
  for (std::size_t i = 0; i < v.size();) {
    char c = v[i];
    if (c == '"') {
      std::string name;
      for (++i; i < v.size(); ++i) {
        if (v[i] == '"' && i + 1 < v.size() && v[i + 1] == '"') { name += '"'; ++i; }
        else if (v[i] == '"') { ++i; break; }
        else name += v[i];
      }
      out.push_back(name);
    } else if (std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '*') {
      std::size_t j = i;
      while (j < v.size() && (std::isalnum(static_cast<unsigned char>(v[j])) || v[j] == '_' || v[j] == '*')) ++j;
      std::string word = v.substr(i, j - i);
      const std::string lower = ascii_lower(word);
      bool number = word.find_first_not_of("0123456789") == std::string::npos;
      if (!number && lower != "first" && lower != "any") out.push_back(word);
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

// Whether a primary with `names` as synchronous_standby_names lists `app` (or '*'); the
// server compares names case-insensitively.
inline bool lists_standby(const std::string& names, const std::string& app) {
  const std::string app_lower = ascii_lower(app);
  for (auto& n : sync_name_list(names))
    if (n == "*" || ascii_lower(n) == app_lower) return true;
  return false;
}

// The client port under which the upstream sees the wal receiver `pid` of `standby` (its
// pg_stat_replication.client_port): 0 while it is not connected, -1 when /proc cannot tell.
inline int identify_receiver(NodeState& standby, int pid) {
  RelayedLink* link = standby.topo().link();
  int to = link ? link->port() : standby.topo().upstream_port();
  int port = local_port_to(static_cast<pid_t>(pid), to);
  if (port <= 0 || !link) return port;
  return link->relay().server_side_port(port);
}

inline void wait_healthy(NodeState& standby, NodeState& upstream, std::size_t log_offset) {
  const std::string& app = standby.topo().app_name();
  bool want_sync = false;
  if (!upstream.topo().standby()) {
    Rows cfg = upstream.admin_query("SELECT current_setting('synchronous_standby_names')");
    want_sync = lists_standby(cfg.value(0, 0), app);
  }
  wait_until(
      "standby " + standby.label() + " to stream from " + upstream.label() +
          (want_sync ? " as a synchronous standby" : ""),
      standby.opts().timeout, standby.label(), std::chrono::milliseconds(1),  // a few ms, typically
      [&](std::string& seen) {
        if (!standby.running())
          throw SetupError("the standby's server exited while it was expected to stream from " +
                               upstream.label(), standby.label(), standby.log_tail());
        std::string fresh = read_file(standby.dir().log(), log_offset);
        if (log_shows_wal_removed(fresh))
          throw WalRemoved("upstream " + upstream.label() + " no longer has WAL the standby "
                               "needs; expected every segment since the standby's start point",
                           standby.label(), standby.log_tail());
        if (log_shows_divergence(fresh))
          throw Diverged("the standby's WAL has diverged from " + upstream.label() +
                             "'s timeline; expected it to be a prefix of upstream's history",
                         standby.label(), standby.log_tail());
        std::uint32_t tli = upstream.current_timeline();
        Rows w = standby.admin_query("SELECT status, received_tli, pid FROM pg_stat_wal_receiver");
        std::string wr = w.rows() ? w.value(0, 0) + " on timeline " + w.value(0, 1) : "no wal receiver";
        // The upstream's row of THIS standby: the walsender whose client port is the port
        // the standby's wal receiver connects from (through the relay: the relay's port
        // toward the upstream). A wal receiver says 'streaming' from its start, before the
        // upstream accepted it, and another node may stream under the same name.
        int seen_port = w.rows() && !w.is_null(0, 2) ? identify_receiver(standby, std::stoi(w.value(0, 2))) : 0;
        std::string which = seen_port > 0 ? "client_port = " + std::to_string(seen_port) + " AND "
                                          : std::string();
        Rows s;
        if (seen_port != 0)
          s = upstream.admin_query(
              "SELECT state, sync_state, sync_priority, count(*) OVER () FROM pg_stat_replication WHERE " +
              which + "application_name = " + sql_literal(app) + " ORDER BY state = 'streaming' DESC LIMIT 1");
        std::string ps = s.rows() ? s.value(0, 0) + "/" + s.value(0, 1) + " (priority " + s.value(0, 2) + ")"
                                  : seen_port == 0 ? "the wal receiver is not connected"
                                                   : "not in pg_stat_replication as " + app +
                                                         (seen_port > 0 ? " from port " + std::to_string(seen_port) : "");
        seen = "standby: " + wr + " (upstream timeline " + std::to_string(tli) + "); upstream: " + ps;
        bool receiver_ok = w.rows() && w.value(0, 0) == "streaming" &&
                           !w.is_null(0, 1) && std::stoul(w.value(0, 1)) == tli;
        // Without /proc access to the server (seen_port -1) the name must be unique there.
        bool upstream_ok = s.rows() && s.value(0, 0) == "streaming" && s.value(0, 3) == "1" &&
                           (!want_sync || s.value(0, 2) != "0");
        return receiver_ok && upstream_ok;
      },
      [&] { return standby.log_tail(); });
}

}  // namespace pgha::detail
