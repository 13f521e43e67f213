// pgha/detail/live_nodes.hpp: every node alive in this process, whoever created it (a
// fixture, a plain TEST_CASE, a helper thread), so test-framework integrations can show the
// server logs of the nodes involved in a failing test (detail/failure_report.hpp), and
// every relay port and what it serves. Cheap: a mutex and a small vector.
#pragma once

#include <cctype>
#include <condition_variable>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <mutex>
#include <string>
#include <vector>

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

}  // namespace pgha::detail
