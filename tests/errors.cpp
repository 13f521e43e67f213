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
  pgha::TempStandby node2(node1);
  node1.execute("CREATE TABLE t (x int)");
  node2.stop();
  pgha::Connection c = node1.connect();
  CHECK_THROWS_AS(c.execute("INSERT INTO t VALUES (1)", 300ms), pgha::TimeoutError);
  CHECK_THROWS_WITH(pgha::Connection(node1.conninfo()).execute("SELECT pg_sleep(5)", 100ms),
                    ContainsSubstring("cancelled") && ContainsSubstring("pg_sleep"));
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
