// pgha/history_types.hpp: the value types of a History (pgha/history.hpp): what a client
// was told (Outcome), what an operation does (OpKind), the kinds of history events
// (EventType), one recorded operation (OpRecord), a row of the final state (Row), one line
// of the history (HistoryEvent) and a stretch without acknowledged writes (Gap).
// Plain values: no libpq, no server. Like every public enum, Outcome, OpKind and EventType
// have a to_string (the lower-case text) and print their enumerator's name with <<.
//
// Times: nanoseconds since the origin of pgha's events (EventBus::origin(), the "+1.234s"
// stamps of PGHA_LOG), so a History's times and pgha::Event times can be set side by side.
// A History measures them with the monotonic clock from an anchor taken when it is created.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>
#include <vector>

namespace pgha {

/// What a client was told about an operation.
enum class Outcome {
  Pending,  ///< invoked, no outcome recorded yet (checked as Unknown)
  Ok,       ///< told it committed
  Fail,     ///< told it definitely did not take effect
  Unknown   ///< not known (connection lost during COMMIT, cancelled sync wait, ...)
};

/// What an operation does.
enum class OpKind {
  Append,  ///< appends a value to a key (History::invoke)
  Read     ///< reads the values of a key (History::read)
};

/// The kind of a history event, as Jepsen names them: invoke, ok, fail, info (= unknown).
enum class EventType { Invoke, Ok, Fail, Info };

/// Text of an Outcome: "pending", "ok", "fail", "unknown" (the JSON lines and notes use it).
PGHA_DECL const char* to_string(Outcome o) noexcept;
/// Text of an OpKind, as in the JSON lines' "f": "append", "read".
PGHA_DECL const char* to_string(OpKind k) noexcept;
/// Text of an EventType, as in the JSON lines: "invoke", "ok", "fail", "info".
PGHA_DECL const char* to_string(EventType t) noexcept;

/// One recorded operation: an append of `value` to `key` (or a read of `key`), and what
/// the client was told.
struct OpRecord {
  std::size_t id = 0;                   ///< order of invocation, 0-based
  int process = 0;                      ///< the client (thread) that attempted it
  std::string key;                      ///< the key appended to (or read)
  std::string value;                    ///< the value appended ("" for a read)
  Outcome outcome = Outcome::Pending;   ///< what the client was told
  std::string note;                     ///< why, for fail and unknown (may be empty)
  std::size_t invoke_index = 0;         ///< index of the invoke event
  std::size_t complete_index = 0;       ///< index of the completion event (if any)
  std::int64_t invoke_time_ns = 0;      ///< ns since the events' origin (see the top)
  std::int64_t complete_time_ns = 0;    ///< ns since the events' origin (if completed)
  OpKind kind = OpKind::Append;         ///< an append or a read
  std::vector<std::string> read_values; ///< a read's observed values (Ok reads only)
};

/// A (key, value) row of the final state and how many times it was present.
struct Row {
  std::string key;         ///< the key column
  std::string value;       ///< the value column
  std::size_t count = 0;   ///< how many rows held this key and value
};

/// One line of the history: an invocation or a completion.
struct HistoryEvent {
  std::size_t index = 0;     ///< position in the history, 0-based
  int process = 0;           ///< the client that acted
  EventType type = EventType::Invoke;  ///< invoke, ok, fail or info
  std::string key;           ///< the key
  std::string value;         ///< the value appended ("" for a read)
  std::int64_t time_ns = 0;  ///< ns since the events' origin (see the top)
  std::string note;          ///< why (completions only; may be empty)
  OpKind kind = OpKind::Append;          ///< an append or a read
  std::vector<std::string> read_values;  ///< the values an ok read observed (else empty)
};

/// A stretch of time between two consecutive acknowledged appends (Verdict::gaps): the
/// application took no write in between. Times as in OpRecord (the events' origin).
struct Gap {
  std::chrono::nanoseconds start{0};  ///< the acknowledgement before the gap
  std::chrono::nanoseconds end{0};    ///< the next acknowledgement
  /// end - start.
  std::chrono::nanoseconds length() const noexcept { return end - start; }
};

/// The enumerator's name ("Pending", "Ok", "Fail", "Unknown"), as Outcome prints with <<.
PGHA_DECL const char* enum_name(Outcome v) noexcept;
/// The enumerator's name ("Invoke", "Ok", "Fail", "Info"), as EventType prints with <<.
PGHA_DECL const char* enum_name(EventType v) noexcept;
/// The enumerator's name ("Append", "Read"), as OpKind prints with <<.
PGHA_DECL const char* enum_name(OpKind v) noexcept;
/// Prints the enumerator's name, so test frameworks show `Ok == Unknown`, not `1 == 3`.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Outcome v);
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, EventType v);
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, OpKind v);

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/history_types.ipp"
#endif
