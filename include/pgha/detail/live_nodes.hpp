// pgha/detail/live_nodes.hpp: every node alive in this process, whoever created it (a
// fixture, a plain TEST_CASE, a helper thread), so test-framework integrations can show the
// server logs of the nodes involved in a failing test. Cheap: a mutex and a small vector.
//
// FailureLogs (below) is what pgha/catch2.hpp and pgha/gtest.hpp share: begin_test() when a
// test starts, end_test(failed) when it ends. While a test runs, every node that goes away
// leaves a copy of its log tail (its directory is deleted right after); a failed test prints
// the tails of the nodes still alive and of those that went, on stderr. Before them comes
// the test's event timeline (pgha/events.hpp): every step pgha took during the test, with
// its duration (the newest 400 when a test takes more steps).
#pragma once

#include <algorithm>
#include <cctype>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/files.hpp"  // file_tail
#include "pgha/events.hpp"

namespace pgha::detail {

/// What a failure report needs to know of a node; stable for the node's life except the port.
struct LiveNode {
  const void* id = nullptr;  // the node's identity (its state object)
  std::string name;
  int port = 0;              // the server's own port (not a relay's)
  std::string log_file;
  std::uint64_t serial = 0;  // set by add(), unique in the process: a new node at a reused address differs
  int pins = 0;              // NodeRef pins: the node's destruction waits until they are gone
  bool retired = false;      // being destroyed: no new visit or pin
};

class LiveNodes {
public:
  void add(const LiveNode& n) {
    std::lock_guard<std::mutex> l(mu_);
    nodes_.push_back(n);
    nodes_.back().serial = ++serial_;
  }
  /// The serial number `id` got when it was added (0: not alive).
  std::uint64_t serial(const void* id) const {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& n : nodes_) if (n.id == id) return n.serial;
    return 0;
  }
  /// Runs `f` while the node added as (`id`, `serial`) is still alive, and keeps it alive
  /// until `f` returns: remove() waits. Returns false, without running `f`, for a node that
  /// is gone. For observers on other threads (an Endpoint's relay) that hold a node's address
  /// but not the node: `f` must not block on the node (try_lock only).
  template <class F>
  bool visit(const void* id, std::uint64_t serial, F&& f) const {
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& n : nodes_)
      if (n.id == id && n.serial == serial && !n.retired) {
        f();
        return true;
      }
    return false;
  }
  /// Pins the node added as (`id`, `serial`) if it is alive and not being destroyed: its
  /// retire() (the first step of its destruction) waits until unpin(). False if it is gone.
  /// A pin is held for one call of a holder (FailoverGuard's rejoin), whose own waits are
  /// bounded: that bounds retire()'s wait too.
  bool pin(const void* id, std::uint64_t serial) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& n : nodes_)
      if (n.id == id && n.serial == serial && !n.retired) {
        ++n.pins;
        return true;
      }
    return false;
  }
  void unpin(const void* id, std::uint64_t serial) noexcept {
    {
      std::lock_guard<std::mutex> l(mu_);
      for (auto& n : nodes_)
        if (n.id == id && n.serial == serial && n.pins > 0) --n.pins;
    }
    unpinned_.notify_all();
  }
  /// The node starts being destroyed: no new visit or pin; waits until the pins held now
  /// are released (a holder's call in progress on another thread finishes first).
  void retire(const void* id) noexcept {
    std::unique_lock<std::mutex> l(mu_);
    for (auto& n : nodes_)
      if (n.id == id) {
        n.retired = true;
        const std::uint64_t serial = n.serial;
        unpinned_.wait(l, [&] {
          for (const auto& m : nodes_)
            if (m.id == id && m.serial == serial) return m.pins == 0;
          return true;
        });
        return;
      }
  }
  void set_port(const void* id, int port) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& n : nodes_) if (n.id == id) n.port = port;
  }
  /// Called by a node just before its directory is removed; the observer (if any) may copy
  /// the log tail while the file still exists.
  void remove(const void* id) noexcept {
    try {
      std::function<void(const LiveNode&)> obs;
      LiveNode gone;
      {
        std::lock_guard<std::mutex> l(mu_);
        for (auto it = nodes_.begin(); it != nodes_.end(); ++it)
          if (it->id == id) { gone = *it; nodes_.erase(it); break; }
        obs = on_remove_;
      }
      if (obs && gone.id) obs(gone);
    } catch (...) {
    }
  }
  std::vector<LiveNode> snapshot() const {
    std::lock_guard<std::mutex> l(mu_);
    return nodes_;
  }
  /// One observer of removals (a test-framework integration); nullptr removes it.
  void set_on_remove(std::function<void(const LiveNode&)> f) {
    std::lock_guard<std::mutex> l(mu_);
    on_remove_ = std::move(f);
  }

private:
  mutable std::mutex mu_;
  std::condition_variable unpinned_;
  std::vector<LiveNode> nodes_;
  std::uint64_t serial_ = 0;
  std::function<void(const LiveNode&)> on_remove_;
};

// Never destroyed: nodes in static storage may be destroyed after any other static.
inline LiveNodes& live_nodes() {
  static LiveNodes* r = new LiveNodes;
  return *r;
}

/// Every relay port of the process (replication links, endpoints) and what it serves, for
/// failure reports: a standby's log names the relay's port it streams from, not its
/// upstream's. Entries stay after their relay goes (the logs of destroyed nodes name them);
/// a port reused by a new relay gets the new entry.
class RelayPorts {
public:
  /// Relay port `port` serves `what` ("replication link of node2, to node1 (port 5432)").
  void set(int port, std::string what) {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& e : ports_)
      if (e.port == port) { e.what = std::move(what); e.live = true; return; }
    if (ports_.size() >= kMax) ports_.erase(ports_.begin());
    ports_.push_back({port, std::move(what), true});
  }
  /// The relay on `port` is gone.
  void gone(int port) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    for (auto& e : ports_) if (e.port == port) e.live = false;
  }
  /// One line per relay alive now or whose port `text` names ("" if none).
  std::string report(const std::string& text) const {
    std::string out;
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& e : ports_) {
      const std::string p = std::to_string(e.port);
      bool named = false;
      for (auto at = text.find(p); at != std::string::npos && !named; at = text.find(p, at + 1))
        named = (at == 0 || !std::isdigit(static_cast<unsigned char>(text[at - 1]))) &&
                (at + p.size() >= text.size() || !std::isdigit(static_cast<unsigned char>(text[at + p.size()])));
      if (e.live || named)
        out += "  relay port " + p + ": " + e.what + (e.live ? "" : " (gone)") + "\n";
    }
    return out;
  }

private:
  struct Entry {
    int port;
    std::string what;
    bool live;
  };
  static constexpr std::size_t kMax = 1024;
  mutable std::mutex mu_;
  std::vector<Entry> ports_;
};

// Never destroyed, like live_nodes().
inline RelayPorts& relay_ports() {
  static RelayPorts* r = new RelayPorts;
  return *r;
}


/// One node's section of a failure report, named by its name and its real server port
/// (a standby's own log names the port it streams from, which may be a relay's).
inline std::string log_section(const LiveNode& n, int lines, const char* state) {
  std::string out = "---- pgha: " + n.name + " (port " + std::to_string(n.port) + ", " + state +
                    "), last " + std::to_string(lines) + " lines of " + n.log_file + " ----\n";
  std::string t = file_tail(n.log_file, lines);
  if (t.empty()) t = "(log empty or unreadable)\n";
  if (t.back() != '\n') t += '\n';
  return out + t;
}

/// Failure reports for test-framework integrations. Thread-safe; one per process.
class FailureLogs {
public:
  /// A test starts: forget the tails of nodes that went during earlier tests.
  void begin_test() {
    install();
    std::lock_guard<std::mutex> l(mu_);
    gone_.clear();
    events_.clear();
    dropped_ = 0;
    started_ = std::chrono::system_clock::now();
    in_test_ = true;
  }
  /// A test ended; returns the report to print if it failed ("" if it passed or had no
  /// nodes): nodes alive now, then nodes removed during the test (tails taken at removal).
  std::string end_test(bool failed) {
    std::vector<std::string> gone;
    std::vector<Event> events;
    std::size_t dropped;
    std::chrono::system_clock::time_point started;
    int lines;
    {
      std::lock_guard<std::mutex> l(mu_);
      gone.swap(gone_);
      events.swap(events_);
      dropped = dropped_;
      started = started_;
      in_test_ = false;
      lines = lines_;
    }
    if (!failed) return {};
    std::string body;
    for (const LiveNode& n : live_nodes().snapshot()) body += log_section(n, lines, "alive");
    for (const std::string& g : gone) body += g;
    std::string timeline = timeline_section(events, dropped, started);
    if (body.empty() && timeline.empty()) return {};
    std::string relays = relay_ports().report(timeline + body);
    if (!body.empty())
      body = "\npgha: server logs of the nodes alive at the end of the failed test or destroyed "
             "during it:\n" + body + "---- pgha: end of server logs ----\n";
    if (!relays.empty())
      relays = "\npgha: relay ports (the logs name a relay's port, not the node behind it):\n" + relays;
    return timeline + body + relays;
  }
  /// Writes a report on stderr, after what the test framework wrote on stdout so far.
  static void print(const std::string& report) {
    if (report.empty()) return;
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << report << std::flush;
  }
  /// Lines per node in the reports (set by the integration header).
  void set_lines(int lines) {
    std::lock_guard<std::mutex> l(mu_);
    lines_ = lines;
  }

  /// Events kept per test: the newest ones when a test takes more steps.
  static constexpr std::size_t kMaxEvents = 400;

private:
  void install() {
    std::call_once(installed_, [this] {
      live_nodes().set_on_remove([this](const LiveNode& n) { on_remove(n); });
      event_bus().add([this](const Event& e) { on_event(e); });  // for the program's life
    });
  }
  void on_event(const Event& e) {
    std::lock_guard<std::mutex> l(mu_);
    if (!in_test_) return;
    if (events_.size() >= kMaxEvents) {
      events_.erase(events_.begin());
      ++dropped_;
    }
    events_.push_back(e);
  }
  // The test's event timeline, times relative to the test's start ("" without events).
  static std::string timeline_section(const std::vector<Event>& events, std::size_t dropped,
                                      std::chrono::system_clock::time_point started) {
    if (events.empty()) return {};
    std::string out = "\npgha: event timeline of the failed test (" + std::to_string(events.size()) +
                      " events, times from the test's start):\n";
    if (dropped) out += "  (" + std::to_string(dropped) + " earlier events dropped)\n";
    for (const Event& e : events) out += "  " + format_event(e, started) + "\n";
    return out + "---- pgha: end of event timeline ----\n";
  }
  // Called by a node just before its directory (and log) is deleted.
  void on_remove(const LiveNode& n) {
    int lines;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!in_test_) return;
      lines = lines_;
    }
    std::string section = log_section(n, lines, "destroyed during the test");
    std::lock_guard<std::mutex> l(mu_);
    if (in_test_) gone_.push_back(std::move(section));
  }
  std::once_flag installed_;
  std::mutex mu_;
  bool in_test_ = false;
  int lines_ = 30;
  std::vector<std::string> gone_;
  std::vector<Event> events_;  // during the current test
  std::size_t dropped_ = 0;
  std::chrono::system_clock::time_point started_;
};

// Never destroyed, like live_nodes(): it observes removals of nodes in static storage.
inline FailureLogs& failure_logs() {
  static FailureLogs* r = new FailureLogs;
  return *r;
}

}  // namespace pgha::detail
