// tests/errors.cpp: every failure a user can cause throws a pgha::Error subtype whose
// message names the problem.
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <boost/filesystem.hpp>
#include <fstream>

#include "support.hpp"

using namespace std::chrono_literals;
using Catch::Matchers::ContainsSubstring;

TEST_CASE("a bin dir that does not exist, or is not PostgreSQL") {
  pgha::Options o;
  o.bin_dir = "/nonexistent/pg/bin";
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("/nonexistent/pg/bin") && ContainsSubstring("initdb"));
  CHECK_THROWS_AS(pgha::TempPrimary(o), pgha::SetupError);
  o.bin_dir = "/usr/bin";  // has neither postgres nor initdb
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("not a PostgreSQL bin directory"));
}

TEST_CASE("an invalid server setting quotes the server's complaint") {
  pgha::Options o;
  o.settings["shared_buffers"] = "lots";
  try {
    pgha::TempPrimary n(o);
    FAIL("expected a SetupError");
  } catch (const pgha::SetupError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("exited during start-up"));
    CHECK_THAT(e.log_tail(), ContainsSubstring("shared_buffers"));
  }
}

TEST_CASE("a fixed port that is taken") {
  int s = ::socket(AF_INET, SOCK_STREAM, 0);
  sockaddr_in a{};
  a.sin_family = AF_INET;
  a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  REQUIRE(::bind(s, reinterpret_cast<sockaddr*>(&a), sizeof a) == 0);
  socklen_t len = sizeof a;
  ::getsockname(s, reinterpret_cast<sockaddr*>(&a), &len);
  ::listen(s, 1);
  pgha::Options o;
  o.port = ntohs(a.sin_port);
  CHECK_THROWS_AS(pgha::TempPrimary(o), pgha::SetupError);
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("port " + std::to_string(o.port)) && ContainsSubstring("taken"));
  ::close(s);
}

TEST_CASE("calls that do not fit the node's role") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  CHECK_THROWS_WITH(node1.promote(), ContainsSubstring("promote() called on a primary"));
  CHECK_THROWS_AS(node1.promote(), pgha::StateError);
  CHECK_THROWS_AS(node1.rejoin(node2), pgha::StateError);  // node2 is a standby
  CHECK_THROWS_AS(node1.rejoin(node1), pgha::StateError);
  CHECK_THROWS_AS(pgha::FailoverGuard(node2, node1), pgha::StateError);
  node2.stop();
  CHECK_THROWS_AS(node2.promote(), pgha::StateError);
  CHECK_THROWS_AS(node2.execute("SELECT 1"), pgha::StateError);
  CHECK_THROWS_WITH(node1.rejoin(node2), ContainsSubstring("needs a running primary") && ContainsSubstring("stopped"));
  CHECK_THROWS_AS(pgha::TempStandby(pgha::Upstream(node2)), pgha::StateError);
  CHECK(node1.role() == pgha::Role::Primary);  // failed calls changed nothing
}

TEST_CASE("SQL errors carry the SQLSTATE and the statement") {
  pgha::TempPrimary n;
  try {
    n.execute("SELEC 1");
    FAIL("expected a QueryError");
  } catch (const pgha::QueryError& e) {
    CHECK(e.sqlstate() == "42601");
    CHECK_THAT(e.what(), ContainsSubstring("syntax error") && ContainsSubstring("SELEC 1"));
  }
}

TEST_CASE("a statement past its deadline is cancelled with a TimeoutError") {
  pgha::TempPrimary node1;
  node1.execute("CREATE TABLE t (x int)");
  CHECK_THROWS_AS(pgha::Connection(node1.conninfo()).execute("SELECT pg_sleep(5)", 100ms),
                  pgha::TimeoutError);
  CHECK_THROWS_WITH(pgha::Connection(node1.conninfo()).execute("SELECT pg_sleep(5)", 100ms),
                    ContainsSubstring("cancelled") && ContainsSubstring("pg_sleep"));
  // A write cancelled before it committed (blocked on a lock) answers the cancel with an
  // error: it did not take effect, so this is a plain TimeoutError, not an InDoubtError.
  pgha::Connection locker = node1.connect();
  locker.execute("BEGIN; LOCK TABLE t IN ACCESS EXCLUSIVE MODE");
  pgha::Connection c = node1.connect();
  try {
    c.execute("INSERT INTO t VALUES (1)", 300ms);
    FAIL("the insert ran through the lock");
  } catch (const pgha::InDoubtError& e) {
    FAIL("an insert cancelled with an error is not in doubt: " << e.what());
  } catch (const pgha::TimeoutError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("cancelled"));
  }
  locker.execute("COMMIT");
  CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "0");
}

// Issue 20: a commit that timed out in the sync wait said "was cancelled", yet the row had
// committed on the primary. Its outcome is unknown to the client: InDoubtError says so.
TEST_CASE("a commit that times out in the sync wait is an InDoubtError, and it committed locally") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  node2.stop();
  auto in_doubt = [&](pgha::Connection& c, const std::string& sql, const std::string& row) {
    try {
      c.execute(sql, 300ms);
      FAIL("returned without a synchronous standby: " << sql);
    } catch (const pgha::InDoubtError& e) {
      const pgha::ConnectionError& base = e;  // reconnect-on-ConnectionError code still works
      CHECK_THAT(base.what(), ContainsSubstring("outcome unknown") &&
                                  ContainsSubstring("canceling wait for synchronous replication"));
    } catch (const pgha::Error& e) {
      FAIL("expected an InDoubtError, got: " << e.what());
    }
    CHECK(node1.query("SELECT count(*) FROM t WHERE x = " + row).value(0, 0) == "1");
    CHECK_FALSE(c.is_open());  // as after any ConnectionError
  };
  pgha::Connection c1 = node1.connect();
  in_doubt(c1, "INSERT INTO t VALUES (1)", "1");  // autocommit
  pgha::Connection c2 = node1.connect();
  c2.execute("BEGIN");
  c2.execute("INSERT INTO t VALUES (2)");  // inside a block: does not commit, returns
  in_doubt(c2, "COMMIT", "2");
  pgha::Connection c3 = node1.connect();
  in_doubt(c3, "BEGIN; INSERT INTO t VALUES (3); COMMIT", "3");
  // A read that times out is not in doubt: TimeoutError, as before.
  CHECK_THROWS_AS(node1.connect().execute("SELECT pg_sleep(5)", 100ms), pgha::TimeoutError);
}

TEST_CASE("a commit whose session ends in the sync wait is an InDoubtError - a read's is not") {
  pgha::TempPrimary node1;
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  node2.stop();
  pgha::PendingQuery p = node1.execute_async("INSERT INTO t VALUES (1)");
  std::string pid = std::to_string(p.backend_pid());
  node1.wait_until("SELECT wait_event = 'SyncRep' FROM pg_stat_activity WHERE pid = " + pid);
  node1.execute("SELECT pg_terminate_backend(" + pid + ")");
  REQUIRE(p.wait_for(10s));
  try {
    p.get();
    FAIL("a terminated commit returned");
  } catch (const pgha::InDoubtError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("outcome unknown"));
  } catch (const pgha::Error& e) {
    FAIL("expected an InDoubtError, got: " << e.what());
  }
  CHECK(node1.query("SELECT count(*) FROM t").value(0, 0) == "1");  // it had committed
  pgha::PendingQuery read = node1.execute_async("SELECT pg_sleep(60)");
  pid = std::to_string(read.backend_pid());
  node1.wait_until("SELECT wait_event = 'PgSleep' FROM pg_stat_activity WHERE pid = " + pid);
  node1.execute("SELECT pg_terminate_backend(" + pid + ")");
  REQUIRE(read.wait_for(10s));
  try {
    read.get();
    FAIL("a terminated read returned");
  } catch (const pgha::InDoubtError& e) {
    FAIL("a read is never in doubt: " << e.what());
  } catch (const pgha::ConnectionError& e) {
    CHECK(e.sqlstate() == "57P01");
  }
}

TEST_CASE("running as root with no usable unprivileged user") {
  if (::geteuid() != 0)
    PGHA_SKIP("not root: pgha drops privileges (PGHA_RUN_AS) only when run as root, so this "
              "error path cannot be reached as uid " << ::geteuid());
  ::setenv("PGHA_RUN_AS", "pgha-no-such-user", 1);
  CHECK_THROWS_AS(pgha::TempPrimary(), pgha::SetupError);
  CHECK_THROWS_WITH(pgha::TempPrimary(), ContainsSubstring("pgha-no-such-user") && ContainsSubstring("PGHA_RUN_AS"));
  ::setenv("PGHA_RUN_AS", "root", 1);
  CHECK_THROWS_WITH(pgha::TempPrimary(), ContainsSubstring("refuses to run as root"));
  ::unsetenv("PGHA_RUN_AS");
}

namespace {
// A directory with fake `postgres` and `initdb` that report the given version.
std::string fake_bindir(const std::string& version) {
  std::string dir = "/tmp/pgha-fake-bin-" + version;
  boost::filesystem::create_directories(dir);
  for (const char* tool : {"postgres", "initdb"}) {
    std::string path = dir + "/" + tool;
    std::ofstream f(path);
    f << "#!/bin/sh\necho '" << tool << " (PostgreSQL) " << version << "'\n";
    f.close();
    ::chmod(path.c_str(), 0755);
  }
  return dir;
}
}  // namespace

TEST_CASE("binaries too old or too new are refused with the supported range") {
  pgha::Options o;
  o.bin_dir = fake_bindir("10.23");
  CHECK_THROWS_AS(pgha::TempPrimary(o), pgha::SetupError);
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("10.23") && ContainsSubstring("11 to 18"));
  o.bin_dir = fake_bindir("9.6.24");
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("9.6") && ContainsSubstring("11 to 18"));
  o.bin_dir = fake_bindir("19.1");
  CHECK_THROWS_WITH(pgha::TempPrimary(o), ContainsSubstring("19.1") && ContainsSubstring("PGHA_ALLOW_UNTESTED"));
}

TEST_CASE("waiting on a frozen node is a TimeoutError that quotes the log") {
  pgha::Options o;
  // The node's every wait, its start-up too: 500 ms was too short for a start on a machine
  // with a load average of 14 (CI runs three builds beside the suites).
  o.timeout = std::chrono::milliseconds(3000);
  pgha::TempPrimary n(o);
  n.freeze();
  try {
    n.execute("SELECT 1");
    FAIL("a frozen server answered");
  } catch (const pgha::TimeoutError& e) {
    CHECK_THAT(e.what(), ContainsSubstring("3000 ms"));
    CHECK_THAT(e.log_tail(), ContainsSubstring("ready to accept connections"));
  }
  n.thaw();
  CHECK(n.query("SELECT 1").value(0, 0) == "1");
}
