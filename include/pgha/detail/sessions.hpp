// pgha/detail/sessions.hpp: the connections a node keeps to its own server, safe from any
// thread. The library's own session (AdminSession) runs one short statement at a time for
// whichever thread asks. The user's statements (Node::execute) run on one session per
// calling thread (UserSessions), so a writer thread blocked in a synchronous commit never
// stops the test's main thread from failing the node over, and a single-threaded test keeps
// its session state (SET, BEGIN ... COMMIT) from one call to the next, as before. A thread's
// session closes when the thread ends. Sessions opened before a restart are replaced.
#pragma once

#include <unistd.h>

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "pgha/detail/client.hpp"

namespace pgha::detail {

// In a fork()ed child, a connection of the parent must not send its Terminate message
// (it would end the parent's session): such connections are kept, reachable, never closed.
// Each cached connection records the process that opened it, so a fork()ed child never
// runs a statement on its parent's session (both would read each other's results): it
// sets the parent's aside this way and opens its own.
inline void keep_forever(std::shared_ptr<Client> c) noexcept {
  static auto* kept = new std::vector<std::shared_ptr<Client>>;
  try { kept->push_back(std::move(c)); } catch (...) {}
}

class AdminSession {
public:
  /// Runs f(Client&) on the library's connection, opening it (again) when the server
  /// was restarted since, or the connection broke. A timed-out statement leaves the
  /// connection in an unknown state: it is dropped.
  template <class F>
  auto use(const std::string& conninfo, unsigned generation, int postmaster,
           std::chrono::milliseconds timeout, const std::string& label, F f)
      -> decltype(f(std::declval<Client&>())) {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_ && pid_ != ::getpid()) keep_forever(std::move(conn_));  // the parent's (fork)
    if (!conn_ || gen_ != generation || !conn_->is_open()) {
      conn_.reset();
      conn_ = std::make_shared<Client>(conninfo, timeout, label);
      conn_->set_local_postmaster(postmaster);
      gen_ = generation;
      pid_ = ::getpid();
    }
    try {
      return f(*conn_);
    } catch (const TimeoutError&) {
      conn_.reset();
      throw;
    }
  }
  /// Closes the connection (a smart shutdown waits for every client, this one included);
  /// in a fork()ed child, sets the parent's aside without closing it.
  void reset() noexcept {
    std::shared_ptr<Client> gone;
    std::lock_guard<std::mutex> l(mu_);
    if (conn_ && pid_ != ::getpid()) keep_forever(std::move(conn_));
    gone = std::move(conn_);
  }
  void abandon() noexcept {
    std::lock_guard<std::mutex> l(mu_);
    if (conn_) keep_forever(std::move(conn_));
  }

private:
  std::mutex mu_;
  std::shared_ptr<Client> conn_;
  unsigned gen_ = 0;
  pid_t pid_ = 0;  // the process that opened conn_
};

class UserSessions : public std::enable_shared_from_this<UserSessions> {
public:
  /// The calling thread's session, opened (again) when missing, stale or broken.
  std::shared_ptr<Client> get(const std::string& conninfo, unsigned generation, int postmaster,
                                  std::chrono::milliseconds timeout, const std::string& label) {
    auto id = std::this_thread::get_id();
    {
      std::lock_guard<std::mutex> l(mu_);
      // A fork()ed child's thread has the id of the thread that forked: every session it
      // finds is the parent's. Set them all aside (never closed) and open its own.
      if (pid_ != ::getpid()) set_aside_locked();
      auto it = by_thread_.find(id);
      if (it != by_thread_.end() && it->second.gen == generation && it->second.conn->is_open())
        return it->second.conn;
    }
    auto c = std::make_shared<Client>(conninfo, timeout, label);  // outside the lock
    c->set_local_postmaster(postmaster);  // cancel may SIGINT its backend
    {
      std::lock_guard<std::mutex> l(mu_);
      if (pid_ != ::getpid()) set_aside_locked();
      by_thread_[id] = Entry{c, generation};
    }
    on_thread_exit(weak_from_this());
    return c;
  }
  /// Forgets the calling thread's session (after a timeout its state is unknown).
  void drop_mine() noexcept { drop(std::this_thread::get_id()); }
  void drop(std::thread::id id) noexcept {
    std::shared_ptr<Client> gone;  // closed outside the lock
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ != ::getpid()) set_aside_locked();
    auto it = by_thread_.find(id);
    if (it != by_thread_.end()) { gone = std::move(it->second.conn); by_thread_.erase(it); }
  }
  /// Closes every thread's session (a statement still running keeps its own until it ends).
  void clear() noexcept {
    std::map<std::thread::id, Entry> gone;
    std::lock_guard<std::mutex> l(mu_);
    if (pid_ != ::getpid()) set_aside_locked();
    gone.swap(by_thread_);
  }
  void abandon() noexcept {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& e : by_thread_) keep_forever(std::move(e.second.conn));
    by_thread_.clear();
  }

private:
  struct Entry {
    std::shared_ptr<Client> conn;
    unsigned gen = 0;
  };
  // Closes this thread's sessions of every node it used when the thread ends.
  static void on_thread_exit(std::weak_ptr<UserSessions> s) {
    struct Hook {
      std::vector<std::weak_ptr<UserSessions>> used;
      ~Hook() {
        auto id = std::this_thread::get_id();
        for (auto& w : used)
          if (auto p = w.lock()) p->drop(id);
      }
    };
    thread_local Hook hook;
    for (auto it = hook.used.begin(); it != hook.used.end();)
      it = it->expired() ? hook.used.erase(it) : it + 1;
    for (auto& w : hook.used)
      if (!w.owner_before(s) && !s.owner_before(w)) return;  // already known
    hook.used.push_back(std::move(s));
  }
  // The sessions belong to another process (we are its fork()ed child): kept, never closed.
  void set_aside_locked() noexcept {
    for (auto& e : by_thread_) keep_forever(std::move(e.second.conn));
    by_thread_.clear();
    pid_ = ::getpid();
  }
  std::mutex mu_;
  std::map<std::thread::id, Entry> by_thread_;
  pid_t pid_ = ::getpid();  // the process whose sessions by_thread_ holds
};

}  // namespace pgha::detail
