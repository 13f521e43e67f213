// pgha/options.hpp: the enums and the options a node is created with.
#pragma once

#include "pgha/build_mode.hpp"

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
  Reset,      ///< connections are reset at once, new ones too: both ends notice immediately
  Blackhole,  ///< bytes silently stop flowing; the ends notice only through their timeouts
  /// The kernel drops the packets of the link's client side (nftables; root or
  /// CAP_NET_ADMIN, else SetupError): unlike Blackhole, whose relay still acknowledges what
  /// the client sends, the client's own TCP keepalives and tcp_user_timeout fire, as on a
  /// dead network. New connections hang in their SYN. Link::drop_available() says whether
  /// this machine can.
  Drop
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
PGHA_DECL const char* to_string(Role r) noexcept;

/// Text of a RejoinMethod, for messages and printing.
PGHA_DECL const char* to_string(RejoinMethod m) noexcept;

/// Text of a StopMode: "smart", "fast", "immediate", "crash".
PGHA_DECL const char* to_string(StopMode m) noexcept;

/// Text of a SyncMode: "async", "remote_write", "on", "remote_apply" (the mode's name; the
/// server setting it runs with is synchronous_commit_setting()).
PGHA_DECL const char* to_string(SyncMode m) noexcept;

/// Text of a LinkCut: "reset", "blackhole", "drop".
PGHA_DECL const char* to_string(LinkCut c) noexcept;

/// Text of a CloneMethod: "auto", "base_backup", "backup_api", "template_copy".
PGHA_DECL const char* to_string(CloneMethod m) noexcept;

/// Text of a RepairMethod: "auto", "rewind", "reclone".
PGHA_DECL const char* to_string(RepairMethod m) noexcept;

/// The `synchronous_commit` value a primary runs with in this mode: "remote_apply",
/// "on", "remote_write", and "on" for Async too (Async means an empty
/// synchronous_standby_names: commits wait for the local flush only).
PGHA_DECL const char* synchronous_commit_setting(SyncMode m) noexcept;
/// Same as synchronous_commit_setting (the older name; Async also gives "on").
PGHA_DECL const char* to_setting(SyncMode m) noexcept;

/// The enumerator's name ("Primary", "RemoteApply", ...), as the enums print with <<.
PGHA_DECL const char* enum_name(Role v) noexcept;
PGHA_DECL const char* enum_name(StopMode v) noexcept;
PGHA_DECL const char* enum_name(SyncMode v) noexcept;
PGHA_DECL const char* enum_name(RejoinMethod v) noexcept;
PGHA_DECL const char* enum_name(LinkCut v) noexcept;
PGHA_DECL const char* enum_name(CloneMethod v) noexcept;
PGHA_DECL const char* enum_name(RepairMethod v) noexcept;
/// Public enums print their enumerator's name, so test frameworks show `Primary == Standby`;
/// to_string gives each enumerator's lower-case text for messages and events.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Role v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, StopMode v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, SyncMode v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, RejoinMethod v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, LinkCut v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, CloneMethod v);
PGHA_DECL std::ostream& operator<<(std::ostream& o, RepairMethod v);

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/options.ipp"
#endif
