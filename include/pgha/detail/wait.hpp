// pgha/detail/wait.hpp: polling a real condition with a deadline. Conditions are checked
// at millisecond granularity (a query, a file, a process state); there is no fixed sleep
// that stands in for a condition.
#pragma once

#include <algorithm>
#include <chrono>
#include <string>
#include <thread>

#include "pgha/error.hpp"
#include "pgha/events.hpp"

namespace pgha::detail {

// Calls `check(last_seen)` until it returns true or the deadline passes; the check
// describes what it saw in `last_seen`. On timeout throws TimeoutError with `what`,
// the last observation, and the log tail from `log()`.
// `max_pause` caps the pause between checks (they start at 500 us, or `max_pause` if
// smaller, and double up to it): cheap checks of a state that changes any moment poll
// finely.
template <class Check, class Log>
void wait_until(const std::string& what, std::chrono::milliseconds timeout,
                const std::string& node, std::chrono::microseconds max_pause, Check check, Log log) {
  auto deadline = std::chrono::steady_clock::now() + timeout;
  std::string seen = "nothing yet";
  auto pause = std::min(std::chrono::microseconds(500), max_pause);
  WaitProgress progress(node_of_label(node));  // a "progress" event at 2 s, 4 s, 8 s, ...
  for (;;) {
    if (check(seen)) return;
    progress.poll([&] { return what + "; last seen: " + seen; });
    if (std::chrono::steady_clock::now() >= deadline)
      throw TimeoutError("timed out after " + std::to_string(timeout.count()) +
                             " ms waiting for " + what + "; last seen: " + seen,
                         node, log());
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, max_pause);  // 0.5, 1, 2, 4, 5 ms ...
  }
}

template <class Check, class Log>
void wait_until(const std::string& what, std::chrono::milliseconds timeout,
                const std::string& node, Check check, Log log) {
  wait_until(what, timeout, node, std::chrono::milliseconds(5), check, log);
}

}  // namespace pgha::detail
