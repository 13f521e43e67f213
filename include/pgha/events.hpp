// pgha/events.hpp: the event stream. Every step pgha takes (binaries found, template built,
// node created, clone, start, ready, stop, promote, rejoin, timeline switch, a fault set or
// healed, a statement blocked and released, a wait past 2 s) is one pgha::Event: the node,
// what happened, when, how long it took, and the facts (port, LSN, timeline, sync_state...).
//
// Who listens:
//   pgha::set_log_sink(f)   your own logger (nullptr removes it);
//   PGHA_LOG=1 | debug      readable lines on stderr with durations (debug: with the facts);
//   a terminal              progress of slow steps (first template build, waits past 2 s)
//                           when stderr is a terminal, so CI logs stay quiet (PGHA_PROGRESS=0
//                           turns it off);
//   pgha::Timeline          a Mermaid sequence diagram of a run (pgha/timeline.hpp);
//   pgha/catch2.hpp, pgha/gtest.hpp   a failing test's events next to its server logs.
// Cheap when nobody listens: every emission site checks one atomic flag before it builds a
// string or asks the server for a fact.
//
// This header sits low: pgha/detail/ emits into it and it depends on nothing of pgha (its
// bodies use pgha/error.hpp).
// Events are delivered on the thread that took the step, one at a time (deliveries are
// serialized, so a sink need not be thread-safe), often while pgha holds the node's lock:
// a sink should record or print and return. It must not call back into pgha (a Node, or
// set_log_sink), and what it throws is dropped.
#pragma once

#include "pgha/build_mode.hpp"

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cctype>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace pgha {

/// One step pgha took, or one thing it saw happen.
struct Event {
  /// The node's name() ("node1"), an endpoint's name, or "" for process-wide steps
  /// (binaries found, the initdb template).
  std::string node;
  /// What happened: "create", "clone", "start", "ready", "stop", "promote", "timeline",
  /// "rejoin", "failover", "fault", "heal", "sync_mode", "blocked", "released", "destroy",
  /// "binaries", "template", "endpoint", "progress", ...
  std::string kind;
  /// One readable sentence ("promoted to primary on timeline 2").
  std::string message;
  /// When the event was emitted, that is when the step ended (wall clock, for log lines).
  std::chrono::system_clock::time_point time;
  /// How long the step took; zero for instant events.
  std::chrono::microseconds duration{0};
  /// Facts, in the order they were added: "port", "lsn", "timeline", "sync_state",
  /// "method", "mode", "peer" (the other node of a clone, rejoin or switch), ...
  std::vector<std::pair<std::string, std::string>> facts;

  /// The value of fact `key`, or "" if the event has none.
  std::string fact(const std::string& key) const;
};

/// A user's event sink (see set_log_sink).
using LogSink = std::function<void(const Event&)>;

namespace detail {

/// Readable duration: "850 us", "51 ms" (below 10 s), "12.5 s".
PGHA_DECL std::string format_duration(std::chrono::microseconds d);

/// One log line: "+1.234s node2 promote: promoted to primary (51 ms)", with
/// " {port=5433, timeline=2}" when `facts`. `origin` is the run's start.
PGHA_DECL std::string format_event(const Event& e, std::chrono::system_clock::time_point origin,
                                 bool facts = false);

/// The process-wide event bus. Never destroyed (nodes in static storage emit late).
class EventBus {
public:
  using Listener = std::function<void(const Event&)>;

  EventBus();
  /// PGHA_LOG's value as a level: 0 off ("", 0, off, false, no), 2 debug, else 1 (any case).
  static int log_level(std::string v);
  /// Whether anyone listens: emission sites check this before building an event.
  bool on() const noexcept;
  /// The time the bus started (the origin of PGHA_LOG's "+1.234s" stamps).
  std::chrono::system_clock::time_point origin() const noexcept;

  void set_user(LogSink sink);
  /// Adds an internal listener (a Timeline, a test integration); returns its id.
  int add(Listener f);
  /// Removes an internal listener; once this returns, it is not called any more.
  void remove(int id);
  /// Delivers `e` to every listener; never throws.
  void emit(const Event& e) noexcept;

  /// Clears a progress line left on the terminal (a slow step ended without an event).
  void end_progress() noexcept;

private:
  void update();
  void update_locked();
  // PGHA_LOG: every event; a terminal without PGHA_LOG: progress of slow steps only, each
  // on one line that the next overwrites.
  void print(const Event& e);

  const std::chrono::system_clock::time_point origin_;
  int log_level_ = 0;
  bool progress_ = false;
  bool progress_shown_ = false;  // guarded by deliver_mu_
  std::atomic<bool> on_{false};
  std::mutex mu_;
  std::recursive_mutex deliver_mu_;
  std::shared_ptr<Listener> user_;
  std::vector<std::pair<int, std::shared_ptr<Listener>>> listeners_;
  int next_id_ = 0;
};

PGHA_DECL EventBus& event_bus();

/// Whether anyone listens; check it before building an event.
PGHA_DECL bool events_on() noexcept;

/// Emits one event (stamped now) if anyone listens. The API for pgha's own mechanisms, an
/// Endpoint for instance: `detail::emit("ep", "endpoint", "switched to node2",
/// std::chrono::microseconds(0), {{"peer", "node2"}, {"port", "5433"}});`. A "peer" fact
/// that names another node or endpoint draws an arrow from it in the Mermaid timeline.
PGHA_DECL void emit(std::string node, std::string kind, std::string message,
                 std::chrono::microseconds duration = std::chrono::microseconds(0),
                 std::vector<std::pair<std::string, std::string>> facts = {}) noexcept;

/// The node name inside a label "node1 (port 5432)" (what errors and waits carry).
PGHA_DECL std::string node_of_label(const std::string& label);

/// Times a step and emits it when the scope ends without an exception:
///   StepEvent ev("node1", "start", [&](Event& e) { e.message = "..."; });
/// The callback runs only if someone listens; it fills message and facts (kind, node,
/// time and duration are set); an empty message means "nothing to report". An exception
/// it throws is dropped.
class StepEvent {
public:
  using Fill = std::function<void(Event&)>;
  StepEvent(std::string node, std::string kind, Fill fill);
  StepEvent(const StepEvent&) = delete;
  StepEvent& operator=(const StepEvent&) = delete;
  ~StepEvent();
  /// Time since the step began.
  std::chrono::microseconds elapsed() const;

private:
  std::string node_;
  std::string kind_;
  Fill fill_;
  std::chrono::steady_clock::time_point started_;
  int exceptions_;
};

/// When a wait first reports progress (2 s; then at twice each time). Tests shorten it.
PGHA_DECL std::atomic<std::int64_t>& wait_progress_first_ms();

/// Progress of a wait: emits a "progress" event at 2 s, 4 s, 8 s, ... (never more often),
/// so a long wait shows it is alive without flooding a log.
class WaitProgress {
public:
  explicit WaitProgress(std::string node);
  WaitProgress(const WaitProgress&) = delete;
  WaitProgress& operator=(const WaitProgress&) = delete;
  /// A wait that reported progress leaves no progress line behind on a terminal.
  ~WaitProgress();
  /// Call on each poll; `what` and `seen` are read only when a report is due.
  template <class Describe>
  void poll(Describe describe) noexcept {
    auto now = std::chrono::steady_clock::now();
    if (now - started_ < next_) return;
    next_ *= 2;
    if (!events_on()) return;
    try {
      auto d = std::chrono::duration_cast<std::chrono::microseconds>(now - started_);
      emit(node_, "progress", "still waiting after " + format_duration(d) + " for " + describe(), d,
           {{"repeat", reports_++ ? "1" : "0"}});
    } catch (...) {
    }
  }

private:
  std::string node_;
  std::chrono::steady_clock::time_point started_;
  std::chrono::steady_clock::duration next_;
  int reports_ = 0;
};

}  // namespace detail

/// Sends every event of this process to `sink` (replacing the previous sink); nullptr
/// removes it. Called on the thread that took the step, one event at a time; see the top.
PGHA_DECL void set_log_sink(LogSink sink);

/// The application's own event: `annotate("orders-service", "retrying after 57P01")` puts a
/// "note" event in lane `lane` (any name: a service, a client, a test step) with `text` as
/// its message, beside pgha's own steps: in PGHA_LOG's lines, a pgha::Timeline (a
/// participant of its own) and a failing test's event timeline (pgha/catch2.hpp,
/// pgha/gtest.hpp). Cheap when nobody listens; thread-safe. Throws UsageError for an empty
/// lane or text.
PGHA_DECL void annotate(const std::string& lane, const std::string& text);

/// The origin of pgha's clock for this process: PGHA_LOG's "+1.234s" stamps, and the times of
/// a History, a Verdict's gaps and an Op count from it. `e.time - pgha::events_origin()`
/// puts an Event on the same axis as a pgha::Gap.
PGHA_DECL std::chrono::system_clock::time_point events_origin() noexcept;

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/events.ipp"
#endif
