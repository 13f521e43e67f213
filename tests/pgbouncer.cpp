// tests/pgbouncer.cpp: pgha::TempPgBouncer, Debian's real PgBouncer in front of real nodes:
// its life, its admin console, a crash failover and a paused switchover behind a
// Route::Primary endpoint with a Workload's verdict, what transaction pooling does to session
// state, and bad input. SKIPPED with the reason when PgBouncer is not installed.
#include "support.hpp"
#include <pgha/detail/failure_report.hpp>  // failure_logs

#include <sys/stat.h>
#include <signal.h>

#include <libpq-fe.h>

#include <cstdio>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>

using namespace std::chrono_literals;

namespace {

// The library's own lookup decides (PGHA_PGBOUNCER, PATH, /usr/sbin); its message is the
// skip reason.
#define PGBOUNCER_OR_SKIP()                                                                  \
  do {                                                                                       \
    std::string why_missing;                                                                 \
    if (!pgha::TempPgBouncer::available(&why_missing)) PGHA_SKIP(why_missing);               \
  } while (0)

bool bouncer_path_exists(const std::string& path) {
  struct stat st{};
  return ::stat(path.c_str(), &st) == 0;
}

std::string bouncer_server_port(pgha::Connection& c) { return c.query("SELECT inet_server_port()").value(0, 0); }

// Sets an environment variable for one scope.
struct BouncerScopedEnv {
  BouncerScopedEnv(const char* name, const char* value) : name_(name) {
    if (const char* old = std::getenv(name)) old_ = old, had_ = true;
    ::setenv(name, value, 1);
  }
  ~BouncerScopedEnv() {
    if (had_) ::setenv(name_, old_.c_str(), 1);
    else ::unsetenv(name_);
  }
  const char* name_;
  std::string old_;
  bool had_ = false;
};

}  // namespace

TEST_CASE("pgbouncer: in front of a node, its console answers, its events have a lane, and it is gone with the object") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  std::mutex m;
  std::vector<pgha::Event> events;
  pgha::set_log_sink([&](const pgha::Event& e) {
    std::lock_guard<std::mutex> l(m);
    events.push_back(e);
  });
  pid_t pid = 0;
  std::string log, name;
  {
    pgha::TempPgBouncer b(node1);
    pid = b.pid();
    log = b.log_file();
    name = b.name();
    CHECK(b.host() == "127.0.0.1");
    CHECK(b.port() != node1.port());
    CHECK(b.mode() == pgha::PoolMode::Session);
    CHECK_THAT(b.version(), Catch::Matchers::Matches("[0-9]+\\.[0-9]+.*"));
    pgha::Connection c(b.conninfo());
    CHECK(bouncer_server_port(c) == std::to_string(node1.port()));  // through the pooler to node1
    pgha::Result pools = b.show("pools");
    bool postgres_pool = false;
    for (int r = 0; r < pools.rows(); ++r) postgres_pool |= pools.value(r, 0) == "postgres";
    CHECK(postgres_pool);
    // The failure report lists it with its log, beside the nodes.
    bool listed = false;
    for (const auto& n : pgha::detail::live_nodes().snapshot()) listed |= n.name == name && n.log_file == log;
    CHECK(listed);
    auto& logs = pgha::detail::failure_logs();
    logs.begin_test();
    std::string report = logs.end_test(true);  // what a failed test prints
    INFO(report);
    CHECK(report.find(name) != std::string::npos);
    CHECK(report.find("process up: PgBouncer " + b.version()) != std::string::npos);  // its log tail
    CHECK(report.find(node1.name()) != std::string::npos);
    b.reconnect();
    CHECK(bouncer_server_port(c) == std::to_string(node1.port()));
    CHECK(::kill(pid, 0) == 0);
    CHECK(bouncer_path_exists(log));
  }
  pgha::set_log_sink(nullptr);
  CHECK(::kill(pid, 0) != 0);  // reaped: no such process
  CHECK_FALSE(bouncer_path_exists(log));
  std::vector<std::string> kinds;
  for (const auto& e : events)
    if (e.node == name) kinds.push_back(e.kind);
  CHECK(kinds == std::vector<std::string>{"start", "reconnect", "destroy"});
}

TEST_CASE("pgbouncer: bad input is an error at once") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  pgha::PgBouncerOptions zero;
  zero.pool_size = 0;
  CHECK_THROWS_AS(pgha::TempPgBouncer(node1, pgha::PoolMode::Session, zero), pgha::UsageError);
  pgha::PgBouncerOptions owned;
  owned.settings["listen_port"] = "6432";
  CHECK_THROWS_WITH(pgha::TempPgBouncer(node1, pgha::PoolMode::Session, owned),
                    Catch::Matchers::ContainsSubstring("pgha sets listen_port itself"));
  pgha::PgBouncerOptions newline;
  newline.settings["server_check_delay"] = "0\nlisten_port = 1";
  CHECK_THROWS_AS(pgha::TempPgBouncer(node1, pgha::PoolMode::Session, newline), pgha::UsageError);
  {
    BouncerScopedEnv env("PGHA_PGBOUNCER", "/nonexistent/pgbouncer");
    CHECK_THROWS_AS(pgha::TempPgBouncer(node1), pgha::SetupError);
  }
  {
    pgha::TempPgBouncer b(node1);
    CHECK_THROWS_AS(b.show("pools; SHUTDOWN"), pgha::UsageError);
    node1.stop();
    CHECK_THROWS_WITH(b.point_to(node1), Catch::Matchers::ContainsSubstring("is not running"));
  }
  CHECK_THROWS_AS(pgha::TempPgBouncer(node1), pgha::StateError);
}

TEST_CASE("pgbouncer: behind Route::Primary a crash failover fails the old session's next statement - new clients reach the new primary - nothing acknowledged is lost") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint ep({&node1, &node2}, pgha::Route::Primary);
  pgha::PgBouncerOptions opts;
  opts.settings["server_check_delay"] = "0";
  // A login that failed (the endpoint had no primary for a moment) otherwise makes the pool
  // turn every client away for 15 s ("server login has been failing, try again later").
  opts.settings["server_login_retry"] = "0";
  pgha::TempPgBouncer b(ep, pgha::PoolMode::Session, opts);
  pgha::Connection old_session(b.conninfo());
  CHECK(bouncer_server_port(old_session) == std::to_string(node1.port()));
  pgha::Workload w(b.conninfo(), 4);
  w.start();
  w.wait_for_acknowledged(50);
  {
    pgha::FailoverGuard g(node1, node2, pgha::StopMode::Crash);
    // The server connection this session had went down with node1: its next statement fails.
    CHECK_THROWS_AS(old_session.query("SELECT 1"), pgha::ConnectionError);
    // While its last server login failed (the Workload's clients logged in during the
    // failover, when the endpoint had no primary), PgBouncer turns new clients away until a
    // login works again: a new client retries, as a service's pool would.
    std::optional<pgha::Connection> reached;
    std::string why;
    const auto deadline = std::chrono::steady_clock::now() + 10s;
    while (!reached && std::chrono::steady_clock::now() < deadline) {
      try {
        pgha::Connection c(b.conninfo());
        c.query("SELECT 1");
        reached.emplace(std::move(c));
      } catch (const pgha::ConnectionError& e) {
        why = e.what();
        std::this_thread::sleep_for(10ms);
      }
    }
    INFO(why);
    REQUIRE(reached);
    pgha::Connection& fresh = *reached;
    CHECK(bouncer_server_port(fresh) == std::to_string(node2.port()));
    CHECK(fresh.query("SELECT pg_is_in_recovery()").value(0, 0) == "f");
  }  // node1 rejoins as node2's synchronous standby: commits on node2 complete again
  std::size_t before = w.acknowledged();
  w.wait_for_acknowledged(before + 50);  // the clients write through the pooler to node2
  w.stop();
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.lost().empty());
}

TEST_CASE("pgbouncer: pause, switchover, resume: a transaction-pooled Workload sees no failed operation and one gap spanning the switchover") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  pgha::Endpoint ep({&node1, &node2}, pgha::Route::Primary);
  pgha::TempPgBouncer b(ep, pgha::PoolMode::Transaction);
  pgha::Workload w(b.conninfo(), 2);
  w.start();
  w.wait_for_acknowledged(30);
  b.pause();  // the transactions in flight finish; the next ones wait in the pooler
  CHECK(b.show("servers").rows() == 0);
  std::size_t before = w.acknowledged();
  // After the pause (and the console's answer): no acknowledgement can arrive until resume.
  const std::chrono::nanoseconds paused_at = w.history().now();
  { pgha::FailoverGuard g(node1, node2, pgha::StopMode::Fast); }  // node2 primary, node1 its standby
  const std::chrono::nanoseconds resuming_at = w.history().now();
  b.resume();
  w.wait_for_acknowledged(before + 30);
  CHECK(w.history().count(pgha::Outcome::Fail) == 0);
  CHECK(w.history().count(pgha::Outcome::Unknown) == 0);
  w.stop();
  pgha::Verdict v = w.check(node2);
  INFO(v.summary());
  CHECK(v.ok());
  CHECK(v.lost().empty());
  // The outage is the switchover: one gap between acknowledged writes spans the switchover
  // inside the pause (nothing is acknowledged while PgBouncer holds the queries), and it is
  // the longest.
  std::vector<pgha::Gap> spanning;
  for (const pgha::Gap& g : v.gaps(std::chrono::milliseconds(0)))
    if (g.start <= paused_at && g.end >= resuming_at) spanning.push_back(g);
  REQUIRE(spanning.size() == 1);
  CHECK(v.longest_gap() == std::chrono::duration_cast<std::chrono::milliseconds>(spanning[0].end - spanning[0].start));
}

TEST_CASE("pgbouncer: transaction pooling does not keep session state: a SET and a PREPARE go with the server connection") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  pgha::TempPgBouncer b(node1, pgha::PoolMode::Transaction);
  CHECK(b.mode() == pgha::PoolMode::Transaction);
  pgha::Connection a(b.conninfo()), other(b.conninfo());
  // Server connections are opened when needed: a's SET opens the first one and leaves its
  // setting on it; `other` then holds that (idle) connection in a transaction, so a's next
  // statement gets a second server connection, without the setting.
  a.query("SET work_mem = '1234kB'");
  other.query("BEGIN");
  CHECK(other.query("SHOW work_mem").value(0, 0) == "1234kB");  // a's setting, seen by another client
  CHECK(a.query("SHOW work_mem").value(0, 0) != "1234kB");       // and not by a
  other.query("COMMIT");
  // PgBouncer reuses the most recently released server connection first: `other` takes the
  // one a's PREPARE ran on, and a's EXECUTE runs on the other one, where it does not exist.
  a.query("PREPARE pgha_q AS SELECT 1");
  other.query("BEGIN");
  other.query("SELECT 1");
  try {
    a.query("EXECUTE pgha_q");
    FAIL("EXECUTE found the statement prepared on another server connection");
  } catch (const pgha::QueryError& e) {
    CHECK(e.sqlstate() == "26000");  // invalid_sql_statement_name
  }
  other.query("COMMIT");
}

TEST_CASE("pgbouncer: a protocol-level named prepared statement under transaction pooling does what the PgBouncer version documents") {
  PGBOUNCER_OR_SKIP();
  pgha::TempPrimary node1;
  pgha::PgBouncerOptions opts;
  int major = 0, minor = 0;
  {
    pgha::TempPgBouncer probe(node1);
    REQUIRE(std::sscanf(probe.version().c_str(), "%d.%d", &major, &minor) == 2);
  }
  // PgBouncer 1.21 tracks protocol-level prepared statements in transaction pooling when
  // max_prepared_statements > 0; before, a statement prepared on one server connection is
  // unknown on the next.
  const bool tracked = major > 1 || minor >= 21;
  if (tracked) opts.settings["max_prepared_statements"] = "100";
  pgha::TempPgBouncer b(node1, pgha::PoolMode::Transaction, opts);
  std::unique_ptr<PGconn, decltype(&PQfinish)> a(PQconnectdb(b.conninfo().c_str()), PQfinish);
  std::unique_ptr<PGconn, decltype(&PQfinish)> other(PQconnectdb(b.conninfo().c_str()), PQfinish);
  REQUIRE(PQstatus(a.get()) == CONNECTION_OK);
  REQUIRE(PQstatus(other.get()) == CONNECTION_OK);
  using Res = std::unique_ptr<PGresult, decltype(&PQclear)>;
  Res prep(PQprepare(a.get(), "pgha_s1", "SELECT 41 + 1", 0, nullptr), PQclear);
  REQUIRE(PQresultStatus(prep.get()) == PGRES_COMMAND_OK);
  Res begin(PQexec(other.get(), "BEGIN"), PQclear);  // takes the server connection a prepared on
  REQUIRE(PQresultStatus(begin.get()) == PGRES_COMMAND_OK);
  Res run(PQexecPrepared(a.get(), "pgha_s1", 0, nullptr, nullptr, nullptr, 0), PQclear);
  INFO("PgBouncer " << b.version() << ": " << PQresultErrorMessage(run.get()));
  if (tracked) {
    CHECK(PQresultStatus(run.get()) == PGRES_TUPLES_OK);
  } else {
    REQUIRE(PQresultStatus(run.get()) == PGRES_FATAL_ERROR);
    const char* code = PQresultErrorField(run.get(), PG_DIAG_SQLSTATE);
    CHECK(std::string(code ? code : "") == "26000");
  }
  Res commit(PQexec(other.get(), "COMMIT"), PQclear);
}
