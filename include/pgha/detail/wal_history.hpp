// pgha/detail/wal_history.hpp: reading a stopped node's pg_control and a primary's
// timeline history, to decide whether a former primary can simply resume as a standby
// or has diverged (WAL the new primary never got) and must be rewound or re-cloned.
#pragma once

#include <cstdint>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "pgha/detail/file_ops.hpp"

namespace pgha::detail {

// Subset of ControlFileData; the leading layout is the same in PostgreSQL 11 to 18:
// system_identifier u64 @0, pg_control_version u32 @8, catalog_version_no u32 @12,
// state (DBState) @16, time i64 @24, checkPoint u64 @32, checkPointCopy.redo u64 @40,
// checkPointCopy.ThisTimeLineID u32 @48.
struct ControlInfo {
  bool ok = false;
  int state = -1;             // 1 shut down, 2 shut down in recovery, 6 in production, ...
  std::uint64_t checkpoint = 0;  // LSN of the last checkpoint record
  std::uint32_t timeline = 0;    // timeline of that checkpoint
  bool clean() const { return state == 1 || state == 2; }
};

inline ControlInfo read_control(const std::string& data_dir) {
  ControlInfo c;
  std::string raw = read_file(data_dir + "/global/pg_control");
  if (raw.size() < 56) return c;
  std::uint32_t state;
  std::memcpy(&state, raw.data() + 16, 4);
  std::memcpy(&c.checkpoint, raw.data() + 32, 8);
  std::memcpy(&c.timeline, raw.data() + 48, 4);
  c.state = static_cast<int>(state);
  c.ok = true;
  return c;
}

inline std::uint64_t parse_lsn(const std::string& s) {
  auto slash = s.find('/');
  if (slash == std::string::npos) return 0;
  return (std::stoull(s.substr(0, slash), nullptr, 16) << 32) |
         std::stoull(s.substr(slash + 1), nullptr, 16);
}

inline std::string format_lsn(std::uint64_t lsn) {
  std::ostringstream o;
  o << std::hex << std::uppercase << (lsn >> 32) << "/" << (lsn & 0xffffffffu);
  return o.str();
}

// The entries of a `<current>.history` file's text, oldest first: each line "<parent tli>
// <switchpoint LSN> <reason>" says where that ancestor timeline ended. The one parser of
// history files (comment and malformed lines are skipped).
struct HistoryEntry {
  std::uint32_t parent = 0;
  std::uint64_t switchpoint = 0;
};
inline std::vector<HistoryEntry> history_entries(const std::string& history) {
  std::vector<HistoryEntry> out;
  std::istringstream in(history);
  std::string line;
  while (std::getline(in, line)) {
    std::istringstream l(line);
    std::uint32_t parent;
    std::string lsn;
    if (l >> parent >> lsn && lsn.find('/') != std::string::npos) out.push_back({parent, parse_lsn(lsn)});
  }
  return out;
}

// Where timeline `tli` ended according to a `<current>.history` file's text: the LSN at
// which the next timeline forked off. 0 = tli is not an ancestor listed in the file.
inline std::uint64_t switchpoint(const std::string& history, std::uint32_t tli) {
  for (const HistoryEntry& e : history_entries(history))
    if (e.parent == tli) return e.switchpoint;
  return 0;
}

// The timeline the history's own timeline forked from (its last entry's parent); 0 if the
// file lists none.
inline std::uint32_t parent_timeline(const std::string& history) {
  std::vector<HistoryEntry> all = history_entries(history);
  return all.empty() ? 0 : all.back().parent;
}

inline std::string history_file_name(std::uint32_t tli) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%08X.history", tli);
  return buf;
}

}  // namespace pgha::detail
