// pgha/history.hpp: what the application's clients were told, compared with what survived.
// A History records operations (an append of a value to a key) and their outcomes, from any
// number of threads; check() compares it with the rows a node holds after the test and
// returns a Verdict: acknowledged writes that are missing (lost), writes reported as failed
// that are present (revived), rows nobody wrote (phantom) and rows present too often
// (duplicated). Unknown outcomes (a connection lost during COMMIT, a cancelled synchronous
// replication wait) are allowed either way and only counted.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <fstream>
#include <initializer_list>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pgha/connection.hpp"
#include "pgha/detail/history_check.hpp"
#include "pgha/error.hpp"
#include "pgha/history_types.hpp"  // Outcome, EventType, OpRecord, Row, HistoryEvent

namespace pgha {

class History;

/// A handle on one attempted operation, returned by History::invoke. Move-only. Record the
/// outcome exactly once with ok(), fail() or unknown() (a second one, or one on an empty
/// handle, is a UsageError); an Op destroyed (or overwritten by a move) without an outcome
/// is recorded as unknown. The History must outlive its Ops.
/// One Op serves one thread at a time; different Ops may be completed from any threads.
class Op {
public:
  /// An empty handle (not attached to a History).
  Op() noexcept = default;
  Op(Op&& o) noexcept : h_(std::exchange(o.h_, nullptr)), id_(o.id_) {}
  Op& operator=(Op&& o) noexcept {
    if (this != &o) {
      abandon();
      h_ = std::exchange(o.h_, nullptr);
      id_ = o.id_;
    }
    return *this;
  }
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  /// Records "unknown" if no outcome was recorded. Never throws.
  ~Op() { abandon(); }

  /// The client was told the operation committed.
  void ok(const std::string& note = {}) { complete(Outcome::Ok, note); }
  /// The client was told the operation definitely did not take effect.
  void fail(const std::string& note = {}) { complete(Outcome::Fail, note); }
  /// The outcome is unknown (it may or may not have taken effect); `note` says why.
  void unknown(const std::string& note = {}) { complete(Outcome::Unknown, note); }
  /// Whether an outcome was recorded (or the handle is empty).
  bool done() const noexcept { return h_ == nullptr; }
  /// The operation's number in its History (0, 1, ...; the order of invoke calls).
  std::size_t id() const noexcept { return id_; }

private:
  friend class History;
  Op(History* h, std::size_t id) noexcept : h_(h), id_(id) {}
  inline void complete(Outcome o, const std::string& note);
  inline void abandon() noexcept;
  History* h_ = nullptr;
  std::size_t id_ = 0;
};

/// The result of comparing a History with the rows a node holds. A plain value.
class Verdict {
public:
  /// True when nothing acknowledged is missing, nothing reported as failed is present, and
  /// no row is a phantom or a duplicate.
  bool ok() const noexcept {
    return d_.lost.empty() && d_.revived.empty() && d_.phantom.empty() && d_.duplicated.empty();
  }
  /// Operations acknowledged (ok) whose row is missing.
  const std::vector<OpRecord>& lost() const noexcept { return d_.lost; }
  /// Operations reported as failed whose row is present.
  const std::vector<OpRecord>& revived() const noexcept { return d_.revived; }
  /// Rows present whose key and value no operation ever attempted.
  const std::vector<Row>& phantom() const noexcept { return d_.phantom; }
  /// Rows present more often than operations could have written them (count = rows seen).
  const std::vector<Row>& duplicated() const noexcept { return d_.duplicated; }
  /// Operations with an unknown outcome whose row is present.
  std::size_t unknown_present() const noexcept { return d_.unknown_present; }
  /// Operations with an unknown outcome whose row is absent.
  std::size_t unknown_absent() const noexcept { return d_.unknown_absent; }
  /// Operations acknowledged (ok).
  std::size_t acknowledged() const noexcept { return d_.acknowledged; }
  /// Operations reported as failed.
  std::size_t failed() const noexcept { return d_.failed; }
  /// Operations attempted (invoked), whatever their outcome.
  std::size_t attempted() const noexcept { return d_.attempted; }
  /// Rows the final state held.
  std::size_t rows() const noexcept { return d_.rows; }
  /// One paragraph a person can read in a test failure; names the first anomalies.
  std::string summary() const { return detail::summarize(d_); }

private:
  friend class History;
  explicit Verdict(detail::VerdictData d) : d_(std::move(d)) {}
  detail::VerdictData d_;
};

/// Prints the verdict's summary (so test frameworks show it).
inline std::ostream& operator<<(std::ostream& o, const Verdict& v) { return o << v.summary(); }

/// A thread-safe record of operations and their outcomes. Not copyable nor movable: its
/// Ops point at it. Times are nanoseconds since the History was created.
class History {
public:
  /// An empty history; its clock starts now.
  History() = default;
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// Records the attempt of appending `value` to `key` by the calling thread (each thread
  /// is one process, numbered 0, 1, ... in order of first use); returns its handle.
  Op invoke(const std::string& key, const std::string& value) {
    std::lock_guard<std::mutex> l(m_);
    return invoke_locked(key, value, process_of_locked(std::this_thread::get_id()));
  }
  /// Same, for an explicit process number (a client that is not a thread of its own).
  Op invoke(const std::string& key, const std::string& value, int process) {
    std::lock_guard<std::mutex> l(m_);
    return invoke_locked(key, value, process);
  }

  /// Compares the history with a final state: a Result whose first two columns are key and
  /// value (NULL reads as ""). Operations still without an outcome count as unknown.
  /// Throws UsageError when the result has fewer than two columns.
  Verdict check(const Result& final_state) const {
    if (final_state.columns() < 2)
      throw UsageError("History::check needs a result whose first two columns are key and value; "
                  "this one has " + std::to_string(final_state.columns()) + " column(s)");
    std::vector<std::pair<std::string, std::string>> rows;
    rows.reserve(static_cast<std::size_t>(final_state.rows()));
    for (int i = 0; i < final_state.rows(); ++i)
      rows.emplace_back(final_state.value(i, 0), final_state.value(i, 1));
    return check(rows);
  }
  /// Same, with the final state as (key, value) pairs.
  Verdict check(const std::vector<std::pair<std::string, std::string>>& final_state) const {
    std::lock_guard<std::mutex> l(m_);
    return Verdict(detail::check_history(ops_, final_state));
  }
  /// Same, with the pairs written in place: check({{"k0", "1"}, {"k1", "2"}}), or check({})
  /// for an empty final state (which the two overloads above would make ambiguous).
  Verdict check(std::initializer_list<std::pair<std::string, std::string>> final_state) const {
    return check(std::vector<std::pair<std::string, std::string>>(final_state));
  }

  /// Every operation so far, in invoke order (pending ones have Outcome::Pending).
  std::vector<OpRecord> ops() const {
    std::lock_guard<std::mutex> l(m_);
    return ops_;
  }
  /// Every event so far (invocations and completions), in the order they were recorded.
  std::vector<HistoryEvent> events() const {
    std::lock_guard<std::mutex> l(m_);
    std::vector<HistoryEvent> out;
    out.reserve(events_.size());
    for (std::size_t i = 0; i < events_.size(); ++i) out.push_back(event_locked(i));
    return out;
  }
  /// Number of operations invoked so far.
  std::size_t size() const {
    std::lock_guard<std::mutex> l(m_);
    return ops_.size();
  }
  /// Number of operations whose outcome is `o` so far (Pending: invoked, no outcome yet).
  std::size_t count(Outcome o) const {
    std::lock_guard<std::mutex> l(m_);
    return counts_[static_cast<int>(o)];
  }

  /// Writes the history as JSON lines, one event a line (format: see the README,
  /// "Did my application lose writes?"). Throws Error when the stream fails.
  void write_jsonl(std::ostream& out) const {
    std::lock_guard<std::mutex> l(m_);
    std::string line;
    for (std::size_t i = 0; i < events_.size(); ++i) {
      line.clear();
      detail::append_jsonl(line, event_locked(i));
      out << line;
    }
    out.flush();
    if (!out) throw Error("History::write_jsonl: writing to the stream failed");
  }
  /// Writes the history as JSON lines to the file `path` (replaced if it exists).
  void write_jsonl(const std::string& path) const {
    std::ofstream f(path, std::ios::binary | std::ios::trunc);
    if (!f) throw Error("History::write_jsonl: cannot open '" + path + "' for writing");
    write_jsonl(f);
  }

private:
  friend class Op;
  struct Ev {
    std::size_t op;
    EventType type;
    std::int64_t time_ns;
  };

  std::int64_t now_ns() const {
    return std::chrono::duration_cast<std::chrono::nanoseconds>(
               std::chrono::steady_clock::now() - t0_).count();
  }
  int process_of_locked(std::thread::id t) {
    auto it = processes_.find(t);
    if (it != processes_.end()) return it->second;
    int p = static_cast<int>(processes_.size());
    processes_.emplace(t, p);
    return p;
  }
  Op invoke_locked(const std::string& key, const std::string& value, int process) {
    OpRecord r;
    r.id = ops_.size();
    r.process = process;
    r.key = key;
    r.value = value;
    r.invoke_index = events_.size();
    r.invoke_time_ns = now_ns();
    ops_.push_back(std::move(r));
    events_.push_back(Ev{ops_.back().id, EventType::Invoke, ops_.back().invoke_time_ns});
    ++counts_[static_cast<int>(Outcome::Pending)];
    return Op(this, ops_.back().id);
  }
  // Records the outcome of op `id`; false when one was recorded already.
  bool complete(std::size_t id, Outcome o, const std::string& note) {
    std::lock_guard<std::mutex> l(m_);
    OpRecord& r = ops_[id];
    if (r.outcome != Outcome::Pending) return false;
    r.outcome = o;
    r.note = note;
    r.complete_index = events_.size();
    r.complete_time_ns = now_ns();
    events_.push_back(Ev{id, o == Outcome::Ok ? EventType::Ok
                             : o == Outcome::Fail ? EventType::Fail : EventType::Info,
                         r.complete_time_ns});
    --counts_[static_cast<int>(Outcome::Pending)];
    ++counts_[static_cast<int>(o)];
    return true;
  }
  HistoryEvent event_locked(std::size_t i) const {
    const Ev& e = events_[i];
    const OpRecord& r = ops_[e.op];
    return HistoryEvent{i, r.process, e.type, r.key, r.value, e.time_ns,
                        e.type == EventType::Invoke ? std::string() : r.note};
  }

  mutable std::mutex m_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::vector<OpRecord> ops_;
  std::vector<Ev> events_;
  std::unordered_map<std::thread::id, int> processes_;
  std::size_t counts_[4] = {0, 0, 0, 0};
};

inline void Op::complete(Outcome o, const std::string& note) {
  if (!h_)
    throw UsageError("this Op has no History (default-constructed, moved from, or its outcome "
                     "was already recorded); expected exactly one ok(), fail() or unknown() "
                     "per History::invoke");
  History* h = std::exchange(h_, nullptr);
  h->complete(id_, o, note);
}

inline void Op::abandon() noexcept {
  if (!h_) return;
  try {
    std::exchange(h_, nullptr)->complete(id_, Outcome::Unknown,
                                         "no outcome recorded: the Op went out of scope");
  } catch (...) {  // out of memory: the op stays pending, which check() counts as unknown
  }
}

}  // namespace pgha
