// pgha/node.hpp: pgha::Node, what every node can do whatever its current role. A node
// lives in a private temporary directory on its own port; destroying it stops its server
// and removes the directory (only in the process that created it). TempPrimary and
// TempStandby differ only in how they are born: the role of a node changes with promote()
// and rejoin(); its class does not.
//
// Threads: every call may come from any thread. Calls that change the node (start, stop,
// promote, rejoin, faults, configuration) take the node's lock; execute() runs on a
// session of the calling thread, so a writer thread blocked in a synchronous commit does
// not hold up a failover on the test's main thread.
#pragma once

#include "pgha/build_mode.hpp"
#include "pgha/link.hpp"

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <string>
#include <vector>

#include "pgha/connection.hpp"
#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/failover.hpp"
#include "pgha/detail/node_state.hpp"
#include "pgha/detail/template.hpp"
#endif
#include "pgha/events.hpp"
#include "pgha/options.hpp"
#include "pgha/pending_query.hpp"
#include "pgha/slots.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
class Node;
namespace detail {
class NodeState;
/// pgha's own classes (FailoverGuard, Endpoint, Partition, a standby's constructor) reach a
/// node's state through this; there is no public door into detail/.
struct NodeAccess {
  static NodeState& of(Node& n);
};
}  // namespace detail
}  // namespace pgha

namespace pgha {

/// How far a standby has caught up, as its upstream's pg_stat_replication shows it (the
/// catch-up modes of PostgreSQL's TAP framework): WAL sent to it, written by it, flushed by
/// it, or replayed by it.
enum class CatchupMode { Sent, Write, Flush, Replay };
/// "sent", "write", "flush", "replay" (the column prefix in pg_stat_replication).
PGHA_DECL const char* to_string(CatchupMode m) noexcept;
/// The enumerator's name ("Flush", ...), as the enums print with <<.
PGHA_DECL const char* enum_name(CatchupMode m) noexcept;
PGHA_DECL std::ostream& operator<<(std::ostream& o, CatchupMode m);

/// A server's auxiliary process, for Node::freeze_process: the checkpointer, the startup
/// process (recovery: replay on a standby), the WAL writer, the archiver (only with
/// archiving on) and the background writer.
enum class ServerProcess { Checkpointer, Startup, WalWriter, Archiver, BgWriter };
/// The process type as PostgreSQL titles it: "checkpointer", "startup", "walwriter",
/// "archiver", "background writer".
PGHA_DECL const char* to_string(ServerProcess p) noexcept;
/// The enumerator's name ("Checkpointer", ...), as the enums print with <<.
PGHA_DECL const char* enum_name(ServerProcess p) noexcept;
PGHA_DECL std::ostream& operator<<(std::ostream& o, ServerProcess p);

class Node {
public:
  Node(Node&& o) noexcept;
  Node& operator=(Node&& o) noexcept;
  /// Stops the server (bounded in time) and removes the node's directory (PGHA_KEEP=1 keeps
  /// it). In a fork()ed child that did not create the node, leaves both alone.
  virtual ~Node();

  // --- identity ---
  /// The node's name (Options::name or node<N>).
  const std::string& name() const;
  /// TCP port the server listens on (127.0.0.1).
  int port() const;
  /// Host to connect to: "127.0.0.1".
  std::string host() const;
  /// libpq keyword/value conninfo (TCP, SCRAM, user postgres, database `dbname`, every value
  /// quoted by libpq's rules), usable by any client.
  std::string conninfo(const std::string& dbname = "postgres") const;
  /// The superuser password in conninfo() (shared by a primary and its standbys).
  const std::string& password() const;
  /// Like conninfo(), as another role: the service's own (`CREATE ROLE app LOGIN PASSWORD
  /// 'secret'`), so a test connects the way the application does. The role is not created
  /// here; a role that does not exist fails at connect time with the server's error, which
  /// names the user. Throws UsageError for an empty user or dbname.
  std::string conninfo_as(const std::string& user, const std::string& password,
                          const std::string& dbname = "postgres") const;
  /// The application_name this node streams with as a standby (and lists first as a primary).
  const std::string& application_name() const;
  /// The server's data directory.
  const std::string& data_dir() const;
  /// The server's log file (stderr of the postmaster).
  const std::string& log_file() const;
  /// server_version_num of the binaries, e.g. 150018.
  int server_version_num() const;
  /// The binaries' directory.
  const std::string& bin_dir() const;
  /// The node's options (a copy: set_sync_mode may change them from another thread).
  Options options() const;
  /// Process id of the postmaster, or 0 when stopped.
  int pid() const;
  /// Last `lines` lines of the server log.
  std::string log_tail(int lines = 20) const;

  // --- SQL ---
  /// Opens a new connection over TCP with the node's conninfo().
  Connection connect(const std::string& dbname = "postgres") const;
  /// Runs SQL on the calling thread's session with this node and returns the last result.
  /// Commits follow the node's synchronous_commit (remote_apply by default). Session state
  /// (SET, an open transaction) carries over between calls of the same thread.
  /// A statement (or connection) past its deadline throws TimeoutError with the log tail.
  Result execute(const std::string& sql);
  /// Same as execute(sql), with $1, $2, ... bound to `params` (text values, never pasted
  /// into the SQL).
  Result execute(const std::string& sql, const std::vector<std::string>& params);
  /// Same as execute, for statements that return rows.
  Result query(const std::string& sql);
  /// Same as execute(sql, params), for statements that return rows.
  Result query(const std::string& sql, const std::vector<std::string>& params);
  /// Sends SQL on a new connection and returns at once; see PendingQuery.
  PendingQuery execute_async(const std::string& sql);

  // --- lifecycle ---
  /// Whether the server process is running.
  bool is_running();
  /// Primary, Standby, or Stopped. Asks the server (pg_is_in_recovery()); a server that
  /// cannot answer (frozen, in crash recovery, shutting down) is the role pgha gave it.
  Role role();
  /// Starts the stopped server in its current role and waits until it accepts connections.
  void start();
  /// Stops the server (any mode works on a frozen node). Fast (default) writes a shutdown
  /// checkpoint; Crash is SIGKILL. A stopped node is left as it is.
  void stop(StopMode mode = StopMode::Fast);
  /// Fast stop, then start.
  void restart();

  /// Switches synchronous_commit at run time; Async clears synchronous_standby_names, also
  /// when Options::settings lists names (as the Catch2 and GoogleTest fixtures do). Returns
  /// once the server reloaded its configuration: new transactions run in the new mode. The
  /// "sync_mode" event quotes both settings as the running server reports them.
  void set_sync_mode(SyncMode mode);

  // --- faults ---
  /// Freezes the whole server: SIGSTOP to the postmaster and all its children (stopping
  /// the postmaster alone would leave backends, walsender and walreceiver running).
  void freeze();
  /// Resumes a frozen server (SIGCONT to the postmaster and all its children).
  void thaw();
  /// Freezes this primary's walsender process(es): WAL stops flowing to its standbys.
  void freeze_walsender();
  /// Resumes this primary's walsender process(es).
  void thaw_walsender();
  /// Freezes this standby's walreceiver: it stops receiving and confirming WAL.
  void freeze_walreceiver();
  /// Resumes this standby's walreceiver.
  void thaw_walreceiver();
  /// Freezes one auxiliary process (SIGSTOP), the rest of the server running: a frozen
  /// Checkpointer holds every CHECKPOINT and restartpoint, a frozen Startup process stops
  /// a standby's replay mid-record (unlike pause_replay(), which the server knows of), a
  /// frozen WalWriter leaves flushing to the backends. Throws StateError at once when the
  /// server does not run that process (Startup on a primary, Archiver without archiving)
  /// or is not running.
  void freeze_process(ServerProcess p);
  /// Resumes a process frozen by freeze_process (SIGCONT; nothing to do if it is gone).
  void thaw_process(ServerProcess p);
  /// Fills this node's WAL disk: a file system of one page is mounted over its pg_wal
  /// (needs root or CAP_SYS_ADMIN; SetupError naming the requirement otherwise, see
  /// wal_space_available()). The server keeps the WAL segment it has open; on a running
  /// primary pgha ends that segment (pg_switch_wal), so the next WAL write needs a new one
  /// and fails with ENOSPC: the server PANICs and stays down, as on a full disk (a standby
  /// fails as its next segment arrives). Its earlier WAL is hidden meanwhile: start() and
  /// rejoin() throw StateError until release_wal_space(). Again on an exhausted node: no
  /// change.
  void exhaust_wal_space();
  /// Lifts exhaust_wal_space(): the node's WAL is back, so it can be started or rejoined.
  /// Nothing to do on a node whose WAL space is not exhausted. The node's destructor lifts
  /// it too.
  void release_wal_space();
  /// Whether exhaust_wal_space() is in effect.
  bool wal_space_exhausted();
  /// Whether exhaust_wal_space() can work on this machine; `why` (if given) says what is
  /// missing when not.
  static bool wal_space_available(std::string* why = nullptr);
  /// Pauses WAL replay on a standby (pg_wal_replay_pause): it still receives WAL.
  void pause_replay();
  /// Resumes WAL replay on a standby.
  void resume_replay();

  /// Cuts this standby's replication link without stopping either server: Reset refuses
  /// and resets connections at once, Blackhole silently stops all bytes (the ends notice
  /// only through wal_receiver_timeout / wal_sender_timeout). Needs Options::relay.
  /// Shorthand for replication_link().cut(how).
  void cut_link(LinkCut how = LinkCut::Reset);
  /// Lifts the cut set by cut_link() (a live Partition's stays); after a Blackhole, held
  /// connections resume where they stopped.
  void heal_link();
  /// Adds latency to each chunk on the link, in each direction (0 = none).
  void set_link_delay(std::chrono::milliseconds d);
  /// This standby's replication link (see pgha::Link): per-direction cuts, delay, bandwidth,
  /// counters. StateError on a primary or without Options::relay. promote() ends the link:
  /// a reference kept from before then gives StateError on every call (it stays a valid
  /// object while the node lives); after a rejoin, ask again for the new link.
  Link& replication_link();

  // --- failover ---
  /// Turns a running standby into a primary; returns once it accepts writes.
  /// Throws StateError on a primary, a stopped or a frozen node.
  void promote();
  /// Makes this node a synchronous standby of `new_primary` (a running primary): stops it
  /// if running, resumes it on the new timeline after a clean stop, or rewinds/re-clones it
  /// when its WAL diverged (after a crash, a promote it did not see, or when it belongs to
  /// another cluster), starts it and waits until it streams (and has a sync priority, when
  /// the primary lists it). Returns the method used.
  RejoinMethod rejoin(Node& new_primary);
  /// How the last rejoin() brought this node back.
  RejoinMethod last_rejoin_method() const noexcept;
  /// Whether this node was ever rejoined (by rejoin() or a FailoverGuard); before that,
  /// last_rejoin_method() says Resumed though no rejoin ran.
  bool has_rejoined() const noexcept;
  /// How the node was last rejoined, or empty before its first rejoin.
  std::optional<RejoinMethod> last_rejoin() const noexcept;

  // --- waits ---
  /// Current WAL insert position of a primary (or replay position of a standby), as text.
  std::string current_lsn();
  /// Waits until this standby has replayed `lsn`. StateError at once on a primary.
  void wait_for_replay(const std::string& lsn);
  /// Waits until `standby` has replayed everything this node has written so far.
  void wait_for_catchup(Node& standby);
  /// Waits until `standby` has sent / written / flushed / replayed (`mode`) everything this
  /// node has written so far, as this node's pg_stat_replication shows it. StateError at once
  /// when `standby` is this node or does not stream from it (no walsender serves it).
  void wait_for_catchup(Node& standby, CatchupMode mode);
  /// The size of the server log now, in bytes: give it to wait_for_log() to look only at
  /// what the server writes from here on.
  std::size_t log_offset() const;
  /// Waits until a line of the server log, from byte `offset` on, matches `pattern` (a
  /// std::regex, ECMAScript) and returns that line. UsageError at once for an invalid
  /// pattern or an offset past the end; TimeoutError with the log tail after `timeout`
  /// (0: the node's Options::timeout).
  std::string wait_for_log(const std::string& pattern, std::size_t offset = 0,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0));
  /// Polls an SQL predicate (a query returning one boolean) until it is true.
  void wait_until(const std::string& predicate_sql,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0));

  // --- replication slots (pgha/slots.hpp: what each version does through a failover) ---
  /// Creates logical slot `name` with `plugin` (test_decoding, pgoutput) on this primary
  /// (needs settings["wal_level"] = "logical"). `failover` = true (PG 17+; VersionError
  /// before) makes pgha-configured standbys keep a synced copy that survives a promote.
  void create_logical_slot(const std::string& name, const std::string& plugin = "test_decoding",
                           bool failover = false);
  /// Reads and confirms every change available in logical slot `name`; StateError when this
  /// node has no such slot (e.g. the new primary after a failover before PG 17).
  std::vector<Change> read_changes(const std::string& name);
  /// Same, with plugin options (pgoutput needs publication_names; data is then raw bytes).
  std::vector<Change> read_changes(const std::string& name, const std::map<std::string, std::string>& plugin_options);
  /// PG 17+ (VersionError before): waits until this standby's synced copy of failover slot
  /// `name` caught up with the slot on its upstream as it is now.
  void wait_for_slot_sync(const std::string& name);

protected:
  explicit Node(std::unique_ptr<detail::NodeState> st);

  // Resolves binaries and user, creates the node's directory and port.
  static std::unique_ptr<detail::NodeState> make_state(const Options& opts);

private:
  friend struct detail::NodeAccess;
  // The node's state (pgha's own classes: detail::NodeAccess::of).
  detail::NodeState& state();

  // Runs on the calling thread's session; a session whose state is unknown (timeout) or
  // that broke is dropped, so the next call opens a fresh one.
  template <class F>
  Result on_session(F run);
  // Emits an event of this node: a fault set or healed, a setting changed (cheap when
  // nobody listens).
  void note_event(const char* kind, const std::string& what);
  // The current timeline, or 0 if the node cannot say (events only: never throws).
  std::uint32_t timeline_or_0() noexcept;
  // The timeline `tli` forked from: the first field of the last line of its history file
  // ("" if unknown; events only: never throws).
  std::string parent_timeline(std::uint32_t tli) const noexcept;
  // One value the server reports, or "" if it cannot say (events only: never throws).
  std::string fact_or_empty(const std::string& sql) noexcept;
  template <class F>
  void locked(F f);
  void signal_required(const std::string& part, int sig);
  detail::NodeState& s() const;
  std::unique_ptr<detail::NodeState> st_;
  // Handles on the replication links this node had (replication_link()), oldest first;
  // under the state's mutex.
  std::vector<std::unique_ptr<Link>> links_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/node.ipp"
#endif
