// pgha/timeline.hpp: a run's events as a picture. pgha::Timeline records the events of its
// lifetime and renders them as a Mermaid sequence diagram (GitHub and most Markdown viewers
// draw it): one lane per node and per endpoint, in the order they first appear, each with its
// own identifier (a lane named "lane1" and one named "my node" never share one); a clone,
// rejoin, failover or an endpoint's switch is an arrow from the node it came from or goes to; everything else
// (created, started, promoted on timeline 2, stopped, a statement blocked and released, a
// fault) is a note over the node, with its duration.
//
//   pgha::Timeline t;                  // records from here on
//   ... nodes, failovers ...
//   t.write("failover.md");            // ```mermaid block in Markdown (.mmd: bare diagram)
//
// PGHA_TIMELINE=<file> does the same for a whole program that includes pgha/pgha.hpp: the
// file is written when the program exits normally (return from main or exit()).
// Process-wide steps (binaries, the initdb template) and progress reports are not drawn.
#pragma once

#include "pgha/build_mode.hpp"

#include <cctype>
#include <cstdlib>
#include <fstream>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/error.hpp"
#include "pgha/events.hpp"

namespace pgha {

/// Records events while it lives and renders them as a Mermaid sequence diagram.
/// Thread-safe. Move-only is not needed: it is neither copied nor moved.
class Timeline {
public:
  /// Starts recording every event of the process.
  Timeline();
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  /// Stops recording.
  ~Timeline();

  /// The events recorded so far, in the order they were emitted.
  std::vector<Event> events() const;
  /// The recorded events as a Mermaid sequence diagram (without a Markdown fence).
  std::string mermaid() const;
  /// Writes the diagram to `path`: a ```mermaid block for a .md file, else the bare
  /// diagram. Throws SetupError if the file cannot be written.
  void write(const std::string& path) const;

  /// Renders events as a Mermaid sequence diagram (pure: what mermaid() uses).
  static std::string render(const std::vector<Event>& events);
  /// Writes `events` as render() does to `path` (a ```mermaid block for .md files).
  static void write_file(const std::string& path, const std::vector<Event>& events);

private:
  struct Recorded {
    std::mutex mu;
    std::vector<Event> events;
  };
  static bool drawn(const Event& e);
  // Events whose peer is drawn as the origin of an arrow.
  static bool is_lane_kind(const Event& e);
  static void add_lane(std::vector<std::string>& lanes, const std::string& name);
  // A lane's name can be its Mermaid identifier: a plain word, not a keyword.
  static bool plain(const std::string& name);
  // One Mermaid identifier per lane, all different: its name when plain, else lane<i> (the
  // first such identifier no lane's name already is: a node may be named "lane1").
  static std::vector<std::string> lane_ids(const std::vector<std::string>& lanes);
  // Text Mermaid shows as written: ';' and '#' start syntax there, and one event is one line.
  static std::string text(const std::string& s);
  std::shared_ptr<Recorded> rec_;
  int id_ = 0;
};

namespace detail {

// PGHA_TIMELINE=<file>: one Timeline for the whole program, written at normal exit.
inline Timeline* env_timeline = nullptr;
inline const bool env_timeline_installed = [] {
  const char* path = std::getenv("PGHA_TIMELINE");
  if (!path || !*path) return false;
  env_timeline = new Timeline;  // never destroyed: nodes in static storage emit late
  std::atexit([] {
    const char* p = std::getenv("PGHA_TIMELINE");
    try {
      if (p && env_timeline) env_timeline->write(p);
    } catch (const std::exception& e) {
      std::fprintf(stderr, "pgha: PGHA_TIMELINE: %s\n", e.what());
    }
  });
  return true;
}();

}  // namespace detail
}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/timeline.ipp"
#endif
