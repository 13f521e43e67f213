// pgha/detail/relayed_link.hpp: the faults of one relayed path (a standby's replication link
// or an Endpoint's client path), as the user and every live Partition set them. A link is cut
// in a direction when the user cut it or when some live Partition cut it: the state applied to
// the relay is the union (Reset before Blackhole before Pass), so ending one Partition lifts
// only its own cut, and the user's heal() lifts only the user's. Arguments are checked here
// (UsageError at once), and every fault the user sets is an event in the link's lane.
#pragma once

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <utility>

#include "pgha/detail/live_nodes.hpp"
#include "pgha/detail/packet_drop.hpp"
#include "pgha/detail/relay.hpp"
#include "pgha/error.hpp"
#include "pgha/events.hpp"
#include "pgha/link_types.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

class RelayedLink {
public:
  /// The longest delay or jitter a link accepts: beyond it a test would wait, not test.
  static constexpr std::chrono::milliseconds kMaxDelay = std::chrono::hours(1);
  /// Byte counts above this are a negative number converted to unsigned, not a setting.
  static constexpr std::uint64_t kMaxBytes = std::uint64_t(std::numeric_limits<std::int64_t>::max());

  RelayedLink(const std::string& host, int port)
      : r_(std::make_shared<Relay>(host, port)), port_(r_->port()) {
    lane_ = "link" + std::to_string(port_);
    relay_ports().set(port_, "a link to " + host + ":" + std::to_string(port));
  }
  explicit RelayedLink(Relay::Chooser choose)
      : r_(std::make_shared<Relay>(std::move(choose))), port_(r_->port()) {
    lane_ = "link" + std::to_string(port_);
    relay_ports().set(port_, "a routed link");
  }
  ~RelayedLink() { close(""); }

  /// Ends the link for good (a standby's link when it is promoted): its relay's connections
  /// are reset and its thread ends; the object stays, so a reference a test still holds
  /// (Node::replication_link()) gives a StateError saying `why`, never a dangling access.
  void close(const std::string& why) noexcept {
    std::shared_ptr<Relay> last;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!r_) return;
      last = std::move(r_);
      closed_why_ = why;
      if (dropping_) packet_drop().clear(port_);
      dropping_ = false;
    }
    relay_ports().gone(port_);
    // `last` goes here (or in a call still using the relay): the relay's thread is joined.
  }
  bool closed() const {
    std::lock_guard<std::mutex> l(mu_);
    return !r_;
  }
  RelayedLink(const RelayedLink&) = delete;
  RelayedLink& operator=(const RelayedLink&) = delete;

  /// Where this link's events go: the lane (a node's or an endpoint's name) and what the
  /// link is called in their messages ("replication link", "client link"); `serves` says
  /// in failure reports what the relay's port leads to.
  void set_lane(std::string lane, std::string what, const std::string& serves) {
    relay_ports().set(port_, what + " of " + lane + serves);
    std::lock_guard<std::mutex> l(mu_);
    lane_ = std::move(lane);
    what_ = std::move(what);
  }

  // --- the user's faults ---
  void cut(LinkCut how, Direction d) {
    check_enum(how, d);
    if (how == LinkCut::Drop) packet_drop().require("pgha::Link::cut(LinkCut::Drop)");
    {
      std::lock_guard<std::mutex> l(mu_);
      if (d != Direction::Downstream) user_[0] = how;
      if (d != Direction::Upstream) user_[1] = how;
      apply();
    }
    std::string m = pgha::to_string(how);
    if (d != Direction::Both) m += std::string(", ") + (d == Direction::Upstream ? "upstream" : "downstream") + " only";
    event("fault", "cut (" + m + ")", {{"mode", pgha::to_string(how)}, {"direction", enum_name(d)}});
  }
  /// Lifts the user's cuts; a live Partition's stay.
  void heal() {
    {
      std::lock_guard<std::mutex> l(mu_);
      user_[0] = user_[1] = std::nullopt;
      apply();
    }
    event("heal", "healed", {});
  }
  /// Whether some direction is cut now (by the user or a Partition).
  bool is_cut() const {
    if (live("is_cut")->state() != LinkState::Pass) return true;
    std::lock_guard<std::mutex> l(mu_);
    return dropping_;
  }
  void delay(std::chrono::milliseconds latency, std::chrono::milliseconds jitter) {
    check_delay("delay", latency);
    check_delay("jitter", jitter);
    live("delay")->set_delay(latency, jitter);
    std::string m = "delay " + std::to_string(latency.count()) + " ms";
    if (jitter.count()) m += " +- " + std::to_string(jitter.count()) + " ms";
    event(latency.count() || jitter.count() ? "fault" : "heal", m,
          {{"delay_ms", std::to_string(latency.count())}, {"jitter_ms", std::to_string(jitter.count())}});
  }
  void bandwidth(std::uint64_t bytes_per_second) {
    check_bytes("bandwidth", bytes_per_second);
    live("bandwidth")->set_bandwidth(bytes_per_second);
    event(bytes_per_second ? "fault" : "heal",
          bytes_per_second ? "bandwidth " + std::to_string(bytes_per_second) + " bytes/s" : std::string("bandwidth unlimited"),
          {{"bandwidth", std::to_string(bytes_per_second)}});
  }
  void limit_data(std::uint64_t bytes) {
    check_bytes("limit_data", bytes);
    live("limit_data")->set_limit(bytes);
    event(bytes ? "fault" : "heal",
          bytes ? "closes each connection after " + std::to_string(bytes) + " bytes" : std::string("byte limit off"),
          {{"limit", std::to_string(bytes)}});
  }
  void slow_close(std::chrono::milliseconds d) {
    check_duration("slow_close", d);
    live("slow_close")->change_toxics([&](Toxics& t) { t.slow_close = d; });
    event(d.count() ? "fault" : "heal",
          d.count() ? "slow close " + std::to_string(d.count()) + " ms" : std::string("slow close off"),
          {{"slow_close_ms", std::to_string(d.count())}});
  }
  void timeout(std::chrono::milliseconds d, Direction dir) {
    check_duration("timeout", d);
    check_direction("timeout", dir);
    live("timeout")->change_toxics([&](Toxics& t) { t.set_timeout(d, dir, RelayClock::now()); });
    event(d.count() ? "fault" : "heal",
          (d.count() ? "timeout " + std::to_string(d.count()) + " ms" : std::string("timeout off")) + only(dir),
          {{"timeout_ms", std::to_string(d.count())}, {"direction", enum_name(dir)}});
  }
  void slicer(std::size_t average, std::size_t variation, std::chrono::microseconds delay, Direction dir) {
    const auto bad = [&](const std::string& why) {
      throw UsageError("pgha::Link::slicer(" + std::to_string(average) + ", " + std::to_string(variation) + ", " +
                       std::to_string(delay.count()) + " us): " + why);
    };
    if (average > kMaxBytes || variation > kMaxBytes)
      bad("a size is out of range (a negative number converted to unsigned?); expected byte counts");
    if (delay.count() < 0 || delay > kMaxDelay) bad("the delay is out of range; expected 0 to 1 hour");
    if (variation > average) bad("the variation exceeds the average; expected variation <= average");
    if (average == 0 && delay.count() > 0) bad("a delay without slices; expected an average above 0, or all 0 (off)");
    check_direction("slicer", dir);
    live("slicer")->change_toxics([&](Toxics& t) { t.set_slicer(Slicer{average, variation, delay}, dir); });
    event(average ? "fault" : "heal",
          (average ? "slicer " + std::to_string(average) + " +- " + std::to_string(variation) + " bytes every " +
                         std::to_string(delay.count()) + " us"
                   : std::string("slicer off")) + only(dir),
          {{"average", std::to_string(average)}, {"variation", std::to_string(variation)},
           {"delay_us", std::to_string(delay.count())}, {"direction", enum_name(dir)}});
  }
  void reset_after(std::chrono::milliseconds d) {
    check_duration("reset_after", d);
    live("reset_after")->change_toxics([&](Toxics& t) { t.set_reset_after(d, RelayClock::now()); });
    event(d.count() ? "fault" : "heal",
          d.count() ? "resets each connection " + std::to_string(d.count()) + " ms after it opens"
                    : std::string("reset_after off"),
          {{"reset_after_ms", std::to_string(d.count())}});
  }
  void toxicity(double share) {
    if (!(share >= 0.0 && share <= 1.0))  // NaN fails both
      throw UsageError("pgha::Link::toxicity(" + std::to_string(share) +
                       ") is out of range; expected a share of new connections from 0.0 (none) to 1.0 (all)");
    live("toxicity")->change_toxics([&](Toxics& t) { t.toxicity = share; });
    std::string s = std::to_string(share);
    s.erase(s.find_last_not_of('0') + 1);
    if (s.back() == '.') s.pop_back();
    event(share < 1.0 ? "fault" : "heal", "toxicity " + s + " (share of new connections the toxics hit)",
          {{"toxicity", s}});
  }
  void reset_connections() {
    live("reset_connections")->switch_existing(Switch::Reset);
    event("fault", "open connections reset", {});
  }

  // --- Partitions ---
  /// Partition `id` cuts this link both ways (again: no change).
  void partition_cut(std::uint64_t id, LinkCut how) {
    if (how == LinkCut::Drop) packet_drop().require("pgha::Partition(..., LinkCut::Drop)");
    std::lock_guard<std::mutex> l(mu_);
    parts_[id] = how;
    apply();
  }
  /// Partition `id` ended: its cut goes, the others' and the user's stay.
  void partition_heal(std::uint64_t id) {
    std::lock_guard<std::mutex> l(mu_);
    if (parts_.erase(id)) apply();
  }
  /// Whether Partition `id` cuts this link.
  bool partition_cuts(std::uint64_t id) const {
    std::lock_guard<std::mutex> l(mu_);
    return parts_.count(id) != 0;
  }
  /// A new upstream (a rejoin): every cut was about the old path and goes; the caller
  /// applies the live Partitions between this node and its new upstream.
  void retarget(const std::string& host, int port) {
    live("retarget")->retarget(host, port);
    std::lock_guard<std::mutex> l(mu_);
    parts_.clear();
    user_[0] = user_[1] = std::nullopt;
    apply();
  }

  /// The relay; StateError once the link is closed. Callers keep the link from closing
  /// meanwhile (the node's lock, or an Endpoint, whose link never closes).
  Relay& relay() { return *live("relay"); }
  const Relay& relay() const { return *live("relay"); }
  /// The relay's port (kept after close()).
  int port() const noexcept { return port_; }

private:
  static LinkState worse(LinkState a, LinkState b) noexcept {
    if (a == LinkState::Reset || b == LinkState::Reset) return LinkState::Reset;
    return a == LinkState::Blackhole || b == LinkState::Blackhole ? LinkState::Blackhole : LinkState::Pass;
  }
  static LinkState relay_state(const std::optional<LinkCut>& c) noexcept {
    if (!c || *c == LinkCut::Drop) return LinkState::Pass;  // Drop: the kernel's job, not the relay's
    return *c == LinkCut::Reset ? LinkState::Reset : LinkState::Blackhole;
  }
  // Under mu_: the union of every cut, per direction, applied to the relay in one step when
  // both directions agree (a Reset of both resets every pair at once); Drop cuts go to the
  // kernel (packet_drop.hpp), first, so a failure there changes nothing in the relay.
  void apply() {
    if (!r_) throw StateError(gone_message("cut or heal"));
    LinkState s[2] = {relay_state(user_[0]), relay_state(user_[1])};
    bool drop[2] = {user_[0] == LinkCut::Drop, user_[1] == LinkCut::Drop};
    for (const auto& p : parts_) {
      for (int i = 0; i < 2; ++i) {
        s[i] = worse(s[i], relay_state(p.second));
        drop[i] = drop[i] || p.second == LinkCut::Drop;
      }
    }
    if (drop[0] || drop[1] || dropping_) packet_drop().set(port_, drop[0], drop[1]);
    dropping_ = drop[0] || drop[1];
    if (s[0] == s[1]) { r_->set_state(s[0], Direction::Both); return; }
    r_->set_state(s[0], Direction::Upstream);
    r_->set_state(s[1], Direction::Downstream);
  }
  void check_enum(LinkCut how, Direction d) const {
    if (how != LinkCut::Reset && how != LinkCut::Blackhole && how != LinkCut::Drop)
      throw UsageError("pgha::Link::cut: LinkCut value " + std::to_string(static_cast<int>(how)) +
                       " is not an enumerator; expected LinkCut::Reset, LinkCut::Blackhole or LinkCut::Drop");
    if (d != Direction::Both && d != Direction::Upstream && d != Direction::Downstream)
      throw UsageError("pgha::Link::cut: Direction value " + std::to_string(static_cast<int>(d)) +
                       " is not an enumerator; expected Both, Upstream or Downstream");
  }
  static void check_delay(const char* what, std::chrono::milliseconds v) {
    if (v.count() < 0 || v > kMaxDelay)
      throw UsageError(std::string("pgha::Link::delay: ") + what + " of " + std::to_string(v.count()) +
                       " ms is out of range; expected 0 (none) to " + std::to_string(kMaxDelay.count()) +
                       " ms (1 hour)");
  }
  static void check_duration(const char* what, std::chrono::milliseconds v) {
    if (v.count() < 0 || v > kMaxDelay)
      throw UsageError(std::string("pgha::Link::") + what + "(" + std::to_string(v.count()) +
                       " ms) is out of range; expected 0 (off) to " + std::to_string(kMaxDelay.count()) +
                       " ms (1 hour)");
  }
  static void check_direction(const char* what, Direction d) {
    if (d != Direction::Both && d != Direction::Upstream && d != Direction::Downstream)
      throw UsageError(std::string("pgha::Link::") + what + ": Direction value " + std::to_string(static_cast<int>(d)) +
                       " is not an enumerator; expected Both, Upstream or Downstream");
  }
  static std::string only(Direction d) {
    return d == Direction::Both ? std::string() : std::string(", ") + pgha::to_string(d) + " only";
  }
  static void check_bytes(const char* what, std::uint64_t v) {
    if (v > kMaxBytes)
      throw UsageError(std::string("pgha::Link::") + what + "(" + std::to_string(v) +
                       ") is out of range (a negative number converted to unsigned?); expected 0 (off) "
                       "or a byte count up to " + std::to_string(kMaxBytes));
  }
  void event(const char* kind, const std::string& what,
             std::vector<std::pair<std::string, std::string>> facts) const noexcept {
    if (!events_on()) return;
    try {
      std::string lane, name;
      {
        std::lock_guard<std::mutex> l(mu_);
        lane = lane_;
        name = what_;
      }
      facts.insert(facts.begin(), {"relay_port", std::to_string(port_)});
      emit(lane, kind, name + " " + what, std::chrono::microseconds(0), std::move(facts));
    } catch (...) {
    }
  }

  mutable std::mutex mu_;  // guards the cuts (applied under it, in order) and the lane
  std::optional<LinkCut> user_[2];           // the user's cut per direction (up, down)
  std::map<std::uint64_t, LinkCut> parts_;   // partition id -> its cut (both directions)
  bool dropping_ = false;                    // the kernel drops this port's packets now
  std::string lane_;
  std::string what_ = "link";
  // The relay while the link lives (calls take a copy of the pointer, so close() on another
  // thread never pulls it from under them); null once closed.
  std::shared_ptr<Relay> live(const char* op) const {
    std::lock_guard<std::mutex> l(mu_);
    if (!r_) throw StateError(gone_message(op));
    return r_;
  }
  std::string gone_message(const char* op) const {
    return std::string("pgha::Link::") + op + ": this link is gone (" +
           (closed_why_.empty() ? std::string("closed") : closed_why_) +
           "); expected a live link: ask the node for its current one (replication_link())";
  }
  std::shared_ptr<Relay> r_;
  int port_ = 0;
  std::string closed_why_;
};

}  // namespace pgha::detail
