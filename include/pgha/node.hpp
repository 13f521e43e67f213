// pgha/node.hpp: pgha::Node, what every node can do whatever its current role. A node
// lives in a private temporary directory on its own port; destroying it stops its server
// and removes the directory. TempPrimary and TempStandby differ only in how they are
// born: the role of a node changes with promote() and rejoin(); its class does not.
#pragma once

#include <chrono>
#include <memory>
#include <string>

#include "pgha/connection.hpp"
#include "pgha/detail/client_tools.hpp"
#include "pgha/detail/node_state.hpp"
#include "pgha/detail/replication.hpp"
#include "pgha/detail/timeline.hpp"
#include "pgha/options.hpp"
#include "pgha/pending_query.hpp"

namespace pgha {

class Node {
public:
  Node(Node&&) noexcept = default;
  Node& operator=(Node&& o) noexcept {
    if (this != &o) { if (st_) st_->destroy(); st_ = std::move(o.st_); }
    return *this;
  }
  /// Stops the server (bounded in time) and removes the node's directory (PGHA_KEEP=1 keeps it).
  virtual ~Node() { if (st_) st_->destroy(); }

  // --- identity ---
  /// The node's name (Options::name or node<N>).
  const std::string& name() const { return s().name; }
  /// TCP port the server listens on (127.0.0.1).
  int port() const { return s().lease.port(); }
  /// Host to connect to: "127.0.0.1".
  std::string host() const { return "127.0.0.1"; }
  /// libpq keyword/value conninfo (TCP, SCRAM, superuser "postgres"), usable by any client.
  std::string conninfo(const std::string& dbname = "postgres") const { return s().tcp_conninfo(dbname); }
  /// The superuser password in conninfo() (shared by a primary and its standbys).
  const std::string& password() const { return s().creds.superuser_password; }
  /// The server's data directory.
  const std::string& data_dir() const { return s().data; }
  /// The server's log file (stderr of the postmaster).
  const std::string& log_file() const { return s().log; }
  /// server_version_num of the binaries, e.g. 150018.
  int server_version_num() const { return s().bins.version_num; }
  /// The binaries' directory.
  const std::string& bin_dir() const { return s().bins.bin_dir; }
  /// The options the node was created with.
  const Options& options() const { return s().opts; }
  /// Process id of the postmaster, or 0 when stopped.
  int pid() const { return s().pid; }
  /// Last `lines` lines of the server log.
  std::string log_tail(int lines = 20) const { return s().log_tail(lines); }

  // --- SQL ---
  /// Opens a new connection over TCP with the node's conninfo().
  Connection connect(const std::string& dbname = "postgres") const {
    return Connection(conninfo(dbname), s().opts.timeout, s().label());
  }
  /// Runs SQL on the node's shared connection and returns the last result.
  /// Commits follow the node's synchronous_commit (remote_apply by default).
  /// A statement (or connection) past its deadline throws TimeoutError with the log tail.
  Result execute(const std::string& sql) {
    return with_log_tail([&] { return s().admin().execute(sql); });
  }
  /// Same as execute, for statements that return rows.
  Result query(const std::string& sql) { return execute(sql); }
  /// Sends SQL on a new connection and returns at once; see PendingQuery.
  PendingQuery execute_async(const std::string& sql) {
    s().admin();  // throws StateError if stopped
    return PendingQuery(Connection(s().admin_conninfo(), s().opts.timeout, s().label()), sql);
  }

  // --- lifecycle ---
  /// Whether the server process is running.
  bool is_running() { return s().running(); }
  /// Primary, Standby, or Stopped (asks the server: pg_is_in_recovery()).
  Role role() {
    if (!s().running()) return Role::Stopped;
    return s().admin().query("SELECT pg_is_in_recovery()").value(0, 0) == "t" ? Role::Standby
                                                                            : Role::Primary;
  }
  /// Starts the stopped server in its current role and waits until it accepts connections.
  void start() { s().start(); }
  /// Stops the server. Fast (default) writes a shutdown checkpoint; Crash is SIGKILL.
  /// A stopped node is left as it is.
  void stop(StopMode mode = StopMode::Fast) { s().stop(mode); }
  /// Fast stop, then start.
  void restart() { stop(StopMode::Fast); start(); }

  /// Switches synchronous_commit at run time (Async clears synchronous_standby_names);
  /// takes effect for new transactions once the server reloaded its configuration.
  void set_sync_mode(SyncMode mode) {
    auto& n = s();
    n.opts.sync_mode = mode;
    if (n.running()) n.reload(); else n.write_config();
  }

  // --- faults ---
  /// Freezes the whole server: SIGSTOP to the postmaster and all its children (stopping
  /// the postmaster alone would leave backends, walsender and walreceiver running).
  void freeze() { signal_tree(SIGSTOP, ""); }
  /// Resumes a frozen server (SIGCONT to the postmaster and all its children).
  void thaw() { signal_tree(SIGCONT, ""); }
  /// Freezes this primary's walsender process(es): WAL stops flowing to its standbys.
  void freeze_walsender() { require_process("walsender", SIGSTOP); }
  /// Resumes this primary's walsender process(es).
  void thaw_walsender() { signal_tree(SIGCONT, "walsender"); }
  /// Freezes this standby's walreceiver: it stops receiving and confirming WAL.
  void freeze_walreceiver() { require_process("walreceiver", SIGSTOP); }
  /// Resumes this standby's walreceiver.
  void thaw_walreceiver() { signal_tree(SIGCONT, "walreceiver"); }
  /// Pauses WAL replay on a standby (pg_wal_replay_pause): it still receives WAL.
  void pause_replay() { execute("SELECT pg_wal_replay_pause()"); }
  /// Resumes WAL replay on a standby.
  void resume_replay() { execute("SELECT pg_wal_replay_resume()"); }

  /// Cuts this standby's replication link without stopping either server: Reset refuses
  /// and resets connections at once, Blackhole silently stops all bytes (the ends notice
  /// only through wal_receiver_timeout / wal_sender_timeout). Needs Options::relay.
  void cut_link(LinkCut how = LinkCut::Reset) {
    link().set_state(how == LinkCut::Reset ? detail::LinkState::Reset : detail::LinkState::Blackhole);
  }
  /// Restores the link; after a Blackhole, held connections resume where they stopped.
  void heal_link() { link().set_state(detail::LinkState::Pass); }
  /// Adds latency to each chunk on the link, in each direction (0 = none).
  void set_link_delay(std::chrono::milliseconds d) { link().set_delay(d); }

  // --- failover ---
  /// Turns a running standby into a primary; returns once it accepts writes.
  /// Throws StateError on a primary or a stopped node.
  void promote() {
    auto& n = s();
    if (!n.running())
      throw StateError("promote() needs a running standby; the node is stopped", n.label(),
                       n.log_tail());
    if (role() != Role::Standby)
      throw StateError("promote() called on a primary; expected a standby", n.label());
    if (n.bins.major >= 12) {
      n.admin().execute("SELECT pg_promote(false)");  // we poll below at ms granularity
    } else {
      // PG 11 has no pg_promote(): do what `pg_ctl promote` does.
      detail::write_file(n.data + "/promote", "", n.ra);
      ::kill(n.pid, SIGUSR1);
    }
    detail::wait_until("promotion to finish (pg_is_in_recovery() = false)", n.opts.timeout,
                       n.label(),
                       [&](std::string& seen) {
                         seen = "pg_is_in_recovery() = " +
                                n.admin().query("SELECT pg_is_in_recovery()").value(0, 0);
                         return seen.back() == 'f';
                       },
                       [&] { return n.log_tail(); });
    n.standby = false;
    n.link.reset();
    n.upstream_port = 0;
    n.upstream_archive.clear();
    n.write_config();
  }

  /// Makes this node a synchronous standby of `new_primary` (a running primary): stops it
  /// if running, resumes it on the new timeline after a clean stop, or re-clones it when
  /// its WAL diverged (after a crash, or a promote it did not see), starts it and waits
  /// until it streams (and is sync, when the primary lists it). Returns the method used.
  RejoinMethod rejoin(Node& new_primary) {
    auto& n = s();
    auto& p = new_primary.s();
    if (&n == &p) throw StateError("rejoin() onto itself; expected another node", n.label());
    if (!p.running() || new_primary.role() != Role::Primary)
      throw StateError("rejoin() needs a running primary to follow; " + p.label() + " is " +
                           to_string(new_primary.role()),
                       n.label());
    if (p.bins.major != n.bins.major)
      throw StateError("rejoin() across major versions (" + n.bins.version + " onto " +
                           p.bins.version + ") is not possible", n.label());
    stop(StopMode::Fast);
    n.creds = p.creds;
    n.standby = true;
    n.sync_armed = true;
    p.arm_sync(n.app_name());
    n.follow(p.lease.port());
    n.upstream_archive = p.archive;
    bool diverged = !can_resume(new_primary);
    if (!diverged) {
      try {
        start_and_wait(p);
      } catch (const detail::Diverged&) {
        stop(StopMode::Immediate);
        diverged = true;
      }
    }
    RejoinMethod method = RejoinMethod::Resumed;
    if (diverged) {
      method = repair(p);
      start_and_wait(p);
    }
    last_rejoin_ = method;
    return method;
  }
  /// How the last rejoin() brought this node back.
  RejoinMethod last_rejoin_method() const noexcept { return last_rejoin_; }

  // --- waits ---
  /// Current WAL insert position of a primary (or replay position of a standby), as text.
  std::string current_lsn() {
    return query("SELECT CASE WHEN pg_is_in_recovery() THEN pg_last_wal_replay_lsn() "
                 "ELSE pg_current_wal_lsn() END").value(0, 0);
  }
  /// Waits until this standby has replayed `lsn`.
  void wait_for_replay(const std::string& lsn) {
    auto& n = s();
    detail::wait_until("replay to reach " + lsn, n.opts.timeout, n.label(),
                       [&](std::string& seen) {
                         Result r = query("SELECT pg_last_wal_replay_lsn(), "
                                          "pg_last_wal_replay_lsn() >= '" + lsn + "'::pg_lsn");
                         seen = "replayed up to " + (r.is_null(0, 0) ? "nothing" : r.value(0, 0));
                         return r.value(0, 1) == "t";
                       },
                       [&] { return n.log_tail(); });
  }
  /// Waits until `standby` has replayed everything this node has written so far.
  void wait_for_catchup(Node& standby) { standby.wait_for_replay(current_lsn()); }
  /// Polls an SQL predicate (a query returning one boolean) until it is true.
  void wait_until(const std::string& predicate_sql,
                  std::chrono::milliseconds timeout = std::chrono::milliseconds(0)) {
    auto& n = s();
    detail::wait_until("'" + predicate_sql + "' to be true",
                       timeout.count() ? timeout : n.opts.timeout, n.label(),
                       [&](std::string& seen) {
                         Result r = query(predicate_sql);
                         seen = r.rows() ? r.value(0, 0) : "no rows";
                         return seen == "t";
                       },
                       [&] { return n.log_tail(); });
  }

  /// Internal state (for pgha's own classes).
  detail::NodeState& state() { return s(); }

protected:
  explicit Node(std::unique_ptr<detail::NodeState> st) : st_(std::move(st)) {}

  // Creates the node's directories and port; the subclass fills the data directory.
  static std::unique_ptr<detail::NodeState> make_state(Options opts, int& counter_hint) {
    static std::atomic<int> counter{0};
    counter_hint = ++counter;
    auto st = std::make_unique<detail::NodeState>();
    st->bins = detail::find_binaries(opts.bin_dir);
    st->ra = detail::run_as();
    st->name = opts.name.empty() ? "node" + std::to_string(counter_hint) : opts.name;
    std::string base = detail::temp_base(opts.tmp_dir);
    detail::check_traversable(base, st->ra);
    st->root = detail::make_private_dir(base, "pgha-node-", st->ra);
    try {
      detail::reaper().watch(st->root, base);
      st->data = st->root + "/data";
      st->sock = st->root + "/sock";
      detail::check_socket_dir(st->sock);
      st->log = st->root + "/server.log";
      detail::make_owned_dir(st->data, st->ra);
      detail::make_owned_dir(st->sock, st->ra);
      if (opts.archive) {
        st->archive = st->root + "/archive";
        detail::make_owned_dir(st->archive, st->ra, 0755);
      }
      st->lease = detail::reserve_port(opts.port);
      st->opts = std::move(opts);
      detail::live_nodes().add({st.get(), st->name, st->lease.port(), st->log});
    } catch (...) {
      st->destroy();
      throw;
    }
    return st;
  }

  // Starts this node as a standby of `upstream` and waits until it is healthy.
  void start_and_wait(Node& upstream) { start_and_wait(upstream.s()); }
  void start_and_wait(detail::NodeState& up) {
    auto& n = s();
    auto offset = detail::file_size(n.log);
    n.start();
    detail::wait_healthy(n, up, offset);
  }

private:
  // A frozen or partitioned server times out; the log tail says what it last did.
  template <class F>
  auto with_log_tail(F f) -> decltype(f()) {
    try {
      return f();
    } catch (const TimeoutError& e) {
      if (!e.log_tail().empty()) throw;
      s().admin_conn.reset();  // its state is unknown after a timeout
      throw TimeoutError(e.message(), s().label(), s().log_tail());
    }
  }

  detail::Relay& link() {
    auto& n = s();
    if (!n.link)
      throw StateError(n.standby ? "this standby streams directly (Options::relay = false); "
                                   "expected a relayed replication link"
                                 : "cut_link/heal_link act on a standby's replication link; "
                                   "this node is not a standby",
                       n.label());
    return *n.link;
  }

  // Repairs a diverged, stopped node: pg_rewind when wanted and possible, else re-clone.
  RejoinMethod repair(detail::NodeState& p) {
    auto& n = s();
    RepairMethod want = n.opts.repair;
    bool have_rewind = !n.bins.pg_rewind.empty();
    if (want == RepairMethod::Rewind && !have_rewind)
      throw SetupError("RepairMethod::Rewind needs pg_rewind " + std::to_string(n.bins.major) +
                       ", and none was found; use RepairMethod::Reclone", n.label());
    // pg_rewind before 13 refuses a target that was not shut down cleanly.
    bool clean = detail::read_control(n.data).clean();
    if (want != RepairMethod::Reclone && have_rewind && (clean || n.bins.major >= 13)) {
      if (detail::rewind(n, p)) return RejoinMethod::Rewound;
      if (want == RepairMethod::Rewind)
        throw SetupError("pg_rewind failed; expected it to rewind onto " + p.label(), n.label(),
                         detail::tail_lines(n.root + "/pg_rewind.log"));
    }
    detail::clone_from(n, p);
    return RejoinMethod::Recloned;
  }

  // Sends `sig` to the children whose process title contains `part` ("" = the postmaster
  // and all its children). Returns how many processes were signalled.
  int signal_tree(int sig, const std::string& part) {
    auto& n = s();
    if (!n.running())
      throw StateError("the server is not running; expected a started node", n.label());
    int count = 0;
    if (part.empty() && sig == SIGSTOP) { ::kill(n.pid, SIGSTOP); ++count; }
    for (pid_t c : detail::child_pids(n.pid))
      if (part.empty() || detail::process_title(c).find(part) != std::string::npos) {
        ::kill(c, sig);
        ++count;
      }
    if (part.empty() && sig == SIGCONT) { ::kill(n.pid, SIGCONT); ++count; }
    if (sig == SIGSTOP || part.empty()) n.admin_conn.reset();  // its backend may be frozen
    return count;
  }
  void require_process(const std::string& part, int sig) {
    if (signal_tree(sig, part) == 0)
      throw StateError("no " + part + " process to signal; expected " +
                           (part == "walsender" ? "a primary with a connected standby"
                                                : "a standby that is streaming"),
                       s().label());
  }

  // A cleanly stopped node whose last checkpoint lies before the point where its
  // timeline forked in the new primary's history has nothing the new primary lacks.
  bool can_resume(Node& new_primary) {
    auto& n = s();
    auto ci = detail::read_control(n.data);
    if (!ci.ok || !ci.clean()) return false;  // after a crash the WAL end is unknown
    std::uint32_t tli = detail::current_timeline(new_primary.s());
    if (ci.timeline == tli) return true;
    if (ci.timeline > tli) return false;
    std::string hist = detail::read_file(new_primary.s().data + "/pg_wal/" +
                                         detail::history_file_name(tli));
    std::uint64_t fork = detail::switchpoint(hist, ci.timeline);
    return fork != 0 && ci.checkpoint < fork;
  }
  detail::NodeState& s() const {
    if (!st_) throw StateError("this pgha node was moved from; use the object it was moved to");
    return *st_;
  }
  std::unique_ptr<detail::NodeState> st_;
  RejoinMethod last_rejoin_ = RejoinMethod::Resumed;
};

}  // namespace pgha
