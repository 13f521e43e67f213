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

#include "pgha/build_mode.hpp"

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
#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/binaries.hpp"
#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/live_nodes.hpp"
#endif
#include "pgha/detail/ports.hpp"
#include "pgha/detail/privilege.hpp"
#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/postmaster_pid.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/detail/spawn.hpp"
#endif
#include "pgha/endpoint.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/node.hpp"

namespace pgha {

/// PgBouncer's pool_mode.
enum class PoolMode { Session, Transaction, Statement };

/// "session", "transaction", "statement" (PgBouncer's own words).
PGHA_DECL const char* to_string(PoolMode m) noexcept;
/// The enumerator's name ("Session", ...), as the enums print with <<.
PGHA_DECL const char* enum_name(PoolMode m) noexcept;
PGHA_DECL std::ostream& operator<<(std::ostream& os, PoolMode m);

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
                         PgBouncerOptions opts = {});
  /// In front of one node (a StateError if it is not running).
  explicit TempPgBouncer(Node& target, PoolMode mode = PoolMode::Session, PgBouncerOptions opts = {});
  /// Stops PgBouncer (SIGTERM, then SIGKILL after 5 s) and removes its directory. Never throws.
  ~TempPgBouncer();
  TempPgBouncer(const TempPgBouncer&) = delete;
  TempPgBouncer& operator=(const TempPgBouncer&) = delete;

  /// libpq conninfo of PgBouncer for `dbname` (user postgres, the nodes' password; SCRAM).
  std::string conninfo(const std::string& dbname = "postgres") const;
  /// Its port on 127.0.0.1.
  int port() const noexcept;
  /// "127.0.0.1".
  std::string host() const;
  /// Its lane in the event stream and the failure report: "pgbouncer1", "pgbouncer2", ...
  const std::string& name() const noexcept;
  /// The pool mode it was started with.
  PoolMode mode() const noexcept;
  /// Its log file (stdout and stderr).
  std::string log_file() const;
  /// The last `lines` lines of its log.
  std::string log_tail(int lines = 20) const;
  /// Its version, e.g. "1.18.0".
  const std::string& version() const noexcept;
  /// The process id.
  pid_t pid() const noexcept;

  /// PAUSE: waits until every server connection is released (in session mode: until every
  /// client disconnected), then holds new queries until resume().
  void pause();
  /// RESUME after pause() or kill_server_connections().
  void resume();
  /// RECONNECT: every server connection is closed when released and opened anew.
  void reconnect();
  /// KILL of every database: every server connection is dropped now (their clients too),
  /// then RESUME so new clients get new server connections.
  void kill_server_connections();
  /// SHOW <topic> (pools, clients, servers, databases, stats, config, ...).
  Result show(const std::string& topic);
  /// Re-targets PgBouncer at `node` (a StateError if it is not running): its [databases]
  /// entry is rewritten and reloaded; open server connections are closed when released.
  void point_to(Node& node);
  /// Re-targets PgBouncer at an Endpoint.
  void point_to(Endpoint& e);

  /// The pgbouncer binary a TempPgBouncer would run: PGHA_PGBOUNCER if set, else
  /// `pgbouncer` on PATH or in /usr/sbin. Throws SetupError saying how to get one when there
  /// is none (or PGHA_PGBOUNCER names no executable file).
  static std::string find_binary();
  /// Whether find_binary() finds one; `why`, if given, gets its error message when not
  /// (a test's SKIPPED reason). Never throws.
  static bool available(std::string* why = nullptr) noexcept;

private:
  static void require_running(Node& n, const std::string& who);

  static const std::vector<std::string>& owned_settings();

  void check_options() const;

  static std::string database_line(int port);

  std::string ini(int target_port) const;

  void start(int target_port, const std::string& target_name);

  // userlist.txt quotes " by doubling it.
  static std::string quote_userlist(const std::string& v);

  // Until the admin console answers, the process exits, or the timeout.
  bool wait_ready();

  std::string console_conninfo() const;
  Connection console() const;

  void admin(const std::string& command, const char* kind, const std::string& what);

  void retarget(int target_port, const std::string& target_name);

  void stop_process() noexcept;

  void remove_dir() noexcept;

  void shutdown() noexcept;

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

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/pgbouncer.ipp"
#endif
