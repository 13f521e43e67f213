// pgha/detail/failure_report.hpp: the report a failed test prints, shared by
// pgha/catch2.hpp and pgha/gtest.hpp: begin_test() when a test starts, end_test(failed)
// when it ends. While a test runs, every node that goes away leaves a copy of its log tail
// (its directory is deleted right after); a failed test prints the tails of the nodes still
// alive and of those that went, on stderr. Before them comes the test's event timeline
// (pgha/events.hpp): every step pgha took during the test, with its duration (the newest
// 400 when a test takes more steps); after them the relay ports the logs name.
#pragma once

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <iostream>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/file_ops.hpp"  // file_tail
#include "pgha/detail/live_nodes.hpp"
#include "pgha/events.hpp"

namespace pgha::detail {

/// One node's section of a failure report, named by its name and its real server port
/// (a standby's own log names the port it streams from, which may be a relay's).
inline std::string log_section(const LiveNode& n, int lines, const char* state) {
  std::string out = "---- pgha: " + n.name + " (port " + std::to_string(n.port) + ", " + state +
                    "), last " + std::to_string(lines) + " lines of " + n.log_file + " ----\n";
  std::string t = file_tail(n.log_file, lines);
  if (t.empty()) t = "(log empty or unreadable)\n";
  if (t.back() != '\n') t += '\n';
  return out + t;
}

/// Failure reports for test-framework integrations. Thread-safe; one per process.
class FailureLogs {
public:
  /// A test starts: forget the tails of nodes that went during earlier tests.
  void begin_test() {
    install();
    std::lock_guard<std::mutex> l(mu_);
    gone_.clear();
    events_.clear();
    dropped_ = 0;
    started_ = std::chrono::system_clock::now();
    in_test_ = true;
  }
  /// A test ended; returns the report to print if it failed ("" if it passed or had no
  /// nodes): nodes alive now, then nodes removed during the test (tails taken at removal).
  std::string end_test(bool failed) {
    std::vector<std::string> gone;
    std::vector<Event> events;
    std::size_t dropped;
    std::chrono::system_clock::time_point started;
    int lines;
    {
      std::lock_guard<std::mutex> l(mu_);
      gone.swap(gone_);
      events.swap(events_);
      dropped = dropped_;
      started = started_;
      in_test_ = false;
      lines = lines_;
    }
    if (!failed) return {};
    std::string body;
    for (const LiveNode& n : live_nodes().snapshot()) body += log_section(n, lines, "alive");
    for (const std::string& g : gone) body += g;
    std::string timeline = timeline_section(events, dropped, started);
    if (body.empty() && timeline.empty()) return {};
    std::string relays = relay_ports().report(timeline + body);
    if (!body.empty())
      body = "\npgha: server logs of the nodes alive at the end of the failed test or destroyed "
             "during it:\n" + body + "---- pgha: end of server logs ----\n";
    if (!relays.empty())
      relays = "\npgha: relay ports (the logs name a relay's port, not the node behind it):\n" + relays;
    return timeline + body + relays;
  }
  /// Writes a report on stderr, after what the test framework wrote on stdout so far.
  static void print(const std::string& report) {
    if (report.empty()) return;
    std::cout.flush();
    std::fflush(stdout);
    std::cerr << report << std::flush;
  }
  /// Lines per node in the reports (set by the integration header).
  void set_lines(int lines) {
    std::lock_guard<std::mutex> l(mu_);
    lines_ = lines;
  }

  /// Events kept per test: the newest ones when a test takes more steps.
  static constexpr std::size_t kMaxEvents = 400;

private:
  void install() {
    std::call_once(installed_, [this] {
      live_nodes().set_on_remove([this](const LiveNode& n) { on_remove(n); });
      event_bus().add([this](const Event& e) { on_event(e); });  // for the program's life
    });
  }
  void on_event(const Event& e) {
    std::lock_guard<std::mutex> l(mu_);
    if (!in_test_) return;
    if (events_.size() >= kMaxEvents) {
      events_.erase(events_.begin());
      ++dropped_;
    }
    events_.push_back(e);
  }
  // The test's event timeline, times relative to the test's start ("" without events).
  static std::string timeline_section(const std::vector<Event>& events, std::size_t dropped,
                                      std::chrono::system_clock::time_point started) {
    if (events.empty()) return {};
    std::string out = "\npgha: event timeline of the failed test (" + std::to_string(events.size()) +
                      " events, times from the test's start):\n";
    if (dropped) out += "  (" + std::to_string(dropped) + " earlier events dropped)\n";
    for (const Event& e : events) out += "  " + format_event(e, started) + "\n";
    return out + "---- pgha: end of event timeline ----\n";
  }
  // Called by a node just before its directory (and log) is deleted.
  void on_remove(const LiveNode& n) {
    int lines;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!in_test_) return;
      lines = lines_;
    }
    std::string section = log_section(n, lines, "destroyed during the test");
    std::lock_guard<std::mutex> l(mu_);
    if (in_test_) gone_.push_back(std::move(section));
  }
  std::once_flag installed_;
  std::mutex mu_;
  bool in_test_ = false;
  int lines_ = 30;
  std::vector<std::string> gone_;
  std::vector<Event> events_;  // during the current test
  std::size_t dropped_ = 0;
  std::chrono::system_clock::time_point started_;
};

// Never destroyed, like live_nodes(): it observes removals of nodes in static storage.
inline FailureLogs& failure_logs() {
  static FailureLogs* r = new FailureLogs;
  return *r;
}

}  // namespace pgha::detail
