// pgha/impl/node_slots.ipp: logical decoding and failover slots, the SQL behind
// Node::create_logical_slot, read_changes and wait_for_slot_sync (which slots a node has is
// decided below the node state: detail/slot_policy.hpp). Part of Node's definitions,
// included by impl/node.ipp: it works on the node's state and returns the public Change.
#pragma once

#include <algorithm>
#include <chrono>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/client.hpp"
#include "pgha/detail/lineage_names.hpp"
#include "pgha/detail/node_state.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/detail/slot_policy.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/events.hpp"
#include "pgha/slots.hpp"

namespace pgha::detail {

/// A primary's synchronized_standby_slots must name existing slots only: a missing one
/// holds every failover slot's consumer back for good. Forgets the slots of standbys that
/// went away (their slot was dropped) and reloads the configuration.
inline void prune_standby_slots(NodeState& n) {
  std::lock_guard<std::recursive_mutex> l(n.mutex());
  if (!failover_slots(n.opts(), n.bins().major) || n.topo().standby_slots().empty()) return;
  Rows r = n.admin_query("SELECT slot_name FROM pg_replication_slots WHERE slot_type = 'physical'");
  std::vector<std::string> keep;
  for (auto& s : n.topo().standby_slots())
    for (int i = 0; i < r.rows(); ++i)
      if (r.value(i, 0) == s) keep.push_back(s);
  if (keep.size() != n.topo().standby_slots().size()) n.set_standby_slots(keep);
}

/// The node's slots, "name (type), ...", or "none", for messages.
inline std::string describe_slots(NodeState& n) {
  Rows r = n.admin_query("SELECT coalesce(string_agg(slot_name || ' (' || slot_type || ')', ', '), "
                           "'none') FROM pg_replication_slots");
  return r.value(0, 0);
}

/// Creates a logical slot on the running primary `n`.
inline void create_logical_slot(NodeState& n, const std::string& name, const std::string& plugin, bool failover) {
  int major = n.bins().major;
  if (failover && major < 17)
    throw VersionError("create_logical_slot(\"" + name + "\", failover = true) needs PostgreSQL 17 "
                       "or later; this node runs " + n.bins().version + ", where a logical slot "
                       "lives on one node only and does not exist on a promoted standby. Use "
                       "failover = false (and expect the slot to be gone after a failover), or "
                       "PostgreSQL 17+ binaries", 17, major, n.label());
  Role role = n.role();
  if (role != Role::Primary)
    throw StateError("create_logical_slot() needs a running primary; this node is " +
                     std::string(to_string(role)), n.label());
  prune_standby_slots(n);
  std::string level = n.admin_query("SHOW wal_level").value(0, 0);
  if (level != "logical")
    throw StateError("create_logical_slot() needs wal_level = logical; this node runs with "
                     "wal_level = " + level + ". Set Options::settings[\"wal_level\"] = "
                     "\"logical\" on the primary (its standbys inherit it)", n.label());
  std::string sql = "SELECT lsn FROM pg_create_logical_replication_slot(" + sql_literal(name) + ", " +
                    sql_literal(plugin) + (major >= 17 ? std::string(", false, false, ") +
                                                             (failover ? "true" : "false")
                                                       : std::string()) + ")";
  Client c = n.new_local_connection();
  c.execute(sql);
}

/// What `name` is on `n`: plugin, failover (17+), synced (17+); throws StateError when the
/// node has no such slot.
struct SlotInfo {
  std::string type, plugin;
  bool failover = false, synced = false;
};
inline SlotInfo logical_slot_info(NodeState& n, const std::string& name, const std::string& caller) {
  int major = n.bins().major;
  Rows r = n.admin_query(std::string("SELECT slot_type, coalesce(plugin, ''), ") +
                           (major >= 17 ? "failover, synced" : "false, false") +
                           " FROM pg_replication_slots WHERE slot_name = " + sql_literal(name));
  if (!r.rows())
    throw StateError(caller + ": no replication slot \"" + name + "\" on this node (slots: " +
                     describe_slots(n) + ")" +
                     (major < 17 ? "; before PostgreSQL 17 a logical slot exists only on the node "
                                   "that created it, so after a failover a consumer must create it "
                                   "again on the new primary (changes in between are lost)"
                                 : "; on 17+ a slot created with failover = true is synced to "
                                   "standbys that pgha configured (wal_level = logical)"),
                     n.label());
  if (r.value(0, 0) != "logical")
    throw StateError(caller + ": slot \"" + name + "\" is a physical slot; expected a logical one",
                     n.label());
  return {r.value(0, 0), r.value(0, 1), r.value(0, 2) == "t", r.value(0, 3) == "t"};
}

/// "\x0a1b..." (bytea as text, hex format) to raw bytes.
inline std::string bytea_bytes(const std::string& hex) {
  std::string out;
  auto val = [](char c) { return std::isdigit(static_cast<unsigned char>(c)) ? c - '0' : std::tolower(c) - 'a' + 10; };
  for (std::size_t i = 2; i + 1 < hex.size(); i += 2)
    out += static_cast<char>(val(hex[i]) * 16 + val(hex[i + 1]));
  return out;
}

/// After a read of failover slot `name` on primary `n`: waits (bounded, never throws) until
/// each standby of `n` that syncs slots holds a persisted synced copy. PG 17+ persist a new
/// copy only while the primary's slot needs no catalog row the standby may already have
/// removed: its catalog xmin moves only when a consumer reads past a running-xacts record,
/// so once the standby replayed a later transaction (a write after this read) the copy
/// would wait for the next read ("Synchronization could lead to data loss"). A persisted
/// copy follows the primary's slot from then on.
inline void persist_synced_copies(NodeState& n, const std::string& name) noexcept {
  try {
    auto names = n.lineage_names();
    if (!names) return;
    std::chrono::milliseconds bound = std::min<std::chrono::milliseconds>(n.opts().timeout, std::chrono::seconds(10));
    for (auto& conninfo : names->slot_syncing_standbys_of(n.dir().port())) {
      try {
        Client s(conninfo, bound, "standby of " + n.label());
        auto nudged = std::chrono::steady_clock::now() - std::chrono::seconds(1);
        wait_until("the synced copy of slot \"" + name + "\" to be persisted on a standby", bound,
                   n.label(), std::chrono::milliseconds(1),
                   [&](std::string& seen) {
                     Rows r = s.execute("SELECT synced AND NOT temporary FROM pg_replication_slots "
                                          "WHERE slot_name = $1", {name});
                     bool done = r.rows() && r.value(0, 0) == "t";
                     seen = r.rows() ? "a copy, persisted: " + r.value(0, 0) : "no copy yet";
                     // The slot sync worker naps up to 30 s; a reload wakes it at once.
                     if (!done && std::chrono::steady_clock::now() - nudged > std::chrono::milliseconds(100)) {
                       s.execute("SELECT pg_reload_conf()");
                       nudged = std::chrono::steady_clock::now();
                     }
                     return done;
                   },
                   [] { return std::string(); });
      } catch (const std::exception& e) {
        // A stopped, frozen or cut-off standby: wait_for_slot_sync() says what it sees.
        if (events_on()) emit(n.dir().name(), "slot", std::string("failover slot ") + name +
                              ": a standby's synced copy is not persisted yet: " + e.what());
      }
    }
  } catch (...) {
  }
}

/// Reads every change available in slot `name` and confirms them (the slot moves past
/// them). pgoutput is read as binary and needs options["publication_names"].
inline std::vector<Change> read_changes(NodeState& n, const std::string& name,
                                 std::map<std::string, std::string> options) {
  SlotInfo info = logical_slot_info(n, name, "read_changes(\"" + name + "\")");
  if (info.synced && n.role() == Role::Standby)  // on a promoted node the flag is left over
    throw StateError("read_changes(\"" + name + "\"): this is the synced copy of a failover slot on "
                     "a standby; it can be read only after this node is promoted", n.label());
  bool binary = info.plugin == "pgoutput";
  if (binary) {
    if (!options.count("publication_names"))
      throw StateError("read_changes(\"" + name + "\"): a pgoutput slot needs "
                       "options[\"publication_names\"] (the publications to decode)", n.label());
    if (!options.count("proto_version")) options["proto_version"] = "1";
  }
  std::vector<std::string> params{name};
  std::string opts = "ARRAY[]::text[]";
  if (!options.empty()) {
    opts = "ARRAY[";
    for (auto& [k, v] : options) {
      params.push_back(k);
      params.push_back(v);
      opts += (params.size() > 3 ? ", $" : "$") + std::to_string(params.size() - 1) + ", $" +
              std::to_string(params.size());
    }
    opts += "]";
  }
  Client c = n.new_local_connection();
  // PG 17 syncs a failover slot only after the primary's slot decoded a running-xacts record
  // written after the standby began to sync it: log one now, so this read moves the slot
  // past it. Decoding stops at the flushed end of WAL, and the record is flushed by the WAL
  // writer (nudged, not waited for), so wait until it is.
  if (info.failover && n.role() == Role::Primary) {
    prune_standby_slots(n);
    std::string at = c.execute("SELECT pg_log_standby_snapshot()").value(0, 0);
    wait_until("the WAL writer to flush the running-xacts record at " + at, n.opts().timeout,
               n.label(),
               [&](std::string& seen) {
                 Rows f = c.execute("SELECT pg_current_wal_flush_lsn(), pg_current_wal_flush_lsn() >= $1::pg_lsn", {at});
                 seen = "flushed up to " + f.value(0, 0);
                 return f.value(0, 1) == "t";
               },
               [&] { return n.log_tail(); });
  }
  std::string sql = std::string("SELECT lsn, xid, data FROM ") +
                    (binary ? "pg_logical_slot_get_binary_changes" : "pg_logical_slot_get_changes") +
                    "($1, NULL, NULL, VARIADIC " + opts + ")";
  Rows r;
  try {
    r = c.execute(sql, params);
  } catch (const TimeoutError& e) {
    if (!info.failover) throw;
    // 17+: a failover slot hands out only WAL that every slot in synchronized_standby_slots
    // confirmed, so a stopped or cut-off standby holds the consumer back.
    throw TimeoutError(e.message() + "; slot \"" + name + "\" is a failover slot, whose changes "
                       "wait until every standby in synchronized_standby_slots (" +
                       n.admin_query("SHOW synchronized_standby_slots").value(0, 0) +
                       ") confirmed them: is one of them stopped, frozen or cut off?",
                       n.label(), n.log_tail());
  }
  std::vector<Change> out;
  for (int i = 0; i < r.rows(); ++i)
    out.push_back({r.value(i, 0), r.value(i, 1), binary ? bytea_bytes(r.value(i, 2)) : r.value(i, 2)});
  // Now, before the caller writes again: see persist_synced_copies.
  if (info.failover && n.role() == Role::Primary) persist_synced_copies(n, name);
  return out;
}

/// Waits until standby `n` holds a synced copy of failover slot `name` that caught up with
/// the upstream's slot as it is now (confirmed_flush_lsn).
inline void wait_for_slot_sync(NodeState& n, const std::string& name) {
  int major = n.bins().major;
  if (major < 17)
    throw VersionError("wait_for_slot_sync(\"" + name + "\") needs PostgreSQL 17 or later (failover "
                       "slots); this node runs " + n.bins().version + ", where standbys never "
                       "hold a copy of a logical slot", 17, major, n.label());
  if (!n.topo().standby())
    throw StateError("wait_for_slot_sync() needs a standby; this node is a primary", n.label());
  if (!failover_slots(n.opts(), major) || n.topo().slot().empty())
    throw StateError("wait_for_slot_sync(): this standby does not sync slots; expected "
                     "Options::settings[\"wal_level\"] = \"logical\" (pgha then configures "
                     "sync_replication_slots and a physical slot)", n.label());
  Client up(tcp_conninfo(n.topo().upstream_port(), "postgres", n.creds().superuser_password, "postgres"),
                n.opts().timeout, "upstream of " + n.label());
  Rows u = up.execute("SELECT failover, confirmed_flush_lsn, active FROM pg_replication_slots WHERE "
                        "slot_name = $1 AND slot_type = 'logical'", {name});
  if (!u.rows())
    throw StateError("wait_for_slot_sync(\"" + name + "\"): the upstream has no logical slot of "
                     "that name; expected one created with create_logical_slot(..., true)", n.label());
  if (u.value(0, 0) != "t")
    throw StateError("wait_for_slot_sync(\"" + name + "\"): the upstream's slot was created with "
                     "failover = false and is never synced; expected failover = true", n.label());
  std::string target = u.value(0, 1);
  // The slot sync worker naps twice as long after each round that changed nothing, up to
  // 30 s (a new slot's first rounds fail until it can be synced). A reload wakes it at once
  // (its latch is set), so the wait nudges it every 200 ms instead of waiting out a nap.
  auto nudged = std::chrono::steady_clock::now();
  // A slot consumed by a walsender (a subscription) syncs once it decoded a running-xacts
  // record written after its creation; on a quiet primary the next one could be 15 s away.
  up.execute("SELECT CASE WHEN pg_is_in_recovery() THEN NULL ELSE pg_log_standby_snapshot() END");
  // A slot no consumer reads now (not active) keeps its catalog xmin until the next read:
  // if the standby refuses the copy for that, no wait helps.
  bool idle = u.value(0, 2) != "t";
  auto log_from = file_size(n.dir().log());
  const std::string refusal = "could not synchronize replication slot \"" + name + "\"";
  wait_until("the synced copy of slot \"" + name + "\" to reach the upstream's confirmed_flush_lsn " +
                 target + " (PG 17 syncs a new failover slot only after the primary's slot was "
                 "read once; read_changes() on the primary does that)",
             n.opts().timeout, n.label(),
             [&](std::string& seen) {
               Rows r = n.admin_query("SELECT synced, confirmed_flush_lsn, confirmed_flush_lsn >= " +
                                        sql_literal(target) + "::pg_lsn FROM pg_replication_slots "
                                        "WHERE slot_name = " + sql_literal(name));
               bool done = r.rows() && r.value(0, 0) == "t" && r.value(0, 2) == "t";
               if (!done && idle) {
                 std::string fresh = read_file(n.dir().log(), log_from);
                 std::size_t at = fresh.find(refusal);
                 if (at != std::string::npos && fresh.find("could lead to data loss", at) != std::string::npos)
                   throw StateError(
                       "wait_for_slot_sync(\"" + name + "\"): the standby refuses to keep a copy of the "
                       "slot: it has replayed transactions newer than the primary's slot allows "
                       "(\"Synchronization could lead to data loss\"), and only a read of the slot "
                       "on the primary moves it. Expected: read_changes(\"" + name + "\") on the "
                       "primary after its last write (or with the standby running and connected, "
                       "which persists the copy at that read), then wait_for_slot_sync()",
                       n.label(), n.log_tail());
               }
               if (!r.rows()) seen = "no slot of that name on the standby";
               else seen = "synced = " + r.value(0, 0) + ", confirmed_flush_lsn = " +
                           (r.is_null(0, 1) ? "NULL" : r.value(0, 1));
               if (!done && std::chrono::steady_clock::now() - nudged > std::chrono::milliseconds(200)) {
                 n.admin_query("SELECT pg_reload_conf()");
                 nudged = std::chrono::steady_clock::now();
               }
               return done;
             },
             [&] { return n.log_tail(); });
}

}  // namespace pgha::detail
