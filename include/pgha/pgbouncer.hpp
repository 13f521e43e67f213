// pgha/pgbouncer.hpp: a real PgBouncer in front of a node or an Endpoint, for the failover
// bugs that live in the pooler (server connections kept to the old primary, session state
// lost under transaction pooling, a switchover without PAUSE).
//
//   pgha::Endpoint ep({&node1, &node2}, pgha::Route::Primary);
//   pgha::TempPgBouncer b(ep, pgha::PoolMode::Transaction);
//   pgha::Connection c(b.conninfo());          // the service connects here
//   b.pause(); /* switchover */ b.resume();     // the admin console's PAUSE and RESUME
//
// The binary is PGHA_PGBOUNCER, else `pgbouncer` on PATH or in /usr/sbin (Debian's package).
// It runs like a node: as the servers' unprivileged user, on an ephemeral port of 127.0.0.1,
// in a private directory that goes (process and files) with the object, or with the test
// process however it dies (the same watcher as the nodes'). Its events have their own lane
// ("pgbouncer1", ...) and its log is in the failure report beside the nodes' logs.
#pragma once

#include <signal.h>
#include <sys/types.h>
#include <unistd.h>

#include <atomic>
#include <cctype>
#include <chrono>
#include <cstdlib>
#include <map>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/detail/binaries.hpp"
#include "pgha/detail/files.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/ports.hpp"
#include "pgha/detail/privilege.hpp"
#include "pgha/detail/process.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/endpoint.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// PgBouncer's pool_mode.
enum class PoolMode { Session, Transaction, Statement };

/// "session", "transaction", "statement" (PgBouncer's own words).
inline const char* to_string(PoolMode m) noexcept {
  switch (m) {
    case PoolMode::Session: return "session";
    case PoolMode::Transaction: return "transaction";
    case PoolMode::Statement: return "statement";
  }
  return "unknown";
}
/// The enumerator's name ("Session", ...), as the enums print with <<.
inline const char* enum_name(PoolMode m) noexcept {
  switch (m) {
    case PoolMode::Session: return "Session";
    case PoolMode::Transaction: return "Transaction";
    case PoolMode::Statement: return "Statement";
  }
  return "?";
}
inline std::ostream& operator<<(std::ostream& os, PoolMode m) { return os << enum_name(m); }

/// Options of a TempPgBouncer.
struct PgBouncerOptions {
  /// default_pool_size: server connections per database and user (at least 1).
  int pool_size = 20;
  /// More [pgbouncer] settings (name -> value), e.g. {"server_check_delay", "0"}. The ones
  /// pgha owns (listen_addr, listen_port, unix_socket_dir, auth_type, auth_file, admin_users,
  /// pool_mode, default_pool_size, logfile, pidfile) are a UsageError.
  std::map<std::string, std::string> settings;
  /// Where its directory goes (like Options::tmp_dir; empty: PGHA_TMPDIR, TMPDIR, /tmp).
  std::string tmp_dir;
  /// How long start-up and admin commands may take.
  std::chrono::milliseconds timeout = std::chrono::seconds(30);
};

/// A PgBouncer process, its directory and its port: started by the constructor, gone with
/// the object. Thread-safe: admin commands from several threads run one at a time.
class TempPgBouncer {
public:
  /// In front of an Endpoint (it follows the endpoint's routing). Throws UsageError for bad
  /// options, SetupError when PgBouncer is missing or does not start (with its log tail).
  explicit TempPgBouncer(Endpoint& target, PoolMode mode = PoolMode::Session,
                         PgBouncerOptions opts = {})
      : mode_(mode), opts_(std::move(opts)), password_(target.password()) {
    start(target.port(), target.name());
  }
  /// In front of one node (a StateError if it is not running).
  explicit TempPgBouncer(Node& target, PoolMode mode = PoolMode::Session, PgBouncerOptions opts = {})
      : mode_(mode), opts_(std::move(opts)), password_(target.password()) {
    require_running(target, "TempPgBouncer");
    start(target.port(), target.name());
  }
  /// Stops PgBouncer (SIGTERM, then SIGKILL after 5 s) and removes its directory. Never throws.
  ~TempPgBouncer() { shutdown(); }
  TempPgBouncer(const TempPgBouncer&) = delete;
  TempPgBouncer& operator=(const TempPgBouncer&) = delete;

  /// libpq conninfo of PgBouncer for `dbname` (user postgres, the nodes' password; SCRAM).
  std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port()) + " user=postgres " +
           detail::conninfo_param("password", password_) + " " + detail::conninfo_param("dbname", dbname);
  }
  /// Its port on 127.0.0.1.
  int port() const noexcept { return lease_.port(); }
  /// "127.0.0.1".
  std::string host() const { return "127.0.0.1"; }
  /// Its lane in the event stream and the failure report: "pgbouncer1", "pgbouncer2", ...
  const std::string& name() const noexcept { return name_; }
  /// The pool mode it was started with.
  PoolMode mode() const noexcept { return mode_; }
  /// Its log file (stdout and stderr).
  std::string log_file() const { return log_; }
  /// The last `lines` lines of its log.
  std::string log_tail(int lines = 20) const { return detail::tail_lines(log_, lines); }
  /// Its version, e.g. "1.18.0".
  const std::string& version() const noexcept { return version_; }
  /// The process id.
  pid_t pid() const noexcept { return pid_; }

  /// PAUSE: waits until every server connection is released (in session mode: until every
  /// client disconnected), then holds new queries until resume().
  void pause() { admin("PAUSE", "pause", "paused: new queries wait, no server connection is open"); }
  /// RESUME after pause() or kill_server_connections().
  void resume() { admin("RESUME", "resume", "resumed"); }
  /// RECONNECT: every server connection is closed when released and opened anew.
  void reconnect() { admin("RECONNECT", "reconnect", "server connections reconnect when released"); }
  /// KILL of every database: every server connection is dropped now (their clients too),
  /// then RESUME so new clients get new server connections.
  void kill_server_connections() {
    std::lock_guard<std::mutex> l(mu_);
    Connection c = console();
    Result dbs = c.query("SHOW DATABASES");
    int kills = 0;
    for (int r = 0; r < dbs.rows(); ++r) {
      std::string db = dbs.value(r, 0);
      if (db == "pgbouncer" || db.empty()) continue;
      c.query("KILL " + detail::sql_ident(db));
      c.query("RESUME " + detail::sql_ident(db));
      ++kills;
    }
    detail::emit(name_, "fault", "killed every server connection (" + std::to_string(kills) +
                 " database" + (kills == 1 ? "" : "s") + ")");
  }
  /// SHOW <topic> (pools, clients, servers, databases, stats, config, ...).
  Result show(const std::string& topic) {
    for (char ch : topic)
      if (!(std::isalnum(static_cast<unsigned char>(ch)) || ch == '_'))
        throw UsageError("TempPgBouncer::show: '" + topic + "' is not a SHOW topic; expected a "
                         "word such as \"pools\", \"servers\" or \"clients\"");
    std::lock_guard<std::mutex> l(mu_);
    return console().query("SHOW " + topic);
  }
  /// Re-targets PgBouncer at `node` (a StateError if it is not running): its [databases]
  /// entry is rewritten and reloaded; open server connections are closed when released.
  void point_to(Node& node) {
    require_running(node, "TempPgBouncer::point_to");
    retarget(node.port(), node.name());
  }
  /// Re-targets PgBouncer at an Endpoint.
  void point_to(Endpoint& e) { retarget(e.port(), e.name()); }

private:
  static void require_running(Node& n, const std::string& who) {
    if (!n.is_running())
      throw StateError(who + ": " + n.name() + " is not running; expected a running node to "
                       "send the pooler's server connections to");
  }

  static std::string binary() {
    if (const char* e = std::getenv("PGHA_PGBOUNCER"); e && *e) {
      if (!detail::is_executable(e))
        throw SetupError(std::string("PGHA_PGBOUNCER='") + e + "' is not an executable file; "
                         "expected the path of a pgbouncer binary");
      return e;
    }
    std::string p = detail::find_in_path("pgbouncer");
    if (p.empty() && detail::is_executable("/usr/sbin/pgbouncer")) p = "/usr/sbin/pgbouncer";
    if (p.empty())
      throw SetupError("PgBouncer is not installed: no pgbouncer on PATH or in /usr/sbin. "
                       "Expected Debian's package (apt-get install pgbouncer) or "
                       "PGHA_PGBOUNCER=/path/to/pgbouncer");
    return p;
  }

  static const std::vector<std::string>& owned_settings() {
    static const std::vector<std::string> owned = {
        "listen_addr", "listen_port", "unix_socket_dir", "auth_type", "auth_file", "admin_users",
        "pool_mode", "default_pool_size", "logfile", "pidfile"};
    return owned;
  }

  void check_options() const {
    if (opts_.pool_size < 1)
      throw UsageError("PgBouncerOptions::pool_size is " + std::to_string(opts_.pool_size) +
                       "; expected at least 1 server connection per pool");
    if (opts_.timeout.count() <= 0)
      throw UsageError("PgBouncerOptions::timeout must be positive");
    for (const auto& [k, v] : opts_.settings) {
      for (const auto& o : owned_settings())
        if (k == o)
          throw UsageError("PgBouncerOptions::settings[\"" + k + "\"]: pgha sets " + k +
                           " itself; expected another setting (see PgBouncer's documentation)");
      if (k.empty() || k.find_first_of("=\n\r[] ") != std::string::npos ||
          v.find_first_of("\n\r") != std::string::npos)
        throw UsageError("PgBouncerOptions::settings: '" + k + "' = '" + v +
                         "' cannot be written to pgbouncer.ini; expected a setting name and a "
                         "one-line value");
    }
  }

  static std::string database_line(int port) {
    return "* = host=127.0.0.1 port=" + std::to_string(port) + "\n";
  }

  std::string ini(int target_port) const {
    std::string s = "[databases]\n" + database_line(target_port) + "\n[pgbouncer]\n";
    s += "listen_addr = 127.0.0.1\n";
    s += "listen_port = " + std::to_string(port()) + "\n";
    s += "unix_socket_dir =\n";
    s += "auth_type = scram-sha-256\n";
    s += "auth_file = " + root_ + "/userlist.txt\n";
    s += "admin_users = postgres\n";
    s += std::string("pool_mode = ") + to_string(mode_) + "\n";
    s += "default_pool_size = " + std::to_string(opts_.pool_size) + "\n";
    s += "ignore_startup_parameters = extra_float_digits\n";
    for (const auto& [k, v] : opts_.settings) s += k + " = " + v + "\n";
    return s;
  }

  void start(int target_port, const std::string& target_name) {
    check_options();
    std::string bin = binary();
    {
      std::string out = detail::capture({bin, "--version"});
      auto p = out.find("PgBouncer ");
      if (p == std::string::npos)
        throw SetupError("'" + bin + " --version' printed no PgBouncer version: " + out);
      auto e = out.find_first_of(" \n", p + 10);
      version_ = out.substr(p + 10, e == std::string::npos ? std::string::npos : e - p - 10);
    }
    static std::atomic<int> counter{0};
    name_ = "pgbouncer" + std::to_string(++counter);
    ra_ = detail::resolve_run_as();
    std::string base = detail::temp_base(opts_.tmp_dir);
    detail::check_traversable(base, ra_);
    detail::StepEvent ev(name_, "start", [&](Event& e) {
      e.message = "PgBouncer " + version_ + " (" + to_string(mode_) + " pooling) on port " +
                  std::to_string(port()) + " in front of " + target_name;
      e.facts = {{"port", std::to_string(port())}, {"peer", target_name}, {"mode", to_string(mode_)}};
    });
    // The nodes' directory prefix: the watcher and later sweeps stop what data/postmaster.pid
    // names if its command line names <dir>/data, and remove the directory.
    root_ = detail::make_private_dir(base, "pgha-node-", ra_);
    try {
      detail::reaper().watch(root_, base);
      std::string data = root_ + "/data";
      detail::make_owned_dir(data, ra_);
      log_ = root_ + "/pgbouncer.log";
      detail::write_file(log_, "", ra_);
      detail::write_file(root_ + "/userlist.txt",
                         "\"postgres\" \"" + quote_userlist(password_) + "\"\n", ra_);
      ini_ = data + "/pgbouncer.ini";
      detail::live_nodes().add({this, name_, 0, log_});
      registered_ = true;
      for (int attempt = 0;; ++attempt) {
        lease_ = detail::reserve_port(0);
        detail::live_nodes().set_port(this, port());
        detail::write_file(ini_, ini(target_port), ra_);
        target_port_ = target_port;
        detail::SpawnSpec spec;
        spec.argv = {bin, ini_};
        spec.log_file = log_;
        spec.cwd = data;
        spec.run_as = ra_;
        pid_ = detail::spawn(spec);
        detail::write_file(data + "/postmaster.pid", std::to_string(pid_) + "\n", detail::RunAs{});
        if (wait_ready()) break;
        std::string tail = log_tail(15);
        stop_process();
        if (attempt < 2 && tail.find("Address already in use") != std::string::npos) continue;
        throw SetupError("PgBouncer did not start on port " + std::to_string(port()) + " within " +
                         std::to_string(opts_.timeout.count()) + " ms; expected it to accept "
                         "admin connections. Its log:\n" + tail);
      }
    } catch (...) {
      remove_dir();
      throw;
    }
  }

  // userlist.txt quotes " by doubling it.
  static std::string quote_userlist(const std::string& v) {
    std::string out;
    for (char c : v) {
      if (c == '"') out += '"';
      out += c;
    }
    return out;
  }

  // Until the admin console answers, the process exits, or the timeout.
  bool wait_ready() {
    auto deadline = std::chrono::steady_clock::now() + opts_.timeout;
    for (;;) {
      int status = 0;
      if (detail::wait_exit(pid_, std::chrono::milliseconds(0), &status)) {
        pid_ = 0;
        return false;
      }
      try {
        Connection c(console_conninfo(), std::chrono::seconds(2));
        c.query("SHOW VERSION");
        return true;
      } catch (const Error&) {
      }
      if (std::chrono::steady_clock::now() >= deadline) return false;
      // Not a stand-in for a condition: the condition (the console answers) is re-checked;
      // there is no event to wait on for a listen() in another process.
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
  }

  std::string console_conninfo() const {
    return "host=127.0.0.1 port=" + std::to_string(port()) + " user=postgres " +
           detail::conninfo_param("password", password_) + " dbname=pgbouncer connect_timeout=5";
  }
  Connection console() const {
    if (pid_ == 0) throw StateError(name_ + " is not running");
    try {
      return Connection(console_conninfo(), opts_.timeout);
    } catch (const Error& e) {
      throw ConnectionError(name_ + ": cannot reach PgBouncer's admin console: " +
                                std::string(e.what()) + "\nIts log:\n" + log_tail(10),
                            "", name_);
    }
  }

  void admin(const std::string& command, const char* kind, const std::string& what) {
    std::lock_guard<std::mutex> l(mu_);
    detail::StepEvent ev(name_, kind, [&](Event& e) { e.message = what; });
    Connection c = console();
    try {
      c.query(command);
    } catch (const QueryError& e) {
      throw StateError(name_ + ": " + command + " failed: " + e.what() + "\nIts log:\n" + log_tail(10));
    }
  }

  void retarget(int target_port, const std::string& target_name) {
    std::lock_guard<std::mutex> l(mu_);
    detail::StepEvent ev(name_, "switch", [&](Event& e) {
      e.message = "pointed at " + target_name + " (port " + std::to_string(target_port) + ")";
      e.facts = {{"peer", target_name}, {"port", std::to_string(target_port)}};
    });
    Connection c = console();
    detail::write_file(ini_, ini(target_port), ra_);
    c.query("RELOAD");
    target_port_ = target_port;
  }

  void stop_process() noexcept {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGTERM);  // immediate shutdown
    if (!detail::wait_exit(pid_, std::chrono::seconds(5))) {
      ::kill(pid_, SIGKILL);
      detail::wait_exit(pid_, std::chrono::seconds(5));
    }
    pid_ = 0;
  }

  void remove_dir() noexcept {
    if (registered_) {
      detail::live_nodes().remove(this);  // before the log goes: the report copies its tail
      registered_ = false;
    }
    if (root_.empty()) return;
    detail::remove_tree(root_);
    detail::reaper().forget(root_);
    root_.clear();
    lease_.release();
  }

  void shutdown() noexcept {
    if (root_.empty() || creator_ != ::getpid()) return;
    detail::StepEvent ev(name_, "destroy", [&](Event& e) { e.message = "stopped and removed"; });
    stop_process();
    remove_dir();
  }

  PoolMode mode_;
  PgBouncerOptions opts_;
  std::string password_;
  std::string name_, version_, root_, ini_, log_;
  detail::RunAs ra_;
  detail::PortLease lease_;
  int target_port_ = 0;
  pid_t pid_ = 0;
  pid_t creator_ = ::getpid();
  bool registered_ = false;
  mutable std::mutex mu_;
};

}  // namespace pgha
