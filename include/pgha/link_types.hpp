// pgha/link_types.hpp: the small vocabulary of link faults and endpoints, shared by the
// relay (detail/relay.hpp), pgha::Link and pgha::Endpoint.
#pragma once

#include "pgha/build_mode.hpp"

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
PGHA_DECL const char* to_string(Direction v) noexcept;
/// Text of a Switch: "reset", "blackhole", "keep".
PGHA_DECL const char* to_string(Switch v) noexcept;
/// Text of a Route: "primary", "standby", "any".
PGHA_DECL const char* to_string(Route v) noexcept;

/// The enumerator's name ("Both", "Reset", "Primary", ...), as the enums print with <<.
PGHA_DECL const char* enum_name(Direction v) noexcept;
PGHA_DECL const char* enum_name(Switch v) noexcept;
PGHA_DECL const char* enum_name(Route v) noexcept;
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Direction v);
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Switch v);
/// Prints the enumerator's name.
PGHA_DECL std::ostream& operator<<(std::ostream& o, Route v);

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/link_types.ipp"
#endif
