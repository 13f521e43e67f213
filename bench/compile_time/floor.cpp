// The floor of bench/compile_time.sh: a Catch2 v2 test file that opens a libpq connection,
// without pgha.
#include <catch2/catch.hpp>
#include <libpq-fe.h>

#include <string>

TEST_CASE("a libpq connection") {
  PGconn* c = PQconnectdb("host=127.0.0.1 dbname=postgres connect_timeout=1");
  std::string status = PQstatus(c) == CONNECTION_OK ? "ok" : PQerrorMessage(c);
  PQfinish(c);
  CHECK(!status.empty());
}
