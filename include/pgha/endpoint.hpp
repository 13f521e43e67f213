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

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/isolation.hpp"
#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/quote.hpp"
#include "pgha/link.hpp"
#include "pgha/node.hpp"

namespace pgha {

class Endpoint {
public:
  /// Listens on 127.0.0.1:<free port> and forwards every new connection to `node`.
  explicit Endpoint(Node& node) : Endpoint(std::vector<Node*>{&node}, Route::Any, true) {}
  /// Forwards each new connection to a listed node that fits `route` at that moment.
  /// Throws UsageError if `nodes` is empty or holds a null pointer.
  Endpoint(std::vector<Node*> nodes, Route route) : Endpoint(std::move(nodes), route, false) {}
  /// Resets every client connection and stops the relay's thread (bounded, never throws).
  ~Endpoint() = default;
  Endpoint(const Endpoint&) = delete;
  Endpoint& operator=(const Endpoint&) = delete;

  /// libpq keyword/value conninfo through the endpoint (user postgres, the cluster's password).
  std::string conninfo(const std::string& dbname = "postgres") const {
    return "host=127.0.0.1 port=" + std::to_string(port()) + " user=postgres " +
           detail::conninfo_param("password", password_) + " " + detail::conninfo_param("dbname", dbname);
  }
  /// The endpoint's port on 127.0.0.1.
  int port() const noexcept { return link_->port(); }
  /// The superuser password in conninfo() (its nodes' password).
  const std::string& password() const noexcept { return password_; }
  /// "127.0.0.1".
  std::string host() const { return "127.0.0.1"; }
  /// From now on new connections go to `node` (whatever its role); `existing` says what
  /// happens to the connections open now: Reset (default), Blackhole or Keep.
  void point_to(Node& node, Switch existing = Switch::Reset) {
    {
      std::lock_guard<std::mutex> l(mu_);
      nodes_.assign(1, candidate(&node));
      pinned_ = true;
    }
    link_->relay(detail::LinkKey()).switch_existing(existing);
    detail::emit(name(), "switch", "new connections go to " + node.name() + "; existing ones: " +
                 enum_name(existing), std::chrono::microseconds(0),
                 {{"peer", node.name()}, {"port", std::to_string(node.port())}, {"mode", enum_name(existing)}});
  }
  /// The endpoint's name in events and timelines: "endpoint<port>".
  std::string name() const { return "endpoint" + std::to_string(port()); }
  /// Client connections open through the endpoint right now.
  std::size_t connections() const { return link_->connections(); }
  /// New connections reset because no listed node fitted the route, or because the chosen
  /// node refused them (its server went away between the choice and the connect).
  std::uint64_t refused() const { return link_->relay(detail::LinkKey()).refused(); }
  /// The client path's faults: cut, delay, bandwidth, counters.
  Link& link() noexcept { return *link_; }
  /// The route of an endpoint over several nodes (Route::Any after point_to()).
  Route route() const {
    std::lock_guard<std::mutex> l(mu_);
    return pinned_ ? Route::Any : route_;
  }

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
  static Candidate candidate(Node* n) {
    if (!n) throw UsageError("pgha::Endpoint: a node pointer is null; expected nodes that outlive the endpoint");
    detail::NodeState* st = &n->state();
    return {st, n->port(), Role::Stopped, detail::live_nodes().serial(&st->dir())};
  }
  static bool alive(const Candidate& c) {
    return detail::live_nodes().visit(&c.st->dir(), c.serial, [] {});
  }
  Endpoint(std::vector<Node*> nodes, Route route, bool pinned) : route_(route), pinned_(pinned) {
    if (nodes.empty()) throw UsageError("pgha::Endpoint over no node; expected at least one");
    for (Node* n : nodes) nodes_.push_back(candidate(n));
    for (auto& c : nodes_) refresh(c);
    password_ = nodes.front()->password();
    link_ = std::make_unique<Link>([this](detail::RelayTarget& t) { return choose(t); }, detail::LinkKey());
    {
      std::string names;
      for (Node* n : nodes) names += (names.empty() ? "" : ", ") + n->name();
      detail::LinkAccess::of(*link_).set_lane(name(), "client link", ", to " + names);
    }
    if (detail::events_on()) {
      std::string names;
      for (Node* n : nodes) names += (names.empty() ? "" : ", ") + n->name();
      detail::emit(name(), "endpoint", "listening on 127.0.0.1:" + std::to_string(port()) + " for " + names +
                   (pinned ? "" : std::string(" (route ") + enum_name(route) + ")"),
                   std::chrono::microseconds(0), {{"port", std::to_string(port())}});
    }
  }
  // pgha's own view of the node, read only when nobody is changing it (try_lock: the relay
  // thread never waits for a promote); a node in transition counts as stopped; a node busy
  // otherwise (a reload, a query under its lock) keeps its cached role.
  // A destroyed node is Stopped for good.
  static void refresh(Candidate& c) {
    const bool live = detail::live_nodes().visit(&c.st->dir(), c.serial, [&c] {
      if (c.st->in_transition()) { c.cached = Role::Stopped; return; }  // re-read once it is over
      std::unique_lock<std::recursive_mutex> l(c.st->mutex(), std::try_to_lock);
      if (!l.owns_lock()) return;
      if (!c.st->running() || c.st->server().frozen()) c.cached = Role::Stopped;
      else c.cached = c.st->topo().standby() ? Role::Standby : Role::Primary;
    });
    if (!live) c.cached = Role::Stopped;
  }
  // On the relay's thread, once per new connection.
  bool choose(detail::RelayTarget& t) {
    std::lock_guard<std::mutex> l(mu_);
    if (pinned_) {
      if (!alive(nodes_.front())) return false;  // destroyed: its port may be another server's now
      t = detail::loopback_target(nodes_.front().port);
      return true;
    }
    const std::size_t n = nodes_.size();
    for (std::size_t k = 0; k < n; ++k) {
      const std::size_t i = route_ == Route::Primary ? k : (next_ + k) % n;
      Candidate& c = nodes_[i];
      if (detail::Isolation::instance().isolated(c.st)) continue;
      refresh(c);
      const bool fits = route_ == Route::Primary ? c.cached == Role::Primary
                        : route_ == Route::Standby ? c.cached == Role::Standby
                                                   : c.cached != Role::Stopped;
      if (!fits) continue;
      next_ = i + 1;
      t = detail::loopback_target(c.port);
      return true;
    }
    return false;
  }

  mutable std::mutex mu_;  // guards nodes_, pinned_, next_
  std::vector<Candidate> nodes_;
  Route route_;
  bool pinned_;
  std::size_t next_ = 0;
  std::string password_;
  std::unique_ptr<Link> link_;  // last: destroyed first, so its thread never sees a dead endpoint
};

}  // namespace pgha
