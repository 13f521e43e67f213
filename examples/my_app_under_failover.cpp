// examples/my_app_under_failover.cpp: did MY application lose writes in a failover? A small
// service class (OrderService) with its own retry loop stores orders through a multi-host
// conninfo. Three threads call it while node1 crashes and node2 is promoted. Each call is
// recorded in a pgha::History with what the service told its caller (ok / failed /
// unknown), and the Verdict compares that with the orders node2 holds. The history is also
// written as JSON lines. Exit 0 if the verdict is OK (nothing acknowledged lost, nothing
// reported failed present).
#include <pgha/pgha.hpp>

#include "teaching.hpp"

#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <fstream>
#include <iostream>
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
  step("node1 primary, node2 synchronous standby (remote_apply); the orders table");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE orders (customer text NOT NULL, order_id text NOT NULL)");
  std::string conninfo = pgha::multi_host_conninfo({&node1, &node2});  // read-write

  step("3 threads place orders; every call is recorded in a pgha::History");
  pgha::History history;
  std::atomic<bool> stop{false};
  std::vector<std::thread> threads;
  struct Joiner {  // stops and joins the threads on every way out of main
    std::atomic<bool>& stop;
    std::vector<std::thread>& threads;
    ~Joiner() {
      stop = true;
      for (auto& t : threads)
        if (t.joinable()) t.join();
    }
  } joiner{stop, threads};
  for (int t = 0; t < 3; ++t)
    threads.emplace_back([&, t] {
      OrderService service(conninfo);
      const std::string customer = "customer" + std::to_string(t);
      for (int i = 0; !stop; ++i) {
        const std::string order_id = std::to_string(t) + "-" + std::to_string(i);
        pgha::Op op = history.invoke(customer, order_id);  // the five-line pattern
        try {
          service.place_order(customer, order_id);
          op.ok();
        } catch (const OrderService::Rejected& e) {
          op.fail(e.what());
        } catch (const OrderService::OutcomeUnknown& e) {
          op.unknown(e.what());
        }
      }
    });
  auto wait_for_ok = [&](std::size_t n) {  // polls the history's count, 60 s at most
    auto deadline = std::chrono::steady_clock::now() + 60s;
    while (history.count(pgha::Outcome::Ok) < n) {
      if (std::chrono::steady_clock::now() > deadline)
        throw std::runtime_error("only " + std::to_string(history.count(pgha::Outcome::Ok)) +
                                 " orders acknowledged after 60 s; expected " + std::to_string(n));
      std::this_thread::sleep_for(1ms);
    }
  };
  wait_for_ok(50);
  std::cout << "orders acknowledged before the failover: " << history.count(pgha::Outcome::Ok) << "\n";

  step("node1 crashes (SIGKILL); node2 is promoted; node1 rejoins at scope exit");
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
  }
  std::size_t after_failover = history.count(pgha::Outcome::Ok);
  wait_for_ok(after_failover + 50);
  std::cout << "the services went on: " << history.count(pgha::Outcome::Ok) - after_failover
            << " more orders acknowledged by node2\n";
  stop = true;
  for (auto& t : threads) t.join();

  step("the verdict: what the callers were told vs the orders on node2");
  pgha::Verdict v = history.check(node2.query("SELECT customer, order_id FROM orders"));
  std::cout << v.summary() << "\n";
  for (const auto& op : history.ops())
    if (op.outcome == pgha::Outcome::Unknown)
      std::cout << "unknown: " << op.key << "=" << op.value << ": "
                << op.note.substr(0, op.note.find('\n')) << "\n";
  expect(v.ok(), "no acknowledged order lost, no failed order present");
  expect(v.acknowledged() >= 100, "orders were acknowledged before and after the failover");

  char path[] = "/tmp/pgha-orders-XXXXXX";
  int fd = ::mkstemp(path);
  if (fd >= 0) ::close(fd);
  history.write_jsonl(path);
  std::ifstream in(path);
  std::cout << "history written as JSON lines (" << history.events().size() << " events); the first three:\n";
  std::string line;
  for (int i = 0; i < 3 && std::getline(in, line); ++i) std::cout << "  " << line << "\n";
  std::remove(path);

  std::cout << (teaching::ok ? "OK" : "FAILED: see above") << "\n";
  return teaching::ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "my_app_under_failover failed: " << e.what() << "\n";
  return 1;
}
