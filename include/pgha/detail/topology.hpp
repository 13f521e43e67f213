// pgha/detail/topology.hpp: a node's place in the cluster: whether it streams from an
// upstream (and through which relay), and which standbys its synchronous_standby_names
// lists. "Become a standby of X" (attach_to) and "stop being a standby" (detach) are
// written here once; everything a node writes into its configuration about other nodes
// comes from this class.
#pragma once

#include <algorithm>
#include <memory>
#include <string>
#include <vector>

#include "pgha/detail/quote.hpp"
#include "pgha/detail/relayed_link.hpp"

namespace pgha::detail {

class Topology {
public:
  /// `app_name`: this node's application_name when it streams (and the first name it lists
  /// itself, for the walkthrough's symmetric pair). `armed`: whether synchronous_standby_names
  /// is written from the start (a standby is armed from birth, so after a promote its
  /// commits wait for a sync standby, as in the walkthrough; a lone primary is not).
  void init(std::string app_name, bool armed) {
    app_name_ = std::move(app_name);
    sync_armed_ = armed;
  }

  const std::string& app_name() const noexcept { return app_name_; }
  bool standby() const noexcept { return standby_; }
  bool sync_armed() const noexcept { return sync_armed_; }
  int upstream_port() const noexcept { return upstream_port_; }
  const std::string& upstream_archive() const noexcept { return upstream_archive_; }
  /// The replication link (a relay), or nullptr (a primary, or Options::relay = false).
  /// pgha::Link is a handle on it (Node::replication_link(): shared, so a handle a test
  /// holds outlives a link this node retired, and says StateError).
  RelayedLink* link() const noexcept { return link_.get(); }
  const std::shared_ptr<RelayedLink>& shared_link() const noexcept { return link_; }
  const std::vector<std::string>& sync_list() const noexcept { return sync_list_; }

  /// Streams from the server on 127.0.0.1:`port` (through a relay when `relay`), restoring
  /// from `archive` when not empty. Re-points an existing relay and lifts its cuts (they
  /// were about the old path; the caller applies the live Partitions to the new one).
  void attach_to(int port, const std::string& archive, bool relay) {
    if (relay) {
      if (!link_) link_ = std::make_shared<RelayedLink>("127.0.0.1", port);
      else link_->retarget("127.0.0.1", port);
    } else {
      retire_link("the standby now streams without a relay");
    }
    standby_ = true;
    sync_armed_ = true;
    upstream_port_ = port;
    upstream_archive_ = archive;
  }
  /// No upstream any more (promoted): the relay goes, its connections are reset.
  void detach() {
    slot_.clear();
    standby_ = false;
    retire_link("the node was promoted: a primary has no replication link");
    upstream_port_ = 0;
    upstream_archive_.clear();
  }
  /// Lists `app` as a synchronous standby candidate and arms synchronous_standby_names.
  /// Returns whether the configuration changed.
  bool add_sync_candidate(const std::string& app) {
    bool listed = is_listed(app);
    if (sync_armed_ && listed) return false;
    if (!listed) sync_list_.push_back(app);
    sync_armed_ = true;
    return true;
  }
  /// Lists `app` as a candidate without arming: it counts once the first standby arms
  /// this node (add_sync_candidate), in the same configuration write.
  void list_candidate(const std::string& app) {
    if (!is_listed(app)) sync_list_.push_back(app);
  }
  bool is_listed(const std::string& app) const {
    return app == app_name_ || std::find(sync_list_.begin(), sync_list_.end(), app) != sync_list_.end();
  }

  /// How many standbys a commit waits for, and how they are chosen: FIRST n (the first n
  /// listed that stream, by priority) or ANY n (a quorum: any n of those listed). Kept
  /// through promote and rejoin, so a TempCluster's rule survives a failover.
  void set_sync_rule(int count, bool any) {
    sync_count_ = count < 1 ? 1 : count;
    sync_any_ = any;
  }
  int sync_count() const noexcept { return sync_count_; }
  bool sync_any() const noexcept { return sync_any_; }

  /// synchronous_standby_names: "" until armed; then "name", or FIRST 1 (a, "b c") when
  /// several standbys may be the sync one, in the order they attached (FIRST n / ANY n with
  /// set_sync_rule). A name that is not a plain identifier is double-quoted, so spaces,
  /// quotes and '=' survive.
  std::string sync_names() const {
    if (!sync_armed_) return {};
    std::vector<std::string> names = sync_list_;
    if (std::find(names.begin(), names.end(), app_name_) == names.end())
      names.insert(names.begin(), app_name_);
    if (names.size() == 1 && sync_count_ == 1 && !sync_any_) return sync_name(names.front());
    std::string out = std::string(sync_any_ ? "ANY " : "FIRST ") + std::to_string(sync_count_) + " (";
    for (size_t i = 0; i < names.size(); ++i) out += (i ? ", " : "") + sync_name(names[i]);
    return out + ")";
  }

  /// primary_conninfo for the replication role with `password`.
  std::string replication_conninfo(const std::string& password) const {
    int port = link_ ? link_->port() : upstream_port_;
    return tcp_conninfo(port, "replicauser", password, "",
                        conninfo_param("application_name", app_name_) + " connect_timeout=5");
  }

  /// In a fork()ed child: the relay's thread does not exist here; leak the object (kept
  /// reachable) instead of joining a thread of the parent.
  void abandon() noexcept {
    static auto* kept = new std::vector<std::shared_ptr<RelayedLink>>;
    try {
      if (link_) kept->push_back(std::move(link_));
    } catch (...) {
      new std::shared_ptr<RelayedLink>(std::move(link_));  // leaked on purpose, as above
    }
  }

  // --- replication slots (detail/slot_policy.hpp) ---
  /// The physical slot this standby streams through on its upstream ("" = none).
  const std::string& slot() const noexcept { return slot_; }
  void set_slot(std::string s) { slot_ = std::move(s); }
  /// Physical slots of this node's own standbys (synchronized_standby_slots on 17+).
  const std::vector<std::string>& standby_slots() const noexcept { return standby_slots_; }
  /// Lists `s`; returns whether the list changed.
  bool add_standby_slot(const std::string& s) {
    if (std::find(standby_slots_.begin(), standby_slots_.end(), s) != standby_slots_.end()) return false;
    standby_slots_.push_back(s);
    return true;
  }
  void set_standby_slots(std::vector<std::string> s) { standby_slots_ = std::move(s); }
  void clear_standby_slots() noexcept { standby_slots_.clear(); }

private:
  std::string slot_;
  std::vector<std::string> standby_slots_;
  std::string app_name_;
  bool standby_ = false;
  bool sync_armed_ = true;
  std::vector<std::string> sync_list_;
  int sync_count_ = 1;
  bool sync_any_ = false;
  int upstream_port_ = 0;
  std::string upstream_archive_;
  std::shared_ptr<RelayedLink> link_;

  // Ends the link (a promote, or streaming without a relay from now on): closed here, its
  // relay's thread joined. The object goes with its last owner: this node's pgha::Link
  // handle on it (Node::links_, for the node's life; it then says StateError), or here if
  // nobody asked for one. pgha's own raw uses (topo().link()) run under the node's mutex,
  // as this does.
  void retire_link(const std::string& why) {
    if (!link_) return;
    link_->close(why);
    link_.reset();
  }
};

}  // namespace pgha::detail
