// pgha/link.hpp: pgha::Link, the faults of one network path, as a test sees them. An
// Endpoint's client path (Endpoint::link()) and a standby's replication link
// (Node::replication_link()) are both Links over the same in-process TCP relay
// (detail/relay.hpp), so every fault below works on both.
//
// Faults act on real TCP connections of real clients. A cut or toxic applies from the moment
// the call returns: the relay's thread has applied it. Toxics compose (delay + bandwidth +
// limit) and can be changed while traffic flows; with none set, bytes are forwarded as read.
// Threads: every call may come from any thread.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <cstdint>
#include <string>

#include "pgha/detail/relay.hpp"
#include "pgha/link_types.hpp"
#include "pgha/options.hpp"

namespace pgha {

class Link {
public:
  /// A link to `host`:`port` (throws SetupError if the host does not resolve).
  Link(const std::string& host, int port);
  /// A link whose new connections go where `choose` says (see Endpoint).
  explicit Link(detail::Relay::Chooser choose);
  /// Resets every open connection and joins the relay's thread (bounded, never throws).
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  /// Cuts the link. Reset: connections get an RST at once and new ones are reset as they
  /// arrive (with one Direction: a connection is reset when a byte would cross that way).
  /// Blackhole: bytes silently stop (in `d` only); the ends notice only through their own
  /// timeouts; on heal() held bytes flow on.
  void cut(LinkCut how = LinkCut::Reset, Direction d = Direction::Both);
  /// Lifts every cut, both directions (toxics stay: set them to 0 to remove them).
  void heal();
  /// Whether some direction is cut now.
  bool is_cut() const noexcept;
  /// Latency added to each chunk read from now on, each direction, +- `jitter` (uniform;
  /// chunks never overtake each other). 0 = none. Negative values throw SetupError.
  void delay(std::chrono::milliseconds latency,
             std::chrono::milliseconds jitter = std::chrono::milliseconds(0));
  /// Caps each connection at `bytes_per_second` in each direction; 0 = unlimited.
  void bandwidth(std::uint64_t bytes_per_second);
  /// Closes each connection (a FIN to both ends) once `bytes` moved through it, both
  /// directions counted, including connections open now; 0 = no limit.
  void limit_data(std::uint64_t bytes);
  /// Resets the connections open now (RST to both ends); new connections pass.
  void reset_connections();
  /// Bytes delivered client -> server so far.
  std::uint64_t bytes_up() const;
  /// Bytes delivered server -> client so far.
  std::uint64_t bytes_down() const;
  /// Client connections open through the link now (held and frozen ones included).
  std::size_t connections() const;
  /// The relay's port on 127.0.0.1.
  int port() const noexcept;

  /// The relay itself (for pgha's own classes).
  detail::Relay& relay() noexcept;

private:
  detail::Relay r_;
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/link.ipp"
#endif
