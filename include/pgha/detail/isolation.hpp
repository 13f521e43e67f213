// pgha/detail/isolation.hpp: the live Partitions of the process. Which nodes they hide from
// Route endpoints (counted: partitions may overlap), and which node pairs each one keeps apart,
// so a replication link created while a Partition lives (a rejoin across it) is cut by it too.
// Nodes are keyed by their state object, whose address is stable for the node's life (moving
// a Node moves only the pointer).
#pragma once

#include <algorithm>
#include <cstdint>
#include <map>
#include <mutex>
#include <utility>
#include <vector>

#include "pgha/options.hpp"

namespace pgha::detail {

class Isolation {
public:
  /// The process-wide instance (never destroyed: endpoints may ask during static teardown).
  static Isolation& instance() {
    static Isolation* i = new Isolation;
    return *i;
  }
  /// One more partition hides `node`.
  void add(const void* node) {
    std::lock_guard<std::mutex> l(mu_);
    ++count_[node];
  }
  /// One partition less hides `node`.
  void remove(const void* node) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    auto it = count_.find(node);
    if (it != count_.end() && --it->second == 0) count_.erase(it);
  }
  /// Whether some partition hides `node` now.
  bool isolated(const void* node) const {
    std::lock_guard<std::mutex> l(mu_);
    return count_.count(node) != 0;
  }

  /// A Partition begins: `a` and `b` cannot reach each other; links between them are cut
  /// with `how`. The second group is hidden from endpoints. Returns the partition's id.
  std::uint64_t begin(std::vector<const void*> a, std::vector<const void*> b, LinkCut how) {
    std::lock_guard<std::mutex> l(mu_);
    for (const void* n : b) ++count_[n];
    const std::uint64_t id = ++last_id_;
    live_[id] = Live{{std::move(a), std::move(b)}, how};
    return id;
  }
  /// Partition `id` ends (idempotent).
  void end(std::uint64_t id) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    auto it = live_.find(id);
    if (it == live_.end()) return;
    for (const void* n : it->second.groups[1]) {
      auto c = count_.find(n);
      if (c != count_.end() && --c->second == 0) count_.erase(c);
    }
    live_.erase(it);
  }
  /// `node` is being destroyed: no partition knows it any more (a new node at its address
  /// is another node).
  void forget(const void* node) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    count_.erase(node);
    for (auto& p : live_)
      for (auto& g : p.second.groups) g.erase(std::remove(g.begin(), g.end(), node), g.end());
  }
  /// The live partitions that keep `node` and `upstream` apart, with how each cuts.
  std::vector<std::pair<std::uint64_t, LinkCut>> between(const void* node, const void* upstream) const {
    std::vector<std::pair<std::uint64_t, LinkCut>> out;
    std::lock_guard<std::mutex> l(mu_);
    for (const auto& p : live_)
      for (int g = 0; g < 2; ++g)
        if (has(p.second.groups[g], node) && has(p.second.groups[1 - g], upstream))
          out.emplace_back(p.first, p.second.how);
    return out;
  }

private:
  struct Live {
    std::vector<const void*> groups[2];
    LinkCut how;
  };
  static bool has(const std::vector<const void*>& v, const void* n) {
    return std::find(v.begin(), v.end(), n) != v.end();
  }
  mutable std::mutex mu_;
  std::map<const void*, int> count_;
  std::map<std::uint64_t, Live> live_;
  std::uint64_t last_id_ = 0;
};

}  // namespace pgha::detail
