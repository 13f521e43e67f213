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
  Timeline() : rec_(std::make_shared<Recorded>()) {
    std::shared_ptr<Recorded> r = rec_;
    id_ = detail::event_bus().add([r](const Event& e) {
      std::lock_guard<std::mutex> l(r->mu);
      r->events.push_back(e);
    });
  }
  Timeline(const Timeline&) = delete;
  Timeline& operator=(const Timeline&) = delete;
  /// Stops recording.
  ~Timeline() { detail::event_bus().remove(id_); }

  /// The events recorded so far, in the order they were emitted.
  std::vector<Event> events() const {
    std::lock_guard<std::mutex> l(rec_->mu);
    return rec_->events;
  }
  /// The recorded events as a Mermaid sequence diagram (without a Markdown fence).
  std::string mermaid() const { return render(events()); }
  /// Writes the diagram to `path`: a ```mermaid block for a .md file, else the bare
  /// diagram. Throws SetupError if the file cannot be written.
  void write(const std::string& path) const { write_file(path, events()); }

  /// Renders events as a Mermaid sequence diagram (pure: what mermaid() uses).
  static std::string render(const std::vector<Event>& events) {
    std::vector<std::string> lanes;
    for (const Event& e : events)
      if (drawn(e)) {
        add_lane(lanes, e.node);
        std::string peer = e.fact("peer");
        if (!peer.empty() && peer != e.node && is_lane_kind(e)) add_lane(lanes, peer);
      }
    const std::vector<std::string> ids = lane_ids(lanes);
    const auto id_of = [&](const std::string& name) {
      for (std::size_t i = 0; i < lanes.size(); ++i)
        if (lanes[i] == name) return ids[i];
      return std::string("unknown");
    };
    std::string out = "sequenceDiagram\n";
    for (std::size_t i = 0; i < lanes.size(); ++i)
      out += "  participant " + ids[i] + (ids[i] == lanes[i] ? "" : " as " + text(lanes[i])) + "\n";
    for (const Event& e : events) {
      if (!drawn(e)) continue;
      std::string msg = text(e.message);
      if (e.duration.count() > 0) msg += " (" + detail::format_duration(e.duration) + ")";
      std::string self = id_of(e.node);
      std::string peer = e.fact("peer");
      if (!peer.empty() && peer != e.node && is_lane_kind(e))
        out += "  " + id_of(peer) + "->>" + self + ": " + msg + "\n";
      else
        out += "  Note over " + self + ": " + msg + "\n";
    }
    return out;
  }
  /// Writes `events` as render() does to `path` (a ```mermaid block for .md files).
  static void write_file(const std::string& path, const std::vector<Event>& events) {
    std::string d = render(events);
    bool md = path.size() >= 3 && path.compare(path.size() - 3, 3, ".md") == 0;
    std::ofstream f(path, std::ios::trunc);
    if (md) f << "```mermaid\n" << d << "```\n";
    else f << d;
    f.flush();
    if (!f)
      throw SetupError("could not write the Mermaid timeline to '" + path +
                       "'; expected a writable file path");
  }

private:
  struct Recorded {
    std::mutex mu;
    std::vector<Event> events;
  };
  static bool drawn(const Event& e) {
    return !e.node.empty() && e.kind != "progress" && e.kind != "binaries" && e.kind != "template";
  }
  // Events whose peer is drawn as the origin of an arrow.
  static bool is_lane_kind(const Event& e) {
    return e.kind == "clone" || e.kind == "rejoin" || e.kind == "failover" || e.kind == "endpoint" ||
           e.kind == "switch" || e.kind == "ready";
  }
  static void add_lane(std::vector<std::string>& lanes, const std::string& name) {
    for (const auto& l : lanes)
      if (l == name) return;
    lanes.push_back(name);
  }
  // A lane's name can be its Mermaid identifier: a plain word, not a keyword.
  static bool plain(const std::string& name) {
    bool ok = !name.empty() && std::isalpha(static_cast<unsigned char>(name[0]));
    for (unsigned char c : name)
      if (!std::isalnum(c) && c != '_') ok = false;
    return ok && name != "end" && name != "participant" && name != "as";
  }
  // One Mermaid identifier per lane, all different: its name when plain, else lane<i> (the
  // first such identifier no lane's name already is: a node may be named "lane1").
  static std::vector<std::string> lane_ids(const std::vector<std::string>& lanes) {
    std::vector<std::string> ids(lanes.size());
    const auto taken = [&](const std::string& id) {
      for (std::size_t i = 0; i < lanes.size(); ++i)
        if (ids[i] == id || (plain(lanes[i]) && lanes[i] == id)) return true;
      return false;
    };
    std::size_t next = 1;
    for (std::size_t i = 0; i < lanes.size(); ++i) {
      if (plain(lanes[i])) { ids[i] = lanes[i]; continue; }
      std::string id;
      do id = "lane" + std::to_string(next++); while (taken(id));
      ids[i] = id;
    }
    return ids;
  }
  // Text Mermaid shows as written: ';' and '#' start syntax there, and one event is one line.
  static std::string text(const std::string& s) {
    std::string out;
    for (char c : s) {
      if (c == ';') out += ',';
      else if (c == '#') out += "nr ";
      else if (c == '\n' || c == '\r') out += ' ';
      else out += c;
    }
    return out;
  }
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
