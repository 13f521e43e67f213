// pgha/detail/isolation.hpp: which nodes a live Partition hides from Route endpoints. A
// process-wide set (counted: partitions may overlap), keyed by the node's state object,
// whose address is stable for the node's life (moving a Node moves only the pointer).
#pragma once

#include <map>
#include <mutex>

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

private:
  mutable std::mutex mu_;
  std::map<const void*, int> count_;
};

}  // namespace pgha::detail
