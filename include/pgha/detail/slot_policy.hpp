// pgha/detail/slot_policy.hpp: which replication slots a node has, decided below the node
// state: whether a standby streams through a physical slot (and its name), whether a
// primary lists synchronized_standby_slots (PG 17 failover slots), and the slot files a
// node loses when it becomes a standby. The slots' SQL (logical slots, reading changes,
// the wait for a synced copy) is above the node state: pgha/impl/node_slots.ipp.
#pragma once

#include <cctype>
#include <string>
#include <vector>

#include "pgha/detail/file_ops.hpp"
#include "pgha/options.hpp"

namespace pgha::detail {

/// Whether the options ask for logical WAL (settings["wal_level"] = "logical").
inline bool logical_wal(const Options& o) {
  auto it = o.settings.find("wal_level");
  return it != o.settings.end() && it->second == "logical";
}
/// PG 17+ with logical WAL: standbys sync the primary's failover slots.
inline bool failover_slots(const Options& o, int major) { return major >= 17 && logical_wal(o); }
/// Whether a standby with these options streams through a physical slot.
inline bool uses_slot(const Options& o, int major) { return o.replication_slots || failover_slots(o, major); }

/// The physical slot of a standby: its application_name in the characters slot names allow
/// (lower-case letters, digits, underscore), at most 63 bytes.
inline std::string physical_slot_name(const std::string& app_name) {
  std::string out;
  for (char c : app_name) {
    unsigned char u = static_cast<unsigned char>(c);
    out += std::isalnum(u) ? static_cast<char>(std::tolower(u)) : '_';
  }
  if (out.empty()) out = "standby";
  return out.substr(0, 63);
}

/// synchronized_standby_slots: the names, comma-separated.
inline std::string slot_list(const std::vector<std::string>& names) {
  std::string out;
  for (auto& n : names) out += (out.empty() ? "" : ",") + n;
  return out;
}

/// A stopped node that becomes a standby loses the slots of its former life: physical
/// slots of standbys that now follow another node, logical slots a consumer must now read
/// on the primary. Kept, they would hold WAL back forever (and on 17+ a slot of the same
/// name stops the sync of the primary's failover slot). Synced slots come back by sync.
inline void remove_slot_files(const std::string& data_dir) noexcept {
  remove_contents(data_dir + "/pg_replslot");
}

}  // namespace pgha::detail
