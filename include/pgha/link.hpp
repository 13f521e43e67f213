// pgha/link.hpp: pgha::Link, the faults of one network path, as a test sees them. An
// Endpoint's client path (Endpoint::link()) and a standby's replication link
// (Node::replication_link()) are both Links over the same in-process TCP relay
// (detail/relay.hpp), so every fault below works on both.
//
// Faults act on real TCP connections of real clients. A cut or toxic applies from the moment
// the call returns: the relay's thread has applied it. Toxics compose (delay + bandwidth +
// limit + slicer + timeout + slow_close + reset_after, on the share of new connections that
// toxicity() picks) and can be changed while traffic flows; with none set, bytes are
// forwarded as read.
// Threads: every call may come from any thread.
#pragma once

#include "pgha/build_mode.hpp"

#include <chrono>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/relay.hpp"
#include "pgha/detail/relayed_link.hpp"
#endif
#include "pgha/link_types.hpp"
#include "pgha/options.hpp"

namespace pgha {
namespace detail {
class Relay;
class RelayedLink;
struct RelayTarget;
}  // namespace detail

class Link;
class Endpoint;
class Node;
namespace detail {
/// pgha's own classes reach a link's faults and partition cuts through this (no public door).
struct LinkAccess {
  static RelayedLink& of(Link& l) noexcept;
};
/// The pass-key of Link's doors into detail/ (a routed link, its relay): only the classes
/// it names can make one, so a user's code cannot call them.
class LinkKey {
  LinkKey();  // user-provided: `LinkKey{}` is no aggregate initialization from outside
  friend struct LinkAccess;
  friend class ::pgha::Endpoint;
  friend class ::pgha::Node;
};
}  // namespace detail

class Link {
public:
  /// A link to `host`:`port` (throws SetupError if the host does not resolve).
  Link(const std::string& host, int port);
  /// A link whose new connections go where `choose` says (for Endpoint: needs its key).
  Link(std::function<bool(detail::RelayTarget&)> choose, detail::LinkKey);
  /// A handle on a link pgha holds (a standby's replication link, for Node: needs its key).
  Link(std::shared_ptr<detail::RelayedLink> shared, detail::LinkKey);
  /// A link made here (host:port, or an Endpoint's): resets every open connection and joins
  /// the relay's thread (bounded, never throws). A node's replication link goes with its
  /// node, not with its handle.
  ~Link();
  Link(const Link&) = delete;
  Link& operator=(const Link&) = delete;

  /// Cuts the link. Reset: connections get an RST at once and new ones are reset as they
  /// arrive (with one Direction: a connection is reset when a byte would cross that way).
  /// Blackhole: bytes silently stop (in `d` only); the ends notice only through their own
  /// timeouts; on heal() held bytes flow on.
  ///
  /// The link is cut while the user's cut or a live Partition's is set: heal() lifts the
  /// user's cuts only (a Partition's end lifts its own). Every fault set here is an event in
  /// the lane of the link's node or endpoint (PGHA_LOG, Timeline, failure reports).
  void cut(LinkCut how = LinkCut::Reset, Direction d = Direction::Both);
  /// Whether cut(LinkCut::Drop) can work on this machine (the nft program and the right to
  /// change the ruleset); `why` (if given) says what is missing when not.
  static bool drop_available(std::string* why = nullptr);
  /// Lifts the cuts set through cut(), both directions (toxics stay: set each to 0, and
  /// toxicity to 1, to remove them; a live Partition's cut stays until the Partition ends).
  void heal();
  /// Whether some direction is cut now (by cut() or by a live Partition).
  bool is_cut() const;
  /// Latency added to each chunk read from now on, each direction, +- `jitter` (uniform;
  /// chunks never overtake each other). 0 = none. UsageError for a negative value or one
  /// above 1 hour.
  void delay(std::chrono::milliseconds latency,
             std::chrono::milliseconds jitter = std::chrono::milliseconds(0));
  /// Caps each connection at `bytes_per_second` in each direction; 0 = unlimited.
  /// UsageError above INT64_MAX (a negative number converted to unsigned).
  void bandwidth(std::uint64_t bytes_per_second);
  /// Closes each connection (a FIN to both ends) once `bytes` moved through it, both
  /// directions counted, including connections open now; 0 = no limit. UsageError above
  /// INT64_MAX.
  void limit_data(std::uint64_t bytes);
  /// Delays each connection's close by `delay` after either end sent its EOF (a FIN), as
  /// Toxiproxy's slow_close: what was sent before the EOF still arrives, the close waits.
  /// 0 = off. UsageError for a negative value or one above 1 hour.
  void slow_close(std::chrono::milliseconds delay);
  /// Stops forwarding in `d` (bytes that way are read and dropped, never delivered, also
  /// after the toxic is removed) and closes each connection (a FIN to both ends) `after`
  /// its opening, or after this call for the connections open now. 0 = off (unlike
  /// Toxiproxy, where 0 drops data for good: use cut(LinkCut::Blackhole) to hold bytes with
  /// no close). UsageError for a negative value or one above 1 hour.
  void timeout(std::chrono::milliseconds after, Direction d = Direction::Both);
  /// Cuts the bytes in `d` into slices of `average` +- `variation` bytes (uniform, at least
  /// 1), each its own write, `delay` apart (the relay wakes at most once a millisecond, so a
  /// shorter delay holds on average). All 0 = off. UsageError when variation > average, for
  /// a delay with average 0, a negative delay or one above 1 hour.
  void slicer(std::size_t average, std::size_t variation, std::chrono::microseconds delay,
              Direction d = Direction::Both);
  /// Resets each connection (RST to both ends) `after` its opening, or after this call for
  /// the connections open now (Toxiproxy's reset_peer). 0 = off. UsageError for a negative
  /// value or one above 1 hour.
  void reset_after(std::chrono::milliseconds after);
  /// The share of new connections the toxics (delay, bandwidth, limit_data, slow_close,
  /// timeout, slicer, reset_after) hit: each new connection draws once, when it opens, from a
  /// deterministic generator (the same sequence of connections gets the same draws in
  /// every run); a connection keeps its draw for life. 1.0 (the default) = all, 0 = none.
  /// Cuts and reset_connections() hit every connection regardless. UsageError outside
  /// [0, 1] or for NaN.
  void toxicity(double share);
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

  /// The relay itself (for pgha's own classes: needs their key).
  detail::Relay& relay(detail::LinkKey) noexcept;

private:
  friend struct detail::LinkAccess;
  std::shared_ptr<detail::RelayedLink> r_;  // never null
};

inline detail::RelayedLink& detail::LinkAccess::of(Link& l) noexcept { return *l.r_; }

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/link.ipp"
#endif
