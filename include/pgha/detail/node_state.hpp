// pgha/detail/node_state.hpp: everything a node owns (directories, port, server
// process, credentials, upstream wiring) and the mechanics of starting and stopping
// its server. pgha::Node is a thin public face over this.
#pragma once

#include <libpq-fe.h>
#include <signal.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdlib>
#include <iostream>
#include <optional>
#include <random>
#include <string>
#include <thread>

#include "pgha/connection.hpp"
#include "pgha/detail/binaries.hpp"
#include "pgha/detail/config.hpp"
#include "pgha/detail/files.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/ports.hpp"
#include "pgha/detail/privilege.hpp"
#include "pgha/detail/process.hpp"
#include "pgha/detail/reaper.hpp"
#include "pgha/detail/relay.hpp"
#include "pgha/detail/template.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

struct Credentials {
  std::string superuser_password;
  std::string replication_password;
};

inline std::string random_secret() {
  static const char* hex = "0123456789abcdef";
  std::random_device rd;
  std::string s;
  for (int i = 0; i < 24; ++i) s += hex[rd() % 16];
  return s;
}

struct NodeState {
  Options opts;
  Binaries bins;
  RunAs ra;
  std::string name, root, data, sock, log, archive;
  PortLease lease;
  pid_t pid = 0;
  unsigned generation = 0;  // bumped on every start: cached connections from before are stale
  Credentials creds;
  bool standby = false;     // configuration to write at the next start
  // synchronous_standby_names is written only once the node has (or had) a standby, so a
  // lone TempPrimary accepts writes; a standby is armed from birth, so after a promote
  // its commits wait for a sync standby, as in the walkthrough.
  bool sync_armed = true;
  // The names written to synchronous_standby_names unless the user set it: this node's
  // own application_name (the walkthrough's symmetric pair) plus every standby that
  // attached to it or rejoined it, in that priority order.
  std::vector<std::string> sync_list;
  std::string upstream_host = "127.0.0.1";
  int upstream_port = 0;
  std::string upstream_archive;
  std::unique_ptr<Relay> link;  // the standby's replication link, when Options::relay
  std::optional<StopMode> last_stop;
  std::optional<Connection> admin_conn;
  unsigned admin_generation = 0;

  std::string label() const { return name + " (port " + std::to_string(lease.port()) + ")"; }
  std::string log_tail(int lines = 20) const { return tail_lines(log, lines); }
  std::string app_name() const {
    return opts.application_name.empty() ? "pgslave001" : opts.application_name;
  }
  std::string admin_conninfo() const {
    return "host=" + sock + " port=" + std::to_string(lease.port()) +
           " user=postgres dbname=postgres application_name=pgha";
  }
  std::string tcp_conninfo(const std::string& db) const {
    return "host=127.0.0.1 port=" + std::to_string(lease.port()) + " user=postgres password=" +
           creds.superuser_password + " dbname=" + db;
  }
  // Points the replication link at `port` on loopback, through the relay if enabled.
  void follow(int port) {
    upstream_port = port;
    if (!opts.relay) return;
    if (!link) link = std::make_unique<Relay>("127.0.0.1", port);
    else { link->retarget("127.0.0.1", port); link->set_state(LinkState::Pass); }
  }
  std::string replication_conninfo() const {
    int port = link ? link->port() : upstream_port;
    return "host=" + upstream_host + " port=" + std::to_string(port) +
           " user=replicauser password=" + creds.replication_password +
           " application_name=" + app_name() + " connect_timeout=5";
  }

  bool running() {
    if (pid <= 0) return false;
    int st;
    if (::waitpid(pid, &st, WNOHANG) == pid) {  // died on its own (or was killed from outside)
      pid = 0;
      last_stop = StopMode::Crash;
      return false;
    }
    return true;
  }

  // The library's own connection over the private Unix socket (trust auth).
  Connection& admin() {
    if (!running())
      throw StateError("the server is not running; expected a started node", label(), log_tail());
    if (!admin_conn || admin_generation != generation || !admin_conn->is_open()) {
      admin_conn.reset();
      admin_conn.emplace(admin_conninfo(), opts.timeout, label());
      admin_generation = generation;
    }
    return *admin_conn;
  }

  void write_config() {
    ConfigInput in;
    in.major = bins.major;
    in.port = lease.port();
    in.socket_dir = sock;
    in.cluster_name = name;
    in.sync_mode = opts.sync_mode;
    in.sync_names = !sync_armed ? std::string()
                    : opts.settings.count("synchronous_standby_names")
                        ? opts.settings.at("synchronous_standby_names") : sync_names();
    in.archive_dir = archive;
    in.standby = standby;
    in.primary_conninfo = replication_conninfo();
    in.restore_dir = upstream_archive;
    in.settings = opts.settings;
    write_file(data + "/pgha.conf", render_conf(in), ra);
    // PG 12+: standby.signal; PG 11 ignores it (and would come up as a primary), it
    // needs recovery.conf, which 12+ refuse to start with.
    std::string signal = data + "/standby.signal", recovery = data + "/recovery.conf";
    ::unlink(signal.c_str());
    ::unlink(recovery.c_str());
    if (standby) {
      if (bins.major >= 12) write_file(signal, "", ra);
      else write_file(recovery, render_recovery_conf(in), ra);
    }
  }

  // Rewrites the configuration of the running server and reloads it.
  // Returns once this session has re-read the configuration; the postmaster signals all
  // server processes at the same time, so the new values are in force server-wide.
  void reload() {
    write_config();
    std::string before = admin().query("SELECT pg_conf_load_time()").value(0, 0);
    admin().execute("SELECT pg_reload_conf()");
    wait_until("the server to reload its configuration", opts.timeout, label(),
               [&](std::string& seen) {
                 seen = "configuration loaded at " +
                        admin().query("SELECT pg_conf_load_time()").value(0, 0);
                 return admin().query("SELECT pg_conf_load_time() > '" + before +
                                      "'::timestamptz").value(0, 0) == "t";
               },
               [&] { return log_tail(); });
  }

  // "name", or FIRST 1 ("a", "b") when several standbys may be the sync one.
  std::string sync_names() const {
    std::vector<std::string> names = sync_list;
    if (std::find(names.begin(), names.end(), app_name()) == names.end())
      names.insert(names.begin(), app_name());
    if (names.size() == 1) return names.front();
    std::string out = "FIRST 1 (";
    for (size_t i = 0; i < names.size(); ++i) out += (i ? ", \"" : "\"") + names[i] + "\"";
    return out + ")";
  }

  // Makes `standby_app` a synchronous standby candidate of this running primary and turns
  // synchronous_standby_names on (see sync_armed); reloads only when something changed.
  void arm_sync(const std::string& standby_app) {
    bool listed = standby_app == app_name() ||
                  std::find(sync_list.begin(), sync_list.end(), standby_app) != sync_list.end();
    if (sync_armed && listed) return;
    if (!listed) sync_list.push_back(standby_app);
    sync_armed = true;
    reload();
  }

  // Starts the server and waits until it accepts connections. A port lost to another
  // program between reservation and bind is replaced by a fresh one (unless fixed).
  void start() {
    if (running()) throw StateError("start() called but the server is already running", label());
    for (int attempt = 0;; ++attempt) {
      write_config();
      auto log_offset = file_size(log);
      SpawnSpec spec;
      spec.argv = {bins.bin_dir + "/postgres", "-D", data};
      spec.log_file = log;
      spec.cwd = root;
      spec.run_as = ra;
      spec.env = {"LC_ALL=C", "LANG=C"};
      pid = spawn(spec);
      last_stop.reset();
      std::string why;
      try {
        wait_until("the server to accept connections", opts.timeout, label(),
                   [&](std::string& seen) {
                     int st;
                     if (::waitpid(pid, &st, WNOHANG) == pid) {
                       pid = 0;
                       why = WIFEXITED(st) ? "exit code " + std::to_string(WEXITSTATUS(st))
                                           : "signal " + std::to_string(WTERMSIG(st));
                       return true;
                     }
                     PGPing p = PQping((admin_conninfo() + " connect_timeout=2").c_str());
                     seen = p == PQPING_REJECT ? "server starting up (rejecting connections)"
                                               : p == PQPING_OK ? "ready" : "no response yet";
                     return p == PQPING_OK;
                   },
                   [&] { return log_tail(); });
      } catch (...) {
        kill_tree(std::chrono::seconds(5));  // also removes its SysV segment
        throw;
      }
      if (pid > 0) { ++generation; return; }
      std::string fresh = read_file(log, log_offset);
      if (fresh.find("Address already in use") != std::string::npos && opts.port == 0 &&
          attempt < 5) {
        lease = reserve_port(0);  // lost a bind race: take another port
        live_nodes().set_port(this, lease.port());
        continue;
      }
      std::string hint = fresh.find("Address already in use") != std::string::npos
                             ? "port " + std::to_string(lease.port()) + " is taken; "
                             : std::string();
      throw SetupError("the server exited during start-up (" + why + "); " + hint +
                           "expected it to accept connections. See the log below.",
                       label(), log_tail());
    }
  }

  // Sends `sig` to the postmaster and reaps it within `limit`. False on timeout.
  bool stop_now(int sig, std::chrono::milliseconds limit = std::chrono::seconds(5)) noexcept {
    if (pid <= 0) return true;
    if (::kill(pid, sig) != 0 && errno == ESRCH) { reap(); return true; }
    // A frozen server (freeze()) would never act on the signal: wake the frozen processes.
    // For an immediate stop each frozen child first gets its SIGQUIT, which it handles
    // the moment it resumes, so a frozen walsender exits without sending another byte.
    for (pid_t c : child_pids(pid))
      if (process_stopped(c)) {
        if (sig == SIGQUIT) ::kill(c, SIGQUIT);
        ::kill(c, SIGCONT);
      }
    ::kill(pid, SIGCONT);
    if (!wait_exit(pid, limit)) return false;
    pid = 0;
    return true;
  }
  void reap() noexcept { if (pid > 0) { wait_exit(pid, std::chrono::milliseconds(100)); pid = 0; } }

  void stop(StopMode mode) {
    if (!running()) return;
    admin_conn.reset();
    if (mode == StopMode::Crash) {
      if (!kill_tree(opts.timeout))
        throw TimeoutError("processes of the killed server were still alive after " +
                               std::to_string(opts.timeout.count()) + " ms",
                           label(), log_tail());
    } else {
      int sig = mode == StopMode::Smart ? SIGTERM : mode == StopMode::Fast ? SIGINT : SIGQUIT;
      if (!stop_now(sig, opts.timeout))
        throw TimeoutError(std::string("the server did not stop within ") +
                               std::to_string(opts.timeout.count()) + " ms after " +
                               (mode == StopMode::Smart ? "a smart" : mode == StopMode::Fast
                                                                          ? "a fast" : "an immediate") +
                               " shutdown request (smart waits for clients to disconnect)",
                           label(), log_tail());
    }
    last_stop = mode;
  }

  // Like a power cut: SIGKILL to the postmaster and every child at once, nothing is
  // flushed. Returns once all of them are gone (false if some outlived `limit`).
  // The segment goes too: a restart would clean it up, a re-clone or removal would not.
  bool kill_tree(std::chrono::milliseconds limit) noexcept {
    if (pid <= 0) return true;
    bool gone = kill_server(pid, data + "/postmaster.pid", limit);
    wait_exit(pid, std::chrono::milliseconds(100));  // reap our child
    pid = 0;
    return gone;
  }

  void remove_leftover_shm() noexcept { remove_postmaster_shm(data + "/postmaster.pid"); }

  // Destructor path: bounded, never throws.
  void destroy() noexcept {
    try {
      live_nodes().remove(this);  // before the log file goes
      admin_conn.reset();
      link.reset();
      // The directory is about to go: no shutdown is owed to anyone. (An immediate
      // shutdown can take 5 s: the postmaster waits that long for a child that does not
      // act on SIGQUIT before it sends SIGKILL itself.)
      if (running()) kill_tree(std::chrono::seconds(5));
      remove_leftover_shm();
      const char* keep = std::getenv("PGHA_KEEP");
      if (keep && std::string(keep) == "1") {
        std::cerr << "pgha: PGHA_KEEP=1: kept " << name << " at " << root << " (log: " << log
                  << "); its server is stopped\n";
        write_file(root + "/keep", "kept by PGHA_KEEP=1; later sweeps leave it alone\n", RunAs{});
        reaper().forget(root);
      } else {
        remove_tree(root);
        reaper().forget(root);
      }
      lease.release();
    } catch (...) {
    }
  }
};

}  // namespace pgha::detail
