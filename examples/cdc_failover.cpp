// examples/cdc_failover.cpp: a change-data-capture consumer (Debezium-style: it reads a
// logical replication slot and remembers the last LSN it processed) through a failover.
// node1 is the primary, node2 its synchronous standby. The consumer reads some changes on
// node1; more changes are committed; node1 goes down and node2 is promoted. Where does the
// consumer continue?
// - PostgreSQL 17+: the slot was created with failover = true and pgha configured node2 to
//   sync it. The consumer reads on node2 exactly the changes after its last LSN: nothing
//   missing, nothing repeated.
// - PostgreSQL 11-16: the slot lived on node1 only. node2 has no such slot: the consumer
//   must create a new one, which starts at node2's current WAL position, so the changes
//   committed after its last read on node1 are never delivered.
// Exit 0 if the behaviour of this version happened as described.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <iostream>
#include <string>
#include <vector>

using teaching::expect;
using teaching::ok;
using teaching::step;

namespace {

// The ids of INSERTs into t in test_decoding output ("table public.t: INSERT: id[integer]:4").
std::vector<int> ids(const std::vector<pgha::Change>& changes) {
  std::vector<int> out;
  const std::string key = "table public.t: INSERT: id[integer]:";
  for (auto& c : changes) {
    std::cout << "  " << c.lsn << "  " << c.data << "\n";
    auto at = c.data.find(key);
    if (at != std::string::npos) out.push_back(std::stoi(c.data.substr(at + key.size())));
  }
  return out;
}

std::string list(const std::vector<int>& v) {
  std::string out;
  for (int i : v) out += (out.empty() ? "" : ",") + std::to_string(i);
  return "{" + out + "}";
}

}  // namespace

int main() try {
  pgha::Options o;
  o.name = "node1";
  o.replication_slots = true;           // node2 streams through a physical slot on node1
  o.settings["wal_level"] = "logical";  // logical decoding (and, on 17+, failover slots)
  pgha::TempPrimary node1(o);
  o.name = "node2";
  pgha::TempStandby node2(node1, o);
  int major = node1.server_version_num() / 10000;
  bool failover_slots = major >= 17;
  step("PostgreSQL " + std::to_string(major) + ": node1 primary, node2 synchronous standby; slot "
       "'cdc' (test_decoding" + (failover_slots ? ", failover = true" : ", no failover slots before 17") + ")");
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  node1.create_logical_slot("cdc", "test_decoding", failover_slots);

  step("the consumer reads rows 1-3 on node1 and remembers the last LSN");
  node1.execute("INSERT INTO t VALUES (1), (2), (3)");
  auto first = node1.read_changes("cdc");
  expect(ids(first) == std::vector<int>{1, 2, 3}, "read rows 1-3");
  std::string last_lsn = first.back().lsn;
  std::cout << "  last LSN processed: " << last_lsn << "\n";
  if (failover_slots) {
    node2.wait_for_slot_sync("cdc");
    std::cout << "  node2's synced copy of 'cdc' caught up\n";
  }

  step("rows 4 and 5 are committed (node2 has them); then node1 goes down, node2 is promoted");
  node1.execute("INSERT INTO t VALUES (4)");
  node1.execute("INSERT INTO t VALUES (5)");
  node1.stop();
  node2.promote();

  step("the consumer reconnects to node2 and asks for slot 'cdc'");
  if (failover_slots) {
    auto after = node2.read_changes("cdc");
    std::vector<int> got = ids(after);
    expect(got == std::vector<int>{4, 5},
           "continued with exactly rows 4 and 5 (got " + list(got) + "): none missing, none repeated");
  } else {
    try {
      node2.read_changes("cdc");
      expect(false, "expected the slot to be missing on node2");
    } catch (const pgha::StateError& e) {
      std::cout << "  " << e.message() << "\n";
      expect(true, "node2 has no slot 'cdc': logical slots do not survive a failover before 17");
    }
    step("the consumer creates the slot again on node2 and reads on");
    node1.rejoin(node2);  // node2's commits wait for a synchronous standby again
    node2.create_logical_slot("cdc", "test_decoding");
    node2.execute("INSERT INTO t VALUES (6)");
    std::vector<int> got = ids(node2.read_changes("cdc"));
    expect(got == std::vector<int>{6},
           "the new slot starts now: it delivers row 6 only (got " + list(got) + "); rows 4 and 5 "
           "were never delivered to the consumer");
  }
  std::cout << (ok ? "\nexample passed\n" : "\nexample FAILED\n");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "cdc_failover failed: " << e.what() << "\n";
  return 1;
}
