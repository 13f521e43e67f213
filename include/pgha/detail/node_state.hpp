// pgha/detail/node_state.hpp: one node, assembled from its pieces: the directory and
// configuration (NodeDir), the server process (Server), its place in the topology
// (Topology), its sessions (AdminSession, UserSessions), and the cluster identity it
// carries (credentials and lineage). Each piece keeps its own invariants; this class only
// composes them, and holds the node's lock: every call that changes the node's state takes
// it, so a node may be used from any thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cerrno>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>

#include "pgha/detail/config.hpp"
#include "pgha/detail/isolation.hpp"
#include "pgha/detail/lineage_names.hpp"
#include "pgha/detail/node_dir.hpp"
#include "pgha/detail/node_ref.hpp"
#include "pgha/detail/scram.hpp"
#include "pgha/detail/server.hpp"
#include "pgha/detail/sessions.hpp"
#include "pgha/detail/slot_policy.hpp"
#include "pgha/detail/topology.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/events.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

/// A standby that goes away for good (destroyed) drops its physical slot on its upstream,
/// which would otherwise keep WAL forever. Bounded (about 3 s at most), never throws: the
/// upstream may be gone already, or busy.
inline void release_upstream_slot(int upstream_port, const std::string& password,
                                  const std::string& slot) noexcept {
  if (slot.empty() || upstream_port == 0) return;
  try {
    Client c(tcp_conninfo(upstream_port, "postgres", password, "postgres", "connect_timeout=1"),
                 std::chrono::seconds(1), "upstream");
    // The walsender notices the closed link a moment later; until then the slot is active.
    wait_until("the slot to be released", std::chrono::seconds(2), "upstream",
               [&](std::string&) {
                 c.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                           "WHERE slot_name = $1 AND NOT active", {slot});
                 return c.execute("SELECT count(*) = 0 FROM pg_replication_slots WHERE slot_name = $1",
                                  {slot}).value(0, 0) == "t";
               },
               [] { return std::string(); });
  } catch (...) {
  }
}

struct Credentials {
  std::string superuser_password;
  std::string replication_password;
};

// 24 hex digits from the kernel's random source.
inline std::string random_secret() {
  static const char* hex = "0123456789abcdef";
  std::string s;
  for (unsigned char c : random_bytes(12)) { s += hex[c >> 4]; s += hex[c & 15]; }
  return s;
}

// Settings whose value pgha must own: a user value would break its control of the node.
inline const char* owned_setting(const std::string& name) {
  static const char* owned[][2] = {
      {"port", "the port is Options::port"},
      {"listen_addresses", "pgha listens on 127.0.0.1 only"},
      {"unix_socket_directories", "pgha's own connection uses the node's private socket"},
      {"data_directory", "the data directory is the node's own"},
      {"config_file", "pgha writes the node's configuration"},
      {"hba_file", "pgha writes pg_hba.conf"},
      {"ident_file", "pgha writes the node's configuration"},
      {"primary_conninfo", "pgha wires the replication link (rejoin, TempStandby)"},
      {"logging_collector", "pgha reads the server log from the server's stderr"},
  };
  for (auto& o : owned)
    if (name == o[0]) return o[1];
  return nullptr;
}

// Throws SetupError for options the server would silently change or that break pgha.
inline void validate(const Options& o) {
  for (auto& [k, v] : o.settings)
    if (const char* why = owned_setting(k))
      throw SetupError("Options::settings[\"" + k + "\"] is owned by pgha (" + why +
                       "); expected only settings pgha does not manage");
  const std::string& a = o.application_name;
  if (a.size() > 63)
    throw SetupError("Options::application_name '" + a + "' is " + std::to_string(a.size()) +
                     " bytes; the server truncates it to 63 (NAMEDATALEN - 1), so its standby "
                     "would never match synchronous_standby_names. Expected at most 63 bytes");
  for (unsigned char c : a)
    if (c < 32 || c > 126)
      throw SetupError("Options::application_name '" + a + "' holds a character outside "
                       "printable ASCII; the server replaces those with '?', so its standby "
                       "would never match synchronous_standby_names. Expected printable ASCII");
  if (o.timeout.count() <= 0)
    throw SetupError("Options::timeout is " + std::to_string(o.timeout.count()) +
                     " ms; expected a positive bound");
  if (o.tmp_dir.find('\n') != std::string::npos)
    throw SetupError("Options::tmp_dir holds a newline; expected a path without one");
}

class NodeState {
public:
  NodeState(const Options& opts, const Binaries& bins, const RunAs& ra, const std::string& name)
      : opts_(opts) {
    validate(opts_);
    dir_.create(opts_, bins, ra, name);
  }
  NodeState(const NodeState&) = delete;
  NodeState& operator=(const NodeState&) = delete;
  ~NodeState() { destroy(); }

  // --- the pieces, read-only for the rest of the library ---
  const Options& opts() const noexcept { return opts_; }
  const NodeDir& dir() const noexcept { return dir_; }
  Server& server() noexcept { return server_; }
  const Topology& topo() const noexcept { return topo_; }
  const Credentials& creds() const noexcept { return creds_; }
  const std::string& lineage() const noexcept { return lineage_; }
  /// The application_names of this node's lineage (null before it joined one).
  const std::shared_ptr<LineageNames>& lineage_names() const noexcept { return names_; }
  const Binaries& bins() const noexcept { return dir_.bins(); }
  std::string label() const { return dir_.label(); }
  std::string log_tail(int lines = 20) const { return dir_.log_tail(lines); }
  std::recursive_mutex& mutex() noexcept { return mu_; }

  // --- transitions ---
  /// Marks the node as changing role or process (start, stop, promote, rejoin) for its
  /// scope: observers that must not act on a stale view (an Endpoint's route) skip it.
  /// Made before the node's lock is taken and ended after it is released, so an observer
  /// that can lock the node and sees no transition sees the node's new state.
  class Transition {
  public:
    explicit Transition(NodeState& n) noexcept : n_(n) { n_.transitions_.fetch_add(1); }
    ~Transition() { n_.transitions_.fetch_sub(1); }
    Transition(const Transition&) = delete;
    Transition& operator=(const Transition&) = delete;
  private:
    NodeState& n_;
  };
  /// Whether a start, stop, promote or rejoin is under way.
  bool in_transition() const noexcept { return transitions_.load() != 0; }

  // --- identity ---
  /// A new cluster: fresh passwords and lineage. `armed`: see Topology::init.
  void init_cluster(const std::string& app_name, bool armed) {
    creds_ = {random_secret(), random_secret()};
    lineage_ = random_secret();
    topo_.init(app_name, armed);
    join_names(std::make_shared<LineageNames>());
    names_->set(this, app_name, /*standby=*/false);
  }
  void init_member(const std::string& app_name) { topo_.init(app_name, true); }

  // --- sessions ---
  /// Runs one statement on the library's own connection (trust, private socket).
  Rows admin_query(const std::string& sql) {
    require_running();
    return admin_.use(dir_.admin_conninfo(), server_.generation(), server_.pid(), opts_.timeout,
                      label(), [&](Client& c) { return c.execute(sql); });
  }
  /// The calling thread's session for the user's statements.
  std::shared_ptr<Client> user_session() {
    require_running();
    return sessions_->get(dir_.admin_conninfo(), server_.generation(), server_.pid(), opts_.timeout,
                          label());
  }
  /// A new connection of the library's own kind (private socket), its cancels allowed to
  /// signal the backend directly.
  Client new_local_connection() {
    require_running();
    Client c(dir_.admin_conninfo(), opts_.timeout, label());
    c.set_local_postmaster(server_.pid());
    return c;
  }
  void drop_user_session() noexcept { sessions_->drop_mine(); }

  // --- history ---
  /// Records how the node was last rejoined (Node::rejoin, FailoverGuard::rejoin).
  void note_rejoin(RejoinMethod m) noexcept { last_rejoin_.store(static_cast<int>(m)); }
  /// How the node was last rejoined; empty before its first rejoin.
  std::optional<RejoinMethod> last_rejoin() const noexcept {
    int m = last_rejoin_.load();
    if (m < 0) return std::nullopt;
    return static_cast<RejoinMethod>(m);
  }
  /// libpq conninfo over TCP with SCRAM, for any client.
  std::string tcp_conninfo(const std::string& db) const {
    return detail::tcp_conninfo(dir_.port(), "postgres", creds_.superuser_password, db);
  }

  // --- the server ---
  bool running() { return server_.running(); }
  void require_running() {
    if (!server_.running())
      throw StateError("the server is not running; expected a started node", label(), log_tail());
  }

  /// What the node is now. A server that cannot answer (frozen, in crash recovery, shutting
  /// down) is what pgha configured it to be.
  Role role() {
    if (!server_.running()) return Role::Stopped;
    Role configured = topo_.standby() ? Role::Standby : Role::Primary;
    if (server_.frozen()) return configured;
    try {
      return admin_query("SELECT pg_is_in_recovery()").value(0, 0) == "t" ? Role::Standby
                                                                        : Role::Primary;
    } catch (const ConnectionError&) {
      if (!server_.running()) return Role::Stopped;
      return configured;
    }
  }

  /// The timeline the node is on now: a primary's from its WAL insert position, a standby's
  /// from what its wal receiver last received (0 when it receives nothing).
  std::uint32_t current_timeline() {
    Rows r = admin_query(
        "SELECT CASE WHEN pg_is_in_recovery() THEN (SELECT received_tli::text FROM "
        "pg_stat_wal_receiver) ELSE substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8) END, "
        "pg_is_in_recovery()");
    if (r.is_null(0, 0)) return 0;
    return r.value(0, 1) == "t" ? static_cast<std::uint32_t>(std::stoul(r.value(0, 0)))
                                : static_cast<std::uint32_t>(std::stoul(r.value(0, 0), nullptr, 16));
  }

  /// Starts the server in its configured role and waits until it accepts connections. A
  /// port lost to another program between reservation and bind is replaced (unless fixed).
  /// `while_starting`: see Server::start (runs once, on the first attempt).
  void start(std::function<void()> while_starting = nullptr) {
    Transition t(*this);
    std::lock_guard<std::recursive_mutex> l(mu_);
    if (server_.running())
      throw StateError("start() called but the server is already running; expected a stopped node",
                       label());
    check_wal_space("start()");
    StepEvent ev(dir_.name(), "start", [this](Event& e) {
      e.message = std::string("started as ") + (topo_.standby() ? "standby" : "primary") + " on port " + std::to_string(dir_.port());
      e.facts = {{"port", std::to_string(dir_.port())}};
    });
    for (int attempt = 0;; ++attempt) {
      pinned_.clear();  // a start reads every setting afresh
      ConfigInput in = config_input();
      {
        auto all = server_settings(in);
        for (auto& k : restart_only_recovery_settings(in.major))
          if (all.count(k)) pinned_[k] = all[k];
      }
      dir_.write_config(in);
      auto log_offset = file_size(dir_.log());
      std::string why;
      auto overlap = std::move(while_starting);
      while_starting = nullptr;
      if (server_.start(dir_.admin_conninfo(), opts_.timeout, why, overlap)) {
        publish_contact();  // the port may have changed
        return;
      }
      std::string fresh = read_file(dir_.log(), log_offset);
      bool port_taken = fresh.find("Address already in use") != std::string::npos;
      if (port_taken && !dir_.fixed_port() && attempt < 5) {
        dir_.replace_port();  // lost a bind race: take another port
        continue;
      }
      throw SetupError("the server exited during start-up (" + why + "); " +
                           (port_taken ? "port " + std::to_string(dir_.port()) + " is taken; "
                                       : std::string()) +
                           "expected it to accept connections. See the log below.",
                       label(), log_tail());
    }
  }
  // --- Node::exhaust_wal_space ---
  /// A full WAL disk (NodeDir::limit_wal_space), and restart_after_crash = off meanwhile:
  /// the server that PANICs on it stays down on every version, as a server whose crash
  /// recovery fails on a full disk does (PostgreSQL 18's postmaster would otherwise stay up
  /// with no startup process, "in recovery mode", once a crash recovery found no WAL).
  /// The order matters: restart_after_crash off first (a PANIC from here on keeps the server
  /// down); then, on a running primary, the open WAL segment is ended (pg_switch_wal after a
  /// record), so no writer needs it again; then the mount. Mounting first hid the open segment
  /// from a process that had not opened it yet (the WAL writer PANICked with ENOENT, not
  /// ENOSPC). The next WAL write needs a new segment, which the full disk cannot hold.
  /// False if the space was exhausted already (nothing done).
  bool limit_wal_space() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    if (dir_.wal_space_limited()) return false;
    wal_full_ = true;
    try {
      reconfigure();
      if (server_.running() && !topo_.standby()) {
        try {
          admin_query("SELECT pg_switch_wal() FROM (SELECT pg_logical_emit_message(false, 'pgha', "
                      "'exhaust_wal_space')) AS m");
        } catch (const Error&) {
          // The server went down at once (its own next write came first): that is the fault.
        }
      }
      dir_.limit_wal_space();
    } catch (...) {
      wal_full_ = false;
      try {
        reconfigure();
      } catch (...) {
      }
      throw;
    }
    return true;
  }
  /// False if the mount could not be lifted (it stays; a later call tries again).
  bool unlimit_wal_space() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    dir_.unlimit_wal_space();
    if (dir_.wal_space_limited()) return false;
    wal_full_ = false;
    reconfigure();  // restart_after_crash as before
    return true;
  }
  bool wal_space_limited() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    return dir_.wal_space_limited();
  }
  /// StateError for `op` while the node's WAL space is exhausted: a server cannot start
  /// (or be rejoined) without the WAL the limit hides.
  void check_wal_space(const char* op) {
    if (wal_space_limited())
      throw StateError(std::string(op) + ": this node's WAL space is exhausted (exhaust_wal_space()); expected "
                           "release_wal_space() first: its server cannot start without the WAL the full disk hides",
                       label(), log_tail());
  }

  /// Stops the server. pgha's own sessions close first, and again once the server refuses
  /// new connections (one opened in between by another thread would hold up a smart stop).
  void stop(StopMode mode) {
    Transition t(*this);
    std::lock_guard<std::recursive_mutex> l(mu_);
    StepEvent ev(dir_.name(), "stop", [&, was = server_.running()](Event& e) {  // no event if it was stopped
      const char* m = to_string(mode);
      if (was) e.message = std::string("stopped (") + m + ")", e.facts = {{"mode", m}};
    });
    close_sessions();
    server_.stop(mode, opts_.timeout, [this] { close_sessions(); });
  }
  void close_sessions() noexcept {
    admin_.reset();
    sessions_->clear();
  }

  // --- configuration ---
  void write_config() { dir_.write_config(config_input()); }
  /// Rewrites the configuration and, if running, reloads it. Returns once this session
  /// has re-read it; the postmaster signals all server processes at the same time.
  void reconfigure() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    write_config();
    if (!server_.running()) return;
    std::string before = admin_query("SELECT pg_conf_load_time()").value(0, 0);
    admin_query("SELECT pg_reload_conf()");
    wait_until("the server to reload its configuration", opts_.timeout, label(),
               std::chrono::milliseconds(1),
               [&](std::string& seen) {
                 Rows r = admin_query("SELECT pg_conf_load_time(), pg_conf_load_time() > " +
                                        sql_literal(before) + "::timestamptz");
                 seen = "configuration loaded at " + r.value(0, 0);
                 return r.value(0, 1) == "t";
               },
               [&] { return log_tail(); });
  }
  void set_sync_mode(SyncMode m) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    opts_.sync_mode = m;
    reconfigure();
  }
  /// Makes `standby_app` a synchronous standby candidate of this running primary.
  void arm_sync(const std::string& standby_app) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    if (topo_.add_sync_candidate(standby_app)) reconfigure();
  }
  /// The commit rule (FIRST/ANY `count`, Topology::set_sync_rule), and `candidates` listed
  /// as sync candidates in that order (a TempCluster lists its standbys before they start,
  /// so the first is the sync one whichever attaches first). An armed running node reloads;
  /// an unarmed one (a fresh primary) writes it when its first standby arms it, and a
  /// stopped one at its next start.
  void set_sync_rule(int count, bool any, const std::vector<std::string>& candidates = {}) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    topo_.set_sync_rule(count, any);
    for (auto& c : candidates) topo_.list_candidate(c);
    if (server_.running() && topo_.sync_armed()) reconfigure();
  }

  // --- topology ---
  /// Becomes (in configuration; the caller starts it) a standby of `up`: same cluster
  /// identity, streaming from it, and (`arm`) listed as a sync candidate when `up` is a
  /// primary. Without `arm`, the caller calls arm_upstream() before it waits for the
  /// standby: while the standby's server starts, say.
  void attach_to(NodeState& up, bool arm = true) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    creds_ = up.creds_;
    lineage_ = up.lineage_;
    join_names(up.names_);
    // No other standby of the lineage may stream under this node's name (its upstream would
    // mistake one for the other): a taken name is replaced by a free one.
    std::string name = names_->claim(this, topo_.app_name());
    if (name != topo_.app_name()) {
      if (events_on())
        emit(dir_.name(), "rename", "application_name " + topo_.app_name() + " is used by another "
             "standby of this cluster; streams as " + name, {}, {{"application_name", name}});
      topo_.init(name, topo_.sync_armed());
    }
    if (arm) arm_upstream(up);
    topo_.attach_to(up.dir_.port(), up.dir_.archive(), opts_.relay);
    if (RelayedLink* k = topo_.link()) {
      RelayedLink& r = *k;
      r.set_lane(dir_.name(), "replication link",
                 ", to " + up.dir_.name() + " (port " + std::to_string(up.dir_.port()) + ")");
      for (const auto& p : Isolation::instance().between(this, &up)) r.partition_cut(p.first, p.second);
    }
    attach_slots(up);
    publish_contact();
  }
  /// Lists this node as a sync candidate of `up` if `up` is a primary.
  void arm_upstream(NodeState& up) {
    if (up.role() == Role::Primary) up.arm_sync(topo_.app_name());
  }
  /// Replication slots of a node that becomes a standby of `up` (detail/slot_policy.hpp): when it
  /// uses slots or logical WAL, its own slots from a former life go (slots a user made by
  /// hand on a node without either are left to the user); it streams through a physical
  /// slot on `up` when asked to.
  void attach_slots(NodeState& up) {
    if (!server_.running() && (uses_slot(opts_, bins().major) || logical_wal(opts_)))
      remove_slot_files(dir_.data());
    topo_.clear_standby_slots();
    topo_.set_slot("");
    if (!uses_slot(opts_, bins().major)) return;
    std::string slot = physical_slot_name(topo_.app_name());
    // Made before the clone: the slot reserves WAL at once, so the clone finds every segment.
    std::string lit = sql_literal(slot);
    up.admin_query("SELECT pg_create_physical_replication_slot(" + lit + ", true) WHERE NOT EXISTS "
                   "(SELECT 1 FROM pg_replication_slots WHERE slot_name = " + lit + ")");
    topo_.set_slot(slot);
    if (up.topo_.add_standby_slot(slot) && failover_slots(up.opts_, up.bins().major)) up.reconfigure();
  }
  /// synchronized_standby_slots of this primary (17+) becomes `slots`.
  void set_standby_slots(std::vector<std::string> slots) {
    std::lock_guard<std::recursive_mutex> l(mu_);
    topo_.set_standby_slots(std::move(slots));
    reconfigure();
  }
  /// After a promote: no upstream any more.
  void detach() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    topo_.detach();
    if (names_) names_->set(this, topo_.app_name(), /*standby=*/false);
    publish_contact();
    write_config();
  }
  /// The relay of the replication link; StateError if there is none.
  RelayedLink& link() { return *shared_link(); }
  /// The same, shared (pgha::Link handles hold it).
  std::shared_ptr<RelayedLink> shared_link() {
    std::lock_guard<std::recursive_mutex> l(mu_);
    if (topo_.link()) return topo_.shared_link();
    throw StateError(topo_.standby() ? "this standby streams directly (Options::relay = false); "
                                       "expected a relayed replication link"
                                     : "link faults act on a standby's replication link; this "
                                       "node is not a standby",
                     label());
  }

  // --- teardown ---
  /// Bounded, never throws. In a process that did not create the node (a fork()ed child),
  /// nothing of the parent's is touched: its server and directory stay.
  void destroy() noexcept {
    if (dir_.root().empty()) return;
    Isolation::instance().forget(this);
    if (!dir_.owned_here()) {
      admin_.abandon();
      sessions_->abandon();
      topo_.abandon();
      server_.abandon();
      return;
    }
    // First: a holder's call in progress on this node (a FailoverGuard's rejoin on another
    // thread, see NodeRef) ends before anything is torn down; no new one starts.
    live_nodes().retire(&dir_);
    std::string slot;  // detach() forgets it
    int upstream = topo_.upstream_port();
    try {
      slot = topo_.slot();
      topo_.detach();  // the relay goes first: its connections are reset
    } catch (...) {
    }
    // The directory is about to go: no shutdown is owed to anyone. (An immediate shutdown
    // can take 5 s: the postmaster waits that long for a child that ignores SIGQUIT.)
    if (server_.running()) server_.kill_tree(std::chrono::seconds(5));
    if (names_) names_->forget(this);
    release_upstream_slot(upstream, creds_.superuser_password, slot);
    remove_postmaster_shm(dir_.data() + "/postmaster.pid");
    if (events_on()) emit(dir_.name(), "destroy", std::getenv("PGHA_KEEP") && std::string(std::getenv("PGHA_KEEP")) == "1" ? "server stopped, directory kept (PGHA_KEEP=1)" : "server stopped, directory removed");
    dir_.destroy();
  }

private:
  // What the lineage's other nodes need to reach this one (read_changes on its upstream
  // waits for the synced copies of a failover slot).
  void publish_contact() {
    if (!names_) return;
    names_->set_contact(this, dir_.admin_conninfo(), topo_.standby() ? topo_.upstream_port() : 0,
                        topo_.standby() && !topo_.slot().empty() && failover_slots(opts_, bins().major));
  }
  void join_names(std::shared_ptr<LineageNames> names) {
    if (names_ == names) return;
    if (names_) names_->forget(this);
    names_ = std::move(names);
  }
  ConfigInput config_input() const {
    ConfigInput in;
    in.major = dir_.bins().major;
    in.port = dir_.port();
    in.socket_dir = dir_.socket_dir();
    in.cluster_name = dir_.cluster_name();
    in.sync_mode = opts_.sync_mode;
    auto user = opts_.settings.find("synchronous_standby_names");
    in.sync_names = !topo_.sync_armed() ? std::string()
                    : user != opts_.settings.end() ? user->second : topo_.sync_names();
    in.archive_dir = dir_.archive();
    in.standby = topo_.standby();
    in.primary_conninfo = topo_.replication_conninfo(creds_.replication_password);
    in.restore_dir = topo_.upstream_archive();
    in.settings = opts_.settings;
    if (wal_full_) in.settings["restart_after_crash"] = "off";  // limit_wal_space
    in.primary_slot_name = topo_.slot();
    in.pinned = pinned_;
    in.sync_slots = !topo_.slot().empty() && failover_slots(opts_, in.major);
    if (failover_slots(opts_, in.major)) in.standby_slots = slot_list(topo_.standby_slots());
    return in;
  }

  Options opts_;
  NodeDir dir_;
  Server server_{dir_};
  Topology topo_;
  Credentials creds_;
  std::string lineage_;  // shared by every node cloned from one primary
  bool wal_full_ = false;  // limit_wal_space: restart_after_crash off until the release
  std::shared_ptr<LineageNames> names_;  // the application_names of that lineage
  std::map<std::string, std::string> pinned_;  // ConfigInput::pinned of the running server
  AdminSession admin_;
  std::shared_ptr<UserSessions> sessions_ = std::make_shared<UserSessions>();
  std::recursive_mutex mu_;
  std::atomic<int> transitions_{0};
  std::atomic<int> last_rejoin_{-1};  // a RejoinMethod, -1 before the first rejoin
};

inline NodeRef::NodeRef(NodeState& st)
    : st_(&st), id_(&st.dir()), serial_(live_nodes().serial(&st.dir())), name_(st.dir().name()) {}

}  // namespace pgha::detail
