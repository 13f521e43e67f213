// examples/vip_failover.cpp: an application writes through a stable address (a virtual IP,
// a proxy): pgha::Endpoint. The primary fails over and the address moves to the new
// primary, three ways (pgha::Switch). What does the app see, and how long until its next
// write succeeds, with libpq's connect_timeout and a 2 s statement deadline of its own?
//   Reset     (a proxy restart):           the next statement fails at once; reconnect.
//   Blackhole (a VIP moved off a dead host): the statement hangs until the app's own deadline.
//   Either way the INSERT (it commits on its own) gets no answer: pgha::InDoubtError, its
//   outcome is unknown.
//   Keep      (a VIP moved, old primary alive): the open connection keeps writing to the OLD
//             primary while new connections write to the new one: split brain in one app.
// Exit 0 if all of that happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>
#include <memory>

using teaching::expect;
using teaching::step;
using namespace std::chrono_literals;

namespace {

using Clock = std::chrono::steady_clock;
long ms_since(Clock::time_point t) {
  return static_cast<long>(std::chrono::duration_cast<std::chrono::milliseconds>(Clock::now() - t).count());
}
std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// The app's write: "" on success, else what the driver reported.
std::string write(pgha::Connection& c, int id) {
  try {
    c.execute("INSERT INTO orders VALUES (" + std::to_string(id) + ", current_setting('cluster_name'))");
    return "";
  } catch (const pgha::InDoubtError& e) {  // a ConnectionError: the app reconnects
    return "InDoubtError: " + first_line(e.message());
  } catch (const pgha::TimeoutError& e) {
    return "TimeoutError: " + first_line(e.message());
  } catch (const pgha::Error& e) {
    return "ConnectionError: " + first_line(e.message());
  }
}

std::string rows(pgha::Node& n) {
  return n.query("SELECT coalesce(string_agg(id::text, ',' ORDER BY id), '-') FROM orders").value(0, 0);
}

void scenario(pgha::Switch mode) {
  step(std::string("Switch::") + pgha::enum_name(mode) + ": node1 primary, node2 standby, the app writes through an Endpoint");
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE orders (id int, node text)");
  pgha::Endpoint db(node1);
  // synchronous_commit=local: after the failover nobody confirms for the new primary yet.
  const std::string ci = db.conninfo() + " connect_timeout=2 options='-c synchronous_commit=local'";
  const auto deadline = 2s;  // the app's own statement deadline
  auto app = std::make_unique<pgha::Connection>(ci, deadline);
  expect(write(*app, 1).empty(), "write 1 through the endpoint succeeds");
  node1.wait_for_catchup(node2);  // committed locally only: make sure node2 has it too

  if (mode == pgha::Switch::Keep) {
    std::cout << "  node1 stays up (a false failover: it only looked dead); node2 is promoted\n";
  } else {
    std::cout << "  node1's host hangs (frozen: no FIN, no RST, nothing); node2 is promoted\n";
    node1.freeze();
  }
  node2.promote();
  db.point_to(node2, mode);
  std::cout << "  endpoint moved to node2 with Switch::" << pgha::enum_name(mode)
            << "; open connections: " << db.connections() << "\n";

  const auto t0 = Clock::now();
  std::string err = write(*app, 2);
  std::cout << "  write 2 on the open connection after " << ms_since(t0) << " ms: "
            << (err.empty() ? "committed" : err) << "\n";
  if (mode == pgha::Switch::Reset)
    expect(err.rfind("InDoubtError", 0) == 0,
           "Reset: the open connection fails at once, the INSERT's outcome unknown");
  // pgha::Connection then sends a cancel (through the endpoint, to node2, which ignores
  // it) and gives the statement 2 s more to end before closing: about 4 s in all.
  if (mode == pgha::Switch::Blackhole)
    expect(err.rfind("InDoubtError", 0) == 0 && ms_since(t0) >= 2000,
           "Blackhole: the statement hangs until the app's own 2 s deadline, its outcome unknown");
  if (mode == pgha::Switch::Keep) {
    expect(err.empty(), "Keep: the open connection still commits - on the OLD primary");
  } else {
    app = std::make_unique<pgha::Connection>(ci, deadline);  // the app reconnects
    err = write(*app, 2);
    std::cout << "  reconnected and wrote 2 " << ms_since(t0) << " ms after the switch\n";
    expect(err.empty(), "after reconnecting, write 2 lands on node2");
  }
  pgha::Connection fresh(ci, deadline);
  expect(write(fresh, 3).empty(), "a new connection writes 3 to node2");
  std::cout << "  node2 has orders " << rows(node2) << "\n";
  if (mode == pgha::Switch::Keep) {
    std::cout << "  node1 has orders " << rows(node1) << "   <- two primaries took writes\n";
    expect(rows(node1) == "1,2" && rows(node2) == "1,3", "Keep: the writes are split between both primaries");
  } else {
    expect(rows(node2) == "1,2,3", "node2 has every write");
  }
}

}  // namespace

int main() {
  try {
    scenario(pgha::Switch::Reset);
    scenario(pgha::Switch::Blackhole);
    scenario(pgha::Switch::Keep);
  } catch (const pgha::Error& e) {
    std::cout << "error: " << e.what() << "\n" << e.log_tail() << "\n";
    return 1;
  }
  std::cout << (teaching::ok ? "\nall expectations met\n" : "\nSOME EXPECTATIONS FAILED\n");
  return teaching::ok ? 0 : 1;
}
