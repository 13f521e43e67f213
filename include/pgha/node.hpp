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

#include <atomic>
#include <chrono>
#include <cstdlib>
#include <map>
#include <memory>
#include <optional>
#include <ostream>
#include <regex>
#include <string>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/detail/failover.hpp"
#include "pgha/detail/node_state.hpp"
#include "pgha/detail/template.hpp"
#include "pgha/events.hpp"
#include "pgha/options.hpp"
#include "pgha/pending_query.hpp"
#include "pgha/slots.hpp"

namespace pgha {

/// How far a standby has caught up, as its upstream's pg_stat_replication shows it (the
/// catch-up modes of PostgreSQL's TAP framework): WAL sent to it, written by it, flushed by
/// it, or replayed by it.
enum class CatchupMode { Sent, Write, Flush, Replay };
/// "sent", "write", "flush", "replay" (the column prefix in pg_stat_replication).
inline const char* to_string(CatchupMode m) noexcept {
  switch (m) {
    case CatchupMode::Sent: return "sent";
    case CatchupMode::Write: return "write";
    case CatchupMode::Flush: return "flush";
    case CatchupMode::Replay: return "replay";
  }
  return "?";
}
/// The enumerator's name ("Flush", ...), as the enums print with <<.
inline const char* enum_name(CatchupMode m) noexcept {
  switch (m) {
    case CatchupMode::Sent: return "Sent";
    case CatchupMode::Write: return "Write";
    case CatchupMode::Flush: return "Flush";
    case CatchupMode::Replay: return "Replay";
  }
  return "?";
}
inline std::ostream& operator<<(std::ostream& o, CatchupMode m) { return o << enum_name(m); }

class Node {
public:
  Node(Node&& o) noexcept : st_(std::move(o.st_)) {}
  Node& operator=(Node&& o) noexcept {
    if (this != &o) st_ = std::move(o.st_);  // the old state is destroyed: server stopped, directory removed
    return *this;
  }
  /// Stops the server (bounded in time) and removes the node's directory (PGHA_KEEP=1 keeps
  /// it). In a fork()ed child that did not create the node, leaves both alone.
  virtual ~Node() = default;

  // --- identity ---
  /// The node's name (Options::name or node<N>).
  const std::string& name() const { return s().dir().name(); }
  /// TCP port the server listens on (127.0.0.1).
  int port() const { return s().dir().port(); }
  /// Host to connect to: "127.0.0.1".
  std::string host() const { return "127.0.0.1"; }
  /// libpq keyword/value conninfo (TCP, SCRAM, user postgres, database `dbname`, every value
  /// quoted by libpq's rules), usable by any client.
  std::string conninfo(const std::string& dbname = "postgres") const { return s().tcp_conninfo(dbname); }
  /// The superuser password in conninfo() (shared by a primary and its standbys).
  const std::string& password() const { return s().creds().superuser_password; }
  /// The application_name this node streams with as a standby (and lists first as a primary).
  const std::string& application_name() const { return s().topo().app_name(); }
  /// The server's data directory.
  const std::string& data_dir() const { return s().dir().data(); }
  /// The server's log file (stderr of the postmaster).
  const std::string& log_file() const { return s().dir().log(); }
  /// server_version_num of the binaries, e.g. 150018.
  int server_version_num() const { return s().bins().version_num; }
  /// The binaries' directory.
  const std::string& bin_dir() const { return s().bins().bin_dir; }
  /// The node's options (a copy: set_sync_mode may change them from another thread).
  Options options() const {
    std::lock_guard<std::recursive_mutex> l(s().mutex());
    return s().opts();
  }
  /// Process id of the postmaster, or 0 when stopped.
  int pid() const { return s().server().pid(); }
  /// Last `lines` lines of the server log.
  std::string log_tail(int lines = 20) const { return s().log_tail(lines); }

  // --- SQL ---
  /// Opens a new connection over TCP with the node's conninfo().
  Connection connect(const std::string& dbname = "postgres") const {
    return Connection(conninfo(dbname), s().opts().timeout, s().label());
  }
  /// Runs SQL on the calling thread's session with this node and returns the last result.
  /// Commits follow the node's synchronous_commit (remote_apply by default). Session state
  /// (SET, an open transaction) carries over between calls of the same thread.
  /// A statement (or connection) past its deadline throws TimeoutError with the log tail.
  Result execute(const std::string& sql) {
    return on_session([&](Connection& c) { return c.execute(sql); });
  }
  /// Same as execute(sql), with $1, $2, ... bound to `params` (text values, never pasted
  /// into the SQL).
  Result execute(const std::string& sql, const std::vector<std::string>& params) {
    return on_session([&](Connection& c) { return c.execute(sql, params); });
  }
  /// Same as execute, for statements that return rows.
  Result query(const std::string& sql) { return execute(sql); }
  /// Same as execute(sql, params), for statements that return rows.
  Result query(const std::string& sql, const std::vector<std::string>& params) {
    return execute(sql, params);
  }
  /// Sends SQL on a new connection and returns at once; see PendingQuery.
  PendingQuery execute_async(const std::string& sql) {
    return PendingQuery(s().new_local_connection(), sql);
  }

  // --- lifecycle ---
  /// Whether the server process is running.
  bool is_running() { return s().running(); }
  /// Primary, Standby, or Stopped. Asks the server (pg_is_in_recovery()); a server that
  /// cannot answer (frozen, in crash recovery, shutting down) is the role pgha gave it.
  Role role() { return s().role(); }
  /// Starts the stopped server in its current role and waits until it accepts connections.
  void start() { s().start(); }
  /// Stops the server (any mode works on a frozen node). Fast (default) writes a shutdown
  /// checkpoint; Crash is SIGKILL. A stopped node is left as it is.
  void stop(StopMode mode = StopMode::Fast) { s().stop(mode); }
  /// Fast stop, then start.
  void restart() {
    std::lock_guard<std::recursive_mutex> l(s().mutex());
    stop(StopMode::Fast);
    start();
  }

  /// Switches synchronous_commit at run time; Async clears synchronous_standby_names, also
  /// when Options::settings lists names (as the Catch2 and GoogleTest fixtures do). Returns
  /// once the server reloaded its configuration: new transactions run in the new mode. The
  /// "sync_mode" event quotes both settings as the running server reports them.
  void set_sync_mode(SyncMode mode) {
    s().set_sync_mode(mode);
    if (!detail::events_on()) return;
    std::string what;
    try {
      if (!s().running()) {
        what = std::string("synchronous_commit = ") + synchronous_commit_setting(mode) +
               " at the next start (the server is stopped)";
      } else {
        Result r = s().admin_query("SELECT current_setting('synchronous_commit'), "
                                   "current_setting('synchronous_standby_names')");
        what = "synchronous_commit = " + r.value(0, 0) + ", synchronous_standby_names = '" +
               r.value(0, 1) + "'" + (r.value(0, 1).empty() ? " (no synchronous standby)" : "");
      }
    } catch (const Error& e) {
      what = std::string("synchronous_commit = ") + synchronous_commit_setting(mode) +
             " written; the server did not say what it has: " + e.message();
    }
    note_event("sync_mode", what);
  }

  // --- faults ---
  /// Freezes the whole server: SIGSTOP to the postmaster and all its children (stopping
  /// the postmaster alone would leave backends, walsender and walreceiver running).
  void freeze() { locked([](detail::NodeState& n) { n.server().freeze(); }); note_event("fault", "frozen (SIGSTOP to every server process)"); }
  /// Resumes a frozen server (SIGCONT to the postmaster and all its children).
  void thaw() { locked([](detail::NodeState& n) { n.server().thaw(); }); note_event("heal", "thawed (SIGCONT)"); }
  /// Freezes this primary's walsender process(es): WAL stops flowing to its standbys.
  void freeze_walsender() { signal_required("walsender", SIGSTOP); note_event("fault", "walsender frozen"); }
  /// Resumes this primary's walsender process(es).
  void thaw_walsender() { locked([](detail::NodeState& n) { n.server().signal_children(SIGCONT, "walsender"); }); note_event("heal", "walsender thawed"); }
  /// Freezes this standby's walreceiver: it stops receiving and confirming WAL.
  void freeze_walreceiver() { signal_required("walreceiver", SIGSTOP); note_event("fault", "walreceiver frozen"); }
  /// Resumes this standby's walreceiver.
  void thaw_walreceiver() { locked([](detail::NodeState& n) { n.server().signal_children(SIGCONT, "walreceiver"); }); note_event("heal", "walreceiver thawed"); }
  /// Pauses WAL replay on a standby (pg_wal_replay_pause): it still receives WAL.
  void pause_replay() { s().admin_query("SELECT pg_wal_replay_pause()"); note_event("fault", "replay paused"); }
  /// Resumes WAL replay on a standby.
  void resume_replay() { s().admin_query("SELECT pg_wal_replay_resume()"); note_event("heal", "replay resumed"); }

  /// Cuts this standby's replication link without stopping either server: Reset refuses
  /// and resets connections at once, Blackhole silently stops all bytes (the ends notice
  /// only through wal_receiver_timeout / wal_sender_timeout). Needs Options::relay.
  /// Shorthand for replication_link().cut(how).
  void cut_link(LinkCut how = LinkCut::Reset) { s().link().cut(how); }
  /// Lifts the cut set by cut_link() (a live Partition's stays); after a Blackhole, held
  /// connections resume where they stopped.
  void heal_link() { s().link().heal(); }
  /// Adds latency to each chunk on the link, in each direction (0 = none).
  void set_link_delay(std::chrono::milliseconds d) { s().link().delay(d); }
  /// This standby's replication link (see pgha::Link): per-direction cuts, delay, bandwidth,
  /// counters. StateError on a primary or without Options::relay. promote() ends the link:
  /// a reference kept from before then gives StateError on every call (it stays a valid
  /// object while the node lives); after a rejoin, ask again for the new link.
  Link& replication_link() { return s().link(); }

  // --- failover ---
  /// Turns a running standby into a primary; returns once it accepts writes.
  /// Throws StateError on a primary, a stopped or a frozen node.
  void promote() {
    {
      detail::StepEvent ev(name(), "promote", [&](Event& e) { e.message = "promoted to primary"; });
      detail::promote(s());
    }
    if (detail::events_on()) {
      std::uint32_t now = timeline_or_0();
      std::string parent = parent_timeline(now);
      detail::emit(name(), "timeline", "timeline " + (parent.empty() ? "?" : parent) + " -> " + std::to_string(now), {},
                   {{"timeline", std::to_string(now)}, {"lsn", fact_or_empty("SELECT pg_current_wal_lsn()")}});
    }
  }
  /// Makes this node a synchronous standby of `new_primary` (a running primary): stops it
  /// if running, resumes it on the new timeline after a clean stop, or rewinds/re-clones it
  /// when its WAL diverged (after a crash, a promote it did not see, or when it belongs to
  /// another cluster), starts it and waits until it streams (and has a sync priority, when
  /// the primary lists it). Returns the method used.
  RejoinMethod rejoin(Node& new_primary) { return detail::rejoin_step(s(), new_primary.s()); }
  /// How the last rejoin() brought this node back.
  RejoinMethod last_rejoin_method() const noexcept { return last_rejoin().value_or(RejoinMethod::Resumed); }
  /// Whether this node was ever rejoined (by rejoin() or a FailoverGuard); before that,
  /// last_rejoin_method() says Resumed though no rejoin ran.
  bool has_rejoined() const noexcept { return last_rejoin().has_value(); }
  /// How the node was last rejoined, or empty before its first rejoin.
  std::optional<RejoinMethod> last_rejoin() const noexcept {
    return st_ ? st_->last_rejoin() : std::nullopt;
  }

  // --- waits ---
  /// Current WAL insert position of a primary (or replay position of a standby), as text.
  std::string current_lsn() {
    return s().admin_query("SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                           "ELSE pg_current_wal_lsn() END").value(0, 0);
  }
  /// Waits until this standby has replayed `lsn`. StateError at once on a primary.
  void wait_for_replay(const std::string& lsn) {
    auto& n = s();
    if (n.role() != Role::Standby)
      throw StateError("wait_for_replay() needs a standby; this node is " + std::string(to_string(n.role())) +
                           ", which replays nothing", n.label());
    std::string sql = "SELECT pg_last_wal_replay_lsn(), pg_last_wal_replay_lsn() >= " +
                      detail::sql_literal(lsn) + "::pg_lsn";
    detail::wait_until("replay to reach " + lsn, n.opts().timeout, n.label(),
                       [&](std::string& seen) {
                         Result r = n.admin_query(sql);
                         seen = "replayed up to " + (r.is_null(0, 0) ? "nothing" : r.value(0, 0));
                         return r.value(0, 1) == "t";
                       },
                       [&] { return n.log_tail(); });
  }
  /// Waits until `standby` has replayed everything this node has written so far.
  void wait_for_catchup(Node& standby) {
    if (&standby == this)
      throw StateError("wait_for_catchup() of a node with itself; expected one of its standbys",
                       s().label());
    standby.wait_for_replay(current_lsn());
  }
  /// Waits until `standby` has sent / written / flushed / replayed (`mode`) everything this
  /// node has written so far, as this node's pg_stat_replication shows it. StateError at once
  /// when `standby` is this node or does not stream from it (no walsender serves it).
  void wait_for_catchup(Node& standby, CatchupMode mode) {
    if (&standby == this)
      throw StateError("wait_for_catchup() of a node with itself; expected one of its standbys",
                       s().label());
    auto& n = s();
    const std::string target = current_lsn();
    const std::string col = std::string(to_string(mode)) + "_lsn";
    const std::string app = standby.application_name();
    const std::string sql = "SELECT " + col + "::text, " + col + " >= " + detail::sql_literal(target) +
                            "::pg_lsn FROM pg_stat_replication WHERE application_name = " +
                            detail::sql_literal(app);
    if (n.admin_query(sql).rows() == 0)
      throw StateError("wait_for_catchup(" + standby.name() + ", " + enum_name(mode) + "): no walsender of " +
                           n.label() + " serves " + standby.name() + " (application_name '" + app +
                           "'); expected a standby streaming from this node",
                       n.label());
    detail::wait_until(standby.name() + "'s " + to_string(mode) + " position to reach " + target,
                       n.opts().timeout, n.label(),
                       [&](std::string& seen) {
                         Result r = n.admin_query(sql);
                         if (r.rows() == 0) { seen = "no walsender serves it"; return false; }
                         seen = col + " " + (r.is_null(0, 0) ? "null" : r.value(0, 0));
                         return r.value(0, 1) == "t";
                       },
                       [&] { return n.log_tail(); });
  }
  /// The size of the server log now, in bytes: give it to wait_for_log() to look only at
  /// what the server writes from here on.
  std::size_t log_offset() const { return detail::file_size(s().dir().log()); }
  /// Waits until a line of the server log, from byte `offset` on, matches `pattern` (a
  /// std::regex, ECMAScript) and returns that line. UsageError at once for an invalid
  /// pattern or an offset past the end; TimeoutError with the log tail after `timeout`
  /// (0: the node's Options::timeout).
  std::string wait_for_log(const std::string& pattern, std::size_t offset = 0,
                           std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto& n = s();
    std::regex re;
    try {
      re = std::regex(pattern, std::regex::ECMAScript);
    } catch (const std::regex_error& e) {
      throw UsageError("wait_for_log: '" + pattern + "' is not a valid regular expression (" +
                       e.what() + "); expected an ECMAScript pattern");
    }
    if (offset > log_offset())
      throw UsageError("wait_for_log: offset " + std::to_string(offset) + " is past the end of " +
                       n.dir().log() + " (" + std::to_string(log_offset()) +
                       " bytes); expected a value log_offset() returned");
    std::string found;
    std::size_t scanned = offset;  // complete lines before this byte did not match
    detail::wait_until("a log line matching '" + pattern + "'",
                       timeout.count() ? timeout : n.opts().timeout, n.label(),
                       [&](std::string& seen) {
                         std::string text = detail::read_file(n.dir().log(), scanned);
                         std::size_t start = 0;
                         for (std::size_t nl; (nl = text.find('\n', start)) != std::string::npos; start = nl + 1) {
                           std::string line = text.substr(start, nl - start);
                           if (std::regex_search(line, re)) {
                             found = line;
                             return true;
                           }
                         }
                         scanned += start;  // a line still being written is read again
                         seen = std::to_string(scanned - offset) + " bytes of new log, no match";
                         return false;
                       },
                       [&] { return n.log_tail(); });
    return found;
  }
  /// Polls an SQL predicate (a query returning one boolean) until it is true.
  void wait_until(const std::string& predicate_sql,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto& n = s();
    detail::wait_until("'" + predicate_sql + "' to be true",
                       timeout.count() ? timeout : n.opts().timeout, n.label(),
                       [&](std::string& seen) {
                         Result r = n.admin_query(predicate_sql);
                         seen = r.rows() ? r.value(0, 0) : "no rows";
                         return seen == "t";
                       },
                       [&] { return n.log_tail(); });
  }

  // --- replication slots (pgha/slots.hpp: what each version does through a failover) ---
  /// Creates logical slot `name` with `plugin` (test_decoding, pgoutput) on this primary
  /// (needs settings["wal_level"] = "logical"). `failover` = true (PG 17+; VersionError
  /// before) makes pgha-configured standbys keep a synced copy that survives a promote.
  void create_logical_slot(const std::string& name, const std::string& plugin = "test_decoding",
                           bool failover = false) { detail::create_logical_slot(s(), name, plugin, failover); }
  /// Reads and confirms every change available in logical slot `name`; StateError when this
  /// node has no such slot (e.g. the new primary after a failover before PG 17).
  std::vector<Change> read_changes(const std::string& name) { return detail::read_changes(s(), name, {}); }
  /// Same, with plugin options (pgoutput needs publication_names; data is then raw bytes).
  std::vector<Change> read_changes(const std::string& name, const std::map<std::string, std::string>& plugin_options) {
    return detail::read_changes(s(), name, plugin_options);
  }
  /// PG 17+ (VersionError before): waits until this standby's synced copy of failover slot
  /// `name` caught up with the slot on its upstream as it is now.
  void wait_for_slot_sync(const std::string& name) { detail::wait_for_slot_sync(s(), name); }

  /// Internal state (for pgha's own classes).
  detail::NodeState& state() { return s(); }

protected:
  explicit Node(std::unique_ptr<detail::NodeState> st) : st_(std::move(st)) {}

  // Resolves binaries and user, creates the node's directory and port.
  static std::unique_ptr<detail::NodeState> make_state(const Options& opts) {
    static std::atomic<int> counter{0};
    int number = ++counter;
    auto bins = detail::find_binaries(opts.bin_dir);
    auto ra = detail::run_as();
    std::string name = opts.name.empty() ? "node" + std::to_string(number) : opts.name;
    return std::make_unique<detail::NodeState>(opts, bins, ra, name);
  }

private:
  // Runs on the calling thread's session; a session whose state is unknown (timeout) or
  // that broke is dropped, so the next call opens a fresh one.
  template <class F>
  Result on_session(F run) {
    auto& n = s();
    try {
      auto c = n.user_session();
      return run(*c);
    } catch (const TimeoutError& e) {
      n.drop_user_session();  // its state is unknown after a timeout
      if (!e.log_tail().empty()) throw;
      throw TimeoutError(e.message(), n.label(), n.log_tail());
    } catch (const ConnectionError&) {
      n.drop_user_session();
      throw;
    }
  }
  // Emits an event of this node: a fault set or healed, a setting changed (cheap when
  // nobody listens).
  void note_event(const char* kind, const std::string& what) {
    if (detail::events_on()) detail::emit(name(), kind, what);
  }
  // The current timeline, or 0 if the node cannot say (events only: never throws).
  std::uint32_t timeline_or_0() noexcept {
    try {
      return s().current_timeline();
    } catch (...) {
      return 0;
    }
  }
  // The timeline `tli` forked from: the first field of the last line of its history file
  // ("" if unknown; events only: never throws).
  std::string parent_timeline(std::uint32_t tli) const noexcept {
    try {
      std::string h = tli > 1 ? detail::read_file(data_dir() + "/pg_wal/" + detail::history_file_name(tli)) : "";
      std::size_t last = h.find_last_not_of('\n');
      if (last == std::string::npos) return {};
      std::size_t line = h.rfind('\n', last);
      return std::to_string(std::strtoul(h.c_str() + (line == std::string::npos ? 0 : line + 1), nullptr, 10));
    } catch (...) {
      return {};
    }
  }
  // One value the server reports, or "" if it cannot say (events only: never throws).
  std::string fact_or_empty(const std::string& sql) noexcept {
    try {
      return s().admin_query(sql).value(0, 0);
    } catch (...) {
      return {};
    }
  }
  template <class F>
  void locked(F f) {
    auto& n = s();
    std::lock_guard<std::recursive_mutex> l(n.mutex());
    f(n);
  }
  void signal_required(const std::string& part, int sig) {
    auto& n = s();
    std::lock_guard<std::recursive_mutex> l(n.mutex());
    if (n.server().signal_children(sig, part) == 0)
      throw StateError("no " + part + " process to signal; expected " +
                           (part == "walsender" ? "a primary with a connected standby"
                                                : "a standby that is streaming"),
                       n.label());
  }
  detail::NodeState& s() const {
    if (!st_) throw StateError("this pgha node was moved from; use the object it was moved to");
    return *st_;
  }
  std::unique_ptr<detail::NodeState> st_;
};

}  // namespace pgha
