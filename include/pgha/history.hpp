// pgha/history.hpp: what the application's clients were told, compared with what survived.
// A History records operations (an append of a value to a key, or a read of a key's values)
// and their outcomes, from any number of threads; check() compares it with the rows a node
// holds after the test and returns a Verdict: acknowledged writes that are missing (lost),
// writes reported as failed that are present (revived), rows nobody wrote (phantom), rows
// present too often (duplicated), reads that missed an acknowledged write (stale) or saw a
// value nobody wrote (phantom reads), and the outage: the gaps between acknowledged writes.
// Unknown outcomes (a connection lost during COMMIT, a cancelled synchronous replication
// wait) are allowed either way and only counted.
//
// Times are nanoseconds since the origin of pgha's events (pgha::events_origin(), the
// "+1.234s" of PGHA_LOG), measured with the monotonic clock from an anchor taken when the
// History is created: a Gap can be set against the failover events of the same run.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <initializer_list>
#include <mutex>
#include <ostream>
#include <string>
#include <thread>
#include <type_traits>
#include <unordered_map>
#include <utility>
#include <vector>

#include "pgha/connection.hpp"
#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles it in the library
#include "pgha/detail/history_check.hpp"
#endif
#include "pgha/detail/verdict_data.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/history_types.hpp"  // Outcome, OpKind, EventType, OpRecord, Row, HistoryEvent, Gap

namespace pgha {

class History;
class Workload;

/// A handle on one attempted operation, returned by History::invoke (an append) or
/// History::read. Move-only. Record the outcome exactly once with ok() (a read: ok(values)),
/// fail() or unknown() (a second one, or one on an empty handle, is a UsageError); an Op
/// destroyed (or overwritten by a move) without an outcome is recorded as unknown. The
/// History must outlive its Ops.
/// One Op serves one thread at a time; different Ops may be completed from any threads.
class Op {
public:
  /// An empty handle (not attached to a History).
  Op() noexcept = default;
  Op(Op&& o) noexcept;
  Op& operator=(Op&& o) noexcept;
  Op(const Op&) = delete;
  Op& operator=(const Op&) = delete;
  /// Records "unknown" if no outcome was recorded. Never throws.
  ~Op();

  /// The client was told the append committed. UsageError on a read's Op (a read says
  /// what it observed: ok(values)).
  void ok(const std::string& note = {});
  /// The read returned `values`, the values it observed for its key (in any order):
  /// `r.ok(std::vector<std::string>{"v1", "v2"})`. UsageError on an append's Op, or when an
  /// outcome was recorded already. (A template for std::vector<std::string> only, so that
  /// `op.ok({})` still means ok() with an empty note, as it did before reads existed.)
  template <class Values, class = std::enable_if_t<
                              std::is_same<std::decay_t<Values>, std::vector<std::string>>::value>>
  void ok(Values&& values, const std::string& note = {}) {
    ok_values(std::forward<Values>(values), note);
  }
  /// The client was told the operation definitely did not take effect.
  void fail(const std::string& note = {});
  /// The outcome is unknown (it may or may not have taken effect); `note` says why.
  void unknown(const std::string& note = {});
  /// Whether an outcome was recorded (or the handle is empty).
  bool done() const noexcept;
  /// The operation's number in its History (0, 1, ...; the order of invoke and read calls).
  std::size_t id() const noexcept;
  /// Whether this is a read (History::read) rather than an append.
  bool is_read() const noexcept;

private:
  friend class History;
  Op(History* h, std::size_t id, bool read) noexcept;
  void ok_values(std::vector<std::string> values, const std::string& note);
  inline void complete(Outcome o, const std::string& note, std::vector<std::string>* values = nullptr);
  inline void abandon() noexcept;
  History* h_ = nullptr;
  std::size_t id_ = 0;
  bool read_ = false;
};

/// The result of comparing a History with the rows a node holds. A plain value.
class Verdict {
public:
  /// True when nothing acknowledged is missing, nothing reported as failed is present, no
  /// row is a phantom or a duplicate, and no read was stale or saw a phantom. Gaps do not
  /// count: an outage is measured, not judged.
  bool ok() const noexcept;
  /// Operations acknowledged (ok) whose row is missing.
  const std::vector<OpRecord>& lost() const noexcept;
  /// Operations reported as failed whose row is present.
  const std::vector<OpRecord>& revived() const noexcept;
  /// Rows present whose key and value no operation ever attempted.
  const std::vector<Row>& phantom() const noexcept;
  /// Rows present more often than operations could have written them (count = rows seen).
  const std::vector<Row>& duplicated() const noexcept;
  /// Reads (ok) invoked after an append to the same key was acknowledged that did not
  /// observe its value (see pgha/detail/read_check.hpp), in invoke order.
  const std::vector<OpRecord>& stale_reads() const noexcept;
  /// Reads (ok) that observed a value no append of that key ever attempted.
  const std::vector<OpRecord>& phantom_reads() const noexcept;
  /// Reads invoked (whatever their outcome; only ok ones are checked).
  std::size_t reads() const noexcept;
  /// The longest time between two consecutive acknowledged appends (of any client; reads do
  /// not count), rounded down to milliseconds; 0 with fewer than two acknowledged appends.
  std::chrono::milliseconds longest_gap() const noexcept;
  /// Every time between two consecutive acknowledged appends that lasted at least `min`,
  /// in time order (History clock: ns since the events' origin). UsageError if `min` < 0.
  std::vector<Gap> gaps(std::chrono::nanoseconds min) const;
  /// Operations with an unknown outcome whose row is present.
  std::size_t unknown_present() const noexcept;
  /// Operations with an unknown outcome whose row is absent.
  std::size_t unknown_absent() const noexcept;
  /// Appends acknowledged (ok).
  std::size_t acknowledged() const noexcept;
  /// Appends reported as failed.
  std::size_t failed() const noexcept;
  /// Appends attempted (invoked), whatever their outcome (reads: reads()).
  std::size_t attempted() const noexcept;
  /// Rows the final state held.
  std::size_t rows() const noexcept;
  /// One paragraph a person can read in a test failure; names the first anomalies.
  std::string summary() const;

private:
  friend class History;
  explicit Verdict(detail::VerdictData d);
  detail::VerdictData d_;
};

/// Prints the verdict's summary (so test frameworks show it).
PGHA_DECL std::ostream& operator<<(std::ostream& o, const Verdict& v);

/// A thread-safe record of operations and their outcomes. Not copyable nor movable: its
/// Ops point at it. Times are nanoseconds since the origin of pgha's events (see the top).
class History {
public:
  /// An empty history; anchors its monotonic clock to the events' origin now.
  History();
  History(const History&) = delete;
  History& operator=(const History&) = delete;

  /// Records the attempt of appending `value` to `key` by the calling thread (each thread
  /// is one process, numbered 0, 1, ... in order of first use); returns its handle.
  Op invoke(const std::string& key, const std::string& value);
  /// Same, for an explicit process number (a client that is not a thread of its own).
  Op invoke(const std::string& key, const std::string& value, int process);
  /// Records the attempt of reading the values of `key` by the calling thread; record
  /// what it observed with ok(values) on the returned Op.
  Op read(const std::string& key);
  /// Same, for an explicit process number.
  Op read(const std::string& key, int process);
  /// The current time on this History's clock (ns since the events' origin).
  std::chrono::nanoseconds now() const;

  /// Compares the history with a final state: a Result whose first two columns are key and
  /// value (NULL reads as ""). Operations still without an outcome count as unknown.
  /// Throws UsageError when the result has fewer than two columns.
  Verdict check(const Result& final_state) const;
  /// Same, with the final state as (key, value) pairs.
  Verdict check(const std::vector<std::pair<std::string, std::string>>& final_state) const;
  /// Same, with the pairs written in place: check({{"k0", "1"}, {"k1", "2"}}), or check({})
  /// for an empty final state (which the two overloads above would make ambiguous).
  Verdict check(std::initializer_list<std::pair<std::string, std::string>> final_state) const;

  /// Every operation so far, in invoke order (pending ones have Outcome::Pending).
  std::vector<OpRecord> ops() const;
  /// The operation numbered `id` (Op::id()). Throws UsageError when there is none.
  OpRecord op(std::size_t id) const;
  /// Every event so far (invocations and completions), in the order they were recorded.
  std::vector<HistoryEvent> events() const;
  /// Number of operations invoked so far.
  std::size_t size() const;
  /// Number of operations (appends and reads) whose outcome is `o` so far (Pending:
  /// invoked, no outcome yet).
  std::size_t count(Outcome o) const;

  /// Same, for one kind of operation: count(Outcome::Ok, OpKind::Append).
  std::size_t count(Outcome o, OpKind k) const;

  /// Writes the history as JSON lines, one event a line (format: see the README,
  /// "Did my application lose writes?"). Throws Error when the stream fails.
  void write_jsonl(std::ostream& out) const;
  /// Writes the history as JSON lines to the file `path` (replaced if it exists).
  void write_jsonl(const std::string& path) const;

private:
  friend class Op;
  friend class Workload;
  struct Ev {
    std::size_t op;
    EventType type;
    std::int64_t time_ns;
  };

  std::int64_t now_ns() const;
  int process_of_locked(std::thread::id t);
  Op invoke_locked(const std::string& key, const std::string& value, int process, OpKind k);
  // Records the outcome of op `id` (a read's observed values moved from `values`); false
  // when one was recorded already. Emits a "gap" event when draw_gaps() asked for it.
  bool complete(std::size_t id, Outcome o, const std::string& note,
                std::vector<std::string>* values = nullptr);
  HistoryEvent event_locked(std::size_t i) const;
  // From now on, an acknowledged append at least `min` after the previous one emits an
  // event of kind "gap" in lane `lane` (a Workload's; min 0: never).
  void draw_gaps(std::string lane, std::chrono::nanoseconds min);

  mutable std::mutex m_;
  std::chrono::steady_clock::time_point t0_ = std::chrono::steady_clock::now();
  std::int64_t base_ns_ = 0;  // t0_ on the events' clock
  std::vector<OpRecord> ops_;
  std::vector<Ev> events_;
  std::unordered_map<std::thread::id, int> processes_;
  std::size_t counts_[2][4] = {{0, 0, 0, 0}, {0, 0, 0, 0}};  // [OpKind][Outcome]
  std::int64_t last_ack_ns_ = -1;
  std::int64_t gap_min_ns_ = 0;
  std::string gap_lane_;
};

inline void Op::complete(Outcome o, const std::string& note, std::vector<std::string>* values) {
  if (!h_)
    throw UsageError("this Op has no History (default-constructed, moved from, or its outcome "
                     "was already recorded); expected exactly one ok(), fail() or unknown() "
                     "per History::invoke or History::read");
  if (o == Outcome::Ok && read_ != (values != nullptr))
    throw UsageError(read_ ? "Op::ok() without values on a read: a read records what it observed, "
                             "ok(std::vector<std::string>{...}) (an empty vector: it saw none)"
                           : "Op::ok(values) on an append: values are what a read observed; "
                             "expected ok() for an append, or an Op from History::read");
  History* h = std::exchange(h_, nullptr);
  h->complete(id_, o, note, values);
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

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/history.ipp"
#endif
