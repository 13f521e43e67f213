// tests/unit_vocabulary.cpp: what a caller gets for calls pgha cannot accept as made
// (pgha::UsageError), and the small vocabulary of calls that must compile as written.
// No server.
#include <pgha/pgha.hpp>

#include <chrono>
#include <sstream>
#include <string>

#include "catch.hpp"

using Catch::Matchers::ContainsSubstring;

TEST_CASE("usage: History::check({}) compiles and checks an empty final state") {
  pgha::History h;
  CHECK(h.check({}).ok());
  CHECK(h.check({}).rows() == 0);
  h.invoke("k0", "1").ok();
  CHECK(h.check({}).lost().size() == 1);
  CHECK(h.check({{"k0", "1"}}).ok());
  CHECK(h.check({{"k0", "1"}, {"k0", "2"}}).phantom().size() == 1);
}

TEST_CASE("usage: a conninfo libpq cannot parse is a UsageError quoting libpq, at once") {
  // Before: a ConnectionError "could not connect to ::" after a connection attempt.
  CHECK_THROWS_AS(pgha::Connection("garbage"), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::Connection("garbage"),
                    ContainsSubstring("missing \"=\" after \"garbage\"") &&
                        ContainsSubstring("conninfo"));
  CHECK_THROWS_WITH(pgha::Connection("host=127.0.0.1 port=5432 nosuchkey=1"),
                    ContainsSubstring("invalid connection option \"nosuchkey\""));
  CHECK_THROWS_AS(pgha::Connection("postgresql://[::1"), pgha::UsageError);
  // A password in the string is not repeated in the message.
  CHECK_THROWS_WITH(pgha::Connection("password=s3cret bogus"), !ContainsSubstring("s3cret"));
}
