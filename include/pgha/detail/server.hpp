// pgha/detail/server.hpp: one postmaster, launched directly as our own child (not through
// pg_ctl), waited on and signalled through a pidfd so a recycled pid is never hit. It
// starts, stops in the four modes, freezes and thaws the whole process tree. A frozen
// server can be stopped in any mode: every frozen process is woken first.
#pragma once

#include <libpq-fe.h>
#include <signal.h>
#include <sys/syscall.h>
#include <sys/wait.h>

#include <atomic>
#include <chrono>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "pgha/detail/file_ops.hpp"
#include "pgha/detail/node_dir.hpp"
#include "pgha/detail/postmaster_pid.hpp"
#include "pgha/detail/proc_info.hpp"
#include "pgha/detail/spawn.hpp"
#include "pgha/detail/wait.hpp"
#include "pgha/error.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

inline const char* stop_mode_text(StopMode m) noexcept {
  switch (m) {
    case StopMode::Smart: return "a smart shutdown (SIGTERM; it waits for clients to disconnect)";
    case StopMode::Fast: return "a fast shutdown (SIGINT; it aborts sessions and writes a checkpoint)";
    case StopMode::Immediate: return "an immediate shutdown (SIGQUIT)";
    case StopMode::Crash: return "SIGKILL of every server process";
  }
  return "a shutdown";
}

// The postmaster as pgha starts it: `postgres -D <data>` in the C locale, its stderr the
// log (pgha_bench starts the same by hand as the floor).
inline SpawnSpec postgres_spec(const Binaries& b, const std::string& data, const std::string& log,
                               const std::string& cwd, const RunAs& ra) {
  SpawnSpec spec;
  spec.argv = {b.bin_dir + "/postgres", "-D", data};
  spec.log_file = log;
  spec.cwd = cwd;
  spec.run_as = ra;
  spec.env = {"LC_ALL=C", "LANG=C"};
  return spec;
}

class Server {
public:
  explicit Server(const NodeDir& dir) : dir_(dir) {}
  Server(const Server&) = delete;
  Server& operator=(const Server&) = delete;
  ~Server() { close_pidfd(); }

  /// Whether the postmaster runs; reaps it (and records a crash) if it died on its own.
  bool running() {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ <= 0) return false;
    int st;
    if (::waitpid(pid_, &st, WNOHANG) == pid_) {  // died on its own, or killed from outside
      forget_locked();
      return false;
    }
    return true;
  }
  pid_t pid() const noexcept { return pid_.load(); }
  /// Bumped on every start: connections opened before belong to an older server.
  unsigned generation() const noexcept { return generation_.load(); }
  /// Whether freeze() is in force (the postmaster is SIGSTOPped).
  bool frozen() const noexcept { return frozen_.load(); }

  /// Spawns postgres and waits until it accepts connections on `ping_conninfo`. Returns
  /// true when ready; false when it exited during start-up (`why` says how). On timeout the
  /// whole process tree is killed and TimeoutError thrown.
  /// `while_starting` (if set) runs once the process is spawned, before the wait: work
  /// elsewhere that can overlap the server's 30-40 ms of start-up. If it throws, the server
  /// is killed and the exception passes on.
  bool start(const std::string& ping_conninfo, std::chrono::milliseconds timeout,
             std::string& why, const std::function<void()>& while_starting = nullptr) {
    pid_t child = spawn(postgres_spec(dir_.bins(), dir_.data(), dir_.log(), dir_.root(), dir_.run_as()));
    {
      std::lock_guard<std::mutex> l(mu_);
      pid_ = child;
#ifdef SYS_pidfd_open
      pidfd_ = static_cast<int>(::syscall(SYS_pidfd_open, child, 0));
#endif
      frozen_ = false;
    }
    std::string ping = ping_conninfo + " connect_timeout=2";
    std::string pidfile = dir_.data() + "/postmaster.pid";
    unsigned checks = 0;
    bool exited = false;
    try {
      if (while_starting) while_starting();
      wait_until("the server to accept connections", timeout, dir_.label(), std::chrono::microseconds(200),
                 [&](std::string& seen) {
                   int st;
                   {
                     std::lock_guard<std::mutex> l(mu_);
                     if (::waitpid(child, &st, WNOHANG) == child) {
                       why = WIFEXITED(st) ? "exit code " + std::to_string(WEXITSTATUS(st))
                                           : "signal " + std::to_string(WTERMSIG(st));
                       forget_locked();
                       exited = true;
                       return true;
                     }
                   }
                   // The postmaster says when it accepts connections (line 8 of its
                   // postmaster.pid): reading a small file costs microseconds, where a
                   // ping costs a backend, so the wait polls the file finely and pings
                   // only as a fallback (every 16th check) in case no status comes.
                   std::string status = postmaster_status(pidfile, child);
                   if (status == "ready" || status == "standby") return true;
                   if (++checks % 16 != 0) {
                     seen = status.empty() ? "no status in postmaster.pid yet"
                                           : "postmaster.pid says '" + status + "'";
                     return false;
                   }
                   PGPing p = PQping(ping.c_str());
                   seen = p == PQPING_REJECT ? "server starting up (rejecting connections)"
                                             : p == PQPING_OK ? "ready" : "no response yet";
                   return p == PQPING_OK;
                 },
                 [&] { return dir_.log_tail(); });
    } catch (...) {
      kill_tree(std::chrono::seconds(5));  // also removes its SysV segment
      throw;
    }
    if (exited) return false;
    ++generation_;
    return true;
  }

  /// Stops the server in `mode` within `timeout`; a stopped server is left as it is.
  /// `signalled` runs once the server was told to stop (it refuses new connections then).
  template <class F>
  void stop(StopMode mode, std::chrono::milliseconds timeout, F signalled) {
    if (!running()) return;
    if (mode == StopMode::Crash) {
      bool gone = kill_tree(timeout);
      signalled();
      if (!gone)
        throw TimeoutError("processes of the killed server were still alive after " +
                               std::to_string(timeout.count()) + " ms; expected SIGKILL to end "
                               "them at once",
                           dir_.label(), dir_.log_tail());
    } else {
      int sig = mode == StopMode::Smart ? SIGTERM : mode == StopMode::Fast ? SIGINT : SIGQUIT;
      if (!signal_and_wait(sig, timeout, signalled))
        throw TimeoutError("the server did not stop within " + std::to_string(timeout.count()) +
                               " ms after " + stop_mode_text(mode) +
                               (mode == StopMode::Smart ? "; disconnect the clients, or use "
                                                          "StopMode::Fast"
                                                        : "; expected it to exit"),
                           dir_.label(), dir_.log_tail());
    }
  }

  /// Like a power cut: SIGKILL to the postmaster and every child at once; returns once all
  /// are gone (false if some outlived `limit`). Removes the SysV segment too.
  bool kill_tree(std::chrono::milliseconds limit) noexcept {
    pid_t p = pid_.load();
    if (p <= 0) return true;
    bool gone = kill_server(p, dir_.data() + "/postmaster.pid", limit);
    wait_exit(p, std::chrono::milliseconds(100));  // reap our child
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ == p) forget_locked();
    return gone;
  }

  /// SIGSTOP to the postmaster and then to every child: the postmaster is stopped first,
  /// so it cannot fork a child that escapes.
  void freeze() {
    pid_t p = require_running();
    send(SIGSTOP);
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
    while (!process_stopped(p) && std::chrono::steady_clock::now() < deadline)
      std::this_thread::sleep_for(std::chrono::microseconds(200));
    std::vector<pid_t> children = child_pids(p);
    for (pid_t c : children) ::kill(c, SIGSTOP);
    // Returns once every child is stopped too: a freeze is in force when it returns.
    for (pid_t c : children)
      while (process_state(c) != 'T' && process_alive(c) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    frozen_ = true;
  }
  /// SIGCONT to every child and the postmaster, whatever state each is in.
  void thaw() {
    pid_t p = require_running();
    wake_all(p, 0);
    frozen_ = false;
  }
  /// Sends `sig` to the children of process type `type` ("walsender", "checkpointer",
  /// "background writer", ...: the word PostgreSQL puts in the title after the cluster
  /// name); returns how many. The type is matched exactly, never inside the node's name:
  /// a node named "walsender" has a checkpointer titled "postgres: walsender: checkpointer".
  /// SIGSTOP returns once each process is stopped (a signal is delivered when the process
  /// next runs: without the wait, a freeze could return before it took effect), bounded.
  int signal_children(int sig, const std::string& type) {
    pid_t p = require_running();
    std::vector<pid_t> hit;
    for (pid_t c : child_pids(p))
      if (is_process_type(process_title(c), dir_.cluster_name(), type) && ::kill(c, sig) == 0)
        hit.push_back(c);
    if (sig == SIGSTOP) {
      auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(2);
      for (pid_t c : hit)
        while (process_state(c) != 'T' && process_alive(c) && std::chrono::steady_clock::now() < deadline)
          std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    return static_cast<int>(hit.size());
  }
  /// The children of process type `type` (see signal_children).
  std::vector<pid_t> children_of_type(const std::string& type) {
    pid_t p = require_running();
    std::vector<pid_t> out;
    for (pid_t c : child_pids(p))
      if (is_process_type(process_title(c), dir_.cluster_name(), type)) out.push_back(c);
    return out;
  }
  /// Sends `sig` to `child` if it is still a child of this server's postmaster (a pid
  /// read earlier may have exited and been reused). Returns whether it was sent.
  bool signal_child(pid_t child, int sig) {
    pid_t p = require_running();
    for (pid_t c : child_pids(p))
      if (c == child) return ::kill(c, sig) == 0;
    return false;
  }
  /// Sends `sig` to the postmaster itself (PG 11's promote signal).
  void signal_postmaster(int sig) { require_running(); send(sig); }

  /// In a fork()ed child: forget the server without touching it.
  void abandon() noexcept {
    std::lock_guard<std::mutex> l(mu_);
    pid_ = 0;
    pidfd_ = -1;  // the fd number is the parent's; closing ours is harmless but pointless
  }

private:
  pid_t require_running() {
    if (!running())
      throw StateError("the server is not running; expected a started node", dir_.label(),
                       dir_.log_tail());
    return pid_.load();
  }
  void send(int sig) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ <= 0) return;
#ifdef SYS_pidfd_send_signal
    if (pidfd_ >= 0 && ::syscall(SYS_pidfd_send_signal, pidfd_, sig, nullptr, 0) == 0) return;
#endif
    ::kill(pid_, sig);
  }
  // Wakes every process of the tree; `pending` (if not 0) first goes to each child, which
  // acts on it the moment it resumes (a frozen walsender then exits without another byte).
  void wake_all(pid_t p, int pending) noexcept {
    for (pid_t c : child_pids(p)) {
      if (pending) ::kill(c, pending);
      ::kill(c, SIGCONT);
    }
    send(SIGCONT);
  }
  template <class F>
  bool signal_and_wait(int sig, std::chrono::milliseconds limit, F signalled) {
    pid_t p = pid_.load();
    if (p <= 0) return true;
    send(sig);
    signalled();
    // Wake any frozen process (freeze(), freeze_walsender()): a stopped process would never
    // act on the signal. SIGCONT to a running process does nothing.
    wake_all(p, sig == SIGQUIT ? SIGQUIT : 0);
    if (!wait_exit(p, limit)) return false;
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ == p) forget_locked();
    return true;
  }
  void forget_locked() noexcept {
    pid_ = 0;
    frozen_ = false;
    close_pidfd();
  }
  void close_pidfd() noexcept {
    if (pidfd_ >= 0) ::close(pidfd_);
    pidfd_ = -1;
  }

  const NodeDir& dir_;
  mutable std::mutex mu_;
  std::atomic<pid_t> pid_{0};
  int pidfd_ = -1;
  std::atomic<unsigned> generation_{0};
  std::atomic<bool> frozen_{false};
};

}  // namespace pgha::detail
