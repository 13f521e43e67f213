// examples/quorum_cascade.cpp: how do quorum commit and cascading replication behave?
// A primary with synchronous_standby_names = 'ANY 1 (s1, s2)' and standbys s1, s2: both
// are listed as 'quorum', and commits still return with s2 stopped. Then a cascading
// standby c1 streams from s1; the primary is stopped and s1 promoted: does c1 follow the
// new timeline and receive new rows? Exit 0 if all of that happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>

using namespace std::chrono_literals;
using teaching::step;
using teaching::expect;
using teaching::ok;

namespace {

// Prints pg_stat_replication of `n`; returns its rows as "app:state:sync_state;..."
std::string replication(const char* name, pgha::Node& n) {
  pgha::Result r = n.query("SELECT application_name, state, sync_state FROM pg_stat_replication "
                           "ORDER BY application_name");
  std::cout << name << "=# SELECT application_name, state, sync_state FROM pg_stat_replication\n";
  std::string all;
  for (int i = 0; i < r.rows(); ++i) {
    std::cout << "  " << r.value(i, 0) << " | " << r.value(i, 1) << " | " << r.value(i, 2) << "\n";
    all += r.value(i, 0) + ":" + r.value(i, 1) + ":" + r.value(i, 2) + ";";
  }
  std::cout << "(" << r.rows() << " rows)\n";
  return all;
}

std::string ids(pgha::Node& n) {
  return "{" + n.query("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '') FROM t").value(0, 0) + "}";
}

// Commits on `n` and reports whether the commit returned within 5 s.
bool commit_returns(const char* name, pgha::Node& n, int id) {
  std::string sql = "INSERT INTO t VALUES (" + std::to_string(id) + ")";
  std::cout << name << "=# " << sql << "\n";
  pgha::PendingQuery q = n.execute_async(sql);
  if (!q.wait_for(5s)) { std::cout << "... still waiting after 5 s\n"; return false; }
  std::cout << q.get().command_status() << "\n";
  return true;
}

std::string received_tli(pgha::Node& n) {
  pgha::Result r = n.query("SELECT status, received_tli FROM pg_stat_wal_receiver");
  return r.rows() ? r.value(0, 1) + " (" + r.value(0, 0) + ")" : "(no wal receiver)";
}
}  // namespace

int main() try {
  step("primary with synchronous_standby_names = 'ANY 1 (s1, s2)'; standbys s1 and s2");
  pgha::Options po;
  po.name = "primary";
  po.settings["synchronous_standby_names"] = "ANY 1 (s1, s2)";
  pgha::TempPrimary primary(po);
  pgha::Options o1 = po, o2 = po;
  o1.name = o1.application_name = "s1";
  o2.name = o2.application_name = "s2";
  pgha::TempStandby s1(primary, o1);
  pgha::TempStandby s2(primary, o2);
  std::cout << "primary=# SHOW synchronous_standby_names -> "
            << primary.query("SHOW synchronous_standby_names").value(0, 0) << "\n";
  std::string rep = replication("primary", primary);
  expect(rep == "s1:streaming:quorum;s2:streaming:quorum;", "s1 and s2 are both 'quorum'");
  primary.execute("CREATE TABLE t (id int PRIMARY KEY)");
  expect(commit_returns("primary", primary, 1), "a commit returns with both standbys up");

  step("stop s2: one of ANY 1 (s1, s2) is still there");
  s2.stop();
  primary.wait_until("SELECT count(*) = 1 FROM pg_stat_replication");
  replication("primary", primary);
  expect(commit_returns("primary", primary, 2), "a commit returns with s2 stopped (s1 answers for the quorum)");

  step("cascading standby c1, cloned from and streaming from s1");
  pgha::Options oc = po;
  oc.name = oc.application_name = "c1";
  pgha::TempStandby c1(s1, oc);
  rep = replication("s1", s1);
  expect(rep.find("c1:streaming:async") != std::string::npos, "c1 streams from s1 (async: s1 is a standby)");
  commit_returns("primary", primary, 3);
  primary.wait_for_catchup(c1);
  std::cout << "c1=# SELECT id FROM t -> " << ids(c1) << "\n";
  std::string tli_before = c1.query("SELECT received_tli FROM pg_stat_wal_receiver").value(0, 0);
  std::cout << "c1=# SELECT received_tli FROM pg_stat_wal_receiver -> " << received_tli(c1) << "\n";

  step("stop the primary, promote s1");
  primary.stop();
  s1.promote();
  std::cout << "s1: " << pgha::to_string(s1.role()) << "; s1=# SELECT timeline of pg_current_wal_lsn() -> "
            << s1.query("SELECT ('x' || substr(pg_walfile_name(pg_current_wal_lsn()), 1, 8))::bit(32)::int")
                   .value(0, 0) << "\n";
  c1.wait_until("SELECT coalesce(bool_or(status = 'streaming' AND received_tli > " + tli_before +
                "), false) FROM pg_stat_wal_receiver");
  std::string tli_after = c1.query("SELECT received_tli FROM pg_stat_wal_receiver").value(0, 0);
  std::cout << "c1=# SELECT received_tli FROM pg_stat_wal_receiver -> " << received_tli(c1) << "\n";
  expect(std::stoi(tli_after) > std::stoi(tli_before),
         "c1 follows s1 onto the new timeline (" + tli_before + " -> " + tli_after + ")");

  step("s1 is a primary with the same quorum rule: s2 rejoins it so its commits have a quorum");
  pgha::RejoinMethod how = s2.rejoin(s1);
  std::cout << "s2 rejoined s1: " << pgha::to_string(how) << "\n";
  rep = replication("s1", s1);
  expect(rep == "c1:streaming:async;s2:streaming:quorum;", "s1 serves c1 (async) and s2 (quorum)");
  expect(commit_returns("s1", s1, 4), "a commit on the new primary s1 returns");
  s1.wait_for_catchup(c1);
  std::string rows = ids(c1);
  std::cout << "c1=# SELECT id FROM t -> " << rows << "\n";
  expect(rows == "{1,2,3,4}", "c1 received the row written on the new timeline");

  step(ok ? "OK" : "FAILED: see above");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "quorum_cascade failed: " << e.what() << "\n";
  return 1;
}
