// pgha/options.hpp: the enums and the options a node is created with.
#pragma once

#include <chrono>
#include <map>
#include <ostream>
#include <string>

namespace pgha {

/// What a node is right now. The role changes over a node's life; its C++ class does not.
enum class Role { Primary, Standby, Stopped };

/// How `Node::stop` brings a server down.
enum class StopMode {
  Smart,      ///< SIGTERM: waits for clients to disconnect (bounded by the stop timeout)
  Fast,       ///< SIGINT: aborts sessions, writes a shutdown checkpoint (clean, the default)
  Immediate,  ///< SIGQUIT: no checkpoint; crash recovery on the next start
  Crash       ///< SIGKILL of the postmaster and all its children, like a power cut
};

/// `synchronous_commit` on a primary that has a synchronous standby.
enum class SyncMode { Async, RemoteWrite, On, RemoteApply };

/// How `Node::rejoin` brought a former primary back as a standby.
enum class RejoinMethod { Resumed, Rewound, Recloned };

/// How `Node::cut_link` breaks a standby's replication link.
enum class LinkCut {
  Reset,     ///< connections are reset at once, new ones too: both ends notice immediately
  Blackhole  ///< bytes silently stop flowing; the ends notice only through their timeouts
};

/// How a standby's data directory is copied from its upstream.
enum class CloneMethod {
  Auto,        ///< TemplateCopy when it applies, else BackupApi (the fastest correct way)
  BaseBackup,  ///< pg_basebackup (SetupError if no version-matched one exists)
  BackupApi,   ///< the low-level backup API over libpq plus a file copy (no client tools)
  /// A copy of the stopped template the upstream primary was created from, which then
  /// replays the upstream's WAL since the template's checkpoint: no backup at all. Applies
  /// when the upstream is a primary of that template that never switched timelines and
  /// still keeps that WAL (SetupError otherwise; Auto then takes BackupApi).
  TemplateCopy
};

/// How rejoin() repairs a node whose WAL diverged from the new primary's.
enum class RepairMethod {
  Auto,     ///< Reclone (faster than pg_rewind on test-sized clusters, needs no client tool)
  Rewind,   ///< pg_rewind (SetupError if no version-matched one exists)
  Reclone   ///< wipe and clone again from the new primary (fastest on small clusters)
};

/// Options for a node. Defaults make a walkthrough-style node: replica WAL, remote_apply.
struct Options {
  /// Directory holding initdb and postgres; empty = discover (PGHA_PG_BINDIR,
  /// `pg_config --bindir`, initdb on PATH, newest /usr/lib/postgresql/*/bin).
  std::string bin_dir;
  /// Commit mode of a primary towards its synchronous standby.
  SyncMode sync_mode = SyncMode::RemoteApply;
  /// application_name this node uses when it streams as a standby
  /// (and the name a primary lists in synchronous_standby_names). Empty = "pgslave001".
  std::string application_name;
  /// Extra server settings written into the node's configuration (name -> value, unquoted).
  std::map<std::string, std::string> settings;
  /// WAL archiving as in the walkthrough: archive_command copies to <data_dir>/archive,
  /// and a standby's restore_command reads its upstream's archive.
  bool archive = false;
  /// Fixed port; 0 = pick a free one (race-free across processes).
  int port = 0;
  /// Human-readable node name used in messages and file names; empty = "node<N>".
  std::string name;
  /// Parent directory for node directories; empty = PGHA_TMPDIR, /dev/shm, TMPDIR, /tmp.
  std::string tmp_dir;
  /// How standbys are cloned (also used by rejoin's re-clone).
  CloneMethod clone_method = CloneMethod::Auto;
  /// How rejoin() repairs a diverged node.
  RepairMethod repair = RepairMethod::Auto;
  /// Standbys stream through a small in-process TCP relay, so their link can be cut,
  /// stalled or delayed (cut_link, heal_link, set_link_delay). false = connect directly.
  bool relay = true;
  /// Bound on every wait (start, streaming, promote, catch-up, stop).
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
  /// Standbys stream through a physical replication slot (primary_slot_name) that pgha
  /// creates on their upstream, named after the standby's application_name; a standby
  /// inherits this from its upstream. On PG 17+ with settings["wal_level"] = "logical",
  /// standbys use a slot even when false, because failover slots need one. See slots.hpp.
  bool replication_slots = false;
};

/// Text of a Role, for messages and printing.
inline const char* to_string(Role r) noexcept {
  switch (r) {
    case Role::Primary: return "primary";
    case Role::Standby: return "standby";
    case Role::Stopped: return "stopped";
  }
  return "?";
}

/// Text of a RejoinMethod, for messages and printing.
inline const char* to_string(RejoinMethod m) noexcept {
  switch (m) {
    case RejoinMethod::Resumed: return "resumed";
    case RejoinMethod::Rewound: return "rewound";
    case RejoinMethod::Recloned: return "recloned";
  }
  return "?";
}

/// Text of a StopMode: "smart", "fast", "immediate", "crash".
inline const char* to_string(StopMode m) noexcept {
  switch (m) {
    case StopMode::Smart: return "smart";
    case StopMode::Fast: return "fast";
    case StopMode::Immediate: return "immediate";
    case StopMode::Crash: return "crash";
  }
  return "?";
}

/// Text of a SyncMode: "async", "remote_write", "on", "remote_apply" (the mode's name; the
/// server setting it runs with is synchronous_commit_setting()).
inline const char* to_string(SyncMode m) noexcept {
  switch (m) {
    case SyncMode::Async: return "async";
    case SyncMode::RemoteWrite: return "remote_write";
    case SyncMode::On: return "on";
    case SyncMode::RemoteApply: return "remote_apply";
  }
  return "?";
}

/// Text of a LinkCut: "reset", "blackhole".
inline const char* to_string(LinkCut c) noexcept {
  switch (c) {
    case LinkCut::Reset: return "reset";
    case LinkCut::Blackhole: return "blackhole";
  }
  return "?";
}

/// Text of a CloneMethod: "auto", "base_backup", "backup_api", "template_copy".
inline const char* to_string(CloneMethod m) noexcept {
  switch (m) {
    case CloneMethod::Auto: return "auto";
    case CloneMethod::BaseBackup: return "base_backup";
    case CloneMethod::BackupApi: return "backup_api";
    case CloneMethod::TemplateCopy: return "template_copy";
  }
  return "?";
}

/// Text of a RepairMethod: "auto", "rewind", "reclone".
inline const char* to_string(RepairMethod m) noexcept {
  switch (m) {
    case RepairMethod::Auto: return "auto";
    case RepairMethod::Rewind: return "rewind";
    case RepairMethod::Reclone: return "reclone";
  }
  return "?";
}

/// The `synchronous_commit` value a primary runs with in this mode: "remote_apply",
/// "on", "remote_write", and "on" for Async too (Async means an empty
/// synchronous_standby_names: commits wait for the local flush only).
inline const char* synchronous_commit_setting(SyncMode m) noexcept {
  switch (m) {
    case SyncMode::Async: return "on";
    case SyncMode::RemoteWrite: return "remote_write";
    case SyncMode::On: return "on";
    case SyncMode::RemoteApply: return "remote_apply";
  }
  return "on";
}
/// Same as synchronous_commit_setting (the older name; Async also gives "on").
inline const char* to_setting(SyncMode m) noexcept { return synchronous_commit_setting(m); }

/// The enumerator's name ("Primary", "RemoteApply", ...), as the enums print with <<.
inline const char* enum_name(Role v) noexcept {
  switch (v) { case Role::Primary: return "Primary"; case Role::Standby: return "Standby";
               case Role::Stopped: return "Stopped"; }
  return "?";
}
inline const char* enum_name(StopMode v) noexcept {
  switch (v) { case StopMode::Smart: return "Smart"; case StopMode::Fast: return "Fast";
               case StopMode::Immediate: return "Immediate"; case StopMode::Crash: return "Crash"; }
  return "?";
}
inline const char* enum_name(SyncMode v) noexcept {
  switch (v) { case SyncMode::Async: return "Async"; case SyncMode::RemoteWrite: return "RemoteWrite";
               case SyncMode::On: return "On"; case SyncMode::RemoteApply: return "RemoteApply"; }
  return "?";
}
inline const char* enum_name(RejoinMethod v) noexcept {
  switch (v) { case RejoinMethod::Resumed: return "Resumed"; case RejoinMethod::Rewound: return "Rewound";
               case RejoinMethod::Recloned: return "Recloned"; }
  return "?";
}
inline const char* enum_name(LinkCut v) noexcept {
  switch (v) { case LinkCut::Reset: return "Reset"; case LinkCut::Blackhole: return "Blackhole"; }
  return "?";
}
inline const char* enum_name(CloneMethod v) noexcept {
  switch (v) { case CloneMethod::Auto: return "Auto"; case CloneMethod::BaseBackup: return "BaseBackup";
               case CloneMethod::BackupApi: return "BackupApi";
               case CloneMethod::TemplateCopy: return "TemplateCopy"; }
  return "?";
}
inline const char* enum_name(RepairMethod v) noexcept {
  switch (v) { case RepairMethod::Auto: return "Auto"; case RepairMethod::Rewind: return "Rewind";
               case RepairMethod::Reclone: return "Reclone"; }
  return "?";
}
/// Public enums print their enumerator's name, so test frameworks show `Primary == Standby`;
/// to_string gives each enumerator's lower-case text for messages and events.
inline std::ostream& operator<<(std::ostream& o, Role v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, StopMode v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, SyncMode v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, RejoinMethod v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, LinkCut v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, CloneMethod v) { return o << enum_name(v); }
inline std::ostream& operator<<(std::ostream& o, RepairMethod v) { return o << enum_name(v); }

}  // namespace pgha
