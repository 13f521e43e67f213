// pgha/history_types.hpp: the value types of a History (pgha/history.hpp): what a client
// was told (Outcome), the kinds of history events (EventType), one recorded operation
// (OpRecord), a row of the final state (Row) and one line of the history (HistoryEvent).
// Plain values: no libpq, no server. Like every public enum, Outcome and EventType have a
// to_string (the lower-case text) and print their enumerator's name with <<.
#pragma once

#include "pgha/build_mode.hpp"

#include <cstddef>
#include <cstdint>
#include <ostream>
#include <string>

namespace pgha {

/// What a client was told about an operation.
enum class Outcome {
  Pending,  ///< invoked, no outcome recorded yet (checked as Unknown)
  Ok,       ///< told it committed
  Fail,     ///< told it definitely did not take effect
  Unknown   ///< not known (connection lost during COMMIT, cancelled sync wait, ...)
};

/// The kind of a history event, as Jepsen names them: invoke, ok, fail, info (= unknown).
enum class EventType { Invoke, Ok, Fail, Info };

/// Text of an Outcome: "pending", "ok", "fail", "unknown" (the JSON lines and notes use it).
PGHA_DECL const char* to_string(Outcome o) noexcept;
/// Text of an EventType, as in the JSON lines: "invoke", "ok", "fail", "info".
PGHA_DECL const char* to_string(EventType t) noexcept;

/// One recorded operation: an append of `value` to `key`, and what the client was told.
struct OpRecord {
  std::size_t id = 0;                   ///< order of invocation, 0-based
  int process = 0;                      ///< the client (thread) that attempted it
  std::string key;                      ///< the key appended to
  std::string value;                    ///< the value appended
  Outcome outcome = Outcome::Pending;   ///< what the client was told
  std::string note;                     ///< why, for fail and unknown (may be empty)
  std::size_t invoke_index = 0;         ///< index of the invoke event
  std::size_t complete_index = 0;       ///< index of the completion event (if any)
  std::int64_t invoke_time_ns = 0;      ///< ns since the History was created
  std::int64_t complete_time_ns = 0;    ///< ns since the History was created (if completed)
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
  std::string value;         ///< the value
  std::int64_t time_ns = 0;  ///< ns since the History was created
  std::string note;          ///< why (completions only; may be empty)
};

/// The enumerator's name ("Pending", "Ok", "Fail", "Unknown"), as Outcome prints with <<.
PGHA_DECL const char* enum_name(Outcome v) noexcept;
/// The enumerator's name ("Invoke", "Ok", "Fail", "Info"), as EventType prints with <<.
PGHA_DECL const char* enum_name(EventType v) noexcept;
/// Prints the enumerator's name, so test frameworks show `Ok == Unknown`, not `1 == 3`.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Outcome v);
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, EventType v);

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/history_types.ipp"
#endif
