// pgha/link_types.hpp: the small vocabulary of link faults and endpoints, shared by the
// relay (detail/relay.hpp), pgha::Link and pgha::Endpoint.
#pragma once

#include <ostream>

namespace pgha {

/// Which way a link fault acts. Upstream is client -> server (a query, a standby's
/// feedback); Downstream is server -> client (results, WAL).
enum class Direction { Both, Upstream, Downstream };

/// What Endpoint::point_to does with the client connections already open through it.
enum class Switch {
  Reset,      ///< reset at once: the client gets an error on its next read (a proxy restart)
  Blackhole,  ///< no byte moves any more: the client hangs until its own timeout (a VIP moved off a dead host)
  Keep        ///< they stay on the old node: a client can keep writing there (the split-brain trap)
};

/// Which node an Endpoint built over several nodes gives each new connection.
enum class Route {
  Primary,  ///< the listed node that is a running primary now (as HAProxy with a pg_is_in_recovery check)
  Standby,  ///< a running standby, round robin
  Any       ///< any running node, round robin
};

/// Text of a Direction: "both", "upstream", "downstream".
inline const char* to_string(Direction v) noexcept {
  switch (v) { case Direction::Both: return "both"; case Direction::Upstream: return "upstream";
               case Direction::Downstream: return "downstream"; }
  return "?";
}
/// Text of a Switch: "reset", "blackhole", "keep".
inline const char* to_string(Switch v) noexcept {
  switch (v) { case Switch::Reset: return "reset"; case Switch::Blackhole: return "blackhole";
               case Switch::Keep: return "keep"; }
  return "?";
}
/// Text of a Route: "primary", "standby", "any".
inline const char* to_string(Route v) noexcept {
  switch (v) { case Route::Primary: return "primary"; case Route::Standby: return "standby";
               case Route::Any: return "any"; }
  return "?";
}

/// The enumerator's name ("Both", "Reset", "Primary", ...), as the enums print with <<.
inline const char* enum_name(Direction v) noexcept {
  switch (v) { case Direction::Both: return "Both"; case Direction::Upstream: return "Upstream";
               case Direction::Downstream: return "Downstream"; }
  return "?";
}
inline const char* enum_name(Switch v) noexcept {
  switch (v) { case Switch::Reset: return "Reset"; case Switch::Blackhole: return "Blackhole";
               case Switch::Keep: return "Keep"; }
  return "?";
}
inline const char* enum_name(Route v) noexcept {
  switch (v) { case Route::Primary: return "Primary"; case Route::Standby: return "Standby";
               case Route::Any: return "Any"; }
  return "?";
}
/// Prints the enumerator's name.
inline std::ostream& operator<<(std::ostream& o, Direction v) { return o << enum_name(v); }
/// Prints the enumerator's name.
inline std::ostream& operator<<(std::ostream& o, Switch v) { return o << enum_name(v); }
/// Prints the enumerator's name.
inline std::ostream& operator<<(std::ostream& o, Route v) { return o << enum_name(v); }

}  // namespace pgha
