// pgha/detail/lineage_names.hpp: the application_names of one lineage (the nodes cloned
// from one primary, and every node that rejoined one of them). A standby is found on its
// upstream by its name (pg_stat_replication, synchronous_standby_names, its physical slot),
// so no two standbys of a lineage may stream under one name: after a failover any of them
// may follow any other. A primary's name is dormant (it is the name the node streams with
// once it rejoins), so the first standby may share it, as both nodes of the walkthrough's
// pair are pgslave001; a node that becomes a standby under a name another standby of the
// lineage streams with takes a free one.
#pragma once

#include <cctype>
#include <map>
#include <mutex>
#include <string>
#include <vector>

#include "pgha/detail/quote.hpp"

namespace pgha::detail {

// The next name after `name`: its trailing number plus one, keeping the width
// (pgslave001 -> pgslave002), or "2" appended.
inline std::string next_app_name(const std::string& name) {
  std::size_t d = name.size();
  while (d > 0 && std::isdigit(static_cast<unsigned char>(name[d - 1]))) --d;
  if (d == name.size()) return name + "2";
  std::string digits = name.substr(d);
  if (digits.size() > 18) return name + "2";  // beyond unsigned long long
  std::string next = std::to_string(std::stoull(digits) + 1);
  if (next.size() < digits.size()) next.insert(0, digits.size() - next.size(), '0');
  return name.substr(0, d) + next;
}

class LineageNames {
public:
  /// `who` (a node) carries `name`; `standby`: it streams (or will, once started) under it.
  void set(const void* who, const std::string& name, bool standby) {
    std::lock_guard<std::mutex> l(mu_);
    Member& m = members_[who];
    m.name = name;
    m.standby = standby;
  }
  /// How to reach `who` (its private-socket conninfo), whom it streams from (the port of
  /// its upstream, 0 = none) and whether it syncs its upstream's failover slots (PG 17+).
  void set_contact(const void* who, const std::string& conninfo, int upstream_port, bool syncs_slots) {
    std::lock_guard<std::mutex> l(mu_);
    auto it = members_.find(who);
    if (it == members_.end()) return;
    it->second.conninfo = conninfo;
    it->second.upstream_port = upstream_port;
    it->second.syncs_slots = syncs_slots;
  }
  /// The conninfos of the standbys that sync failover slots from the node on `port`.
  std::vector<std::string> slot_syncing_standbys_of(int port) const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (auto& [w, m] : members_)
      if (m.standby && m.syncs_slots && m.upstream_port == port && !m.conninfo.empty())
        out.push_back(m.conninfo);
    return out;
  }
  /// The members that stream (or will) from the node on `port`: its standbys, as their
  /// own NodeState addresses (FailoverGuard re-points them; it pins each before use).
  std::vector<const void*> standbys_of(int port) const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<const void*> out;
    for (auto& [w, m] : members_)
      if (m.standby && m.upstream_port == port) out.push_back(w);
    return out;
  }
  void forget(const void* who) noexcept {
    std::lock_guard<std::mutex> l(mu_);
    members_.erase(who);
  }
  /// Whether a standby other than `who` streams under `name` (compared as the server
  /// compares synchronous_standby_names: case-insensitively).
  bool standby_uses(const std::string& name, const void* who) const {
    std::lock_guard<std::mutex> l(mu_);
    return used(name, who, /*any_role=*/false);
  }
  /// Makes `who` a standby of the lineage and returns its name: `wanted` unless another
  /// standby streams under it or `also_taken` holds it; else the first name after it that no
  /// node of the lineage carries and `also_taken` does not hold.
  std::string claim(const void* who, const std::string& wanted,
                    const std::vector<std::string>& also_taken = {}) {
    std::lock_guard<std::mutex> l(mu_);
    auto in_extra = [&](const std::string& n) {
      for (auto& t : also_taken)
        if (ascii_lower(t) == ascii_lower(n)) return true;
      return false;
    };
    std::string name = wanted;
    if (used(name, who, false) || in_extra(name)) {
      do name = next_app_name(name);
      while (used(name, who, true) || in_extra(name));
    }
    Member& m = members_[who];
    m.name = name;
    m.standby = true;
    return name;
  }

private:
  struct Member {
    std::string name;
    bool standby = false;
    std::string conninfo;
    int upstream_port = 0;
    bool syncs_slots = false;
  };
  bool used(const std::string& name, const void* who, bool any_role) const {
    const std::string lower = ascii_lower(name);
    for (auto& [w, m] : members_)
      if (w != who && (any_role || m.standby) && ascii_lower(m.name) == lower) return true;
    return false;
  }
  mutable std::mutex mu_;
  std::map<const void*, Member> members_;
};

}  // namespace pgha::detail
