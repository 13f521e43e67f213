// pgha/detail/config.hpp: server configuration per PostgreSQL version (the "dialects").
// A setting the version does not know stops the server from starting, in both
// directions, so every version difference is decided here from the major version.
#pragma once

#include <map>
#include <string>
#include <vector>

#include "pgha/detail/quote.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

struct ConfigInput {
  int major = 15;
  int port = 0;
  std::string socket_dir;
  std::string cluster_name;
  SyncMode sync_mode = SyncMode::RemoteApply;
  std::string sync_names;        // synchronous_standby_names when a sync mode is on
  std::string archive_dir;       // non-empty: archive_mode = on, copy WAL here
  bool standby = false;
  std::string primary_conninfo;  // standby only
  std::string restore_dir;       // standby only: upstream's archive, "" = no restore_command
  std::map<std::string, std::string> settings;  // user settings, written last (they win,
                                                // but Async keeps synchronous_standby_names '')
  // Replication slots (detail/slot_policy.hpp decides them):
  std::string primary_slot_name;  // standby only: the physical slot it streams through
  bool sync_slots = false;        // standby only, 17+: sync failover slots from upstream
  std::string standby_slots;      // primary only, 17+: synchronized_standby_slots
  // Settings the running server cannot change without a restart, as it was started with
  // them (see restart_only_recovery_settings): a promoted node keeps them until it restarts.
  std::map<std::string, std::string> pinned;
};

// The recovery settings pgha writes that this major reads only at server start: a reload
// that changes them is refused ("parameter ... cannot be changed without restarting the
// server", then "configuration file ... contains errors"). A promote is followed by a
// reload of the new primary's configuration, which no longer describes a standby, so these
// keep the values the server started with. (recovery_target_timeline is restart-only in
// every version; pgha writes it on 11 only, in recovery.conf, and 12+ default to 'latest'.)
inline std::vector<std::string> restart_only_recovery_settings(int major) {
  if (major == 12) return {"primary_conninfo", "primary_slot_name", "restore_command"};
  if (major == 13) return {"restore_command"};  // 13 made the other two reloadable
  return {};
}

// Quotes a configuration value: 'it''s'.
inline std::string conf_quote(const std::string& v) {
  std::string out = "'";
  for (char c : v) {
    if (c == '\'') out += "''";
    else if (c == '\\') out += "\\\\";
    else out += c;
  }
  return out + "'";
}

// A path inside archive_command/restore_command: shell-quoted, and '%' doubled because
// the server expands %p, %f and %% in those commands before the shell sees them.
inline std::string command_path(const std::string& path) {
  std::string out;
  for (char c : shell_quote(path)) {
    out += c;
    if (c == '%') out += '%';
  }
  return out;
}

// "cp %p '<dir>'/%f"
inline std::string archive_command(const std::string& dir) { return "cp %p " + command_path(dir) + "/%f"; }
// A file that is not in the archive (the server asks for history files and segments that
// do not exist yet at every promote and start) costs only the shell's test builtin, not a
// cp process.
inline std::string restore_command(const std::string& dir) {
  return "test -f " + command_path(dir) + "/%f && cp " + command_path(dir) + "/%f %p";
}

// The walkthrough's primary settings plus test-friendly ones, valid for this major.
inline std::map<std::string, std::string> server_settings(const ConfigInput& in) {
  std::map<std::string, std::string> s;
  s["port"] = std::to_string(in.port);
  s["listen_addresses"] = "127.0.0.1";
  // A list of directories: each entry in double quotes, so spaces and commas survive.
  s["unix_socket_directories"] = sql_ident(in.socket_dir);
  s["cluster_name"] = in.cluster_name;
  s["wal_level"] = "replica";
  s["max_wal_senders"] = "10";
  s["max_replication_slots"] = "10";
  s["hot_standby"] = "on";
  s["wal_log_hints"] = "on";  // lets pg_rewind work after a failover
  s["password_encryption"] = "scram-sha-256";  // PG 11-13 default to md5
  // PG 11-12 count segments; 13 replaced wal_keep_segments with wal_keep_size.
  if (in.major <= 12) s["wal_keep_segments"] = "32";
  else s["wal_keep_size"] = "32MB";
  s["synchronous_commit"] = synchronous_commit_setting(in.sync_mode);
  s["synchronous_standby_names"] = in.sync_mode == SyncMode::Async ? "" : in.sync_names;
  // User settings below may set synchronous_standby_names explicitly, except for Async.
  // Small and fast: test clusters, not production.
  s["fsync"] = "off";  // a killed server keeps its page cache; only an OS crash loses data
  s["shared_buffers"] = "16MB";
  s["max_connections"] = "40";
  s["dynamic_shared_memory_type"] = "mmap";  // no /dev/shm segments leak after a SIGKILL
  s["wal_retrieve_retry_interval"] = "50ms";  // standby retries its upstream quickly (5 s default)
  s["wal_receiver_status_interval"] = "1s";
  s["log_line_prefix"] = "%m [%p] %q%a ";
  s["logging_collector"] = "off";
  s["lc_messages"] = "C";
  if (!in.archive_dir.empty()) {
    s["archive_mode"] = "on";
    s["archive_command"] = archive_command(in.archive_dir);
  }
  // PG 12+ take the recovery settings in the normal configuration; PG 11 refuses them there.
  // recovery_target_timeline is 'latest' by default on 12+, and not written: it is
  // restart-only, so a promoted node's reload would be refused for dropping it.
  if (in.standby && in.major >= 12) {
    s["primary_conninfo"] = in.primary_conninfo;
    if (!in.restore_dir.empty()) s["restore_command"] = restore_command(in.restore_dir);
    if (!in.primary_slot_name.empty()) s["primary_slot_name"] = in.primary_slot_name;
  }
  // PG 17+ failover slots: the standby copies the primary's failover slots (it needs
  // hot_standby_feedback and a dbname in primary_conninfo); the primary holds logical
  // consumers back until its standbys' physical slots confirmed the WAL they decoded.
  if (in.standby && in.sync_slots) {
    s["sync_replication_slots"] = "on";
    s["hot_standby_feedback"] = "on";
    s["primary_conninfo"] = in.primary_conninfo + " dbname=postgres";
  }
  if (!in.standby && !in.standby_slots.empty()) s["synchronized_standby_slots"] = in.standby_slots;
  for (auto& [k, v] : in.pinned) s[k] = v;
  for (auto& [k, v] : in.settings) s[k] = v;
  // Async means no synchronous standby: it wins over a user's synchronous_standby_names
  // (the fixtures of catch2.hpp and gtest.hpp list their names there), or commits would
  // keep waiting for a standby while the node says it runs async.
  if (in.sync_mode == SyncMode::Async) s["synchronous_standby_names"] = "";
  return s;
}

// pgha.conf, included at the end of postgresql.conf.
inline std::string render_conf(const ConfigInput& in) {
  std::string out = "# written by pgha; rewritten on every start, promote and rejoin\n";
  for (auto& [k, v] : server_settings(in)) out += k + " = " + conf_quote(v) + "\n";
  return out;
}

// PG 11 only: recovery.conf. Its default recovery_target_timeline is 'current', with
// which a rejoin after a promote never completes, so 'latest' is written explicitly.
inline std::string render_recovery_conf(const ConfigInput& in) {
  std::string out = "standby_mode = 'on'\n";
  out += "primary_conninfo = " + conf_quote(in.primary_conninfo) + "\n";
  out += "recovery_target_timeline = 'latest'\n";
  if (!in.primary_slot_name.empty())
    out += "primary_slot_name = " + conf_quote(in.primary_slot_name) + "\n";
  if (!in.restore_dir.empty())
    out += "restore_command = " + conf_quote(restore_command(in.restore_dir)) + "\n";
  return out;
}

// pg_hba.conf: trust only on the node's private Unix socket; SCRAM over TCP on loopback
// for clients and for the replication role, as in the walkthrough.
inline std::string render_hba() {
  return "# written by pgha\n"
         "local   all          all                        trust\n"
         "local   replication  all                        trust\n"
         "host    all          all          127.0.0.1/32  scram-sha-256\n"
         "host    all          all          ::1/128       scram-sha-256\n"
         "host    replication  replicauser  127.0.0.1/32  scram-sha-256\n"
         "host    replication  replicauser  ::1/128       scram-sha-256\n";
}

// The backup functions were renamed in 15 (the old names fail with SQLSTATE 42883).
inline std::string backup_start_sql(int major) {
  return major >= 15 ? "SELECT pg_backup_start('pgha', true)"
                     : "SELECT pg_start_backup('pgha', true, false)";
}
inline std::string backup_stop_sql(int major) {
  return major >= 15 ? "SELECT labelfile, spcmapfile FROM pg_backup_stop(false)"
                     : "SELECT labelfile, spcmapfile FROM pg_stop_backup(false, false)";
}

}  // namespace pgha::detail
