// pgha/detail/read_check.hpp: the parts of History::check that need no final state: the
// reads (stale, phantom) and the outage (gaps between acknowledged appends).
//
// Stale read: a read acknowledged (ok) that was invoked after an append to the same key had
// been acknowledged (the append's completion time before the read's invocation time, both
// on the History's one monotonic clock, stamped under its lock), and whose observed values
// do not contain that append's value. The read started after the client was told the write
// committed, so any linearizable store (a primary, a synchronous standby with remote_apply)
// shows it; an asynchronous standby, or one that only flushed the WAL, may not.
// Phantom read: a read that observed a value no append of that key ever attempted.
// Reads that failed or whose outcome is unknown observed nothing and are not checked.
#pragma once

#include <algorithm>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <unordered_map>
#include <unordered_set>
#include <vector>

#include "pgha/history_types.hpp"

namespace pgha {
namespace detail {

struct ReadAnomalies {
  std::vector<OpRecord> stale, phantom;
  std::size_t reads = 0, reads_ok = 0;
};

inline ReadAnomalies check_reads(const std::vector<OpRecord>& ops) {
  ReadAnomalies out;
  struct KeyAppends {
    std::unordered_set<std::string_view> attempted;
    std::vector<const OpRecord*> acked;  // by completion time
  };
  std::unordered_map<std::string_view, KeyAppends> keys;
  bool any_read = false;
  for (const OpRecord& o : ops) any_read = any_read || o.kind == OpKind::Read;
  if (!any_read) return out;
  for (const OpRecord& o : ops) {
    if (o.kind != OpKind::Append) continue;
    KeyAppends& k = keys[o.key];
    k.attempted.insert(o.value);
    if (o.outcome == Outcome::Ok) k.acked.push_back(&o);
  }
  for (auto& entry : keys)
    std::sort(entry.second.acked.begin(), entry.second.acked.end(),
              [](const OpRecord* a, const OpRecord* b) { return a->complete_time_ns < b->complete_time_ns; });
  static const KeyAppends none;
  for (const OpRecord& r : ops) {
    if (r.kind != OpKind::Read) continue;
    ++out.reads;
    if (r.outcome != Outcome::Ok) continue;
    ++out.reads_ok;
    auto it = keys.find(r.key);
    const KeyAppends& k = it == keys.end() ? none : it->second;
    std::unordered_set<std::string_view> seen(r.read_values.begin(), r.read_values.end());
    bool phantom = false;
    for (const std::string& v : r.read_values) phantom = phantom || !k.attempted.count(v);
    if (phantom) out.phantom.push_back(r);
    for (const OpRecord* a : k.acked) {
      if (a->complete_time_ns >= r.invoke_time_ns) break;
      if (!seen.count(a->value)) {
        out.stale.push_back(r);
        break;
      }
    }
  }
  return out;
}

// The first acknowledged append of `r.key` that `r` should have seen and did not, as
// "k1=0-7", for summaries ("" when there is none).
inline std::string missed_by(const std::vector<OpRecord>& ops, const OpRecord& r) {
  std::unordered_set<std::string_view> seen(r.read_values.begin(), r.read_values.end());
  for (const OpRecord& a : ops)
    if (a.kind == OpKind::Append && a.outcome == Outcome::Ok && a.key == r.key &&
        a.complete_time_ns < r.invoke_time_ns && !seen.count(a.value))
      return a.key + "=" + a.value;
  return "";
}

// The completion times of the acknowledged appends, in order.
inline std::vector<std::int64_t> ack_times(const std::vector<OpRecord>& ops) {
  std::vector<std::int64_t> t;
  for (const OpRecord& o : ops)
    if (o.kind == OpKind::Append && o.outcome == Outcome::Ok) t.push_back(o.complete_time_ns);
  std::sort(t.begin(), t.end());
  return t;
}

// The gaps of at least `min` between consecutive acknowledgement times `t` (sorted).
inline std::vector<Gap> gaps_of(const std::vector<std::int64_t>& t, std::chrono::nanoseconds min) {
  std::vector<Gap> out;
  for (std::size_t i = 1; i < t.size(); ++i)
    if (t[i] - t[i - 1] >= min.count())
      out.push_back(Gap{std::chrono::nanoseconds(t[i - 1]), std::chrono::nanoseconds(t[i])});
  return out;
}

// The longest gap between consecutive acknowledgement times `t` (sorted); 0 with fewer
// than two.
inline std::chrono::nanoseconds longest_gap_of(const std::vector<std::int64_t>& t) {
  std::int64_t g = 0;
  for (std::size_t i = 1; i < t.size(); ++i) g = std::max(g, t[i] - t[i - 1]);
  return std::chrono::nanoseconds(g);
}

}  // namespace detail
}  // namespace pgha
