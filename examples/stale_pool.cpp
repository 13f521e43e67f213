// examples/stale_pool.cpp: what happens to a connection pool across a failover? A pool
// of connections to node1; node1 is stopped cleanly, node2 promoted and node1 rejoins as
// node2's standby (accepting connections again, at the same address). Pooled connections
// are dead, and a fresh connection to the old address lands on a read-only standby
// (SQLSTATE 25006). How does the application detect it (pg_is_in_recovery(), 25006), and
// recover (reopen against the node that is now primary)? Exit 0 if all of that happened.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <chrono>
#include <iostream>
#include <optional>
#include <vector>

using teaching::expect;
using teaching::ok;
using teaching::step;

namespace {

std::string first_line(const std::string& s) { return s.substr(0, s.find('\n')); }

// Runs an insert; returns "" on success, else "<sqlstate>: message" for a refused statement
// or "connection[ <sqlstate>]: message" for a lost session.
std::string try_insert(pgha::Connection& c, int id) {
  try {
    c.execute("INSERT INTO t VALUES (" + std::to_string(id) + ")");
    return "";
  } catch (const pgha::QueryError& e) {  // the server refused it: the connection lives on
    return e.sqlstate() + ": " + first_line(e.message());
  } catch (const pgha::ConnectionError& e) {  // the session is gone: reopen
    return "connection" + (e.sqlstate().empty() ? std::string() : " " + e.sqlstate()) + ": " +
           first_line(e.message());
  }
}

// Opens a connection to whichever of `nodes` is a primary right now (detection by
// pg_is_in_recovery(), as a pool's health check would do it).
pgha::Connection open_primary(const std::vector<pgha::Node*>& nodes) {
  for (pgha::Node* n : nodes) {
    try {
      pgha::Connection c(n->conninfo(), std::chrono::seconds(5));
      std::string rec = c.query("SELECT pg_is_in_recovery()").value(0, 0);
      std::cout << "  probe " << n->name() << " (port " << n->port() << "): pg_is_in_recovery() = " << rec << "\n";
      if (rec == "f") return c;
    } catch (const pgha::Error& e) {
      std::cout << "  probe " << n->name() << ": " << first_line(e.message()) << "\n";
    }
  }
  throw std::runtime_error("no primary among the nodes");
}
}  // namespace

int main() try {
  const int N = 4;
  step("node1: primary; node2: synchronous standby; a pool of " + std::to_string(N) + " connections to node1");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE t (id int PRIMARY KEY)");
  std::vector<pgha::Connection> pool;
  for (int i = 0; i < N; ++i) pool.emplace_back(node1.conninfo());
  for (int i = 0; i < N; ++i) {
    std::string err = try_insert(pool[i], i + 1);
    std::cout << "pool[" << i << "] (backend pid " << pool[i].backend_pid() << ") INSERT -> "
              << (err.empty() ? "INSERT 0 1" : err) << "\n";
    expect(err.empty(), "pool[" + std::to_string(i) + "] works before the failover");
  }

  step("failover: stop node1 (fast), promote node2, node1 rejoins as node2's standby");
  node1.stop();
  node2.promote();
  pgha::RejoinMethod how = node1.rejoin(node2);
  std::cout << "node1: " << pgha::to_string(node1.role()) << " (rejoined: " << pgha::to_string(how)
            << "), still on port " << node1.port() << "; node2: " << pgha::to_string(node2.role()) << "\n";

  step("the stale pool: every pooled connection to node1 is dead");
  for (int i = 0; i < N; ++i) {
    std::string err = try_insert(pool[i], 100 + i);
    std::cout << "pool[" << i << "] INSERT -> " << (err.empty() ? "INSERT 0 1 (unexpected)" : err) << "\n";
    expect(!err.empty(), "pool[" + std::to_string(i) + "] fails");
  }

  step("a fresh connection to the old address connects fine, but node1 is now a standby");
  pgha::Connection fresh(node1.conninfo());
  std::string err = try_insert(fresh, 200);
  std::cout << "fresh INSERT -> " << (err.empty() ? "INSERT 0 1 (unexpected)" : err) << "\n";
  expect(err.compare(0, 5, "25006") == 0, "the write is refused with SQLSTATE 25006 (read-only transaction)");
  std::string rec = fresh.query("SELECT pg_is_in_recovery()").value(0, 0);
  std::cout << "fresh=# SELECT pg_is_in_recovery() -> " << rec << "\n";
  expect(rec == "t", "detection: pg_is_in_recovery() is true on the old address");

  step("recovery: rebuild the pool against whichever node is primary now");
  pool.clear();
  for (int i = 0; i < N; ++i) pool.push_back(open_primary({&node1, &node2}));
  for (int i = 0; i < N; ++i) {
    std::string e = try_insert(pool[i], 300 + i);
    std::cout << "pool[" << i << "] INSERT -> " << (e.empty() ? "INSERT 0 1" : e) << "\n";
    expect(e.empty(), "pool[" + std::to_string(i) + "] works against node2");
  }
  std::cout << "node2=# SELECT count(*) FROM t -> " << node2.query("SELECT count(*) FROM t").value(0, 0) << "\n";
  node2.wait_for_catchup(node1);
  std::cout << "node1=# SELECT count(*) FROM t -> " << node1.query("SELECT count(*) FROM t").value(0, 0) << "\n";

  step(ok ? "OK" : "FAILED: see above");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "stale_pool failed: " << e.what() << "\n";
  return 1;
}
