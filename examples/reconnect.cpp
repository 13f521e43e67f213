// examples/reconnect.cpp: how should an application reconnect across a failover?
// A client keeps inserting through a multi-host libpq conninfo with
// target_session_attrs=read-write while node1 fails over to node2 (FailoverGuard) and
// rejoins. It reconnects on every error and prints what it sees. Question answered: does
// every insert the client saw succeed survive on the new primary? (Exit 0 if yes.)
#include <pgha/pgha.hpp>

#include <atomic>
#include <chrono>
#include <iostream>
#include <mutex>
#include <optional>
#include <sstream>
#include <thread>
#include <vector>

using namespace std::chrono_literals;

namespace {
auto t0 = std::chrono::steady_clock::now();
std::mutex out_mu;

void say(const std::string& text) {
  auto ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - t0);
  std::lock_guard<std::mutex> lock(out_mu);
  std::cout << "[" << ms.count() << " ms] " << text << "\n" << std::flush;
}

struct ClientStats {
  std::mutex mu;
  std::vector<int> acked;  // ids whose INSERT returned success to the client
  std::atomic<int> errors{0}, attempts{0}, reconnects{0};
  std::atomic<int> port{0};  // the server port of the current connection
};

// The application's loop: insert, and on any error drop the connection and reconnect.
void client(const std::string& conninfo, ClientStats& st, std::atomic<bool>& stop) {
  std::optional<pgha::Connection> conn;
  int id = 0;
  while (!stop) {
    try {
      if (!conn) {
        conn.emplace(conninfo, 3s);
        st.port = std::stoi(conn->query("SELECT inet_server_port()").value(0, 0));
        ++st.reconnects;
        say("client: connected to the read-write node on port " + std::to_string(st.port));
      }
      ++id;
      ++st.attempts;
      conn->execute("INSERT INTO events VALUES (" + std::to_string(id) + ")", 3s);
      std::lock_guard<std::mutex> lock(st.mu);
      st.acked.push_back(id);
    } catch (const pgha::Error& e) {
      ++st.errors;
      std::string msg = e.message().substr(0, e.message().find('\n'));
      // InDoubtError: the INSERT got no answer (a lost session, or its deadline passed and
      // the cancel did not end it with an error): it may have committed.
      say("client: " + std::string(dynamic_cast<const pgha::InDoubtError*>(&e) ? "IN DOUBT: "
                                   : dynamic_cast<const pgha::TimeoutError*>(&e) ? "TIMEOUT: "
                                                                                  : "ERROR: ") +
          msg.substr(0, 150) + " -> reconnect");
      conn.reset();
      std::this_thread::sleep_for(100ms);
    }
    std::this_thread::sleep_for(20ms);
  }
}

std::size_t acked_count(ClientStats& st) {
  std::lock_guard<std::mutex> lock(st.mu);
  return st.acked.size();
}

void wait_acked(ClientStats& st, std::size_t n, std::chrono::seconds limit) {
  auto end = std::chrono::steady_clock::now() + limit;
  while (acked_count(st) < n) {
    if (std::chrono::steady_clock::now() > end)
      throw std::runtime_error("the client did not reach " + std::to_string(n) + " acknowledged inserts");
    std::this_thread::sleep_for(50ms);
  }
}
}  // namespace

int main() try {
  say("== node1: primary; node2: synchronous standby (remote_apply)");
  pgha::Options opts;
  opts.name = "node1";
  pgha::TempPrimary node1(opts);
  opts.name = "node2";
  pgha::TempStandby node2(node1, opts);
  node1.execute("CREATE TABLE events (id int PRIMARY KEY)");
  std::string ci = pgha::multi_host_conninfo({&node1, &node2});  // target_session_attrs=read-write
  std::string shown = ci;
  shown.replace(shown.find("password=") + 9, node1.password().size(), "***");
  say("multi-host conninfo: " + shown);
  say("node1 is on port " + std::to_string(node1.port()) + ", node2 on port " + std::to_string(node2.port()));

  ClientStats st;
  std::atomic<bool> stop{false};
  std::thread app(client, ci, std::ref(st), std::ref(stop));
  wait_acked(st, 20, 30s);
  say("== " + std::to_string(acked_count(st)) + " inserts acknowledged; failover: stop node1, promote node2");
  bool ok = true;
  try {
    pgha::FailoverGuard guard(node1, node2);
    say("node2 promoted (" + std::string(pgha::to_string(node2.role())) +
        "); its commits wait for a sync standby until node1 rejoins");
    std::this_thread::sleep_for(1s);
    say("== node1 rejoins as the standby of node2");
    pgha::RejoinMethod how = guard.rejoin();
    say(std::string("node1 rejoined (") + pgha::to_string(how) + "), role " + pgha::to_string(node1.role()));
    std::size_t before = acked_count(st);
    wait_acked(st, before + 20, 30s);
  } catch (...) {
    stop = true;
    app.join();
    throw;
  }
  stop = true;
  app.join();

  std::vector<int> acked;
  { std::lock_guard<std::mutex> lock(st.mu); acked = st.acked; }
  say("== client summary: " + std::to_string(st.attempts) + " attempts, " + std::to_string(acked.size()) +
      " acknowledged, " + std::to_string(st.errors) + " errors, " + std::to_string(st.reconnects) +
      " connections; last on port " + std::to_string(st.port));
  pgha::Result r = node2.query("SELECT count(*), max(id) FROM events");
  say("node2 (new primary)=# SELECT count(*), max(id) FROM events -> " + r.value(0, 0) + " | " + r.value(0, 1));
  int missing = 0;
  for (int id : acked)
    if (node2.query("SELECT count(*) FROM events WHERE id = " + std::to_string(id)).value(0, 0) != "1") {
      say("MISSING on node2: acknowledged id " + std::to_string(id));
      ++missing;
    }
  say("acknowledged inserts missing on the new primary: " + std::to_string(missing));
  if (missing) ok = false;
  if (st.errors == 0) { say("FAIL: the client never saw an error; the failover was not exercised"); ok = false; }
  if (st.port != node2.port()) { say("FAIL: the client did not end up on node2"); ok = false; }
  say(ok ? "OK: the client reconnected to the new primary and lost no acknowledged insert"
         : "FAILED: see above");
  return ok ? 0 : 1;
} catch (const std::exception& e) {
  std::cerr << "reconnect failed: " << e.what() << "\n";
  return 1;
}
