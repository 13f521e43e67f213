// tests/connection.cpp: Connection, Result and PendingQuery against real servers: which
// error a lost session raises, how a statement is cancelled (libpq's cancel request, or a
// SIGINT only to a proven child of pgha's own postmaster), bounded cancels against a
// frozen server, and parameterised statements.
#include <signal.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <fstream>
#include <functional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;
using Access = pgha::detail::ConnectionAccess;

// --- compile-time: no public member takes or gives a libpq type ---
namespace {
template <class T, class = void>
struct has_public_send : std::false_type {};
template <class T>
struct has_public_send<T, std::void_t<decltype(std::declval<T&>().send(std::string()))>>
    : std::true_type {};
template <class T, class = void>
struct has_public_collect : std::false_type {};
template <class T>
struct has_public_collect<T, std::void_t<decltype(std::declval<T&>().collect(
                                 std::string(), pgha::detail::Clock::now(), std::declval<pgha::Result&>()))>>
    : std::true_type {};
template <class T, class = void>
struct has_public_drain : std::false_type {};
template <class T>
struct has_public_drain<T, std::void_t<decltype(std::declval<T&>().drain(std::chrono::milliseconds()))>>
    : std::true_type {};
}  // namespace
static_assert(!std::is_constructible<pgha::Result, PGresult*>::value,
              "Result(PGresult*) must not be public");
static_assert(!std::is_constructible<pgha::Connection, PGconn*>::value,
              "a Connection must not be built from a PGconn*");
static_assert(!has_public_send<pgha::Connection>::value, "Connection::send must not be public");
static_assert(!has_public_collect<pgha::Connection>::value, "Connection::collect must not be public");
static_assert(!has_public_drain<pgha::Connection>::value, "Connection::drain must not be public");

namespace {
// Which pgha error `f` throws. QueryError is caught first: a lost connection must not
// land there.
std::string error_kind(const std::function<void()>& f) {
  try {
    f();
  } catch (const pgha::QueryError& e) {
    return "QueryError " + e.sqlstate();
  } catch (const pgha::ConnectionError& e) {
    return "ConnectionError " + e.sqlstate();
  } catch (const pgha::Error& e) {
    return std::string("other pgha::Error: ") + e.what();
  }
  return "no error";
}

// Waits (on the server's own view) until backend `pid` runs its statement.
void wait_running(pgha::Node& n, int pid) {
  n.wait_until("SELECT count(*) = 1 FROM pg_stat_activity WHERE pid = " + std::to_string(pid) +
               " AND state = 'active'");
}

char proc_state(int pid) {
  std::ifstream f("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  std::getline(f, line);
  auto rp = line.rfind(')');
  return rp == std::string::npos || rp + 2 >= line.size() ? '?' : line[rp + 2];
}

// Freezes the node and waits until its postmaster is really stopped (SIGSTOP is
// delivered asynchronously).
void freeze_and_wait(pgha::Node& n) {
  n.freeze();
  auto deadline = std::chrono::steady_clock::now() + 10s;
  while (proc_state(n.pid()) != 'T') {
    REQUIRE(std::chrono::steady_clock::now() < deadline);
    ::usleep(1000);
  }
}

// A child process of the test that lives until a signal kills it: a decoy for a pid
// that is not a backend.
pid_t start_decoy() {
  pid_t pid = ::fork();
  if (pid == 0) {
    sigset_t none;
    sigemptyset(&none);
    ::sigprocmask(SIG_SETMASK, &none, nullptr);
    ::signal(SIGINT, SIG_DFL);
    ::signal(SIGTERM, SIG_DFL);
    for (;;) ::pause();
  }
  REQUIRE(pid > 0);
  return pid;
}

// Kills the decoy with SIGTERM and returns the signal it died of. Standard signals are
// delivered lowest number first, so a SIGINT sent earlier would be the one reported.
int end_decoy(pid_t pid) {
  ::kill(pid, SIGTERM);
  int st = 0;
  if (::waitpid(pid, &st, 0) != pid) return -1;
  return WIFSIGNALED(st) ? WTERMSIG(st) : 0;
}

// Runs as another effective user for the scope (root only), so that kill() of the
// server's backends fails with EPERM, as it does for any client that is not the server.
struct AsNobody {
  bool switched = false;
  AsNobody() { switched = ::geteuid() == 0 && ::seteuid(65534) == 0; }
  ~AsNobody() { if (switched) (void)::seteuid(0); }
};
}  // namespace

TEST_CASE("a backend terminated mid-statement is a ConnectionError with 57P01, not a QueryError") {
  pgha::TempPrimary node;
  pgha::PendingQuery p(node.connect(), "SELECT pg_sleep(60)");
  int pid = p.backend_pid();
  wait_running(node, pid);
  CHECK(node.query("SELECT pg_terminate_backend(" + std::to_string(pid) + ")").value(0, 0) == "t");
  REQUIRE(p.wait_for(10s));
  CHECK(error_kind([&] { p.get(); }) == "ConnectionError 57P01");
  try {
    p.get();
  } catch (const pgha::ConnectionError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("admin_shutdown") && ContainsSubstring("pg_sleep"));
  }
}

TEST_CASE("a backend terminated while idle: the next statement is a ConnectionError") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  int pid = c.backend_pid();
  node.execute("SELECT pg_terminate_backend(" + std::to_string(pid) + ")");
  node.wait_until("SELECT count(*) = 0 FROM pg_stat_activity WHERE pid = " + std::to_string(pid));
  CHECK(error_kind([&] { c.execute("SELECT 1"); }).rfind("ConnectionError", 0) == 0);
  CHECK_FALSE(c.is_open());
  // The connection stays broken: sending again is a ConnectionError too.
  CHECK(error_kind([&] { c.execute("SELECT 1"); }) == "ConnectionError ");
}

TEST_CASE("a stopped node: open connections and new ones fail with ConnectionError") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  CHECK(c.query("SELECT 1").value(0, 0) == "1");
  node.stop();
  CHECK(error_kind([&] { c.execute("SELECT 1"); }).rfind("ConnectionError", 0) == 0);
  CHECK(error_kind([&] { node.connect(); }) == "ConnectionError ");
}

TEST_CASE("a server-side error stays a QueryError and the connection stays usable") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  CHECK(error_kind([&] { c.execute("SELECT * FROM missing_table"); }) == "QueryError 42P01");
  CHECK(c.is_open());
  CHECK(c.query("SELECT 2").value(0, 0) == "2");
}

TEST_CASE("cancel reaches a backend the process may not signal, through libpq's cancel request") {
  pgha::TempPrimary node;
  pgha::PendingQuery p(node.connect(), "SELECT pg_sleep(60)");  // TCP, no local-postmaster mark
  int pid = p.backend_pid();
  wait_running(node, pid);
  bool delivered = false;
  {
    AsNobody nobody;
    errno = 0;
    INFO("a signal to the backend must be impossible here (run the tests as root or as a user "
         "other than the server's)");
    REQUIRE((::kill(pid, 0) == -1 && errno == EPERM));
    delivered = p.cancel();
  }
  CHECK(delivered);
  REQUIRE(p.wait_for(10s));
  CHECK(error_kind([&] { p.get(); }) == "QueryError 57014");  // canceling statement due to user request
}

TEST_CASE("a pid that is not the connection's backend never gets a SIGINT") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  SECTION("connection without a local-postmaster mark") {}
  SECTION("marked connection whose recorded backend pid is not the postmaster's child") {
    REQUIRE(Access::set_local_postmaster(c, node.pid()));  // the real backend is its child
  }
  pid_t decoy = start_decoy();
  Access::set_backend_pid_for_testing(c, decoy);
  pgha::PendingQuery p(std::move(c), "SELECT pg_sleep(60)");
  wait_running(node, p.backend_pid());
  CHECK(p.cancel());  // delivered through libpq
  REQUIRE(p.wait_for(10s));
  CHECK(error_kind([&] { p.get(); }) == "QueryError 57014");
  CHECK(end_decoy(decoy) == SIGTERM);  // not SIGINT: the decoy was never signalled
}

TEST_CASE("set_local_postmaster arms the SIGINT shortcut only for that postmaster's child") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  CHECK_FALSE(Access::set_local_postmaster(c, static_cast<int>(::getpid())));
  CHECK_FALSE(Access::set_local_postmaster(c, 0));
  REQUIRE(Access::set_local_postmaster(c, node.pid()));
  pgha::PendingQuery p(std::move(c), "SELECT pg_sleep(60)");
  wait_running(node, p.backend_pid());
  // A frozen postmaster cannot answer a libpq cancel request; only the SIGINT, queued
  // until the backend resumes, is delivered at once.
  freeze_and_wait(node);
  bool delivered = p.cancel();
  node.thaw();
  CHECK(delivered);
  REQUIRE(p.wait_for(10s));
  CHECK(error_kind([&] { p.get(); }) == "QueryError 57014");
}

TEST_CASE("cancel against a frozen server returns within a bound and takes effect on thaw") {
  pgha::TempPrimary node;
  pgha::PendingQuery p(node.connect(), "SELECT pg_sleep(60)");
  wait_running(node, p.backend_pid());
  freeze_and_wait(node);
  auto t0 = std::chrono::steady_clock::now();
  bool delivered = p.cancel();
  auto took = std::chrono::steady_clock::now() - t0;
  CHECK(took < 10s);         // hang guard
  CHECK_FALSE(delivered);    // the frozen postmaster cannot have handled it
  node.thaw();
  // The request still in flight is handled once the server runs again.
  REQUIRE(p.wait_for(10s));
  CHECK(error_kind([&] { p.get(); }) == "QueryError 57014");
}

TEST_CASE("a statement timing out on a frozen server: cancel and drain are bounded") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  freeze_and_wait(node);
  auto t0 = std::chrono::steady_clock::now();
  CHECK_THROWS_AS(c.execute("SELECT 1", 300ms), pgha::TimeoutError);
  CHECK(std::chrono::steady_clock::now() - t0 < 10s);  // hang guard
  node.thaw();
  CHECK(node.query("SELECT 1").value(0, 0) == "1");
}

TEST_CASE("parameterised statements round-trip quotes and backslashes") {
  pgha::TempPrimary node;
  pgha::Connection c = node.connect();
  const std::string v = "it's \"quoted\" \\ back\\\\slash \\x27 E'\\n' ''; DROP TABLE t; --\nline 2";
  CHECK(c.query("SELECT $1::text, length($1::text)", {v}).value(0, 0) == v);
  c.execute("CREATE TABLE t (id int, s text)");
  CHECK(c.execute("INSERT INTO t VALUES ($1, $2)", {"1", v}).affected_rows() == 1);
  pgha::Result r = c.query("SELECT id, s FROM t WHERE s = $1", std::vector<std::string>{v});
  REQUIRE(r.rows() == 1);
  CHECK(r.value(0, 1) == v);
  CHECK(c.query("SELECT count(*) FROM t").value(0, 0) == "1");  // nothing was parsed as SQL
  // The deadline and cancel apply as for plain SQL; the connection stays usable.
  CHECK_THROWS_AS(c.execute("SELECT pg_sleep($1::float8)", {"60"}, 300ms), pgha::TimeoutError);
  CHECK(c.query("SELECT $1::int + 1", {"41"}).value(0, 0) == "42");
  CHECK(c.execute("SELECT 3", 5s).value(0, 0) == "3");  // the timeout overload still binds
  CHECK(error_kind([&] { c.execute("SELECT $1::int", {"x"}); }) == "QueryError 22P02");
  CHECK_THROWS_WITH(c.execute("SELECT $1", {std::string("a\0b", 3)}), ContainsSubstring("NUL byte"));
  pgha::PendingQuery p(node.connect(), "SELECT $1::text", {v});
  CHECK(p.get().value(0, 0) == v);
}
