// pgha/detail/live_nodes.hpp: every node alive in this process, whoever created it (a
// fixture, a plain TEST_CASE, a helper thread), so test-framework integrations can show the
// server logs of the nodes involved in a failing test. Cheap: a mutex and a small vector.
#pragma once

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
};

class LiveNodes {
public:
  void add(const LiveNode& n) {
    std::lock_guard<std::mutex> l(mu_);
    nodes_.push_back(n);
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
  std::vector<LiveNode> nodes_;
  std::function<void(const LiveNode&)> on_remove_;
};

// Never destroyed: nodes in static storage may be destroyed after any other static.
inline LiveNodes& live_nodes() {
  static LiveNodes* r = new LiveNodes;
  return *r;
}

}  // namespace pgha::detail
