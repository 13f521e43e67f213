// pgha/detail/history_check.hpp: the checker behind History::check and the JSON lines
// writer. The value types it works on (Outcome, OpRecord, Row, HistoryEvent) are public:
// pgha/history_types.hpp, a vocabulary header.
#pragma once

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <functional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pgha/detail/read_check.hpp"
#include "pgha/detail/verdict_data.hpp"
#include "pgha/history_types.hpp"

namespace pgha {
namespace detail {

// Per (key, value): how many rows hold it and which operations attempted it. The map's
// keys view the strings of `ops` and `rows` (no copies); the operations of one (key, value)
// are chained through `next`, in invoke order.
struct PairHash {
  std::size_t operator()(const std::pair<std::string_view, std::string_view>& p) const noexcept {
    std::size_t a = std::hash<std::string_view>()(p.first);
    return a ^ (std::hash<std::string_view>()(p.second) + 0x9e3779b97f4a7c15ULL + (a << 6) + (a >> 2));
  }
};

inline VerdictData check_history(const std::vector<OpRecord>& ops,
                                 const std::vector<std::pair<std::string, std::string>>& rows) {
  constexpr std::size_t none = static_cast<std::size_t>(-1);
  struct Slot {
    std::size_t present = 0, ok = 0, fail = 0, unknown = 0;
    std::size_t head = none, tail = none;  // chain of op ids
    std::size_t row = none;                // one row holding it
  };
  VerdictData d;
  d.rows = rows.size();
  std::vector<std::size_t> next(ops.size(), none);
  std::unordered_map<std::pair<std::string_view, std::string_view>, Slot, PairHash> slots;
  slots.reserve(ops.size() + rows.size() / 4);
  for (const OpRecord& o : ops) {
    if (o.kind != OpKind::Append) continue;  // reads: check_reads below
    ++d.attempted;
    Slot& s = slots[{o.key, o.value}];
    switch (o.outcome) {
      case Outcome::Ok: ++s.ok; ++d.acknowledged; break;
      case Outcome::Fail: ++s.fail; ++d.failed; break;
      default: ++s.unknown; break;
    }
    if (s.tail == none) s.head = o.id; else next[s.tail] = o.id;
    s.tail = o.id;
  }
  for (std::size_t i = 0; i < rows.size(); ++i) {
    Slot& s = slots[{rows[i].first, rows[i].second}];
    ++s.present;
    s.row = i;
  }
  for (auto& entry : slots) {
    Slot& s = entry.second;
    // Acknowledged appends claim rows first, then unknown ones; rows left over were
    // reported failed (revived), never attempted (phantom) or written twice (duplicated).
    std::size_t left = s.present;
    std::size_t ok_found = std::min(left, s.ok);
    left -= ok_found;
    std::size_t unknown_found = std::min(left, s.unknown);
    d.unknown_present += unknown_found;
    d.unknown_absent += s.unknown - unknown_found;
    left -= unknown_found;
    std::size_t revived = std::min(left, s.fail);
    left -= revived;
    std::size_t ok_seen = 0, fail_seen = 0;
    if (ok_found < s.ok || revived > 0)
      for (std::size_t id = s.head; id != none; id = next[id]) {
        if (ops[id].outcome == Outcome::Ok && ok_seen++ >= ok_found) d.lost.push_back(ops[id]);
        if (ops[id].outcome == Outcome::Fail && fail_seen++ < revived) d.revived.push_back(ops[id]);
      }
    if (left == 0) continue;
    Row row{rows[s.row].first, rows[s.row].second, s.present};
    if (s.head == none)
      d.phantom.push_back(std::move(row));
    else
      d.duplicated.push_back(std::move(row));
  }
  auto by_id = [](const OpRecord& a, const OpRecord& b) { return a.id < b.id; };
  std::sort(d.lost.begin(), d.lost.end(), by_id);
  std::sort(d.revived.begin(), d.revived.end(), by_id);
  auto by_row = [](const Row& a, const Row& b) {
    return a.key != b.key ? a.key < b.key : a.value < b.value;
  };
  std::sort(d.phantom.begin(), d.phantom.end(), by_row);
  std::sort(d.duplicated.begin(), d.duplicated.end(), by_row);
  ReadAnomalies r = check_reads(ops);
  d.stale_reads = std::move(r.stale);
  d.phantom_reads = std::move(r.phantom);
  d.reads = r.reads;
  d.reads_ok = r.reads_ok;
  for (std::size_t i = 0; i < d.stale_reads.size() && i < 10; ++i)
    d.stale_missed.push_back(missed_by(ops, d.stale_reads[i]));
  d.ack_times = ack_times(ops);
  return d;
}

// "k1=42 (op 7, process 2)", for summaries.
inline std::string describe(const OpRecord& o) {
  return o.key + "=" + o.value + " (op " + std::to_string(o.id) + ", process " +
         std::to_string(o.process) + ")";
}

template <class T, class F>
std::string first_few(const std::vector<T>& v, F show) {
  std::string s;
  std::size_t n = std::min<std::size_t>(v.size(), 10);
  for (std::size_t i = 0; i < n; ++i) s += (i ? ", " : "") + show(v[i]);
  if (v.size() > n) s += ", ... (" + std::to_string(v.size() - n) + " more)";
  return s;
}

// "read k1 -> [0-1, 0-2] (op 9, process 1)", for summaries.
inline std::string describe_read(const OpRecord& o) {
  std::string s = "read " + o.key + " -> [";
  for (std::size_t i = 0; i < o.read_values.size() && i < 5; ++i) s += (i ? ", " : "") + o.read_values[i];
  if (o.read_values.size() > 5) s += ", ... " + std::to_string(o.read_values.size()) + " values";
  return s + "] (op " + std::to_string(o.id) + ", process " + std::to_string(o.process) + ")";
}

inline bool verdict_ok(const VerdictData& d) {
  return d.lost.empty() && d.revived.empty() && d.phantom.empty() && d.duplicated.empty() &&
         d.stale_reads.empty() && d.phantom_reads.empty();
}

inline std::string summarize(const VerdictData& d) {
  bool ok = verdict_ok(d);
  std::string s = std::string(ok ? "OK" : "NOT OK") + ": " + std::to_string(d.attempted) +
                  " operations attempted, " + std::to_string(d.acknowledged) + " acknowledged, " +
                  std::to_string(d.failed) + " failed, " +
                  std::to_string(d.unknown_present + d.unknown_absent) + " unknown (" +
                  std::to_string(d.unknown_present) + " present, " +
                  std::to_string(d.unknown_absent) + " absent); the final state has " +
                  std::to_string(d.rows) + " rows.";
  auto row = [](const Row& r) { return r.key + "=" + r.value + " x" + std::to_string(r.count); };
  if (!d.lost.empty())
    s += " LOST " + std::to_string(d.lost.size()) + " acknowledged: " + first_few(d.lost, describe) + ".";
  if (!d.revived.empty())
    s += " REVIVED " + std::to_string(d.revived.size()) + " reported failed but present: " +
         first_few(d.revived, describe) + ".";
  if (!d.phantom.empty())
    s += " PHANTOM " + std::to_string(d.phantom.size()) + " rows never attempted: " +
         first_few(d.phantom, row) + ".";
  if (!d.duplicated.empty())
    s += " DUPLICATED " + std::to_string(d.duplicated.size()) + " rows present too often: " +
         first_few(d.duplicated, row) + ".";
  if (d.reads > 0)
    s += " " + std::to_string(d.reads) + " reads (" + std::to_string(d.reads_ok) + " ok)" +
         (d.reads_ok == 0 ? ": no read succeeded, so none was checked for stale or phantom values." : ".");
  if (!d.stale_reads.empty()) {
    std::size_t i = 0;
    s += " STALE READS " + std::to_string(d.stale_reads.size()) +
         " invoked after an acknowledged append they did not observe: " +
         first_few(d.stale_reads, [&](const OpRecord& o) {
           std::string m = i < d.stale_missed.size() ? d.stale_missed[i] : "";
           ++i;
           return describe_read(o) + (m.empty() ? "" : " missed " + m);
         }) + ".";
  }
  if (!d.phantom_reads.empty())
    s += " PHANTOM READS " + std::to_string(d.phantom_reads.size()) +
         " observed a value never attempted: " + first_few(d.phantom_reads, describe_read) + ".";
  return s;
}

// Appends `s` as a JSON string (quotes, backslashes and control characters escaped; other
// bytes, UTF-8 included, as they are).
inline void append_json_string(std::string& out, const std::string& s) {
  out += '"';
  for (unsigned char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (c < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", c);
          out += buf;
        } else {
          out += static_cast<char>(c);
        }
    }
  }
  out += '"';
}

// One event as one JSON line (with its '\n'). A read's value is null on its invocation and
// on a fail or info completion, and the list of observed values on an ok one (as Jepsen).
inline void append_jsonl(std::string& out, const HistoryEvent& e) {
  out += "{\"index\":" + std::to_string(e.index) + ",\"process\":" + std::to_string(e.process) +
         ",\"type\":\"" + to_string(e.type) + "\",\"f\":\"" + to_string(e.kind) + "\",\"key\":";
  append_json_string(out, e.key);
  out += ",\"value\":";
  if (e.kind == OpKind::Append) {
    append_json_string(out, e.value);
  } else if (e.type != EventType::Ok) {
    out += "null";
  } else {
    out += '[';
    for (std::size_t i = 0; i < e.read_values.size(); ++i) {
      if (i) out += ',';
      append_json_string(out, e.read_values[i]);
    }
    out += ']';
  }
  out += ",\"time\":" + std::to_string(e.time_ns) + ",\"note\":";
  append_json_string(out, e.note);
  out += "}\n";
}

}  // namespace detail
}  // namespace pgha
