// bench/compile_time.sh: the floor's test file with pgha: a pair, a FailoverGuard, a query.
#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include <string>

#include <pgha/pgha.hpp>

TEST_CASE("a libpq connection") {
  PGconn* c = PQconnectdb("host=127.0.0.1 dbname=postgres connect_timeout=1");
  std::string status = PQstatus(c) == CONNECTION_OK ? "ok" : PQerrorMessage(c);
  PQfinish(c);
  CHECK(!status.empty());
}

TEST_CASE("a pair fails over") {
  pgha::TempPrimary primary;
  pgha::TempStandby standby(primary);
  primary.execute("CREATE TABLE t (id int)");
  {
    pgha::FailoverGuard guard(primary, standby);  // stops the primary, promotes the standby
    standby.execute("INSERT INTO t VALUES (1)");
  }
  pgha::Result r = primary.query("SELECT count(*) FROM t");
  CHECK(r.value(0, 0) == "1");
}
