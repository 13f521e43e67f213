// pgha/impl/workload_callbacks.ipp: the client threads of a Workload that runs the
// application's own call (Workload(call, clients, opts)). Part of the Workload's
// definitions (it is built on the public History, Op and Attempt, so it lives above them,
// not in detail/): included by impl/workload.ipp. Each client loops: a fresh
// Attempt (key "k<n % keys>", value "<client>-<n>"), History::invoke, the call; the call
// returning without an outcome on its Op is ok, throwing is unknown with what() as the note.
//
// Lifetime: a call may hang (the application's bug, or a server it waits for without a
// bound). stop() waits stop_grace for every client; a client still in its call then has its
// op recorded as unknown and stop() throws TimeoutError. The Workload's destructor waits
// once more and detaches what is still running. So a client thread may outlive the
// Workload: it owns a shared_ptr to this state (the call, the History, the flags) and never
// touches the Workload itself. What the user's call captured is the user's to keep alive.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdint>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/history.hpp"
#include "pgha/workload.hpp"

namespace pgha {
namespace detail {

struct CallbackRun {
  using Call = std::function<void(Op&, const Attempt&)>;

  CallbackRun(Call c, int clients, int keys_, std::shared_ptr<History> h)
      : call(std::move(c)), keys(keys_), history(std::move(h)),
        done(static_cast<std::size_t>(clients), 0),
        current(static_cast<std::size_t>(clients), -1) {}

  const Call call;
  const int keys;
  const std::shared_ptr<History> history;
  std::atomic<bool> stopping{false};
  std::mutex m;
  std::condition_variable cv;  // a client ended, or stopping was set
  std::vector<char> done;                // guarded by m: the client's thread is past its loop
  std::vector<std::int64_t> current;     // guarded by m: the op in the call, or -1
  std::string last_error;                // guarded by m

  // Ends the clients' loops and wakes the ones pausing.
  void stop() {
    {
      std::lock_guard<std::mutex> l(m);
      stopping = true;
    }
    cv.notify_all();
  }

  // Waits until every client ended or `deadline`; returns the clients still running.
  std::vector<int> wait_until(std::chrono::steady_clock::time_point deadline) {
    std::unique_lock<std::mutex> l(m);
    auto all_done = [&] {
      for (char d : done)
        if (!d) return false;
      return true;
    };
    cv.wait_until(l, deadline, all_done);
    std::vector<int> stuck;
    for (std::size_t i = 0; i < done.size(); ++i)
      if (!done[i]) stuck.push_back(static_cast<int>(i));
    return stuck;
  }

  // The op client `c` is in the call for, or -1.
  std::int64_t op_of(int c) {
    std::lock_guard<std::mutex> l(m);
    return current[static_cast<std::size_t>(c)];
  }

  // One client's loop (its thread's function; `self` keeps the state alive).
  static void client(std::shared_ptr<CallbackRun> self, int client) noexcept {
    CallbackRun& s = *self;
    try {
      for (std::uint64_t n = 0; !s.stopping; ++n) {
        Attempt a;
        a.client = client;
        a.n = n;
        a.key = "k" + std::to_string(n % static_cast<std::uint64_t>(s.keys));
        a.value = std::to_string(client) + "-" + std::to_string(n);
        a.stopping_ = &s.stopping;
        Op op = s.history->invoke(a.key, a.value, client);
        s.set_current(client, static_cast<std::int64_t>(op.id()));
        bool ok = false;
        try {
          s.call(op, a);
          if (!op.done()) op.ok();
          ok = s.history->op(op.id()).outcome == Outcome::Ok;
        } catch (const std::exception& e) {
          if (!op.done()) op.unknown(e.what());
          s.note("client " + std::to_string(client) + ": " + e.what());
        } catch (...) {
          if (!op.done()) op.unknown("the call threw an exception that is not a std::exception");
          s.note("client " + std::to_string(client) + ": a non-standard exception");
        }
        s.set_current(client, -1);
        // After a failure, pause briefly (or until stop): a service that fails at once
        // (no server) would otherwise fill the History with millions of attempts.
        if (!ok) {
          std::unique_lock<std::mutex> l(s.m);
          s.cv.wait_for(l, std::chrono::milliseconds(20), [&] { return s.stopping.load(); });
        }
      }
    } catch (const std::exception& e) {  // out of memory: note it, end this client
      s.note(std::string("client stopped by an exception: ") + e.what());
    } catch (...) {
      s.note("client stopped by an unknown exception");
    }
    {
      std::lock_guard<std::mutex> l(s.m);
      s.done[static_cast<std::size_t>(client)] = 1;
    }
    s.cv.notify_all();
  }

  void set_current(int c, std::int64_t id) {
    std::lock_guard<std::mutex> l(m);
    current[static_cast<std::size_t>(c)] = id;
  }

  void note(const std::string& e) noexcept {
    try {
      std::lock_guard<std::mutex> l(m);
      last_error = e;
    } catch (...) {
    }
  }
};

}  // namespace detail
}  // namespace pgha
