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

TEST_CASE("usage: Workload arguments it cannot run with are a UsageError, at once") {
  using namespace std::chrono_literals;
  const std::string ci = "host=127.0.0.1 port=1 user=postgres";
  CHECK_THROWS_AS(pgha::Workload(ci, 0), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Workload(ci, -3), pgha::UsageError);
  CHECK_THROWS_AS(pgha::Workload(ci, 1001), pgha::UsageError);
  CHECK_THROWS_WITH(pgha::Workload(ci, 0), ContainsSubstring("0 clients") && ContainsSubstring("expected 1 to 1000"));
  auto with = [&](auto change) {
    pgha::WorkloadOptions o;
    change(o);
    return [ci, o] { pgha::Workload w(ci, 1, o); };
  };
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.keys = 0; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.table = "Orders"; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.connect_timeout = -1ms; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.connect_timeout = 0ms; })(), pgha::UsageError);
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.statement_timeout = -5s; })(), pgha::UsageError);
  CHECK_THROWS_WITH(with([](pgha::WorkloadOptions& o) { o.statement_timeout = -5s; })(),
                    ContainsSubstring("statement_timeout is -5000 ms") && ContainsSubstring("more than 0"));
  CHECK_THROWS_AS(with([](pgha::WorkloadOptions& o) { o.stop_grace = -1ms; })(), pgha::UsageError);
  CHECK_NOTHROW(with([](pgha::WorkloadOptions& o) { o.stop_grace = 0ms; })());  // no grace: allowed
  CHECK_THROWS_AS(pgha::Workload("garbage", 1), pgha::UsageError);
  pgha::Workload w(ci, 1);  // never started: nothing connects
  CHECK_THROWS_AS(w.wait_for_acknowledged(1, -1ms), pgha::UsageError);
}

TEST_CASE("usage: an Op finished twice or without a History, a Result without key and value") {
  pgha::History h;
  pgha::Op op = h.invoke("k0", "1");
  op.ok();
  CHECK_THROWS_AS(op.ok(), pgha::UsageError);
  CHECK_THROWS_AS(op.fail(), pgha::UsageError);
  CHECK_THROWS_AS(op.unknown(), pgha::UsageError);
  pgha::Op none;
  CHECK_THROWS_AS(none.ok(), pgha::UsageError);
  CHECK(h.count(pgha::Outcome::Ok) == 1);  // the first outcome stands
  CHECK_THROWS_AS(h.check(pgha::Result()), pgha::UsageError);
}
