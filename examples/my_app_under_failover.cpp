// examples/my_app_under_failover.cpp: did MY application lose writes in a failover, and how
// long could it not take orders? A small service class (OrderService) with its own retry
// loop stores orders through a multi-host conninfo. A pgha::Workload calls it from three
// client threads while node1 crashes and node2 is promoted: the Workload records what each
// call told its caller (returned: ok; threw OutcomeUnknown: unknown; the service's own
// Rejected: recorded as fail inside the call), and the Verdict compares that with the
// orders node2 holds. The outage is the longest time between two acknowledged orders
// (Verdict::longest_gap), on the same clock as the failover's events, and drawn in the
// timeline. Exit 0 if the verdict is OK and the outage covers the failover.
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
#include <memory>
#include <optional>
#include <stdexcept>
#include <thread>
#include <vector>

using namespace std::chrono_literals;
using teaching::expect;
using teaching::step;

namespace {

// The application's code, as it would be in production.
class OrderService {
public:
  struct Rejected : std::runtime_error { using std::runtime_error::runtime_error; };
  struct OutcomeUnknown : std::runtime_error { using std::runtime_error::runtime_error; };

  explicit OrderService(std::string conninfo) : conninfo_(std::move(conninfo)) {}

  // Stores an order. Retries (reconnecting) only while an attempt provably did not
  // commit: no connection, or a read-only server (a standby, or a primary being demoted).
  // Throws OutcomeUnknown when the connection broke while the INSERT ran, Rejected when
  // the server refused it or the retries ran out.
  void place_order(const std::string& customer, const std::string& order_id) {
    for (int attempt = 0; attempt < 200; ++attempt) {
      try {
        if (!conn_) conn_.emplace(conninfo_, std::chrono::seconds(5), "order service");
      } catch (const pgha::Error&) {
        std::this_thread::sleep_for(20ms);  // retry back-off, not a wait for a condition
        continue;
      }
      try {
        conn_->execute("INSERT INTO orders (customer, order_id) VALUES ($1, $2)", {customer, order_id});
        return;
      } catch (const pgha::QueryError& e) {
        if (e.sqlstate() != "25006") throw Rejected(e.what());  // not read-only: a real refusal
        conn_.reset();  // read-only: nothing was written; reconnect to the new primary
      } catch (const pgha::Error& e) {  // connection lost or timed out mid-statement
        conn_.reset();
        throw OutcomeUnknown(e.what());
      }
    }
    throw Rejected("no writable server after 200 attempts");
  }

private:
  std::string conninfo_;
  std::optional<pgha::Connection> conn_;
};

}  // namespace

int main() try {
  pgha::Timeline timeline;  // every event of the run, and the outage as a "gap" note
  step("node1 primary, node2 synchronous standby (remote_apply); the orders table");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE orders (customer text NOT NULL, order_id text NOT NULL)");
  std::string conninfo = pgha::multi_host_conninfo({&node1, &node2});  // read-write

  step("a pgha::Workload calls the service from 3 client threads");
  std::vector<std::unique_ptr<OrderService>> services;  // one per client thread
  for (int c = 0; c < 3; ++c) services.push_back(std::make_unique<OrderService>(conninfo));
  pgha::Workload w([&](pgha::Op& op, const pgha::Attempt& a) {
    try {
      services[static_cast<std::size_t>(a.client)]->place_order(a.key, a.value);  // returns: ok
    } catch (const OrderService::Rejected& e) {
      op.fail(e.what());  // the service knows it did not commit
    }  // OutcomeUnknown propagates: the Workload records unknown, what() as the note
  }, 3);
  w.start();
  w.wait_for_acknowledged(50, 60s);
  std::cout << "orders acknowledged before the failover: " << w.acknowledged() << "\n";

  step("node1 crashes (SIGKILL); node2 is promoted; node1 rejoins at scope exit");
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  std::size_t after_failover = w.acknowledged();
  w.wait_for_acknowledged(after_failover + 50, 60s);
  std::cout << "the services went on: " << w.acknowledged() - after_failover
            << " more orders acknowledged by node2\n";
  w.stop();

  step("the verdict: what the callers were told vs the orders on node2");
  pgha::Verdict v = w.check(node2, "SELECT customer, order_id FROM orders");
  std::cout << v.summary() << "\n";
  for (const auto& op : w.history().ops())
    if (op.outcome == pgha::Outcome::Unknown)
      std::cout << "unknown: " << op.key << "=" << op.value << ": "
                << op.note.substr(0, op.note.find('\n')) << "\n";
  expect(v.ok(), "no acknowledged order lost, no failed order present");
  expect(v.acknowledged() >= 100, "orders were acknowledged before and after the failover");

  step("the outage: the longest time without an acknowledged order");
  std::cout << "longest gap: " << v.longest_gap().count() << " ms\n";
  auto at = [](std::chrono::nanoseconds t) {  // "+1.234s", as PGHA_LOG stamps events
    char b[32];
    std::snprintf(b, sizeof b, "+%.3fs", static_cast<double>(t.count()) / 1e9);
    return std::string(b);
  };
  for (const pgha::Gap& g : v.gaps(100ms))
    std::cout << "  no order taken from " << at(g.start) << " to " << at(g.end) << " ("
              << std::chrono::duration_cast<std::chrono::milliseconds>(g.length()).count() << " ms)\n";
  std::chrono::nanoseconds crash{0}, promoted{0};
  for (const pgha::Event& e : timeline.events()) {
    auto t = std::chrono::duration_cast<std::chrono::nanoseconds>(e.time - pgha::events_origin());
    if (e.node == "node1" && e.kind == "stop" && crash.count() == 0) crash = t;
    if (e.node == "node2" && e.kind == "failover") promoted = t;
  }
  std::cout << "node1 crashed at " << at(crash) << ", node2 took over at " << at(promoted) << "\n";
  bool covers = false;
  for (const pgha::Gap& g : v.gaps(0ns))
    covers = covers || (g.start < promoted && g.end > crash &&
                        std::chrono::duration_cast<std::chrono::milliseconds>(g.length()) == v.longest_gap());
  expect(covers, "the longest gap spans the crash and the promotion (one clock for both)");

  char path[] = "/tmp/pgha-orders-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd >= 0) ::close(fd);
  w.history().write_jsonl(path);
  std::ifstream in(path);
  std::cout << "history written as JSON lines (" << w.history().events().size() << " events); the first three:\n";
  std::string line;
  for (int i = 0; i < 3 && std::getline(in, line); ++i) std::cout << "  " << line << "\n";
  std::remove(path);
  std::cout << "\nthe timeline, with the outage as a note over workload:\n";
  std::string mermaid = timeline.mermaid();
  std::size_t from = 0;
  for (std::size_t p; (p = mermaid.find('\n', from)) != std::string::npos; from = p + 1) {
    std::string l = mermaid.substr(from, p - from);
    if (l.find("workload") != std::string::npos || l.find("failover") != std::string::npos ||
        l.find("stop") != std::string::npos)
      std::cout << "  " << l << "\n";
  }

  std::cout << (teaching::ok ? "OK" : "FAILED: see above") << "\n";
  return teaching::ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "my_app_under_failover failed: " << e.what() << "\n";
  return 1;
}
