// tests/support.hpp: small readers of real server state shared by the integration tests.
#pragma once

#include <pgha/pgha.hpp>
#include <pgha/detail/packet_drop.hpp>

#include <functional>
#include <string>
#include <vector>

#include "catch.hpp"

namespace test {

// ids in table `test`, ascending, as the walkthrough's `select * from test` shows them.
inline std::vector<int> ids(pgha::Node& n) {
  pgha::Result r = n.query("SELECT id FROM test ORDER BY id");
  std::vector<int> out;
  for (int i = 0; i < r.rows(); ++i) out.push_back(std::stoi(r.value(i, 0)));
  return out;
}

inline bool in_recovery(pgha::Node& n) {
  return n.query("SELECT pg_is_in_recovery()").value(0, 0) == "t";
}

// sync_state of `app` in the primary's pg_stat_replication, or "absent".
inline std::string sync_state(pgha::Node& primary, const std::string& app = "pgslave001") {
  pgha::Result r = primary.query(
      "SELECT state || '/' || sync_state FROM pg_stat_replication WHERE application_name = '" +
      app + "'");
  return r.rows() ? r.value(0, 0) : "absent";
}

// The wait event of the backend running `pid` ("SyncRep" while a commit waits).
inline std::string wait_event(pgha::Node& n, int pid) {
  pgha::Result r = n.query("SELECT coalesce(wait_event, '') FROM pg_stat_activity WHERE pid = " +
                           std::to_string(pid));
  return r.rows() ? r.value(0, 0) : "no such backend";
}

inline std::string sqlstate_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const pgha::QueryError& e) {
    return e.sqlstate();
  }
  return "no error";
}

}  // namespace test

// PGHA_SKIP(reason): see tests/catch.hpp.

namespace test {
inline pgha::detail::Binaries binaries() { return pgha::detail::find_binaries(""); }

// What `nft <command>` prints (with its errors), as the kernel has it: not pgha's own
// bookkeeping. "list tables" lists every table; see PacketDrop::table_name for pgha's.
inline std::string nft_says(const std::string& command) {
  pgha::detail::SpawnSpec s;
  s.argv = {"/bin/sh", "-c", "PATH=$PATH:/usr/sbin:/sbin exec nft $0 2>&1", command};
  std::string out;
  pgha::detail::run(s, std::chrono::seconds(10), &out);
  return out;
}
}  // namespace test
