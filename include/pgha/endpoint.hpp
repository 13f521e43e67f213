// pgha/endpoint.hpp: pgha::Endpoint, a stable address in front of the cluster, as a virtual
// IP, HAProxy or PgBouncer is in production. The application under test connects to
// Endpoint::conninfo(); the test moves the endpoint (point_to) the way a VIP moves, with
// what happens to open connections chosen by Switch, or lets it route each new connection
// to the current primary (Route::Primary), and injects faults on the path (link()).
//
// Route::Primary decides per new connection, on the relay's thread, without a query: each
// listed node's role is the one pgha gave it (it changes with promote(), rejoin(), stop(),
// start(), so a FailoverGuard is followed by itself), refreshed at each connection when the
// node is not busy, plus a check that its postmaster is alive and not frozen. A node in the
// middle of a start, stop, promote or rejoin is never chosen: while the old primary rejoins,
// new connections go to the running primary. A role changed behind pgha's back (pg_promote()
// from SQL) is not seen. When no listed node qualifies, the new connection is reset (the
// client sees "server closed the connection unexpectedly"), as HAProxy with no healthy
// backend closes it; refused() counts it, and a chosen node that refuses the connection. In
// a split brain both nodes are primaries: the first listed one that no Partition hides wins,
// so a Partition({&a}, {&b}) sends new connections to a's side.
//
// Threads: every call may come from any thread. A listed node destroyed before the Endpoint
// counts as stopped: new connections to it are reset (detail::live_nodes() tells).
#pragma once

#include "pgha/build_mode.hpp"
#ifdef PGHA_SEPARATE_COMPILATION  // types the header-only mode gets through detail/
#include "pgha/options.hpp"
#endif

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#ifndef PGHA_SEPARATE_COMPILATION  // the separate mode compiles these in the library
#include "pgha/detail/isolation.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/quote.hpp"
#endif
#include "pgha/link.hpp"
#include "pgha/node.hpp"

// Forward declarations: the separate mode does not include detail/ here.
namespace pgha {
namespace detail {
class NodeState;
struct RelayTarget;
}  // namespace detail
}  // namespace pgha

namespace pgha {

class Endpoint {
public:
  /// Listens on 127.0.0.1:<free port> and forwards every new connection to `node`.
  explicit Endpoint(Node& node);
  /// Forwards each new connection to a listed node that fits `route` at that moment.
  /// Throws UsageError if `nodes` is empty or holds a null pointer.
  Endpoint(std::vector<Node*> nodes, Route route);
  /// Resets every client connection and stops the relay's thread (bounded, never throws).
  ~Endpoint();
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// libpq keyword/value conninfo through the endpoint (user postgres, the cluster's password).
  std::string conninfo(const std::string& dbname = "postgres") const;
  /// The endpoint's port on 127.0.0.1.
  int port() const noexcept;
  /// The superuser password in conninfo() (its nodes' password).
  const std::string& password() const noexcept;
  /// conninfo() through the endpoint as another role (see Node::conninfo_as). Throws
  /// UsageError for an empty user or dbname.
  std::string conninfo_as(const std::string& user, const std::string& password,
                          const std::string& dbname = "postgres") const;
  /// "127.0.0.1".
  std::string host() const;
  /// From now on new connections go to `node` (whatever its role); `existing` says what
  /// happens to the connections open now: Reset (default), Blackhole or Keep.
  void point_to(Node& node, Switch existing = Switch::Reset);
  /// The endpoint's name in events and timelines: "endpoint<port>".
  std::string name() const;
  /// Client connections open through the endpoint right now.
  std::size_t connections() const;
  /// New connections reset because no listed node fitted the route, or because the chosen
  /// node refused them (its server went away between the choice and the connect).
  std::uint64_t refused() const;
  /// The client path's faults: cut, delay, bandwidth, counters.
  Link& link() noexcept;
  /// The route of an endpoint over several nodes (Route::Any after point_to()).
  Route route() const;

private:
  // A listed node, known by address and by its serial in detail::live_nodes(): the relay
  // thread touches it only while the registry says it is alive, so a node destroyed before
  // its endpoint is a refused connection, not a use after free.
  struct Candidate {
    detail::NodeState* st;
    int port;
    Role cached;
    std::uint64_t serial;
  };
  static Candidate candidate(Node* n);
  static bool alive(const Candidate& c);
  Endpoint(std::vector<Node*> nodes, Route route, bool pinned);
  // pgha's own view of the node, read only when nobody is changing it (try_lock: the relay
  // thread never waits for a promote); a node in transition counts as stopped; a node busy
  // otherwise (a reload, a query under its lock) keeps its cached role.
  // A destroyed node is Stopped for good.
  static void refresh(Candidate& c);
  // On the relay's thread, once per new connection.
  bool choose(detail::RelayTarget& t);

  mutable std::mutex mu_;  // guards nodes_, pinned_, next_
  std::vector<Candidate> nodes_;
  Route route_;
  bool pinned_;
  std::size_t next_ = 0;
  std::string password_;
  std::unique_ptr<Link> link_;  // last: destroyed first, so its thread never sees a dead endpoint
};

}  // namespace pgha

#ifndef PGHA_SEPARATE_COMPILATION
#include "pgha/impl/endpoint.ipp"
#endif
