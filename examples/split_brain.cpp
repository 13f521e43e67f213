// examples/split_brain.cpp: a network partition between a primary and its standby. The
// standby is promoted on its side (a failover manager that could not see node1), so two
// primaries accept writes: the app keeps writing to node1 through a Route::Primary endpoint
// (its proxy sits on node1's side), another client writes to node2 directly. When the network
// heals, node1 rejoins node2 as a standby, and everything node1 accepted during the split is
// discarded: acknowledged writes are lost. Prints both sides' rows at each step.
// Exit 0 if all of that happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <iostream>

using teaching::expect;
using teaching::step;

namespace {

std::string rows(pgha::Node& n) {
  return n.query("SELECT coalesce(string_agg(item, ', ' ORDER BY item), '-') FROM orders").value(0, 0);
}
void show(pgha::Node& node1, pgha::Node& node2) {
  std::cout << "  node1 (" << pgha::enum_name(node1.role()) << "): " << rows(node1) << "\n"
            << "  node2 (" << pgha::enum_name(node2.role()) << "): " << rows(node2) << "\n";
}

}  // namespace

int main() {
  try {
    step("node1 primary, node2 its synchronous standby; the app writes through Route::Primary");
    pgha::TempPrimary node1;
    pgha::TempStandby node2(node1);
    node1.execute("CREATE TABLE orders (item text)");
    pgha::Endpoint rw({&node1, &node2}, pgha::Route::Primary);
    // Asynchronous commits (synchronous_commit=local), the setting that makes a split brain
    // possible: with a sync standby out of reach, a synchronous commit would just wait.
    const std::string ci = rw.conninfo() + " options='-c synchronous_commit=local'";
    pgha::Connection app(ci);
    app.execute("INSERT INTO orders VALUES ('a: before the split')");
    node1.wait_for_catchup(node2);
    show(node1, node2);

    {
      step("Partition({&node1}, {&node2}): the replication link is cut both ways");
      pgha::Partition p({&node1}, {&node2});
      std::cout << "  links cut: " << p.links_cut() << "\n";
      step("node2's side promotes it: two primaries");
      node2.promote();
      expect(node1.role() == pgha::Role::Primary && node2.role() == pgha::Role::Primary,
             "both nodes are primaries");
      step("writes on both sides");
      app.execute("INSERT INTO orders VALUES ('b: app via the endpoint, during the split')");
      pgha::Connection direct(node2.conninfo() + " options='-c synchronous_commit=local'");
      direct.execute("INSERT INTO orders VALUES ('c: client on node2, during the split')");
      expect(std::stoi(app.query("SELECT inet_server_port()").value(0, 0)) == node1.port(),
             "the endpoint still sends the app to node1 (node2 is on the far side)");
      show(node1, node2);
      expect(rows(node1) != rows(node2), "the two primaries disagree");
      step("the network heals (scope exit)");
    }
    show(node1, node2);

    step("node1.rejoin(node2): node1 is stopped, rewound or re-cloned, and follows node2");
    pgha::RejoinMethod m = node1.rejoin(node2);
    std::cout << "  rejoin method: " << pgha::enum_name(m) << "\n";
    expect(m != pgha::RejoinMethod::Resumed, "node1 had diverged: it could not simply resume");
    show(node1, node2);
    expect(rows(node1) == "a: before the split, c: client on node2, during the split",
           "node1's split-brain write (b) is gone; node2's (c) is there");
    pgha::Connection again(ci);
    expect(std::stoi(again.query("SELECT inet_server_port()").value(0, 0)) == node2.port(),
           "the endpoint now sends the app to node2, the only primary");
  } catch (const pgha::Error& e) {
    std::cout << "error: " << e.what() << "\n" << e.log_tail() << "\n";
    return 1;
  }
  std::cout << (teaching::ok ? "\nall expectations met\n" : "\nSOME EXPECTATIONS FAILED\n");
  return teaching::ok ? 0 : 1;
}
